"""SQLite's batches decided from inside the database: the batch's ``UPDATE`` calls the
migration for each agent, and a temporary trigger writes the audit rows. What a failure must
leave behind (nothing of its batch, no trigger, no live function), what comes out of it (the
migration's own error, or the store's), and what it calls (once per distinct input)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from migrate_fleet import build_fleet, raising_on, renamed
from runtime_support import T0

from agentfsm import Actor, Event, Snapshot
from agentfsm.migrate import (
    CANCEL,
    DataTransform,
    Migration,
    MigrationError,
    StatusChooser,
    apply_migration,
)
from agentfsm.migrate.examples import ALFE_V2
from agentfsm.models import ALFE, AlfeAgent
from agentfsm.runtime import (
    MIGRATE,
    Controller,
    CorruptDatabase,
    ManualClock,
    SQLiteStore,
    replay_differences,
)

_DUMP = "SELECT * FROM agents ORDER BY id"


class _Stop(BaseException):
    """Not an ``Exception``: must come out as itself, not as SQLite's error."""


def _store(tmp_path: Any, count: int) -> tuple[SQLiteStore, list[str]]:
    store = SQLiteStore(tmp_path / "agents.db")
    return store, build_fleet(Controller(ALFE, store, ManualClock(T0)), count)


def _temp_objects(store: SQLiteStore) -> list[Any]:
    return store._conn().execute("SELECT type, name FROM sqlite_temp_master").fetchall()


def _no_trigger(store: SQLiteStore) -> bool:
    return all(kind != "trigger" for kind, _name in _temp_objects(store))


def test_a_transform_that_fails_half_way_leaves_its_batch_and_no_trigger_behind(
    tmp_path: Any,
) -> None:
    store, ids = _store(tmp_path, 30)
    broken = raising_on(ids[14], ValueError("no such size"))
    with pytest.raises(MigrationError, match="v1→v2 failed on a stored agent: no such size"):
        apply_migration(store, broken, batch_size=10)
    # The first batch was written; the one holding the failing agent, nothing of it.
    moved = sorted(a.agent_id for a in store.agents() if a.machine_version == 2)
    assert moved == ids[:10]
    assert Counter(r.agent_id for r in store.audit_log() if r.kind == MIGRATE) == Counter(ids[:10])
    assert _no_trigger(store)
    # The store's own writes afterwards write no migration row.
    controller = Controller([ALFE, ALFE_V2], store, ManualClock(T0))
    for agent_id in (ids[0], ids[20]):
        controller.handle(agent_id, Event("delete", Actor.USER))
    assert sum(r.kind == MIGRATE for r in store.audit_log()) == 10
    report = apply_migration(store, Migration(ALFE, ALFE_V2, data=DataTransform("r", renamed)))
    assert (report.migrated, report.remaining) == (20, 0)
    assert Counter(r.agent_id for r in store.audit_log() if r.kind == MIGRATE) == Counter(ids)
    assert replay_differences(store, [ALFE, ALFE_V2]) == []
    store.close()


def test_an_error_that_is_not_an_exception_comes_out_as_itself_and_writes_nothing(
    tmp_path: Any,
) -> None:
    store, ids = _store(tmp_path, 12)
    before = store._conn().execute(_DUMP).fetchall(), len(store.audit_log())
    stop = _Stop()
    with pytest.raises(_Stop) as raised:
        apply_migration(store, raising_on(ids[5], stop), batch_size=100)
    assert raised.value is stop
    assert (store._conn().execute(_DUMP).fetchall(), len(store.audit_log())) == before
    assert _no_trigger(store)
    store.close()


def test_the_migrations_functions_hold_nothing_once_its_batches_are_done(tmp_path: Any) -> None:
    store, _ids = _store(tmp_path, 4)
    chooser = StatusChooser("stay", ("stopped",), lambda s: "stopped")
    migration = Migration(
        ALFE, ALFE_V2, statuses={"stopped": chooser}, data=DataTransform("r", renamed)
    )
    assert apply_migration(store, migration).migrated == 4
    conn = store._conn()
    for call in (
        "agentfsm_transform('a', 1, '2026-01-01T00:00:00+00:00', '{}')",
        "agentfsm_choose('a', 'stopped', 1, '2026-01-01T00:00:00+00:00', '{}')",
    ):
        with pytest.raises(sqlite3.OperationalError):
            conn.execute(f"SELECT {call}")
    store.close()


