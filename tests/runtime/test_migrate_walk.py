"""PostgreSQL's walk for moves decided in Python: each batch is written by a writer thread on
a connection of its own while the next one is read and decided; an error of the batch read
ahead comes out only once the batch before it is written. And a migration's first batches
walk the primary key even right after a fleet was loaded (the planner's statistics are
refreshed first)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from migrate_fleet import build_fleet, raising_on
from runtime_support import T0, StoreSpec

from agentfsm.migrate import MigrationError, apply_migration
from agentfsm.migrate.examples import ALFE_V2
from agentfsm.models import ALFE
from agentfsm.runtime import MIGRATE, Controller, ManualClock, replay_differences
from agentfsm.runtime._migrate_sql import postgres_fresh_statistics


def _fleet(store: Any, count: int) -> list[str]:
    return build_fleet(Controller(ALFE, store, ManualClock(T0)), count)


def test_an_error_in_the_batch_read_ahead_comes_out_after_the_batch_before_it_is_written(
    store_spec: StoreSpec,
) -> None:
    store = store_spec.open()
    ids = _fleet(store, 30)
    # The failing agent is in the third batch: the walk decides it while the second is
    # being written, and the second is written all the same.
    with pytest.raises(MigrationError, match="cannot rename this one"):
        apply_migration(store, raising_on(ids[25]), batch_size=10)
    moved = sorted(a.agent_id for a in store.agents() if a.machine_version == 2)
    assert moved == ids[:20]
    migrated = Counter(r.agent_id for r in store.audit_log() if r.kind == MIGRATE)
    assert migrated == Counter(ids[:20])
    report = apply_migration(store, raising_on("nobody"), batch_size=10)
    assert (report.migrated, report.remaining) == (10, 0)
    assert Counter(r.agent_id for r in store.audit_log() if r.kind == MIGRATE) == Counter(ids)
    assert replay_differences(store, [ALFE, ALFE_V2]) == []
    store.close()


def test_a_walk_stopped_by_max_batches_writes_no_batch_it_read_ahead(
    store_spec: StoreSpec,
) -> None:
    store = store_spec.open()
    ids = _fleet(store, 30)
    report = apply_migration(store, raising_on("nobody"), batch_size=10, max_batches=1)
    assert (report.migrated, report.batches, report.remaining) == (10, 1, 20)
    assert sorted(a.agent_id for a in store.agents() if a.machine_version == 2) == ids[:10]
    store.close()


def _walk_plan(store: Any) -> str:
    rows = store._read(
        "EXPLAIN SELECT id, status, version, since, data::text FROM agents "
        "WHERE machine = %s AND machine_version = %s AND id > %s ORDER BY id LIMIT %s",
        ("alfe", 1, "", 1000),
    )
    return "\n".join(r[0] for r in rows)


def test_a_fleet_just_loaded_is_analyzed_first_so_that_batches_walk_the_primary_key(
    pg_server: Any,
) -> None:
    from conftest import new_schema

    store = StoreSpec("postgres", pg_server.dsn, new_schema()).open()
    with store._pool.connection() as conn:
        # No background analysis racing the test's.
        conn.execute("ALTER TABLE agents SET (autovacuum_enabled = false)")
    _fleet(store, 3_000)
    assert "agents_machine" in _walk_plan(store)  # what the planner does without statistics
    assert postgres_fresh_statistics(store) is True
    assert "agents_pkey" in _walk_plan(store)
    assert postgres_fresh_statistics(store) is False  # fresh: nothing to do
    report = apply_migration(store, raising_on("nobody"), batch_size=500)
    assert (report.migrated, report.remaining) == (3_000, 0)
    store.close()


def test_a_store_with_a_pool_of_one_connection_migrates_with_the_locked_batch(
    pg_server: Any,
) -> None:
    # The walk holds a connection for its writer and reads on another: with only one, the
    # migration takes the locked batch instead of waiting for a connection that never comes.
    from agentfsm.runtime import PostgresStore
    from conftest import new_schema

    schema = new_schema()
    store = PostgresStore(pg_server.dsn, schema=schema, min_size=1, max_size=1)
    ids = _fleet(store, 25)
    report = apply_migration(store, raising_on("nobody"), batch_size=10)
    assert (report.migrated, report.remaining) == (25, 0)
    assert Counter(r.agent_id for r in store.audit_log() if r.kind == MIGRATE) == Counter(ids)
    store.close()
