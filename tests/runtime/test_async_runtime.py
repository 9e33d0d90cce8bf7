"""The asyncio runtime: the same guarantees as the sync one, under tasks and cancellation.

Many tasks on one database lose no update (every accepted event logged once, the log replays
to every snapshot); tasks cancelled at random awaits leave nothing half-written (the outbox and
the timers are exactly what the logged decisions wrote); workers wake on new work instead of
waiting for their poll; coroutine handlers and reconcilers work; shutdown is graceful.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from runtime_support import T0, FakeHost, agent_data, random_event
from test_concurrency import AGENTS, _check_no_update_lost

from agentfsm import Actor, Context, Event, Step, decide
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    PARKED,
    AgentRecord,
    AsyncController,
    AsyncOutboxWorker,
    AsyncPostgresStore,
    AsyncReconcileLoop,
    AsyncSQLiteStore,
    AsyncTimerWorker,
    Controller,
    Delivery,
    ManualClock,
    OutboxWorker,
    PostgresStore,
    SQLiteStore,
    Store,
    StoreError,
    SystemClock,
    TemporaryError,
    VersionConflict,
    replay_agent,
    replay_differences,
)
from agentfsm.runtime._controller import write_for
from conftest import new_schema

S, U = Actor.SYSTEM, Actor.USER
Opener = Callable[[], Any]


class AsyncStores:
    """How a test opens the async store under test, and a sync store on the same data."""

    def __init__(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.kind = kind
        if kind == "sqlite":
            self.path = str(tmp_path / "agents.db")
        else:
            self.dsn = request.getfixturevalue("pg_server").dsn
            self.schema = new_schema()

    def open_async(self, **kwargs: Any) -> Any:
        if self.kind == "sqlite":
            return AsyncSQLiteStore(self.path)
        return AsyncPostgresStore(self.dsn, schema=self.schema, max_size=8, **kwargs)

    def open_sync(self) -> Store:
        if self.kind == "sqlite":
            return SQLiteStore(self.path)
        return PostgresStore(self.dsn, schema=self.schema, max_size=2)


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncStores:
    return AsyncStores(request.param, tmp_path, request)


def _run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))  # type: ignore[arg-type]


# -- no lost update -------------------------------------------------------------------------


async def _fire(controller: AsyncController, seed: int, count: int, prefix: str) -> dict[str, Any]:
    rng = random.Random(seed)
    report: dict[str, Any] = {"accepted": [], "refused": [], "conflicted": [], "errors": []}
    for n in range(count):
        agent, machine = rng.choice(AGENTS[:20])  # few agents: tasks collide
        event = random_event(rng, MACHINES[machine], f"name-{agent}")
        event_id = f"{prefix}-{n}"
        try:
            result = await controller.handle(
                agent, Event(event.name, event.actor, event.payload, event_id)
            )
        except VersionConflict:
            report["conflicted"].append(event_id)
            continue
        except Exception as exc:
            report["errors"].append(f"{type(exc).__name__}: {exc}")
            continue
        report["accepted" if isinstance(result, Step) else "refused"].append(event_id)
    return report


def test_many_tasks_lose_no_update(stores: AsyncStores) -> None:
    async def main() -> list[dict[str, Any]]:
        async with stores.open_async() as store:
            setup = AsyncController(MACHINES, store, SystemClock())
            await setup.create_many([(a, m, agent_data(m, a)) for a, m in AGENTS])
            # Two controllers, each with its own cache, and 16 tasks: stale reads conflict.
            ctrls = [AsyncController(MACHINES, store, SystemClock(), max_retries=6)] * 8
            ctrls += [AsyncController(MACHINES, store, SystemClock(), max_retries=6)] * 8
            reports = await asyncio.gather(*(_fire(c, i, 40, f"t{i}") for i, c in enumerate(ctrls)))
            assert sum(c.stats.conflicts for c in set(ctrls)) > 0, "no task ever collided"
            return list(reports)

    reports = _run(main())
    check = stores.open_sync()
    try:
        _check_no_update_lost(check, reports)
    finally:
        check.close()


# -- cancellation ---------------------------------------------------------------------------


def _expected_writes(store: Store) -> tuple[set[str], set[str]]:
    """The outbox keys and timer tokens that the logged decisions wrote, rebuilt from the log."""
    keys: set[str] = set()
    tokens: set[str] = set()
    for record in store.agents():
        machine = MACHINES[record.machine]
        rows = store.history(record.agent_id)
        for i, row in enumerate(rows):
            if row.kind != "event" or row.refusal is not None:
                continue
            before = replay_agent(machine, rows[:i])
            event = Event(row.event, row.actor or "U", row.payload, row.event_id)
            ctx = Context(row.at)
            step = decide(machine, before, event, ctx)
            agent = AgentRecord(record.agent_id, record.machine, before, row.at, row.at)
            w = write_for(
                Delivery(record.agent_id, event, principal=row.principal), agent, step, ctx
            )
            keys |= {o.key for o in w.outbox}
            tokens |= {t.token for t in w.timers}
    return keys, tokens


class SlowAsyncHost(FakeHost):
    """A coroutine handler: awaits a little (a cancellation point), then answers as FakeHost."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    async def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:  # type: ignore[override]
        await asyncio.sleep(self.rng.uniform(0, 0.004))
        return super().__call__(agent_id, effect, key)


