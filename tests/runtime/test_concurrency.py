"""Concurrency, crashes and replicas: several threads and processes on one database.

No update is lost (every accepted event is in the log exactly once and the log replays to
every final snapshot), every conflict is the retryable ``VersionConflict``, a worker killed
with SIGKILL mid-batch loses nothing and repeats only what it had not recorded as done, and
two replicas never perform one outbox item twice. The crash test runs on the asyncio worker too.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from runtime_support import FakeIdempotentHost, FakeLedger, StoreSpec, agent_data, random_event

from agentfsm import Actor, Event, Policy, Step
from agentfsm import effects as fx
from agentfsm.models import MACHINES
from agentfsm.runtime import (
    DONE,
    PENDING,
    Controller,
    OutboxWorker,
    Store,
    StoreError,
    SystemClock,
    TimerWorker,
    VersionConflict,
    replay_differences,
)

SPAWN = multiprocessing.get_context("spawn")
AGENTS = [(f"ag-{i:03d}", "alfe" if i % 3 else "recif") for i in range(100)]
ANSWERS = {fx.ProvisionHost: "host_up", fx.BootAgent: "connected"}


def _fire(spec: StoreSpec | Store, seed: int, count: int, prefix: str) -> dict[str, Any]:
    """Fire ``count`` random events at the 100 agents; report each event id's outcome."""
    store = spec.open() if isinstance(spec, StoreSpec) else spec
    controller = Controller(MACHINES, store, SystemClock(), max_retries=3)
    rng = random.Random(seed)
    accepted: list[str] = []
    refused: list[str] = []
    conflicted: list[str] = []
    errors: list[str] = []
    for n in range(count):
        agent, machine = rng.choice(AGENTS)
        event = random_event(rng, MACHINES[machine], f"name-{agent}")
        event_id = f"{prefix}-{n}"
        try:
            result = controller.handle(
                agent, Event(event.name, event.actor, event.payload, event_id)
            )
        except VersionConflict as exc:
            (conflicted if exc.retryable else errors).append(event_id)
            continue
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        (accepted if isinstance(result, Step) else refused).append(event_id)
    if isinstance(spec, StoreSpec):
        store.close()
    return {
        "accepted": accepted,
        "refused": refused,
        "conflicted": conflicted,
        "errors": errors,
        "conflicts": controller.stats.conflicts,
    }


def _setup(store: Store) -> None:
    Controller(MACHINES, store, SystemClock()).create_many(
        [(a, m, agent_data(m, a)) for a, m in AGENTS]
    )


def _check_no_update_lost(store: Store, reports: list[dict[str, Any]]) -> None:
    assert [e for r in reports for e in r["errors"]] == []
    logged = Counter(row.event_id for row in store.audit_log())
    rows = {row.event_id: row for row in store.audit_log()}
    for report in reports:
        for event_id in report["accepted"]:
            assert logged[event_id] == 1
            assert rows[event_id].accepted
        for event_id in report["refused"]:
            assert logged[event_id] == 1
            assert not rows[event_id].accepted
        for event_id in report["conflicted"]:
            assert logged[event_id] == 0
    events = [r for r in store.audit_log() if r.kind == "event"]
    assert len(events) == sum(len(r["accepted"]) + len(r["refused"]) for r in reports)
    assert sum(len(r["accepted"]) for r in reports) > 0
    assert replay_differences(store, MACHINES) == []