@pytest.mark.parametrize(
    ("column", "value"), [("data", b"{}"), ("version", "one"), ("since", "yesterday")]
)
def test_a_damaged_row_is_corrupt_database_naming_it_and_its_batch_writes_nothing(
    tmp_path: Any, column: str, value: Any
) -> None:
    store, ids = _store(tmp_path, 8)
    conn = store._conn()
    conn.execute(f"UPDATE agents SET {column} = ? WHERE id = ?", (value, ids[3]))
    before = conn.execute(_DUMP).fetchall(), len(store.audit_log())
    migration = Migration(ALFE, ALFE_V2, data=DataTransform("r", renamed))
    with pytest.raises(CorruptDatabase, match=f"agents row '{ids[3]}'"):
        apply_migration(store, migration, batch_size=10)
    assert (conn.execute(_DUMP).fetchall(), len(store.audit_log())) == before
    assert _no_trigger(store)
    store.close()


def test_a_damaged_row_under_a_chooser_is_corrupt_database_too(tmp_path: Any) -> None:
    store, _ids = _store(tmp_path, 24)
    conn = store._conn()
    (stopped,) = conn.execute("SELECT id FROM agents WHERE status = 'stopped' LIMIT 1").fetchone()
    conn.execute("UPDATE agents SET data = 'not json' WHERE id = ?", (stopped,))
    before = conn.execute(_DUMP).fetchall()
    chooser = StatusChooser("stay", ("stopped",), lambda s: "stopped")
    migration = Migration(ALFE, ALFE_V2, statuses={"stopped": chooser})
    with pytest.raises(MigrationError, match="failed on a stored agent"):
        apply_migration(store, migration, batch_size=100)
    assert conn.execute(_DUMP).fetchall() == before
    store.close()


def test_timer_rules_apply_to_exactly_the_agents_a_batch_moved(tmp_path: Any) -> None:
    store, _ids = _store(tmp_path, 36)
    pending = Counter(t.agent_id for t in store.timers() if t.event == "boot_timeout")
    assert pending  # the fleet has agents booting
    migration = Migration(
        ALFE, ALFE_V2, timers={"boot_timeout": CANCEL}, data=DataTransform("r", renamed)
    )
    report = apply_migration(store, migration, batch_size=7, max_batches=2)
    moved = {a.agent_id for a in store.agents() if a.machine_version == 2}
    assert report.migrated == len(moved) == 14
    left = {t.agent_id for t in store.timers() if t.event == "boot_timeout"}
    assert left == set(pending) - moved
    assert apply_migration(store, migration, batch_size=7).remaining == 0
    assert not any(t.event == "boot_timeout" for t in store.timers())
    assert replay_differences(store, [ALFE, ALFE_V2]) == []
    store.close()


_alike = st.lists(st.integers(0, 3), min_size=1, max_size=24)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(names=_alike, batch=st.integers(1, 10))
def test_a_transform_and_a_chooser_run_once_per_distinct_input_of_a_batch(
    tmp_path_factory: Any, names: list[int], batch: int
) -> None:
    # Agents stored alike (the same status, version, time and record) share one decision.
    store = SQLiteStore(tmp_path_factory.mktemp("alike") / "agents.db")
    controller = Controller(ALFE, store, ManualClock(T0))
    ids = [f"a{i:03d}" for i in range(len(names))]
    controller.create_many([
        (a, "alfe", AlfeAgent("shared", f"name-{n}")) for a, n in zip(ids, names, strict=True)
    ])  # fmt: skip
    calls: Counter[str] = Counter()

    def transform(data: AlfeAgent, defaults: Any) -> AlfeAgent:
        calls["transform"] += 1
        return renamed(data, defaults)

    def choose(snapshot: Snapshot) -> str:
        calls["choose"] += 1
        return "pending"

    migration = Migration(
        ALFE,
        ALFE_V2,
        statuses={"pending": StatusChooser("stay", ("pending",), choose)},
        data=DataTransform("counted", transform),
    )
    apply_migration(store, migration, batch_size=batch)
    expected = sum(len(set(names[i : i + batch])) for i in range(0, len(names), batch))
    assert calls == Counter(transform=expected, choose=expected)
    assert {a.snapshot.data.name for a in store.agents()} == {f"name-{n}-v2" for n in names}
    store.close()
