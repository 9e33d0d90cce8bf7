"""Running migrations on both stores: plan, apply, dry run, resumption after SIGKILL, two
appliers at once, a controller handling events throughout, and replay across the migration."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import threading
import time
from collections import Counter
from typing import Any

import pytest
from migrate_fleet import STATUSES, build_fleet, status_of
from runtime_support import T0, StoreSpec

from agentfsm import Actor, Context, Event, Step, decide
from agentfsm.migrate import (
    CANCEL,
    IDENTITY,
    DataTransform,
    Migration,
    MigrationError,
    Remap,
    apply_migration,
    plan_migration,
)
from agentfsm.migrate.examples import ALFE_V1_TO_V2, ALFE_V2, ALFE_V2_INVARIANTS
from agentfsm.models import ALFE
from agentfsm.runtime import (
    MIGRATE,
    PENDING,
    Controller,
    CorruptDatabase,
    MachineVersionMismatch,
    ManualClock,
    SQLiteStore,
    Store,
    SystemClock,
    replay_agent,
    replay_differences,
)
from tests.migrations import REMOVAL_MAPPED, REMOVAL_UNMAPPED

SPAWN = multiprocessing.get_context("spawn")
S, U = Actor.SYSTEM, Actor.USER


def _fleet(store: Store, count: int) -> list[str]:
    return build_fleet(Controller(ALFE, store, ManualClock(T0)), count)


def _migrated_once(store: Store, ids: list[str]) -> None:
    rows = [r for r in store.audit_log() if r.kind == MIGRATE]
    per_agent = Counter(r.agent_id for r in rows)
    assert set(per_agent) == set(ids)
    assert set(per_agent.values()) == {1}
    assert {r.event for r in rows} == {"migrate v1\u2192v2"}
    assert {r.machine_version for r in rows} == {2}
    assert {a.machine_version for a in store.agents()} == {2}


def test_plan_counts_by_status_and_writes_nothing(store: Store) -> None:
    ids = _fleet(store, 48)
    before = store.agents()
    plan = plan_migration(store, ALFE_V1_TO_V2)
    assert plan.agents == 48
    assert {(r.from_status, r.to_status, r.agents) for r in plan.rows} == {
        (s, s, 4) for s in STATUSES
    }
    # Timers kept by the identity migration are not changes; a cancelling one lists them.
    assert plan.timers == ()
    cancelling = Migration(ALFE, ALFE_V2, timers={"boot_timeout": CANCEL})
    timers = plan_migration(store, cancelling).timers
    assert [(t.name, t.rule) for t in timers] == [("boot_timeout", "cancel")]
    assert timers[0].count == len(store.timers()) - sum(
        1 for t in store.timers() if t.event != "boot_timeout"
    )
    dry = apply_migration(store, ALFE_V1_TO_V2, dry_run=True)
    assert dry.dry_run
    assert dry.migrated == 0
    assert dry.plan == plan
    assert store.agents() == before
    assert "stopped" in plan.format()
    assert len(ids) == 48


def test_apply_migrates_every_agent_once_and_replay_still_rebuilds(store: Store) -> None:
    ids = _fleet(store, 60)
    timers_before = {(t.agent_id, t.event, t.due_at) for t in store.timers()}
    assert timers_before  # pending boot, recovery, capacity and purge deadlines
    report = apply_migration(store, ALFE_V1_TO_V2, batch_size=7, clock=ManualClock(T0))
    assert (report.migrated, report.remaining) == (60, 0)
    assert report.batches == 9
    _migrated_once(store, ids)
    for i, a in enumerate(ids):
        record = store.load(a)
        assert record.snapshot.status == status_of(i)
        last = store.history(a)[-1]
        assert (last.from_status, last.to_status) == (status_of(i), status_of(i))
        assert last.version == record.snapshot.version
    assert {(t.agent_id, t.event, t.due_at) for t in store.timers()} == timers_before
    assert replay_differences(store, [ALFE, ALFE_V2]) == []
    # Running it again finds nothing to do.
    again = apply_migration(store, ALFE_V1_TO_V2)
    assert (again.migrated, again.remaining) == (0, 0)
    # Version 1 no longer decides them; version 2 does, and the new status works.
    with pytest.raises(MachineVersionMismatch):
        Controller(ALFE, store, ManualClock(T0)).handle(ids[7], Event("start", U))
    v2 = Controller(ALFE_V2, store, ManualClock(T0))
    stopped = ids[STATUSES.index("stopped")]
    assert isinstance(v2.handle(stopped, Event("hibernate", S)), Step)
    assert store.load(stopped).snapshot.status == "hibernated"
    assert isinstance(v2.handle(stopped, Event("start", U)), Step)
    assert replay_differences(store, [ALFE, ALFE_V2]) == []


def _same(data: Any, defaults: Any) -> Any:
    return data


# The rules are statements of their own whether or not agents go through Python: both ways.
@pytest.mark.parametrize("data", [IDENTITY, DataTransform("same", _same)], ids=["sql", "python"])
def test_timer_and_outbox_rules_are_applied(store: Store, data: DataTransform) -> None:
    ids = _fleet(store, 24)
    recovery = {t.agent_id for t in store.timers() if t.event == "recovery_exhausted"}
    boots = {t.agent_id for t in store.timers() if t.event == "boot_timeout"}
    assert recovery
    assert boots
    pending_recoveries = [
        i for i in store.outbox(state=PENDING) if type(i.payload).__name__ == "StartRecovery"
    ]
    assert pending_recoveries
    rules = Migration(
        ALFE,
        ALFE_V2,
        data=data,
        timers={"boot_timeout": CANCEL, "recovery_exhausted": Remap("capacity_retry")},
        outbox={"StartRecovery": CANCEL},
    )
    apply_migration(store, rules)
    left = store.timers()
    assert not any(t.event == "boot_timeout" for t in left)
    assert {t.agent_id for t in left if t.event == "capacity_retry"} >= recovery
    assert not any(type(i.payload).__name__ == "StartRecovery" for i in store.outbox(state=PENDING))
    closed = {i.id: i for i in store.outbox()}
    assert all("cancelled by the migration" in (closed[i.id].last_error or "")
               for i in pending_recoveries)  # fmt: skip
    assert len(ids) == 24


def test_a_removal_without_a_mapping_is_refused_and_changes_nothing(store: Store) -> None:
    _fleet(store, 24)
    before = store.agents()
    log = len(store.audit_log())
    plan = plan_migration(store, REMOVAL_UNMAPPED)
    assert plan.unmapped == ("waitlisted",)
    with pytest.raises(MigrationError, match="waitlisted"):
        apply_migration(store, REMOVAL_UNMAPPED, batch_size=1_000)
    assert store.agents() == before
    assert len(store.audit_log()) == log
    report = apply_migration(store, REMOVAL_MAPPED)
    assert report.remaining == 0
    statuses = Counter(a.snapshot.status for a in store.agents())
    assert "waitlisted" not in statuses
    assert statuses["pending"] == 4  # two pending agents, and two that were waitlisted
    assert replay_differences(store, [ALFE, REMOVAL_MAPPED.to_machine]) == []


# -- crashes ---------------------------------------------------------------------------------


def _slow_apply(spec: StoreSpec, started: Any) -> None:
    store = spec.open()

    def tick(n: int) -> None:
        started.set()
        time.sleep(0.05)

    apply_migration(store, ALFE_V1_TO_V2, batch_size=20, on_batch=tick)
    store.close()


def test_an_applier_killed_half_way_resumes_and_migrates_each_agent_once(
    store_spec: StoreSpec, store: Store
) -> None:
    ids = _fleet(store, 400)
    started = SPAWN.Event()
    proc = SPAWN.Process(target=_slow_apply, args=(store_spec, started), daemon=True)
    proc.start()
    assert started.wait(60)
    time.sleep(0.25)
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    done = sum(1 for a in store.agents() if a.machine_version == 2)
    assert 0 < done < 400, done  # killed half-way
    report = apply_migration(store, ALFE_V1_TO_V2, batch_size=50)
    assert report.migrated == 400 - done
    _migrated_once(store, ids)
    assert replay_differences(store, [ALFE, ALFE_V2]) == []


@pytest.mark.postgres
def test_two_appliers_at_once_never_migrate_an_agent_twice(pg_server: Any) -> None:
    from conftest import new_schema

    spec = StoreSpec("postgres", pg_server.dsn, new_schema())
    store = spec.open()
    ids = _fleet(store, 600)
    reports: list[Any] = []

    def run() -> None:
        own = spec.open()
        reports.append(apply_migration(own, ALFE_V1_TO_V2, batch_size=25))
        own.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(r.migrated for r in reports) == 600
    assert all(r.migrated > 0 for r in reports), [r.migrated for r in reports]
    _migrated_once(store, ids)
    store.close()


# -- a controller at work throughout -----------------------------------------------------------

_WORK = (
    ("start", U, {}), ("stop", U, {}), ("restart", U, {}), ("connected", S, {}),
    ("connection_lost", S, {}), ("shutdown_complete", S, {}), ("host_up", S, {}),
    ("hibernate", S, {}), ("billing_suspend", S, {"reason": "payment_issue"}),
    ("billing_resume", S, {"standing": "good"}),
)  # fmt: skip


def _scenario_sizes() -> list[Any]:
    # The scenario is 10,000 agents. On SQLite that stays quick; on PostgreSQL building
    # the fleet alone takes half a minute here, so 10,000 is marked slow there beside a 2,000
    # run.
    return [
        pytest.param("sqlite", 10_000, id="sqlite-10000"),
        pytest.param("postgres", 2_000, id="postgres-2000", marks=pytest.mark.postgres),
        pytest.param(
            "postgres", 10_000, id="postgres-10000",
            marks=[pytest.mark.postgres, pytest.mark.slow],
        ),
    ]  # fmt: skip


@pytest.mark.parametrize(("kind", "count"), _scenario_sizes())
def test_migrating_while_a_controller_keeps_handling_events(
    kind: str, count: int, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    if kind == "sqlite":
        spec = StoreSpec("sqlite", str(tmp_path / "agents.db"))
    else:
        from conftest import new_schema

        spec = StoreSpec("postgres", request.getfixturevalue("pg_server").dsn, new_schema())
    store = spec.open()
    ids = _fleet(store, count)
    # Agents in every status, with their pending deadlines.
    assert Counter(a.snapshot.status for a in store.agents()) == Counter(
        {s: count // len(STATUSES) + (i < count % len(STATUSES)) for i, s in enumerate(STATUSES)}
    )
    timers_before = store.timers()
    assert {t.event for t in timers_before} >= {"boot_timeout", "recovery_exhausted",
                                                 "capacity_retry", "purge"}  # fmt: skip
    controller = Controller([ALFE, ALFE_V2], store, SystemClock())
    stop = threading.Event()
    handled: list[int] = []
    errors: list[BaseException] = []
    during: list[tuple[int, int]] = []  # (agents migrated, events handled) after each batch

    def work() -> None:
        rng = random.Random(7)
        n = 0
        try:
            while not stop.is_set():
                batch = rng.sample(ids, 20)
                for a in batch:
                    name, actor, payload = rng.choice(_WORK)
                    controller.handle(a, Event(name, actor, payload))
                    n += 1
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        handled.append(n)

    worker = threading.Thread(target=work)
    worker.start()
    started = time.monotonic()
    while controller.stats.handled < 20 and time.monotonic() - started < 30:
        time.sleep(0.01)  # the controller is at work before the migration starts
    before = controller.stats.handled
    moved = 0

    def pace(n: int) -> None:
        nonlocal moved
        moved += n
        during.append((moved, controller.stats.handled))
        time.sleep(0.005)  # a throttled migration on a live platform pauses between batches

    try:
        report = apply_migration(store, ALFE_V1_TO_V2, batch_size=200, on_batch=pace)
    finally:
        stop.set()
        worker.join(60)
    assert not errors, errors
    assert report.remaining == 0
    # Events were handled between batches, not only before the migration or after it.
    assert during[-1][1] > during[0][1] >= before >= 20
    assert handled[0] > during[-1][1] - before
    _migrated_once(store, ids)
    # The controller decided v1 agents and v2 agents while the migration ran.
    rows = store.audit_log()
    decided = {r.machine_version for r in rows if r.kind != MIGRATE and r.at > T0}
    assert decided == {1, 2}
    # Pending deadlines went along: every one the controller did not touch is still there.
    touched = {r.agent_id for r in rows if r.kind != MIGRATE and r.at > T0}
    kept = {(t.agent_id, t.event, t.due_at) for t in store.timers()}
    assert {(t.agent_id, t.event, t.due_at) for t in timers_before
            if t.agent_id not in touched} <= kept  # fmt: skip
    # Every decision after an agent's migration was made by version 2, and the log replays.
    by_agent: dict[str, list[Any]] = {}
    for r in rows:
        by_agent.setdefault(r.agent_id, []).append(r)
    for a in ids:
        kinds = [r.kind for r in by_agent[a]]
        seen = kinds.index(MIGRATE)
        assert {r.machine_version for r in by_agent[a][seen:]} == {2}
        assert {r.machine_version for r in by_agent[a][:seen]} == {1}
    assert replay_differences(store, [ALFE, ALFE_V2]) == []
    statuses = {a.snapshot.status for a in store.agents()}
    assert statuses <= set(ALFE_V2.states)
    assert _broken_invariants(by_agent) == []
    store.close()


def _broken_invariants(by_agent: dict[str, list[Any]]) -> list[str]:
    """Every decision recorded after each agent's migration, decided again from the replayed
    snapshot before it, checked against v2's invariants."""
    broken = []
    for a, rows in by_agent.items():
        at = [r.kind for r in rows].index(MIGRATE)
        before = replay_agent([ALFE, ALFE_V2], rows[: at + 1])
        for row in rows[at + 1 :]:
            event = Event(row.event, row.actor or "U", row.payload, row.event_id)
            ctx = Context(row.at)
            result = decide(ALFE_V2, before, event, ctx)
            for inv in ALFE_V2_INVARIANTS:
                message = inv.check(before, event, result, ALFE_V2, ctx)
                if message is not None:
                    broken.append(f"{a} row {row.seq}: {inv.name}: {message}")
            if isinstance(result, Step):
                before = result.snapshot
    return broken


