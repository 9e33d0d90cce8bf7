"""Damaged and foreign databases: refused with a typed error, read paths report the row, and
a refusal to open leaves the file exactly as it was."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from runtime_support import T0

from agentfsm import Actor, Event
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    SCHEMA_VERSION,
    Controller,
    CorruptDatabase,
    ForeignDatabase,
    ManualClock,
    PostgresStore,
    SchemaTooNew,
    SQLiteStore,
    Store,
)

S = Actor.SYSTEM
LATER = T0.replace(year=2030)


def _fill(store: Store) -> None:
    """An agent with a history, a pending outbox item and a timer."""
    controller = Controller(MACHINES, store, ManualClock(T0))
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    for name in ("provision", "host_up"):  # host_up starts the boot and its timer
        controller.handle("a1", Event(name, S))
    assert store.outbox(state="pending")
    assert store.timers()


# Each read path, as the tests below call it.
READS: dict[str, Callable[[Store], object]] = {
    "load": lambda s: s.load("a1"),
    "load_many": lambda s: s.load_many(["a1"]),
    "agents": lambda s: s.agents(),
    "history": lambda s: s.history("a1"),
    "audit_row": lambda s: s.audit_row("a1", "create", "create:a1"),
    "audit_log": lambda s: s.audit_log(),
    "outbox": lambda s: s.outbox(),
    "claim_outbox": lambda s: s.claim_outbox("w", LATER, LATER, 100),
    "timers": lambda s: s.timers(),
    "claim_timers": lambda s: s.claim_timers("w", LATER, LATER, 100),
}

# (damage, the read paths that must report it, the table named in the message)
SQLITE_DAMAGE = [
    ("UPDATE agents SET since = 'yesterday'", ["load", "load_many", "agents"], "agents"),
    ("UPDATE agents SET created_at = '2026-04-03T10:00:00'", ["load"], "agents"),  # no offset
    ("UPDATE agents SET version = 'seven'", ["load", "load_many"], "agents"),
    ("UPDATE agents SET version = -1", ["load"], "agents"),
    ("UPDATE agents SET data = '{not json'", ["load", "agents"], "agents"),
    ('UPDATE agents SET data = \'{"@type": "os.system"}\'', ["load"], "agents"),
    ("UPDATE agents SET status = X'41'", ["load"], "agents"),  # bytes, not text
    ("UPDATE agents SET machine = CAST(X'C3FF0A41' AS TEXT)", ["load", "agents"], "damaged text"),
    ("UPDATE agents SET machine_version = 0", ["load", "load_many", "agents"], "agents"),
    ("UPDATE agents SET machine_version = 'two'", ["load"], "agents"),
    ("UPDATE audit SET actor = 'no role!'", ["history", "audit_row", "audit_log"], "audit"),
    ("UPDATE audit SET kind = 'rumour'", ["history", "audit_row"], "audit"),
    ("UPDATE audit SET at = 'noon'", ["history", "audit_log"], "audit"),
    ("UPDATE audit SET payload = '[1, 2]'", ["history"], "audit"),
    ("UPDATE audit SET version = X'00'", ["history"], "audit"),
    ("UPDATE audit SET event = CAST(X'FF' AS TEXT)", ["history"], "damaged text"),
    ("UPDATE audit SET machine_version = 1.5", ["history", "audit_row", "audit_log"], "audit"),
    ('UPDATE outbox SET payload = \'{"@type": "Nope"}\'', ["outbox", "claim_outbox"], "outbox"),
    ("UPDATE outbox SET attempts = 'many'", ["outbox", "claim_outbox"], "outbox"),
    ("UPDATE outbox SET kind = 'gift'", ["outbox", "claim_outbox"], "outbox"),
    ("UPDATE timers SET due_at = '0 o''clock'", ["timers", "claim_timers"], "timers"),
    ("UPDATE timers SET token = X'3132'", ["timers", "claim_timers"], "timers"),
]


def _claims(path: Path) -> list[Any]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT claimed_by FROM outbox UNION ALL SELECT claimed_by FROM timers"
        ).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize(("damage", "reads", "table"), SQLITE_DAMAGE)
def test_regression_damaged_sqlite_rows_raised_bare_value_and_key_errors(
    tmp_path: Path, damage: str, reads: list[str], table: str
) -> None:
    path = tmp_path / "a.db"
    store = SQLiteStore(path)
    _fill(store)
    store._conn().execute(damage)
    claims = _claims(path)
    for read in reads:
        with pytest.raises(CorruptDatabase, match=table) as caught:
            READS[read](store)
        assert "\n" not in str(caught.value)
    assert _claims(path) == claims  # a damaged row is never claimed
    store.close()


SCHEMA_DAMAGE = [
    ("UPDATE agentfsm_schema SET version = 0", CorruptDatabase, "version 0"),
    ("UPDATE agentfsm_schema SET version = 'two'", CorruptDatabase, "version 'two'"),
    ("UPDATE agentfsm_schema SET version = -3", CorruptDatabase, "version -3"),
    ("INSERT INTO agentfsm_schema VALUES (2, 'agentfsm')", CorruptDatabase, "2 row"),
    ("DELETE FROM agentfsm_schema", ForeignDatabase, "not agentfsm's"),
    ("UPDATE agentfsm_schema SET application = 'billing'", ForeignDatabase, "not agentfsm's"),
    ("UPDATE agentfsm_schema SET version = 99", SchemaTooNew, "version 99"),
]


def _fingerprint(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir())}


@pytest.mark.parametrize(("damage", "error", "message"), SCHEMA_DAMAGE)
def test_regression_damaged_schema_table_raised_key_or_value_error(
    tmp_path: Path, damage: str, error: type[Exception], message: str
) -> None:
    path = tmp_path / "a.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(damage)
    conn.commit()
    conn.close()
    before = _fingerprint(tmp_path)
    with pytest.raises(error, match=message):
        SQLiteStore(path)
    assert _fingerprint(tmp_path) == before


def _foreign(path: Path, journal: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA journal_mode = {journal}")
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.executemany("INSERT INTO invoices (total) VALUES (?)", [(i * 1.5,) for i in range(50)])
    conn.commit()
    conn.close()


@pytest.mark.parametrize("journal", ["DELETE", "WAL"])
def test_regression_foreign_sqlite_database_switched_to_wal_before_refusal(
    tmp_path: Path, journal: str
) -> None:
    path = tmp_path / "theirs.db"
    _foreign(path, journal)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # an mtime any write would change
    before = _fingerprint(tmp_path)
    with pytest.raises(ForeignDatabase, match="invoices"):
        SQLiteStore(path)
    assert _fingerprint(tmp_path) == before  # the file, byte for byte; and no -wal or -shm


@pytest.mark.parametrize(
    "content",
    [
        b"plain text, not a database\n" * 40,
        b"SQLite format 3\x00" + os.urandom(4080),  # the header, then garbage
        os.urandom(1),
    ],
    ids=["text", "sqlite header then garbage", "one byte"],
)
def test_non_database_file_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    before = _fingerprint(tmp_path)
    with pytest.raises(CorruptDatabase, match="not a usable SQLite database"):
        SQLiteStore(path)
    assert _fingerprint(tmp_path) == before


def test_an_empty_file_is_a_new_database(tmp_path: Path) -> None:
    # SQLite treats a zero-length file as an empty database: the store makes its tables there.
    path = tmp_path / "new.db"
    path.touch()
    store = SQLiteStore(path)
    assert store.schema_version() == SCHEMA_VERSION
    store.close()


def test_our_own_database_in_use_opens_while_another_store_writes(tmp_path: Path) -> None:
    # The read-only check must not refuse a live database (its -wal file exists).
    path = tmp_path / "a.db"
    first = SQLiteStore(path)
    _fill(first)
    second = SQLiteStore(path)
    assert second.load("a1") == first.load("a1")
    first.close()
    second.close()


# -- PostgreSQL ---------------------------------------------------------------------------

_PG_CLAIM_OUTBOX = ["outbox", "claim_outbox"]
PG_DAMAGE = [
    ("UPDATE {s}.agents SET since = 'infinity'", ["load", "load_many", "agents"], "damaged"),
    ("UPDATE {s}.agents SET data = '{{\"@type\": \"Nope\"}}'", ["load", "agents"], "agents"),
    ("UPDATE {s}.agents SET data = '{{\"@dt\": \"noon\"}}'", ["load"], "agents"),
    ("UPDATE {s}.agents SET version = -5", ["load"], "agents"),
    ("UPDATE {s}.agents SET machine_version = 0", ["load", "agents"], "agents"),
    ("UPDATE {s}.audit SET machine_version = -1", ["history", "audit_log"], "audit"),
    ("UPDATE {s}.audit SET actor = 'no role!'", ["history", "audit_row", "audit_log"], "audit"),
    ("UPDATE {s}.audit SET payload = '\"a string\"'", ["history", "audit_log"], "audit"),
    ("UPDATE {s}.audit SET kind = 'rumour'", ["history"], "audit"),
    ("UPDATE {s}.audit SET at = '-infinity'", ["history"], "damaged"),
    ("UPDATE {s}.outbox SET payload = '{{\"@type\": \"Nope\"}}'", _PG_CLAIM_OUTBOX, "outbox"),
    ("UPDATE {s}.outbox SET kind = 'gift'", _PG_CLAIM_OUTBOX, "outbox"),
    ("UPDATE {s}.timers SET due_at = '-infinity'", ["timers", "claim_timers"], "damaged"),
]  # fmt: skip


@pytest.mark.postgres
@pytest.mark.parametrize(("damage", "reads", "table"), PG_DAMAGE)
def test_regression_damaged_postgres_rows_raised_bare_errors(
    pg_dsn: str, damage: str, reads: list[str], table: str
) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(pg_dsn, schema=schema)
    _fill(store)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(damage.format(s=schema))
        claims = conn.execute(
            f"SELECT claimed_by FROM {schema}.outbox UNION ALL "
            f"SELECT claimed_by FROM {schema}.timers"
        ).fetchall()
    for read in reads:
        with pytest.raises(CorruptDatabase, match=table):
            READS[read](store)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert (
            conn.execute(
                f"SELECT claimed_by FROM {schema}.outbox UNION ALL "
                f"SELECT claimed_by FROM {schema}.timers"
            ).fetchall()
            == claims
        )
    store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("version", [0, -1])
def test_regression_postgres_schema_version_zero_raised_key_error(
    pg_dsn: str, version: int
) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    PostgresStore(pg_dsn, schema=schema).close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"UPDATE {schema}.agentfsm_schema SET version = %s", (version,))
    with pytest.raises(CorruptDatabase, match=f"version {version}"):
        PostgresStore(pg_dsn, schema=schema)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        # Refused in a transaction that was rolled back: nothing was migrated.
        assert conn.execute(f"SELECT version FROM {schema}.agentfsm_schema").fetchall() == [
            (version,)
        ]
