"""The billing ledgers (``agentfsm.billing``) under hostile input.

Contracts: every ledger method refuses bad input with ``InvalidInput`` or a ``BillingError``
(``InvalidAmount``, ``UnknownSize``, ``TopUpConflict``); a refusal changes neither the balance,
the standing nor (for ``SQLiteLedger``) a row of the file. ``PriceTable`` refuses with
``InvalidInput``. ``SQLiteLedger`` refuses a file that is not its own with a ``BillingError``
and leaves it byte-for-byte untouched.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agentfsm import InvalidInput, Snapshot
from agentfsm.billing import (
    BillingError,
    BillingMonitor,
    InMemoryLedger,
    ManagedAgent,
    PriceTable,
    SQLiteLedger,
)

from . import _hostile as h
from ._tally import attempt, fuzz_settings, unchanged

FUZZ = fuzz_settings(40)
ERRORS = (InvalidInput, BillingError)
PRICES = PriceTable({"small": 5, "large": 20})


def _valid_or(valid: st.SearchStrategy[Any], *hostile: st.SearchStrategy[Any]) -> Any:
    return st.one_of(valid, *hostile)


ids = _valid_or(st.sampled_from(("t-1", "t-2", "i-1")), h.text(), h.anything())
amounts = _valid_or(st.integers(1, 1000), h.ints(), h.floats(), h.anything())
times = _valid_or(st.just(h.T0), h.datetimes(), h.anything())
sizes = _valid_or(st.sampled_from(("small", "large")), h.text(), h.anything())

operations = st.one_of(
    st.tuples(st.just("top_up"), ids, amounts, times),
    st.tuples(st.just("record_usage"), ids, sizes, times),
    st.tuples(st.just("set_subscription"), h.anything(), times),
    st.tuples(st.just("report_payment_issue"), ids, times, _valid_or(st.just(""), h.text())),
    st.tuples(st.just("resolve_payment_issue"), ids, times),
)


def _file_rows(path: Path) -> Any:
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.iterdump())
    finally:
        conn.close()


def _run(ledger: Any, ops: list[tuple[Any, ...]], state: Callable[[], Any], entry: str) -> None:
    for op in ops:
        name, *args = (h.real(v) for v in op)
        before = state()
        result = attempt(
            f"{entry}.{name}", ERRORS, lambda n=name, a=args: getattr(ledger, n)(*a), *args
        )
        if isinstance(result, BaseException):
            unchanged(f"{entry}.{name}", before, state(), *args)
        attempt(f"{entry}.balance", (), ledger.balance)
        attempt(f"{entry}.standing", (), ledger.standing)


@FUZZ
@given(ops=st.lists(operations, min_size=1, max_size=6))
def test_fuzz_in_memory_ledger(ops: list[tuple[Any, ...]]) -> None:
    """Hostile calls on ``InMemoryLedger``: documented errors only; a refusal changes nothing."""
    ledger = InMemoryLedger(PRICES)
    _run(ledger, ops, lambda: (ledger.balance(), ledger.standing()), "InMemoryLedger")


@FUZZ
@given(ops=st.lists(operations, min_size=1, max_size=6))
def test_fuzz_sqlite_ledger(tmp_path: Path, ops: list[tuple[Any, ...]]) -> None:
    """Hostile calls on ``SQLiteLedger`` (a real file): documented errors only; a refusal
    changes no row."""
    path = tmp_path / f"ledger-{uuid.uuid4().hex[:8]}.db"
    with SQLiteLedger(path, PRICES) as ledger:
        _run(ledger, ops, lambda: _file_rows(path), "SQLiteLedger")


@FUZZ
@given(
    hourly=_valid_or(
        st.just({"small": 5}),
        st.dictionaries(st.one_of(h.text(), h.ints()), st.one_of(h.ints(), h.floats()), max_size=3),
        h.odd_mappings(),
        h.anything(),
    ),
    currency=_valid_or(st.just("EUR"), h.text(), h.anything()),
    size=st.one_of(h.text(), h.anything()),
)
def test_fuzz_price_table(hourly: Any, currency: Any, size: Any) -> None:
    """``PriceTable`` refuses a malformed table with ``InvalidInput``; ``price`` with
    ``UnknownSize``."""
    hourly, currency, size = h.real(hourly), h.real(currency), h.real(size)
    table = attempt("PriceTable", ERRORS, lambda: PriceTable(hourly, currency), hourly, currency)
    if isinstance(table, PriceTable):
        attempt("PriceTable.price", ERRORS, lambda: table.price(size), size)


@FUZZ
@given(
    kind=st.sampled_from(("foreign", "not sqlite")),
    content=st.binary(min_size=1, max_size=1024),
    tables=st.lists(st.sampled_from(("top_ups", "usage", "customers", "orders")), min_size=1,
                    max_size=3, unique=True),
)  # fmt: skip
def test_fuzz_sqlite_ledger_open_leaves_other_files_untouched(
    tmp_path: Path, kind: str, content: bytes, tables: list[str]
) -> None:
    """A file that is not a ledger (another program's SQLite file, or not SQLite) is refused
    with a ``BillingError`` and left byte-for-byte, with nothing new beside it."""
    folder = tmp_path / uuid.uuid4().hex[:10]
    folder.mkdir()
    path = folder / "other.db"
    if kind == "foreign":
        conn = sqlite3.connect(path)
        for t in tables:
            conn.execute(f"CREATE TABLE {t} (x)")
            conn.execute(f"INSERT INTO {t} VALUES (?)", (content,))
        conn.commit()
        conn.close()
    else:
        path.write_bytes(b"not a database, " + content)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    ledger = attempt("SQLiteLedger(open)", ERRORS, lambda: SQLiteLedger(path, PRICES), kind)
    if isinstance(ledger, SQLiteLedger):
        ledger.close()
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    unchanged("SQLiteLedger(open)", before, after, kind, tables)


@FUZZ
@given(
    agents=st.lists(
        st.tuples(
            _valid_or(st.just("a-1"), h.text(), h.anything()),
            _valid_or(st.sampled_from(("running", "billing_suspended", "active")), h.text(),
                      h.anything()),
            sizes,
        ),
        max_size=3,
    ),
    at=times,
    snapshot=st.tuples(st.sampled_from(("running", "x")), h.records()),
)  # fmt: skip
def test_fuzz_billing_monitor(agents: list[tuple[Any, ...]], at: Any, snapshot: Any) -> None:
    """``BillingMonitor.meter``/``check`` and ``ManagedAgent.from_snapshot`` with hostile agents:
    ``InvalidInput``/``BillingError`` only, and a refused ``meter`` charges nothing."""
    ledger = InMemoryLedger(PRICES)
    ledger.top_up("t-1", 1000, h.T0)
    monitor = BillingMonitor(ledger)
    managed = [ManagedAgent(*(h.real(v) for v in a)) for a in agents]
    when = h.real(at)
    before = ledger.balance()
    result = attempt("BillingMonitor.meter", ERRORS, lambda: monitor.meter(managed, when), managed)
    if isinstance(result, BaseException):
        unchanged("BillingMonitor.meter", before, ledger.balance(), managed, when)
    attempt("BillingMonitor.check", ERRORS, lambda: monitor.check(managed), managed)
    status, data = snapshot
    snap = Snapshot(status, 0, h.T0, data)
    attempt("ManagedAgent.from_snapshot", ERRORS, lambda: ManagedAgent.from_snapshot(snap), data)
