"""``SQLiteLedger``: the billing adapter in a SQLite file (the standard library's sqlite3).

Every write is one ``BEGIN IMMEDIATE`` transaction, so several processes may share the file;
each idempotent write is an insert the primary key deduplicates (top-up id, agent-hour, issue
id). Amounts are ``INTEGER`` columns of minor units and the balance is an integer ``SUM``: no
float is ever involved. Times are stored as UTC ISO 8601 text.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from agentfsm._private_file import create_owner_only
from agentfsm.billing._errors import BillingError, TopUpConflict
from agentfsm.billing._ledger import Standing, standing_of
from agentfsm.billing._money import PriceTable, check_amount, check_text, check_time, hour_of

_SCHEMA = """
CREATE TABLE IF NOT EXISTS top_ups (
    id      TEXT PRIMARY KEY,
    amount  INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
    at      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS usage (
    agent_id TEXT NOT NULL,
    hour     TEXT NOT NULL,
    size     TEXT NOT NULL,
    amount   INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount >= 0),
    PRIMARY KEY (agent_id, hour)
);
CREATE TABLE IF NOT EXISTS subscription (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    active     INTEGER NOT NULL,
    changed_at TEXT
);
CREATE TABLE IF NOT EXISTS payment_issues (
    id          TEXT PRIMARY KEY,
    opened_at   TEXT NOT NULL,
    detail      TEXT NOT NULL,
    resolved_at TEXT
);
"""

_BALANCE = (
    "SELECT (SELECT COALESCE(SUM(amount), 0) FROM top_ups)"
    " - (SELECT COALESCE(SUM(amount), 0) FROM usage)"
)


_SQLITE_HEADER = b"SQLite format 3\x00"
_OUR_COLUMNS = {
    "top_ups": ["id", "amount", "at"],
    "usage": ["agent_id", "hour", "size", "amount"],
    "subscription": ["id", "active", "changed_at"],
    "payment_issues": ["id", "opened_at", "detail", "resolved_at"],
}


def _connect_own(path: str, timeout: float) -> sqlite3.Connection:
    """A connection to ``path`` once it is known to be a ledger (or new); nothing is written
    before that, so another program's file, or a file that is not SQLite, stays as it was."""
    if "\x00" in path or not _utf8(path):
        # SQLite takes its file name as UTF-8: checked before a file is made for it.
        raise BillingError(f"the ledger path {path!r} holds a NUL or a lone surrogate")
    if path != ":memory:" and os.path.exists(path) and os.path.getsize(path) > 0:
        # SQLite takes a short file of other bytes for an empty database and overwrites it.
        with open(path, "rb") as f:
            if f.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
                raise BillingError(
                    f"{path!r} is not a SQLite database; give the ledger its own file"
                )
    try:
        if path != ":memory:":
            # A new ledger is its owner's alone (0600), as a new store file is: balances and
            # payment issues are nobody else's to read. An existing file keeps its mode.
            create_owner_only(path)
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    except (sqlite3.Error, OSError) as exc:
        raise BillingError(f"cannot open the ledger file {path!r}: {exc}") from exc
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        foreign = [n for n in names if not n.startswith("sqlite_") and n not in _OUR_COLUMNS]
        for name in names:
            if name in _OUR_COLUMNS:
                columns = [r[1] for r in conn.execute(f"PRAGMA table_info({name})")]
                if columns != _OUR_COLUMNS[name]:
                    foreign.append(name)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise BillingError(f"{path!r} is not a usable SQLite database ({exc})") from exc
    if foreign:
        conn.close()
        raise BillingError(
            f"{path!r} holds tables that are not a ledger's ({', '.join(sorted(foreign)[:5])}); "
            "give the ledger a file of its own"
        )
    return conn


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class SQLiteLedger:
    """A credit pool, a subscription and payment issues in a SQLite database file.

    Args:
        path: the database file (created when missing), or ``":memory:"``.
        prices: the hourly price of each agent size.
        subscription_active: the subscription's state when the file is new (an existing file
            keeps its own).
        timeout: how long a write waits for another process's transaction, in seconds.

    Raises:
        BillingError: the file cannot be opened (its path holds a NUL or a lone surrogate,
            say), is not a SQLite database, or holds another program's tables; such a file is
            left exactly as it was, and none is made for a path refused.

    A new ledger file is readable and writable by its owner only (mode 0600); an existing
    one keeps its permissions.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        prices: PriceTable,
        *,
        subscription_active: bool = True,
        timeout: float = 10.0,
    ) -> None:
        self._prices = prices
        self._path = str(path)
        self._conn = _connect_own(self._path, timeout)
        self._lock = threading.Lock()
        if self._path != ":memory:":
            # WAL lets readers in other processes go on while one writes.
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(_SCHEMA)  # idempotent (IF NOT EXISTS); commits on its own
        with self._write() as cur:
            cur.execute(
                "INSERT OR IGNORE INTO subscription (id, active) VALUES (1, ?)",
                (int(bool(subscription_active)),),
            )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def _read(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def prices(self) -> PriceTable:
        """The hourly price of each agent size."""
        return self._prices

    def top_up(self, top_up_id: str, amount: int, at: datetime) -> bool:
        """Add ``amount`` minor units to the pool, once per ``top_up_id``.

        Returns:
            True when it counted now; False when this id had already counted.

        Raises:
            InvalidAmount: ``amount`` is not an int greater than 0.
            TopUpConflict: the id already counted with another amount.
        """
        check_text(top_up_id, "a top-up id")
        check_amount(amount, "a top-up")
        when = check_time(at, "the top-up time")
        with self._write() as cur:
            cur.execute(
                "INSERT INTO top_ups (id, amount, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (top_up_id, amount, when.isoformat()),
            )
            if cur.rowcount == 1:
                return True
            (known,) = cur.execute(
                "SELECT amount FROM top_ups WHERE id = ?", (top_up_id,)
            ).fetchone()
        if known != amount:
            raise TopUpConflict(
                f"the top-up {top_up_id!r} already counted {known}, not {amount}; "
                "a new top-up needs a new id"
            )
        return False

    def record_usage(self, agent_id: str, size: str, at: datetime) -> int:
        """Charge the hour of ``size`` containing ``at`` to the pool, once per agent-hour.

        Returns:
            The amount charged now; 0 when this agent-hour was already charged.

        Raises:
            UnknownSize: no price for ``size``.
        """
        check_text(agent_id, "an agent id")
        price = self._prices.price(size)
        hour = hour_of(at)
        with self._write() as cur:
            cur.execute(
                "INSERT INTO usage (agent_id, hour, size, amount) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (agent_id, hour.isoformat(), size, price),
            )
            return price if cur.rowcount == 1 else 0

    def set_subscription(self, active: bool, at: datetime) -> None:
        """Record whether the subscription is active."""
        when = check_time(at, "the subscription change time")
        with self._write() as cur:
            cur.execute(
                "UPDATE subscription SET active = ?, changed_at = ? WHERE id = 1",
                (int(bool(active)), when.isoformat()),
            )

    def report_payment_issue(self, issue_id: str, at: datetime, detail: str = "") -> bool:
        """Open a payment issue; False when this id is already known (open or resolved).

        Raises:
            InvalidInput: a bad id or time, or a ``detail`` that is not a string of at most
                2,000 characters.
        """
        check_text(issue_id, "a payment issue id")
        check_text(detail, "a payment issue's detail", limit=2000, empty=True)
        when = check_time(at, "the payment issue time")
        with self._write() as cur:
            cur.execute(
                "INSERT INTO payment_issues (id, opened_at, detail) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (issue_id, when.isoformat(), detail),
            )
            return cur.rowcount == 1

    def resolve_payment_issue(self, issue_id: str, at: datetime) -> bool:
        """Close a payment issue; False when it was not open."""
        check_text(issue_id, "a payment issue id")
        when = check_time(at, "the resolution time")
        with self._write() as cur:
            cur.execute(
                "UPDATE payment_issues SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL",
                (when.isoformat(), issue_id),
            )
            return cur.rowcount == 1

    def balance(self) -> int:
        """Top-ups minus usage, in minor units."""
        ((value,),) = self._read(_BALANCE)
        assert isinstance(value, int)
        return value

    def standing(self) -> Standing:
        """The account's standing now (read in one statement, so the facts agree)."""
        ((balance, active, open_issues),) = self._read(
            f"SELECT ({_BALANCE}), (SELECT active FROM subscription WHERE id = 1),"
            " (SELECT COUNT(*) FROM payment_issues WHERE resolved_at IS NULL)"
        )
        assert isinstance(balance, int)
        assert isinstance(open_issues, int)
        return standing_of(balance, bool(active), open_issues)