def test_regression_damaged_since_in_a_migration_batch_raised_bare_value_error(
    tmp_path: Any,
) -> None:
    # A migration reads agents by its own query; a damaged row is reported as every read path
    # reports it (CorruptDatabase naming the row), and its batch writes nothing.
    store = SQLiteStore(tmp_path / "agents.db")
    ids = _fleet(store, 6)
    conn = store._conn()
    conn.execute("UPDATE agents SET since = 'yesterday' WHERE id = ?", (ids[3],))
    dump = "SELECT * FROM agents ORDER BY id"
    before = conn.execute(dump).fetchall(), len(store.audit_log())
    # A data transform takes every row through Python (a status-only migration reads none).
    reading = Migration(ALFE, ALFE_V2, data=DataTransform("unchanged", lambda d, _: d))
    with pytest.raises(CorruptDatabase, match=f"agents row '{ids[3]}'"):
        apply_migration(store, reading, batch_size=10)
    assert (conn.execute(dump).fetchall(), len(store.audit_log())) == before
    store.close()


# -- statuses under a chooser: only their agents are read (SQLite), every agent still moved ----


def _by_host(snapshot: Any) -> str:
    return "stopped" if snapshot.data.host % 2 else "hibernated"


def _nowhere(snapshot: Any) -> str:
    return "running"