def test_threads_lose_no_update(store: Store) -> None:
    _setup(store)
    reports: list[dict[str, Any]] = [{} for _ in range(4)]

    def run(i: int) -> None:
        reports[i] = _fire(store, seed=i, count=150, prefix=f"t{i}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    _check_no_update_lost(store, reports)


def test_processes_lose_no_update(store_spec: StoreSpec, store: Store) -> None:
    _setup(store)
    with SPAWN.Pool(3) as pool:
        reports = pool.starmap(_fire, [(store_spec, 100 + i, 150, f"p{i}") for i in range(3)])
    _check_no_update_lost(store, reports)


# -- crashes ------------------------------------------------------------------------------


def _outbox_worker(spec: StoreSpec, ledger: str, worker_id: str, ready: Any) -> None:
    store = spec.open()
    controller = Controller(MACHINES, store, SystemClock())
    handler = FakeIdempotentHost(ledger, os.getpid(), ANSWERS, pause=0.005)
    worker = OutboxWorker(
        controller, handler, worker_id=worker_id, batch_size=8, lease=timedelta(seconds=0.3)
    )
    ready.set()
    while worker.run_once().claimed or store.outbox(state=PENDING, limit=1):
        time.sleep(0.01)
    store.close()


def _async_outbox_worker(spec: StoreSpec, ledger: str, worker_id: str, ready: Any) -> None:
    """``_outbox_worker`` on the asyncio runtime (the async store of the same database)."""
    import asyncio

    from agentfsm.runtime import (
        AsyncController,
        AsyncOutboxWorker,
        AsyncPostgresStore,
        AsyncSQLiteStore,
    )

    async def main() -> None:
        store: Any = (
            AsyncSQLiteStore(spec.target)
            if spec.kind == "sqlite"
            else AsyncPostgresStore(spec.target, schema=spec.schema, max_size=2)
        )
        async with store:
            controller = AsyncController(MACHINES, store, SystemClock())
            handler = FakeIdempotentHost(ledger, os.getpid(), ANSWERS, pause=0.005)
            worker = AsyncOutboxWorker(
                controller, handler, worker_id=worker_id, batch_size=8,
                lease=timedelta(seconds=0.3),
            )  # fmt: skip
            ready.set()
            while (await worker.run_once()).claimed or await store.outbox(state=PENDING, limit=1):
                await asyncio.sleep(0.01)

    asyncio.run(main())


def _crash_run(spec: StoreSpec, tmp: Path, seed: int, worker: Any = _outbox_worker) -> None:
    rng = random.Random(seed)
    store = spec.open()
    controller = Controller(MACHINES, store, SystemClock())
    ids = [f"c{seed}-{i}" for i in range(24)]
    controller.create_many([(a, "alfe", agent_data("alfe", a)) for a in ids])
    for a in ids:
        controller.handle(a, Event("provision", Actor.SYSTEM))
    ledger = str(tmp / f"ledger-{seed}.db")
    FakeLedger(ledger)
    killed: set[int] = set()
    interrupted = 0
    for round_ in range(12):
        if not store.outbox(state=PENDING, limit=1):
            break
        ready = SPAWN.Event()
        proc = SPAWN.Process(
            target=worker, args=(spec, ledger, f"w{round_ % 2}", ready), daemon=True
        )
        proc.start()
        assert ready.wait(30)
        if round_ < 4:  # the first rounds are killed mid-batch; later ones may finish
            time.sleep(rng.uniform(0.0, 0.1))
            if proc.pid is not None and proc.exitcode is None:
                os.kill(proc.pid, signal.SIGKILL)
                killed.add(proc.pid)
        proc.join(60)
        if proc.pid in killed and store.outbox(state=PENDING, limit=1):
            interrupted += 1
    assert interrupted >= 2, "the kills did not land while work was pending"
    assert store.outbox(state=PENDING) == []
    items = store.outbox()
    assert {i.state for i in items} == {DONE}
    conn = FakeLedger(ledger).connect()
    calls = conn.execute("SELECT key, pid, done FROM calls ORDER BY rowid").fetchall()
    applied = dict(conn.execute("SELECT key, n FROM applied").fetchall())
    conn.close()
    # Every effect performed at least once, and applied once by the key-idempotent adapter.
    assert {i.key for i in items} == set(applied)
    assert set(applied.values()) == {1}
    # A call is repeated only when the process that made the earlier call was killed.
    by_key: dict[str, list[tuple[int, int]]] = {}
    for key, pid, done in calls:
        by_key.setdefault(key, []).append((pid, done))
    for key, key_calls in by_key.items():
        for pid, _done in key_calls[:-1]:
            assert pid in killed, f"{key} was performed again after a clean finish"
    # No transition lost: each agent went provisioning -> starting -> running exactly once.
    for a in ids:
        names = [r.event for r in store.history(a)]
        assert names == ["alfe", "provision", "host_up", "connected"], (a, names)
        assert store.load(a).snapshot.status == "running"
    assert replay_differences(store, MACHINES) == []
    store.close()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 6, 7])
def test_worker_killed_mid_batch_loses_and_repeats_nothing_sqlite(
    tmp_path: Path, seed: int
) -> None:
    _crash_run(StoreSpec("sqlite", str(tmp_path / "crash.db")), tmp_path, seed)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("seed", [4, 5, 8])
