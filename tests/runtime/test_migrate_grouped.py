"""Moves decided in Python: a chooser and a data transform run once per distinct input of a
batch, and the batch's moves are those each agent would get alone; on PostgreSQL such moves
are written optimistically, and an agent written between the read and the write keeps its
compare-and-set."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from migrate_fleet import build_fleet
from runtime_support import T0, StoreSpec

from agentfsm import Actor, Event, Snapshot
from agentfsm.migrate import DataTransform, Migration, StatusChooser, apply_migration
from agentfsm.migrate._apply import _decider
from agentfsm.migrate.examples import ALFE_V2
from agentfsm.models import ALFE, AlfeAgent
from agentfsm.runtime import DEFAULT_CODEC, MIGRATE, Controller, ManualClock, replay_differences
from agentfsm.runtime._migrate_sql import StoredAgent

SPAWN = multiprocessing.get_context("spawn")


def _by_credentials(snapshot: Snapshot) -> str:
    return "stopped" if snapshot.data.credentials % 2 else "hibernated"


def _bump(data: AlfeAgent, defaults: Any) -> AlfeAgent:
    # Leaves a record with an even host alone: the move then keeps the stored text.
    return data if data.host % 2 == 0 else attrs.evolve(data, host=data.host + 1)


_CHOOSER = StatusChooser("by credentials", ("stopped", "hibernated"), _by_credentials)


def _counted(calls: Counter[str]) -> Migration:
    def choose(snapshot: Snapshot) -> str:
        calls["choose"] += 1
        return _by_credentials(snapshot)

    def transform(data: AlfeAgent, defaults: Any) -> AlfeAgent:
        calls["transform"] += 1
        return _bump(data, defaults)

    chooser = StatusChooser("counted", ("stopped", "hibernated"), choose)
    return Migration(
        ALFE, ALFE_V2, statuses={"stopped": chooser}, data=DataTransform("bump", transform)
    )


_T = datetime(2026, 4, 3, tzinfo=UTC)
_agents = st.lists(
    st.tuples(
        st.sampled_from(["stopped", "running", "pending"]),
        st.integers(1, 2),  # version
        st.integers(0, 1),  # since, in hours after _T
        st.integers(0, 2),  # credentials
        st.integers(0, 2),  # host
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=_agents)
def test_the_grouped_decision_is_the_per_agent_one(
    rows: list[tuple[str, int, int, int, int]],
) -> None:
    # Agents share a record (one agent id, few values), so many inputs repeat in a batch.
    agents = [
        StoredAgent(
            f"a{i}", status, version, _T + timedelta(hours=since),
            DEFAULT_CODEC.dumps(AlfeAgent("same", "n", credentials=creds, host=host)),
        )
        for i, (status, version, since, creds, host) in enumerate(rows)
    ]  # fmt: skip
    calls: Counter[str] = Counter()
    migration = _counted(calls)
    batch = _decider(migration, DEFAULT_CODEC)(agents)
    inputs = Counter(calls)
    alone = [_decider(migration, DEFAULT_CODEC)([a])[0] for a in agents]
    assert batch == alone
    # Each distinct input was decided once, not once per agent.
    chosen = {(a.status, a.version, a.since, a.data_json) for a in agents if a.status == "stopped"}
    assert inputs["choose"] == len(chosen)
    assert inputs["transform"] == len({a.data_json for a in agents})
    for a, move in zip(agents, batch, strict=True):
        old = Snapshot(a.status, a.version, a.since, DEFAULT_CODEC.loads(a.data_json))
        new = migration.migrate_snapshot(old)
        assert (move.status, DEFAULT_CODEC.loads(move.data_json)) == (new.status, new.data)
        assert move.data_changed == (new.data != old.data)
        assert move.data_changed or move.data_json is a.data_json


def _fleet(store: Any, count: int) -> list[str]:
    return build_fleet(Controller(ALFE, store, ManualClock(T0)), count)


_PYTHON = Migration(
    ALFE, ALFE_V2, statuses={"stopped": _CHOOSER}, data=DataTransform("bump", _bump)
)


def test_moves_decided_in_python_match_the_snapshot_migration(store_spec: StoreSpec) -> None:
    store = store_spec.open()
    ids = _fleet(store, 36)
    before = {a.agent_id: a.snapshot for a in store.agents()}
    report = apply_migration(store, _PYTHON, batch_size=5)
    assert (report.migrated, report.remaining) == (36, 0)
    assert Counter(r.agent_id for r in store.audit_log() if r.kind == MIGRATE) == Counter(ids)
    for a in store.agents():
        assert a.snapshot == _PYTHON.migrate_snapshot(before[a.agent_id])
        assert a.machine_version == 2
    assert replay_differences(store, [ALFE, ALFE_V2]) == []
    store.close()


def test_an_agent_written_between_the_read_and_the_write_is_migrated_once_from_its_new_state(
    store_spec: StoreSpec,
) -> None:
    store = store_spec.open()
    ids = _fleet(store, 24)
    running = ids[4]  # driven to running
    assert store.load(running).snapshot.status == "running"
    controller = Controller(ALFE, store, ManualClock(T0), cache_size=0)
    stopped = threading.Event()

    def transform(data: AlfeAgent, defaults: Any) -> AlfeAgent:
        # While the batch holding it is being decided, a controller stops the agent.
        if data.agent_id == running and not stopped.is_set():
            stopped.set()
            controller.handle(running, Event("stop", Actor.USER))
        return attrs.evolve(data, host=data.host + 10)

    migration = Migration(ALFE, ALFE_V2, data=DataTransform("racing", transform))
    if store_spec.kind == "sqlite":
        # SQLite decides under its write lock: the controller cannot write then, so it is
        # not asked to (the race is PostgreSQL's, whose batches are read without locks).
        stopped.set()
    report = apply_migration(store, migration, batch_size=10)
    assert (report.migrated, report.remaining) == (24, 0)
    rows = [r for r in store.audit_log() if r.kind == MIGRATE]
    assert Counter(r.agent_id for r in rows) == Counter(ids)
    record = store.load(running)
    assert record.machine_version == 2
    if store_spec.kind == "postgres":
        # The stale move lost its compare-and-set; the next walk moved the stopped agent.
        (row,) = [r for r in rows if r.agent_id == running]
        assert (row.from_status, row.to_status) == ("stopping", "stopping")
        assert record.snapshot.status == "stopping"
    assert record.snapshot.data.host == 11
    assert replay_differences(store, [ALFE, ALFE_V2]) == []
    store.close()


def test_two_appliers_of_a_transform_never_migrate_an_agent_twice(pg_server: Any) -> None:
    from conftest import new_schema

    spec = StoreSpec("postgres", pg_server.dsn, new_schema())
    store = spec.open()
    ids = _fleet(store, 400)
    before = {a.agent_id: a.snapshot for a in store.agents()}
    reports: list[Any] = []

    def run() -> None:
        own = spec.open()
        reports.append(apply_migration(own, _PYTHON, batch_size=20))
        own.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(r.migrated for r in reports) == 400
    assert Counter(r.agent_id for r in store.audit_log() if r.kind == MIGRATE) == Counter(ids)
    for a in store.agents():
        assert a.snapshot == _PYTHON.migrate_snapshot(before[a.agent_id])
    assert replay_differences(store, [ALFE, ALFE_V2]) == []
    store.close()


def _slow_python_apply(spec: StoreSpec, started: Any) -> None:
    store = spec.open()

    def tick(n: int) -> None:
        started.set()
        time.sleep(0.05)

    apply_migration(store, _PYTHON, batch_size=20, on_batch=tick)
    store.close()


def test_an_applier_of_a_transform_killed_half_way_resumes_and_migrates_each_agent_once(
    store_spec: StoreSpec,
) -> None:
    store = store_spec.open()
    ids = _fleet(store, 300)
    before = {a.agent_id: a.snapshot for a in store.agents()}
    started = SPAWN.Event()
    proc = SPAWN.Process(target=_slow_python_apply, args=(store_spec, started), daemon=True)
    proc.start()
    assert started.wait(60)
    time.sleep(0.25)
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    done = sum(1 for a in store.agents() if a.machine_version == 2)
    assert 0 < done < 300, done  # killed half-way
    report = apply_migration(store, _PYTHON, batch_size=50)
    assert (report.migrated, report.remaining) == (300 - done, 0)
    assert Counter(r.agent_id for r in store.audit_log() if r.kind == MIGRATE) == Counter(ids)
    for a in store.agents():
        assert a.snapshot == _PYTHON.migrate_snapshot(before[a.agent_id])
    assert replay_differences(store, [ALFE, ALFE_V2]) == []
    store.close()


def _nul_name(data: AlfeAgent, defaults: Any) -> AlfeAgent:
    return attrs.evolve(data, name="nul\x00here") if data.agent_id.endswith("7") else data


def test_a_batch_the_database_refuses_writes_nothing_and_the_store_keeps_working(
    store_spec: StoreSpec,
) -> None:
    from agentfsm.runtime import CodecError

    store = store_spec.open()
    _fleet(store, 30)
    before, log = store.agents(), len(store.audit_log())
    refused = Migration(ALFE, ALFE_V2, data=DataTransform("nul", _nul_name))
    try:
        apply_migration(store, refused, batch_size=5)
    except CodecError:
        pass  # PostgreSQL refuses U+0000 in JSON; SQLite stores it
    else:
        assert store_spec.kind == "sqlite"
        store.close()
        return
    # The batch holding agent 7 was refused whole; the one before it was written.
    moved = {a.agent_id for a in store.agents() if a.machine_version == 2}
    assert moved == {a.agent_id for a in before[:5]}
    assert len(store.audit_log()) == log + 5
    report = apply_migration(store, _PYTHON, batch_size=50)
    assert (report.migrated, report.remaining) == (25, 0)
    store.close()
