"""``AsyncSQLiteStore`` commits a lone caller's writes on the loop's thread when that cannot
wait; otherwise on its own thread. Either way each commit is whole or not at all."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from runtime_support import T0

from agentfsm import Actor, Context, Event, decide
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    AsyncController,
    AsyncSQLiteStore,
    Controller,
    Delivery,
    ManualClock,
    SQLiteStore,
    _async_sqlite,
    replay_differences,
)
from agentfsm.runtime._controller import write_for

S = Actor.SYSTEM
SUSPEND = Event("billing_suspend", S, {"reason": "payment_issue"})
RESUME = Event("billing_resume", S, {"standing": "good"})


def _run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))  # type: ignore[arg-type]


def _spy_threads(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Which threads ran ``commit`` (the store's thread) and ``commit_if_free`` (that applied
    something), by name."""
    seen: dict[str, list[str]] = {"commit": [], "quick": [], "checkpoint": []}
    commit, quick, checkpoint = (
        SQLiteStore.commit, SQLiteStore.commit_if_free, SQLiteStore.checkpoint
    )  # fmt: skip

    def spy_commit(self: SQLiteStore, writes: Any) -> None:
        seen["commit"].append(threading.current_thread().name)
        commit(self, writes)

    def spy_quick(self: SQLiteStore, writes: Any) -> bool:
        done = quick(self, writes)
        if done:
            seen["quick"].append(threading.current_thread().name)
        return done

    def spy_checkpoint(self: SQLiteStore) -> None:
        seen["checkpoint"].append(threading.current_thread().name)
        checkpoint(self)

    monkeypatch.setattr(SQLiteStore, "commit", spy_commit)
    monkeypatch.setattr(SQLiteStore, "commit_if_free", spy_quick)
    monkeypatch.setattr(SQLiteStore, "checkpoint", spy_checkpoint)
    return seen


def _cycle(controller: AsyncController, agent: str, count: int) -> Awaitable[None]:
    async def go() -> None:
        for n in range(count):
            event = (SUSPEND, RESUME)[n % 2]
            outcome = await controller.handle(
                agent, Event(event.name, S, event.payload, f"{agent}-{n}")
            )
            assert outcome.accepted, outcome

    return go()


def test_a_lone_callers_commits_run_on_the_loops_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _spy_threads(monkeypatch)

    async def main() -> str:
        async with AsyncSQLiteStore(tmp_path / "a.db") as store:
            controller = AsyncController(MACHINES, store, ManualClock(T0))
            await controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
            await _cycle(controller, "a1", 40)
        return threading.current_thread().name

    loop_thread = _run(main())
    assert len(seen["quick"]) >= 40
    assert set(seen["quick"]) == {loop_thread}
    check = SQLiteStore(tmp_path / "a.db")
    assert check.load("a1").snapshot.version == 40
    assert len(check.history("a1")) == 41
    assert replay_differences(check, MACHINES) == []
    check.close()


def test_with_full_synchronous_every_commit_goes_to_the_stores_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each commit syncs the log then: a disk flush must never stall the loop.
    seen = _spy_threads(monkeypatch)

    async def main() -> str:
        async with AsyncSQLiteStore(tmp_path / "a.db", synchronous="FULL") as store:
            controller = AsyncController(MACHINES, store, ManualClock(T0))
            await controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
            await _cycle(controller, "a1", 10)
        return threading.current_thread().name

    loop_thread = _run(main())
    assert seen["quick"] == []
    assert len(seen["commit"]) == 11
    assert loop_thread not in seen["commit"]


def test_a_commit_meeting_another_writers_lock_waits_on_the_stores_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _spy_threads(monkeypatch)
    path = tmp_path / "a.db"

    async def main() -> None:
        async with AsyncSQLiteStore(path) as store:
            controller = AsyncController(MACHINES, store, ManualClock(T0))
            await controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # another process's writer, say
            event = Event(SUSPEND.name, S, SUSPEND.payload, "e1")
            task = asyncio.ensure_future(controller.handle("a1", event))
            await asyncio.sleep(0.1)
            assert not task.done()  # it waits, and the loop is free meanwhile
            other.execute("COMMIT")
            other.close()
            assert (await task).accepted

    _run(main())
    assert len(seen["commit"]) == 1  # the waiting commit, on the store's thread
    check = SQLiteStore(path)
    assert check.load("a1").snapshot.version == 1
    check.close()