def test_worker_killed_mid_batch_loses_and_repeats_nothing_postgres(
    tmp_path: Path, pg_dsn: str, seed: int
) -> None:
    _crash_run(StoreSpec("postgres", pg_dsn, f"crash_{seed}_{os.getpid()}"), tmp_path, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_async_worker_killed_mid_batch_loses_and_repeats_nothing_sqlite(
    tmp_path: Path, seed: int
) -> None:
    spec = StoreSpec("sqlite", str(tmp_path / "crash.db"))
    _crash_run(spec, tmp_path, seed, _async_outbox_worker)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("seed", [4, 5])
def test_async_worker_killed_mid_batch_loses_and_repeats_nothing_postgres(
    tmp_path: Path, pg_dsn: str, seed: int
) -> None:
    spec = StoreSpec("postgres", pg_dsn, f"acrash_{seed}_{os.getpid()}")
    _crash_run(spec, tmp_path, seed, _async_outbox_worker)


# -- replicas -----------------------------------------------------------------------------

FAST = Policy(
    stuck_after=timedelta(seconds=0.2),
    boot_timeout=timedelta(seconds=0.2),
    recovery_timeout=timedelta(seconds=0.4),
    grace_period=timedelta(seconds=0.3),
    capacity_retry_base=timedelta(seconds=0.1),
    capacity_retry_max=timedelta(seconds=0.3),
)
FAST_MACHINES = {name: m.with_policy(FAST) for name, m in MACHINES.items()}
USER_EVENTS = ("start", "stop", "restart", "delete", "provision", "capacity_unavailable")


def _replica_controller(spec: StoreSpec, seed: int, seconds: float, events: int) -> int:
    # At least ``events`` events and at least ``seconds`` long: a count, not only a window, so a
    # loaded machine sends as many events as a quiet one (only more slowly).
    store = spec.open()
    controller = Controller(FAST_MACHINES, store, SystemClock())
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    sent = 0
    while sent < events or time.monotonic() < deadline:
        agent = f"r-{rng.randrange(40)}"
        name = rng.choice(USER_EVENTS)
        actor = Actor.USER if name in ("start", "stop", "restart", "delete") else Actor.SYSTEM
        try:
            controller.handle(agent, Event(name, actor))
        except StoreError as exc:
            if not exc.retryable:
                raise
        sent += 1
        time.sleep(0.005)
    store.close()
    return sent


def _replica_worker(
    spec: StoreSpec, ledger: str, seconds: float, stop: str, limit: float
) -> tuple[int, int]:
    # Works for at least ``seconds``, then until the senders are done (``stop`` exists) and a
    # pass finds nothing left; ``limit`` bounds it all.
    store = spec.open()
    controller = Controller(FAST_MACHINES, store, SystemClock())
    handler = FakeIdempotentHost(ledger, os.getpid(), {fx.ProvisionHost: "host_up"})
    outbox = OutboxWorker(controller, handler, batch_size=5)
    timers = TimerWorker(controller, batch_size=5)
    started = time.monotonic()
    done = fired = 0
    while time.monotonic() - started < limit:
        a, b = outbox.run_once(), timers.run_once()
        done += a.done
        fired += b.claimed
        idle = not (a.claimed or b.claimed)
        if idle and time.monotonic() - started >= seconds and os.path.exists(stop):
            break
        if idle:
            time.sleep(0.01)
    store.close()
    return done, fired


@pytest.mark.slow
@pytest.mark.postgres
def test_two_replicas_share_outbox_and_timers_without_doubles(tmp_path: Path, pg_dsn: str) -> None:
    spec = StoreSpec("postgres", pg_dsn, f"replicas_{os.getpid()}")
    store = spec.open()
    Controller(FAST_MACHINES, store, SystemClock()).create_many(
        [(f"r-{i}", "alfe", agent_data("alfe", f"r-{i}")) for i in range(40)]
    )
    ledger = str(tmp_path / "ledger.db")
    FakeLedger(ledger)
    stop = tmp_path / "senders-done"
    with SPAWN.Pool(4) as pool:
        controllers = [pool.apply_async(_replica_controller, (spec, s, 2.5, 60)) for s in (1, 2)]
        workers = [
            pool.apply_async(_replica_worker, (spec, ledger, 4.5, str(stop), 100.0))
            for _ in range(2)
        ]
        sent = [c.get(120) for c in controllers]
        stop.touch()
        work = [w.get(120) for w in workers]
    assert all(n >= 60 for n in sent)
    assert all(done > 0 for done, _fired in work), work  # both workers took a share
    assert sum(fired for _done, fired in work) > 0  # timers fired
    conn = FakeLedger(ledger).connect()
    repeated = conn.execute("SELECT key, COUNT(*) FROM calls GROUP BY key HAVING COUNT(*) > 1")
    assert repeated.fetchall() == []
    performed = {k for (k,) in conn.execute("SELECT key FROM calls")}
    conn.close()
    items = store.outbox()
    assert store.outbox(state=PENDING) == []
    assert {i.key for i in items if i.state == DONE} == performed
    log = Counter(r.event_id for r in store.audit_log())
    assert max(log.values()) == 1
    timer_rows = [r for r in store.audit_log() if r.actor == "T"]
    assert timer_rows, "no timer fired"
    assert replay_differences(store, FAST_MACHINES) == []
    store.close()