def test_a_chooser_moves_its_agents_and_the_database_the_others(store: Store) -> None:
    from agentfsm.migrate import StatusChooser

    ids = _fleet(store, 48)
    chooser = StatusChooser("by host", ("stopped", "hibernated"), _by_host)
    migration = Migration(
        ALFE, ALFE_V2, statuses={"stopped": chooser}, timers={"boot_timeout": CANCEL}
    )
    before = {a.agent_id: a.snapshot for a in store.agents()}
    assert apply_migration(store, migration, batch_size=5).remaining == 0
    _migrated_once(store, ids)
    for a in store.agents():
        old = before[a.agent_id]
        expected = _by_host(old) if old.status == "stopped" else old.status
        assert a.snapshot.status == expected
        assert a.snapshot.data == old.data
        assert a.snapshot.version == old.version + 1
    assert not any(t.event == "boot_timeout" for t in store.timers())
    assert replay_differences(store, [ALFE, ALFE_V2]) == []


def test_a_chooser_batch_with_an_unmapped_status_or_a_stray_choice_writes_nothing(
    store: Store,
) -> None:
    from agentfsm.migrate import StatusChooser
    from tests.migrations import ALFE_NO_WAITLIST

    _fleet(store, 24)
    agents, log = store.agents(), len(store.audit_log())
    stay = StatusChooser("stay", ("stopped",), _by_host)
    unmapped = Migration(ALFE, ALFE_NO_WAITLIST, statuses={"stopped": stay})
    with pytest.raises(MigrationError, match="waitlisted"):
        apply_migration(store, unmapped, batch_size=1_000)
    wrong = StatusChooser("stray", ("stopped",), _nowhere)
    stray = Migration(ALFE, ALFE_V2, statuses={"stopped": wrong})
    with pytest.raises(MigrationError, match="stray"):
        apply_migration(store, stray, batch_size=1_000)
    assert store.agents() == agents
    assert len(store.audit_log()) == log
