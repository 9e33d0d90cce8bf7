"""Regression tests: bad input the fuzz suite found escaping the ledgers as bare exceptions,
or changing a file the ledger should have refused."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from billing_helpers import PRICES

from agentfsm import InvalidInput
from agentfsm.billing import (
    BillingAdapter,
    BillingError,
    InvalidAmount,
    PriceTable,
    SQLiteLedger,
    UnknownSize,
)

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
EAST = timezone(timedelta(hours=23, minutes=59))


def _deep(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


def test_regression_billing_lone_surrogate_in_an_id_raised_unicode_encode_error(
    ledger: BillingAdapter,
) -> None:
    for call in (
        lambda: ledger.top_up("\udcff", 100, T0),
        lambda: ledger.record_usage("\udcff", "small", T0),
        lambda: ledger.report_payment_issue("\ud800", T0),
        lambda: ledger.resolve_payment_issue("a\udfffb", T0),
    ):
        with pytest.raises(InvalidInput, match="surrogates"):
            call()
    assert ledger.balance() == 0
    assert ledger.standing().reason is not None  # nothing counted: the pool is still empty


def test_regression_billing_lone_surrogate_or_non_text_detail_raised(
    ledger: BillingAdapter,
) -> None:
    with pytest.raises(InvalidInput):
        ledger.report_payment_issue("i-1", T0, "card \udcff declined")
    with pytest.raises(InvalidInput):
        ledger.report_payment_issue("i-1", T0, _deep(100_000))  # type: ignore[arg-type]
    assert ledger.standing().good or ledger.standing().reason != "payment_issue"
    assert ledger.report_payment_issue("i-1", T0, "card declined") is True


def test_regression_billing_time_without_a_utc_equivalent_raised_overflow_error(
    ledger: BillingAdapter,
) -> None:
    far_east = datetime.min.replace(tzinfo=EAST)
    with pytest.raises(InvalidInput, match="no UTC time in range"):
        ledger.top_up("t-1", 100, far_east)
    with pytest.raises(InvalidInput, match="no UTC time in range"):
        ledger.set_subscription(False, far_east)
    with pytest.raises(InvalidInput, match="no UTC time in range"):
        ledger.record_usage("a-1", "small", far_east)
    assert ledger.balance() == 0
    assert ledger.top_up("t-1", 100, T0) is True


def test_regression_billing_unprintable_value_in_the_error_message_raised(
    ledger: BillingAdapter,
) -> None:
    huge = 10**5000  # past the int-to-text limit: a message that repr()s it raises ValueError
    with pytest.raises(InvalidInput):
        ledger.top_up("t-1", 100, huge)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        ledger.top_up("t-1", 100, _deep(100_000))  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        ledger.top_up("t-1", -huge, T0)
    with pytest.raises(UnknownSize):
        PRICES.price(_deep(100_000))  # type: ignore[arg-type]


def test_regression_billing_amount_past_sqlite_integers_raised_overflow_error(
    ledger: BillingAdapter,
) -> None:
    for amount in (2**63, 10**5000, 10**12 + 1):
        with pytest.raises(InvalidAmount, match="at most"):
            ledger.top_up(f"t-{amount % 97}", amount, T0)
    assert ledger.top_up("t-max", 10**12, T0) is True
    assert ledger.top_up("t-max-2", 10**12, T0) is True
    assert ledger.balance() == 2 * 10**12
    with pytest.raises(InvalidAmount):
        PriceTable({"small": 2**63})


def test_regression_billing_sqlite_ledger_changed_a_foreign_database(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE top_ups (customer TEXT, euros REAL)")  # their table, our name
    conn.execute("INSERT INTO top_ups VALUES ('ann', 12.5)")
    conn.execute("CREATE TABLE orders (id INTEGER)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(BillingError, match="not a ledger's"):
        SQLiteLedger(path, PRICES)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.db"]


@pytest.mark.parametrize("content", [b"\x00", b"hello", b"not a database" * 100])
def test_regression_billing_sqlite_ledger_raised_database_error_or_overwrote_a_file(
    tmp_path: Path, content: bytes
) -> None:
    # A short file of other bytes is taken by SQLite for an empty database and overwritten.
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(BillingError, match="not a SQLite database"):
        SQLiteLedger(path, PRICES)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_an_existing_ledger_file_and_an_empty_file_still_open(tmp_path: Path) -> None:
    path = tmp_path / "billing.db"
    with SQLiteLedger(path, PRICES) as first:
        first.top_up("t-1", 500, T0)
    with SQLiteLedger(path, PRICES) as again:
        assert again.balance() == 500
    empty = tmp_path / "empty.db"
    empty.touch()
    with SQLiteLedger(empty, PRICES) as fresh:
        assert fresh.balance() == 0


def test_regression_billing_monitor_charged_the_agents_before_a_bad_one() -> None:
    from agentfsm.billing import BillingMonitor, InMemoryLedger, ManagedAgent

    ledger = InMemoryLedger(PRICES)
    ledger.top_up("t-1", 1000, T0)
    monitor = BillingMonitor(ledger)
    good = ManagedAgent("a-1", "running", "small")
    for bad in (
        ManagedAgent(None, "running", "small"),  # type: ignore[arg-type]
        ManagedAgent("a-2", "running", "huge"),
        ManagedAgent("a-3", ["running"], "small"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidInput):
            monitor.meter([good, bad], T0)
        assert ledger.balance() == 1000
    assert monitor.meter([good], T0) == PRICES.price("small")


def test_regression_billing_managed_agent_from_a_wrong_record_raised_attribute_error() -> None:
    from agentfsm import Snapshot
    from agentfsm.billing import ManagedAgent

    for data in (None, {"agent_id": "a-1", "size": "small"}, object()):
        with pytest.raises(InvalidInput, match="not an Alfe agent's record"):
            ManagedAgent.from_snapshot(Snapshot("running", 0, T0, data))


def test_regression_new_ledger_file_was_world_readable(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: files readable by everyone
    try:
        path = tmp_path / "ledger.db"
        ledger = SQLiteLedger(path, PriceTable({"small": 10}))
        ledger.top_up("t-1", 100, datetime(2026, 4, 3, tzinfo=UTC))
        ledger.close()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        for extra in (tmp_path / "ledger.db-wal", tmp_path / "ledger.db-shm"):
            if extra.exists():  # SQLite gives them the database file's permissions
                assert stat.S_IMODE(os.stat(extra).st_mode) & 0o077 == 0
    finally:
        os.umask(old)
    os.chmod(path, 0o640)  # an existing ledger keeps the mode its owner gave it
    SQLiteLedger(path, PriceTable({"small": 10})).close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_regression_ledger_path_with_a_lone_surrogate_left_a_file_behind(tmp_path: Path) -> None:
    for name in ("l\udcff.db", "l\ud800.db", "l\x00.db"):
        with pytest.raises(BillingError, match="NUL or a lone surrogate"):
            SQLiteLedger(str(tmp_path / name), PriceTable({"small": 10}))
    assert list(tmp_path.iterdir()) == []