def test_commit_if_free_leaves_everything_as_it_was_when_the_lock_is_taken(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.db"
    store = SQLiteStore(path)
    Controller(MACHINES, store, ManualClock(T0)).create("a1", "alfe", AlfeAgent("a1", "Bob"))
    record = store.load("a1")
    ctx = Context(T0)
    event = Event(SUSPEND.name, S, SUSPEND.payload, "e1")
    step = decide(MACHINES["alfe"], record.snapshot, event, ctx)
    write = write_for(Delivery("a1", event), record, step, ctx)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    assert store.commit_if_free([write]) is False
    other.execute("ROLLBACK")
    other.close()
    assert store.load("a1") == record
    assert len(store.history("a1")) == 1
    assert store.commit_if_free([write]) is True  # the same write, once the lock is free
    assert store.load("a1").snapshot.version == 1
    assert [r.event for r in store.history("a1")] == ["alfe", "billing_suspend"]
    store.close()


def test_concurrent_callers_share_the_stores_thread_and_its_transactions(
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
            controller = AsyncController(MACHINES, store, ManualClock(T0))
            ids = [f"a{i}" for i in range(8)]
            await controller.create_many([(a, "alfe", AlfeAgent(a, "Bob")) for a in ids])
            await asyncio.gather(*(_cycle(controller, a, 30) for a in ids))

    _run(main())
    assert max(sizes, default=0) > 1, sizes
    check = SQLiteStore(tmp_path / "a.db")
    assert {a.snapshot.version for a in check.agents()} == {30}
    assert replay_differences(check, MACHINES) == []
    check.close()


def test_commits_on_the_loops_thread_leave_checkpoints_to_the_stores_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _spy_threads(monkeypatch)
    monkeypatch.setattr(_async_sqlite, "_CHECKPOINT_EVERY", 10)

    async def main() -> str:
        async with AsyncSQLiteStore(tmp_path / "a.db") as store:
            controller = AsyncController(MACHINES, store, ManualClock(T0))
            await controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
            await _cycle(controller, "a1", 35)
        return threading.current_thread().name

    loop_thread = _run(main())
    assert len(seen["checkpoint"]) == 3  # after 10, 20 and 30 writes
    assert loop_thread not in seen["checkpoint"]
    conn = sqlite3.connect(tmp_path / "a.db")
    # The loop's connection was told not to checkpoint on its own; the file is whole.
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_a_lone_caller_still_gives_other_tasks_turns(tmp_path: Path) -> None:
    async def main() -> int:
        ticks = 0
        stop = False

        async def ticker() -> None:
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0)

        async with AsyncSQLiteStore(tmp_path / "a.db") as store:
            controller = AsyncController(MACHINES, store, ManualClock(T0))
            await controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
            other = asyncio.ensure_future(ticker())
            await asyncio.sleep(0)
            before = ticks
            await _cycle(controller, "a1", 200)
            stop = True
            await other
            return ticks - before

    assert _run(main()) > 0  # the other task ran while the caller committed


def test_commits_dropped_or_run_on_the_stores_thread_leave_it_idle_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # If a job cancelled before it began were never reported back, the store would think its
    # thread busy for ever and every later commit would pay the thread switches.
    seen = _spy_threads(monkeypatch)

    async def main() -> None:
        async with AsyncSQLiteStore(tmp_path / "a.db") as store:
            controller = AsyncController(MACHINES, store, ManualClock(T0))
            await controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
            thread = store._thread
            assert thread is not None
            blocker = thread.call(time.sleep, 0.2)  # the thread is busy for a while
            dropped = asyncio.ensure_future(
                controller.handle("a1", Event(SUSPEND.name, S, SUSPEND.payload, "e1"))
            )
            queued = asyncio.ensure_future(
                controller.handle("a1", Event(SUSPEND.name, S, SUSPEND.payload, "e2"))
            )
            await asyncio.sleep(0.05)
            dropped.cancel()  # before the thread reaches it
            await blocker
            assert (await queued).accepted
            assert dropped.cancelled()
            await asyncio.sleep(0.05)
            assert thread.busy == 0
            seen["quick"].clear()
            event = Event(RESUME.name, S, RESUME.payload, "e3")
            assert (await controller.handle("a1", event)).accepted
            assert len(seen["quick"]) == 1  # on the loop's thread again

    _run(main())
    check = SQLiteStore(tmp_path / "a.db")
    assert [r.event_id for r in check.history("a1")][1:] == ["e2", "e3"]
    check.close()
