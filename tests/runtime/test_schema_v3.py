"""Schema version 3: a version-2 database of each store is migrated in place, keeps its rows,
gives them their scope, and still deduplicates the keys it recorded."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from runtime_support import T0

from agentfsm import Actor, Context, Event, Refusal, Step, decide
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    SCHEMA_VERSION,
    Controller,
    ManualClock,
    PostgresStore,
    SQLiteStore,
    Store,
    replay_differences,
)
from agentfsm.runtime._codec import DEFAULT_CODEC
from agentfsm.runtime._schema import POSTGRES_STEPS, POSTGRES_V1, SQLITE_STEPS, SQLITE_V1

S, U = Actor.SYSTEM, Actor.USER

_AUDIT = (
    "INSERT INTO audit (seq, event_id, agent_id, kind, actor, event, payload, from_status, "
    "to_status, version, refusal_code, refusal_message, refusal_guard, at, correlation_id) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)
_AGENT = "INSERT INTO agents VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"


def _v2_rows(at: Callable[[Any], Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """An agent created, provisioned by the platform under ``p-1``, then refused a user's
    ``start`` under ``u-1``: the rows version 2 wrote, with ``at`` formatting times."""
    machine = MACHINES["alfe"]
    data = AlfeAgent("old", "Old")
    created = machine.initial(data, T0)
    step = decide(machine, created, Event("provision", S, id="p-1"), Context(T0))
    assert isinstance(step, Step)
    refusal = decide(machine, step.snapshot, Event("start", U, id="u-1"), Context(T0))
    assert isinstance(refusal, Refusal)
    after = step.snapshot
    dumps = DEFAULT_CODEC.dumps
    return [
        (
            _AGENT,
            ("old", "alfe", after.status, after.version, at(after.since), dumps(after.data),
             at(T0), at(T0)),
        ),
        (
            _AUDIT,
            (1, "create:old", "old", "create", None, "alfe", dumps({"data": data}), None,
             "pending", 0, None, None, None, at(T0), None),
        ),
        (
            _AUDIT,
            (2, "p-1", "old", "event", "S", "provision", "{}", "pending", after.status,
             after.version, None, None, None, at(T0), "c-1"),
        ),
        (
            _AUDIT,
            (3, "u-1", "old", "event", "U", "start", "{}", after.status, after.status,
             after.version, refusal.code, refusal.message, refusal.guard, at(T0), None),
        ),
    ]  # fmt: skip


def _still_deduplicates(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION
    rows = store.history("old")
    assert [(r.seq, r.event_id, r.scope, r.principal) for r in rows] == [
        (1, "create:old", "create", None),
        (2, "p-1", "S", None),
        (3, "u-1", "U", None),
    ]
    assert store.audit_row("old", "S", "p-1") == rows[1]
    controller = Controller(MACHINES, store, ManualClock(T0))
    # The keys recorded before the migration are still recognised, in their own scope...
    again = controller.handle("old", Event("provision", S, id="p-1"))
    assert isinstance(again, Step)
    assert controller.handle("old", Event("start", U, id="u-1")) == rows[2].refusal
    assert len(store.history("old")) == 3
    # ...and a platform event under the user's old key is decided, not answered from it.
    decided = controller.handle("old", Event("host_up", S, id="u-1"))
    assert isinstance(decided, Step)
    newest = store.history("old")[-1]
    # After the old rows (PostgreSQL's sequence also spends numbers on refused inserts).
    assert newest.seq > rows[-1].seq
    assert (newest.event_id, newest.event, newest.scope) == ("u-1", "host_up", "S")
    assert replay_differences(store, MACHINES) == []


def test_sqlite_version_2_is_migrated_to_scoped_keys(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    for stmt in (*SQLITE_V1, *SQLITE_STEPS[2]):
        conn.execute(stmt)
    for sql, args in _v2_rows(lambda t: t.isoformat(timespec="microseconds")):
        conn.execute(sql.format(p="?"), args)
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    try:
        _still_deduplicates(store)
    finally:
        store.close()
    reopened = SQLiteStore(path)  # a migrated database opens as it is
    assert reopened.schema_version() == SCHEMA_VERSION
    assert len(reopened.history("old")) == 4
    reopened.close()


@pytest.mark.postgres
def test_postgres_version_2_is_migrated_to_scoped_keys(pg_dsn: str) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        for stmt in (*POSTGRES_V1, *POSTGRES_STEPS[2]):
            conn.execute(stmt)
        for sql, args in _v2_rows(lambda t: t):
            conn.execute(sql.format(p="%s"), args)
        # Version 2 took seq from its sequence; the rows above were given theirs by hand.
        conn.execute("SELECT setval('audit_seq_seq', 3)")
    store = PostgresStore(pg_dsn, schema=schema)
    try:
        _still_deduplicates(store)
    finally:
        store.close()
