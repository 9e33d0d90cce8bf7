"""The shared reconcile loop and fenced outbox claims on the asyncio stores: the same leases
and tokens as the blocking stores, awaited, with coroutine reconcilers and handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from runtime_support import T0
from test_async_runtime import AsyncStores, stores  # noqa: F401  # the fixture

from agentfsm import Actor, Event
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    GONE,
    AsyncController,
    AsyncOutboxWorker,
    AsyncSharedReconcileLoop,
    FenceBook,
    ManualClock,
    Requeue,
    StaleFence,
    StoreError,
    SystemClock,
    current_fence,
)

LEASE = timedelta(seconds=10)
PERIOD = timedelta(seconds=30)


def _run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 120))  # type: ignore[arg-type]


def test_async_replicas_share_keys_once_per_period(stores: AsyncStores) -> None:  # noqa: F811
    clock = ManualClock(T0)
    log: list[tuple[str, str, int]] = []

    def recorder(name: str) -> Any:
        async def reconcile(key: str) -> timedelta | None:
            fence = current_fence()
            assert fence is not None
            await asyncio.sleep(0)
            log.append((name, key, fence.token))
            return PERIOD

        return reconcile

    async def main() -> None:
        async with stores.open_async() as store:
            loops = [
                AsyncSharedReconcileLoop(
                    store, recorder(f"r{i}"), clock, replica_id=f"r{i}", lease=LEASE, batch_size=2
                )
                for i in range(2)
            ]
            keys = [f"k{i}" for i in range(6)]
            assert await loops[0].offer(keys) == 6
            assert await loops[1].offer(keys) == 0
            for period in range(3):
                if period:
                    clock.advance(PERIOD)
                reports = await asyncio.gather(*(loop.run_due(limit=3) for loop in loops))
                assert sum(r.passes for r in reports) == 6
                assert (await loops[0].run_due()).passes == 0
            await loops[1].enqueue("k0")
            assert (await loops[1].run_due()).reconciled == ("k0",)
            assert await loops[0].forget("k5") is True
            assert "k5" not in await loops[0].pending()

    _run(main())
    tokens = [t for _, _, t in log]
    assert len(set(tokens)) == len(tokens) == 19
    assert {k for _, k, _ in log} == {f"k{i}" for i in range(6)}
    assert {n for n, _, _ in log} == {"r0", "r1"}


def test_async_loop_stops_tracking_a_gone_key(stores: AsyncStores) -> None:  # noqa: F811
    clock = ManualClock(T0)

    async def reconcile(key: str) -> Requeue:
        await asyncio.sleep(0)
        if key == "again":
            await loop.enqueue(key)  # created anew during the pass: stays due
        return PERIOD if key == "kept" else GONE

    async def main() -> dict[str, Any]:
        nonlocal loop
        async with stores.open_async() as store:
            loop = AsyncSharedReconcileLoop(store, reconcile, clock, replica_id="r", lease=LEASE)
            await loop.offer(["gone", "kept", "again"])
            report = await loop.run_due()
            assert sorted(report.reconciled) == ["again", "gone", "kept"]
            return await loop.pending()

    loop: Any = None
    assert _run(main()) == {"kept": T0 + PERIOD, "again": T0}


def test_async_loop_tasks_reconcile_and_stop(stores: AsyncStores) -> None:  # noqa: F811
    seen: list[str] = []

    async def main() -> None:
        async with stores.open_async() as store:

            def reconcile(key: str) -> timedelta | None:
                seen.append(key)
                return None

            loop = AsyncSharedReconcileLoop(store, reconcile, SystemClock(), lease=LEASE)
            await loop.offer(["a", "b", "c"])
            async with loop:
                for _ in range(200):
                    if len(seen) == 3:
                        break
                    await asyncio.sleep(0.02)
            assert sorted(seen) == ["a", "b", "c"]
            assert await loop.pending() == {"a": None, "b": None, "c": None}

    _run(main())


def test_async_outbox_claims_are_fenced(stores: AsyncStores) -> None:  # noqa: F811
    clock = ManualClock(T0)
    book = FenceBook()
    tokens: list[int | None] = []

    async def handler(agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        fence = current_fence()
        await asyncio.sleep(0)
        tokens.append(None if fence is None else fence.token)
        book.admit(agent_id, tokens[-1])
        return ()

    async def refusing(agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        raise StaleFence(agent_id, 1, 2)

    async def main() -> None:
        async with stores.open_async() as store:
            controller = AsyncController(MACHINES, store, clock)
            await controller.create("ag", "alfe", AlfeAgent("ag", "Ag"))
            await controller.create("late", "alfe", AlfeAgent("late", "Late"))
            await controller.handle("ag", Event("provision", Actor.SYSTEM))
            report = await AsyncOutboxWorker(controller, handler, worker_id="w").drain()
            assert report.done == len(tokens) > 0
            await controller.handle("late", Event("provision", Actor.SYSTEM))
            dropped = await AsyncOutboxWorker(controller, refusing, worker_id="v").run_once()
            assert (dropped.lost, dropped.parked) == (1, 0)
            assert await store.outbox(state="parked") == []

    _run(main())
    assert None not in tokens
    assert tokens == sorted(tokens)


def test_async_loop_refuses_a_store_without_leases() -> None:
    with pytest.raises(StoreError, match="keeps no reconcile leases"):
        AsyncSharedReconcileLoop(object(), lambda k: None, SystemClock())
