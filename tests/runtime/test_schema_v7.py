"""Schema version 7 (the leases): a version-5 database of each store is migrated in place. Its
agents and outbox items keep their rows, the items it held carry no fencing token until they
are claimed again, and the fleet's reconcile keys can be offered, taken and released."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from runtime_support import T0
from test_schema_v5 import _v4_rows

from agentfsm.runtime import (
    SCHEMA_VERSION,
    ManualClock,
    PostgresStore,
    SharedReconcileLoop,
    SQLiteStore,
    Store,
)
from agentfsm.runtime._leases import leases_of
from agentfsm.runtime._schema import POSTGRES_STEPS, POSTGRES_V1, SQLITE_STEPS, SQLITE_V1
from agentfsm.runtime._schema_leases import LEASES_VERSION

STEPS_TO_5 = (2, 3, 4, 5)


def _leases_work(store: Store, fence_column: list[object]) -> None:
    assert store.schema_version() == SCHEMA_VERSION >= LEASES_VERSION
    assert fence_column == [None]  # the stored item was never fenced
    [item] = store.outbox()
    assert (item.key, item.state) == ("k-1", "pending")
    leases = leases_of(store)
    assert leases is not None
    claimed = store.claim_outbox("w", T0, T0 + timedelta(seconds=5), 10)
    assert [i.key for i in claimed] == ["k-1"]
    (token,) = leases.fence_outbox("w", [i.id for i in claimed]).values()
    assert token >= 1
    assert store.load("old").agent_id == "old"
    passes: list[str] = []
    loop = SharedReconcileLoop(store, lambda k: passes.append(k) or None, ManualClock(T0))
    assert loop.offer(["old"]) == 1
    assert loop.run_due().reconciled == ("old",)
    assert passes == ["old"]


def test_sqlite_version_5_is_migrated_to_leases(tmp_path: Path) -> None:
    path = tmp_path / "v5.db"
    conn = sqlite3.connect(path)
    for stmt in SQLITE_V1:
        conn.execute(stmt)
    for step in STEPS_TO_5:
        for stmt in SQLITE_STEPS[step]:
            conn.execute(stmt)
    for sql, args in _v4_rows(lambda t: t.isoformat(timespec="microseconds")):
        conn.execute(sql.format(p="?"), args)
    conn.commit()
    assert conn.execute("SELECT version FROM agentfsm_schema").fetchone() == (5,)
    conn.close()
    store = SQLiteStore(path)
    try:
        fences = [r[0] for r in sqlite3.connect(path).execute("SELECT fence FROM outbox")]
        _leases_work(store, fences)
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_version_5_is_migrated_to_leases(pg_dsn: str) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        for stmt in POSTGRES_V1:
            conn.execute(stmt)
        for step in STEPS_TO_5:
            for stmt in POSTGRES_STEPS[step]:
                conn.execute(stmt)
        for sql, args in _v4_rows(lambda t: t):
            conn.execute(sql.format(p="%s"), args)
    store = PostgresStore(pg_dsn, schema=schema)
    try:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            fences = [r[0] for r in conn.execute(f"SELECT fence FROM {schema}.outbox")]
        _leases_work(store, fences)
    finally:
        store.close()


@pytest.mark.postgres
def test_two_replicas_opening_a_version_5_schema_at_once_migrate_it_once(pg_dsn: str) -> None:
    import threading

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        for stmt in POSTGRES_V1:
            conn.execute(stmt)
        for step in STEPS_TO_5:
            for stmt in POSTGRES_STEPS[step]:
                conn.execute(stmt)
    opened: list[Store] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PostgresStore(pg_dsn, schema=schema, max_size=2))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [s.schema_version() for s in opened] == [SCHEMA_VERSION] * 3
    for s in opened:
        s.close()