def test_cancelling_at_random_awaits_leaves_nothing_half_written(stores: AsyncStores) -> None:
    rng = random.Random(7)
    ids = [f"k{i}" for i in range(12)]

    async def churn(controller: AsyncController, seed: int) -> None:
        r = random.Random(seed)
        for n in range(10_000):
            agent = r.choice(ids)
            if r.random() < 0.3:
                batch = [
                    Delivery(r.choice(ids), random_event(r, MACHINES["alfe"], f"name-{agent}"))
                    for _ in range(r.randint(2, 6))
                ]
                await controller.handle_many(batch)
            else:
                event = random_event(r, MACHINES["alfe"], f"name-{agent}")
                await controller.handle(
                    agent, Event(event.name, event.actor, event.payload, f"{seed}-{n}")
                )

    async def main() -> int:
        cancelled = 0
        async with stores.open_async() as store:
            controller = AsyncController(MACHINES, store, SystemClock(), max_retries=20)
            await controller.create_many([(a, "alfe", agent_data("alfe", a)) for a in ids])
            for a in ids:
                await controller.handle(a, Event("provision", S))
            host = SlowAsyncHost(rng)
            for round_ in range(25):
                worker = AsyncOutboxWorker(
                    controller, host, worker_id=f"w{round_}", batch_size=4,
                    lease=timedelta(milliseconds=50),
                )  # fmt: skip
                tasks = [
                    asyncio.ensure_future(churn(controller, round_ * 10 + i)) for i in range(4)
                ]
                tasks.append(asyncio.ensure_future(worker.run(idle=0.01)))
                await asyncio.sleep(rng.uniform(0.005, 0.04))
                for t in tasks:
                    t.cancel()
                for outcome in await asyncio.gather(*tasks, return_exceptions=True):
                    if isinstance(outcome, asyncio.CancelledError):
                        cancelled += 1
                    elif isinstance(outcome, BaseException) and not isinstance(outcome, StoreError):
                        raise outcome
        return cancelled

    cancelled = _run(main())
    assert cancelled >= 50  # the tasks were cut at awaits, not left to finish
    check = stores.open_sync()
    try:
        assert replay_differences(check, MACHINES) == []
        keys, tokens = _expected_writes(check)
        stored = {i.key for i in check.outbox()}
        assert stored == keys, "an outbox item without its decision, or a decision without it"
        assert {t.token for t in check.timers()} <= tokens
        assert len(check.audit_log()) > len(ids) * 3
        # Cancelled workers left their items claimed or pending: a later drain performs them.
        controller = Controller(MACHINES, check, SystemClock())
        time.sleep(0.06)  # the cancelled workers' leases lapse
        OutboxWorker(controller, FakeHost(), lease=timedelta(seconds=5)).drain()
        assert check.outbox(state="pending") == []
        assert replay_differences(check, MACHINES) == []
    finally:
        check.close()


# -- waking on new work -----------------------------------------------------------------------


