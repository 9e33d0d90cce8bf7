"""Schema version 5: a version-4 database of each store is migrated in place; the outbox items
it held keep their rows and carry no trace context (they were written untraced), a worker still
claims them, and the machine versions of step 4 are kept."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from runtime_support import T0

from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    SCHEMA_VERSION,
    Controller,
    ManualClock,
    PostgresStore,
    SQLiteStore,
    Store,
)
from agentfsm.runtime._codec import DEFAULT_CODEC
from agentfsm.runtime._schema import POSTGRES_STEPS, POSTGRES_V1, SQLITE_STEPS, SQLITE_V1

_AGENT = (
    "INSERT INTO agents (id, machine, status, version, since, data, created_at, updated_at, "
    "machine_version) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)
_OUTBOX = (
    "INSERT INTO outbox (agent_id, kind, payload, key, state, attempts, next_attempt_at, "
    "created_at, updated_at) VALUES ({p}, {p}, {p}, {p}, 'pending', 0, {p}, {p}, {p})"
)


def _v4_rows(at: Callable[[Any], Any]) -> list[tuple[str, tuple[Any, ...]]]:
    machine = MACHINES["alfe"]
    created = machine.initial(AlfeAgent("old", "Old"), T0)
    dumps = DEFAULT_CODEC.dumps
    return [
        (
            _AGENT,
            ("old", "alfe", created.status, created.version, at(created.since),
             dumps(created.data), at(T0), at(T0), 1),
        ),
        (_OUTBOX, ("old", "domain_event", dumps({"name": "x"}), "k-1", at(T0), at(T0), at(T0))),
    ]  # fmt: skip


def _carries_no_trace_context(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION >= 5
    [item] = store.outbox()
    assert (item.key, item.state, item.trace_context) == ("k-1", "pending", None)
    assert [i.key for i in store.claim_outbox("w", T0, T0, 10)] == ["k-1"]
    assert store.load("old").machine_version == 1  # step 4's column is kept
    # New decisions write the column (None here: no tracing SDK records them).
    controller = Controller(MACHINES, store, ManualClock(T0))
    controller.create("new", "alfe", AlfeAgent("new", "New"))
    assert store.load("new").machine_version == 1


def test_sqlite_version_4_is_migrated_to_trace_contexts(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path)
    for stmt in (*SQLITE_V1, *SQLITE_STEPS[2], *SQLITE_STEPS[3], *SQLITE_STEPS[4]):
        conn.execute(stmt)
    for sql, args in _v4_rows(lambda t: t.isoformat(timespec="microseconds")):
        conn.execute(sql.format(p="?"), args)
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    try:
        _carries_no_trace_context(store)
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_version_4_is_migrated_to_trace_contexts(pg_dsn: str) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        for stmt in (*POSTGRES_V1, *POSTGRES_STEPS[2], *POSTGRES_STEPS[3], *POSTGRES_STEPS[4]):
            conn.execute(stmt)
        for sql, args in _v4_rows(lambda t: t):
            conn.execute(sql.format(p="%s"), args)
    store = PostgresStore(pg_dsn, schema=schema)
    try:
        _carries_no_trace_context(store)
    finally:
        store.close()