class RecordingHost(FakeHost):
    """A coroutine handler that notes when each effect started."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[float] = []

    async def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:  # type: ignore[override]
        self.started.append(time.monotonic())
        await asyncio.sleep(0)
        return super().__call__(agent_id, effect, key)


def test_an_idle_worker_wakes_on_a_commit_long_before_its_poll(stores: AsyncStores) -> None:
    async def main() -> float:
        async with stores.open_async() as store:
            controller = AsyncController(MACHINES, store, SystemClock())
            await controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
            host = RecordingHost()
            worker = AsyncOutboxWorker(controller, host)
            task = asyncio.ensure_future(worker.run(idle=30.0))  # polling alone: 30 s
            await asyncio.sleep(0.3)  # the worker found nothing and is waiting
            committed = time.monotonic()
            await controller.handle("a1", Event("provision", S))
            for _ in range(100):
                if host.started:
                    break
                await asyncio.sleep(0.02)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert host.started, "the worker did not wake"
            return host.started[0] - committed

    assert _run(main()) < 2.0


@pytest.mark.postgres
def test_a_commit_by_another_process_wakes_a_postgres_worker(pg_dsn: str) -> None:
    # The sync store's commit notifies too: a worker in another replica wakes at once.
    schema = new_schema()
    writer = PostgresStore(pg_dsn, schema=schema, max_size=2)
    sync = Controller(MACHINES, writer, SystemClock())
    sync.create("a1", "alfe", AlfeAgent("a1", "Bob"))

    async def main() -> float:
        async with AsyncPostgresStore(pg_dsn, schema=schema) as store:
            host = RecordingHost()
            worker = AsyncOutboxWorker(AsyncController(MACHINES, store, SystemClock()), host)
            task = asyncio.ensure_future(worker.run(idle=30.0))
            await asyncio.sleep(0.3)
            committed = time.monotonic()
            await asyncio.to_thread(sync.handle, "a1", Event("provision", S))
            for _ in range(100):
                if host.started:
                    break
                await asyncio.sleep(0.02)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert host.started, "the NOTIFY did not wake the worker"
            return host.started[0] - committed

    try:
        assert _run(main()) < 2.0
    finally:
        writer.close()


# -- workers, handlers, the reconcile loop --------------------------------------------------------


def test_coroutine_handlers_drive_agents_and_timers_fire(stores: AsyncStores) -> None:
    clock = ManualClock(T0)

    async def main() -> None:
        async with stores.open_async() as store:
            controller = AsyncController(MACHINES, store, clock)
            await controller.create_many(
                [(f"a{i}", "alfe", agent_data("alfe", f"a{i}")) for i in range(5)]
            )
            await controller.handle_many(
                [Delivery(f"a{i}", Event("provision", S)) for i in range(5)]
            )
            host = RecordingHost()
            report = await AsyncOutboxWorker(controller, host).drain()
            assert report.fed_back == 10  # host_up, then connected, for each agent
            assert {(await controller.get(f"a{i}")).snapshot.status for i in range(5)} == {
                "running"
            }
            # A stuck boot: the timer fires once its time comes.
            await controller.create("b", "alfe", AlfeAgent("b", "Bee"))
            await controller.handle("b", Event("provision", S))
            await controller.handle("b", Event("host_up", S))
            timers = AsyncTimerWorker(controller)
            assert (await timers.run_once()).claimed == 0
            clock.advance(timedelta(minutes=6))
            fired = await timers.drain()
            assert fired.accepted == 1
            assert (await store.timers("b")) == [] or (await store.timers("b"))[
                0
            ].due_at > clock.now()
            rows = await controller.history("b")
            assert rows[-1].actor == "T"

    _run(main())
    check = stores.open_sync()
    try:
        assert replay_differences(check, MACHINES) == []
    finally:
        check.close()


def test_regression_a_sync_worker_given_a_coroutine_handler_parks_it_with_a_reason(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    controller = Controller(MACHINES, store, ManualClock(T0))
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    controller.handle("a1", Event("provision", S))
    worker = OutboxWorker(controller, RecordingHost(), max_attempts=1)
    worker.drain()
    parked = store.outbox(state=PARKED)
    assert parked
    assert all("asyncio runtime" in (i.last_error or "") for i in parked)
    store.close()


def test_shutdown_lets_the_batch_under_way_finish(tmp_path: Path) -> None:
    gate: list[str] = []

    class Slow(FakeHost):
        async def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:  # type: ignore[override]
            await asyncio.sleep(0.05)
            gate.append(key)
            return ()

    async def main() -> None:
        async with AsyncSQLiteStore(tmp_path / "a.db") as store:
            controller = AsyncController(MACHINES, store, SystemClock())
            for a in ("a1", "a2"):  # one claimable item each: a batch of two
                await controller.create(a, "alfe", AlfeAgent(a, "Bob"))
                await controller.handle(a, Event("provision", S))
            async with AsyncOutboxWorker(controller, Slow(), shutdown_timeout=5.0):
                await asyncio.sleep(0.02)  # the first effect is under way
            # Leaving the block stopped the worker only after its batch was done.
            assert len(gate) == 2
            assert len(await store.outbox(state="done")) == 2
            assert len(await store.outbox(state="pending")) == 2  # the next items wait

    _run(main())


def test_shutdown_past_its_timeout_cancels_and_the_item_is_performed_later(tmp_path: Path) -> None:
    class Stuck(FakeHost):
        async def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:  # type: ignore[override]
            await asyncio.sleep(60)
            return ()

    async def main() -> None:
        async with AsyncSQLiteStore(tmp_path / "a.db") as store:
            controller = AsyncController(MACHINES, store, SystemClock())
            await controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
            await controller.handle("a1", Event("provision", S))
            worker = AsyncOutboxWorker(
                controller, Stuck(), lease=timedelta(milliseconds=100), shutdown_timeout=0.2
            )
            started = time.monotonic()
            async with worker:
                await asyncio.sleep(0.05)
            assert time.monotonic() - started < 2.0
            pending = await store.outbox(state="pending")
            assert len(pending) == 2  # nothing was marked done, nothing lost
            await asyncio.sleep(0.15)  # the lease lapses
            await AsyncOutboxWorker(controller, RecordingHost()).drain()
            done = {i.id for i in await store.outbox(state="done")}
            assert {i.id for i in pending} <= done

    _run(main())


def test_async_reconcile_loop_runs_coroutine_reconcilers_one_pass_per_key() -> None:
    clock = ManualClock(T0)
    active: set[str] = set()
    overlaps: list[str] = []
    passes: list[str] = []

    async def reconcile(key: str) -> timedelta | None:
        if key in active:
            overlaps.append(key)
        active.add(key)
        await asyncio.sleep(0.005)
        active.discard(key)
        passes.append(key)
        if key == "flaky" and passes.count("flaky") == 1:
            raise TemporaryError("not yet", timedelta(0))
        return None

    async def main() -> None:
        loop = AsyncReconcileLoop(reconcile, clock)
        async with loop:
            for _ in range(3):
                loop.enqueue_all(["a", "b", "flaky"])
                await asyncio.sleep(0.01)
            for _ in range(100):
                if not loop.pending() and passes.count("flaky") >= 2:
                    break
                await asyncio.sleep(0.01)
        assert overlaps == []
        assert {"a", "b"} <= set(passes)
        assert passes.count("flaky") >= 2  # retried after its temporary failure
        assert loop.failures("flaky") == 0
        report = await loop.run_due()
        assert report.failed == ()

    _run(main())


def test_a_cancelled_reconcile_pass_frees_its_key() -> None:
    clock = ManualClock(T0)
    calls: list[str] = []

    async def reconcile(key: str) -> timedelta | None:
        calls.append(key)
        if len(calls) == 1:
            await asyncio.sleep(60)  # cancelled here
        return None

    async def main() -> None:
        loop = AsyncReconcileLoop(reconcile, clock)
        loop.enqueue("k")
        task = asyncio.ensure_future(loop.run_due())
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert "k" in loop.pending()  # due again, not stuck as active
        assert (await loop.run_due()).reconciled == ("k",)

    _run(main())


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_postgres_commit_of_a_cancelled_caller_runs_to_its_end(pg_server: Any, turns: int) -> None:
    # Once the store has its operation, the caller's cancellation stops only the waiting: the
    # transaction commits, and the store's close waits for it.
    schema = new_schema()

    async def main() -> None:
        async with AsyncPostgresStore(pg_server.dsn, schema=schema) as store:
            controller = AsyncController(MACHINES, store)
            await controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
            task = asyncio.ensure_future(controller.handle("a1", Event("provision", S, id="e1")))
            for _ in range(turns):
                await asyncio.sleep(0)  # the caller reaches the store's commit and waits
            task.cancel()
            (outcome,) = await asyncio.gather(task, return_exceptions=True)
            assert isinstance(outcome, asyncio.CancelledError), outcome
        async with AsyncPostgresStore(pg_server.dsn, schema=schema) as store:
            rows = await store.history("a1")
            assert len(rows) == 2
            assert rows[-1].event == "provision"
            assert (await store.load("a1")).snapshot.version == 1

    _run(main())


class CancelTurnedIntoAnError(AsyncSQLiteStore):
    """A store whose commit, when cancelled, raises an error instead, as psycopg does when the
    server has cancelled the query (it raises the query's own error)."""

    async def commit(self, writes: Any) -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            raise StoreError("canceling statement due to user request") from None


def test_regression_a_cancellation_the_driver_turns_into_an_error_still_cancels(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with AsyncSQLiteStore(tmp_path / "a.db") as plain:
            await AsyncController(MACHINES, plain).create("a1", "alfe", AlfeAgent("a1", "Bob"))
        async with CancelTurnedIntoAnError(tmp_path / "a.db") as store:
            controller = AsyncController(MACHINES, store)
            task = asyncio.ensure_future(controller.handle("a1", Event("provision", S)))
            await asyncio.sleep(0.05)
            task.cancel()
            (outcome,) = await asyncio.gather(task, return_exceptions=True)
            assert isinstance(outcome, asyncio.CancelledError), outcome

    _run(main())


# -- group commit on SQLite -----------------------------------------------------------------------


def test_commit_each_writes_each_batch_whole_or_not_at_all(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    controller = Controller(MACHINES, store, ManualClock(T0))
    controller.create_many([(a, "alfe", AlfeAgent(a, "Bob")) for a in ("a1", "a2")])
    ctx = Context(T0)

    def write(agent: str, version: int, event_id: str) -> Any:
        record = store.load(agent)
        record = record._replace(snapshot=record.snapshot._replace(version=version))
        event = Event("provision", S, id=event_id)
        step = decide(MACHINES["alfe"], record.snapshot, event, ctx)
        return write_for(Delivery(agent, event), record, step, ctx)

    good, stale, dup = write("a1", 0, "p1"), write("a2", 5, "p2"), write("a2", 0, "p3")
    outcomes = store.commit_each([[good], [stale], [dup, dup]])
    assert outcomes[0] is None
    assert isinstance(outcomes[1], VersionConflict)
    assert isinstance(outcomes[2], StoreError)  # the same key twice in one batch
    assert store.load("a1").snapshot.version == 1
    assert store.load("a2").snapshot.version == 0  # neither failed batch left anything
    assert [r.event_id for r in store.history("a2")] == ["create:a2"]
    assert len(store.outbox(agent_id="a1")) == 2
    assert store.outbox(agent_id="a2") == []
    assert replay_differences(store, MACHINES) == []
    store.close()


def test_concurrent_commits_on_async_sqlite_share_transactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    real = SQLiteStore.commit_each

    def spy(self: SQLiteStore, batches: Any) -> Any:
        sizes.append(len(batches))
        return real(self, batches)

    monkeypatch.setattr(SQLiteStore, "commit_each", spy)

    async def main() -> None:
        async with AsyncSQLiteStore(tmp_path / "a.db") as store:
            controller = AsyncController(MACHINES, store, SystemClock())
            ids = [f"a{i}" for i in range(16)]
            await controller.create_many([(a, "alfe", AlfeAgent(a, "Bob")) for a in ids])
            results = await asyncio.gather(
                *(controller.handle(a, Event("provision", S)) for a in ids)
            )
            assert all(r.accepted for r in results)

    _run(main())
    assert max(sizes, default=0) > 1, sizes
    check = SQLiteStore(tmp_path / "a.db")
    assert {a.snapshot.version for a in check.agents()} == {1}
    assert replay_differences(check, MACHINES) == []
    check.close()
