"""The asyncio workers: the outbox, the timers and the reconcile loop, awaited.

Their logic is the thread workers' (the same generators, see ``_steps``); what is here is how
they run as tasks: ``async with worker:`` starts one and stops it gracefully on the way out
(the batch under way finishes, within ``shutdown_timeout``, or is cancelled at an ``await``).
A cancelled batch leaves nothing half-written: each store write is one transaction, an item
being performed stays claimed until its lease lapses and is then performed again (at least
once), and a timer is deleted only with the event it recorded.

An idle worker waits for the store to announce new work (``NOTIFY`` on PostgreSQL, a signal
within the process on SQLite) and polls every ``idle`` seconds besides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any, Protocol, TypeVar

from agentfsm._values import Event
from agentfsm.runtime._async_controller import AsyncController
from agentfsm.runtime._clock import Clock
from agentfsm.runtime._errors import StoreError
from agentfsm.runtime._outbox import BatchReport, EffectHandler, _OutboxSteps
from agentfsm.runtime._reconcile_loop import KeyQueue, PassReport, PassResult, Reconciler
from agentfsm.runtime._steps import cancelling, run_steps_async
from agentfsm.runtime._timers import TimerReport, _TimerSteps

log = logging.getLogger("agentfsm.runtime")

R = TypeVar("R", BatchReport, TimerReport)


class AsyncEffectHandler(Protocol):
    """An ``EffectHandler`` that is a coroutine function (same arguments, result, errors)."""

    async def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        """Perform ``effect`` for the agent (see ``EffectHandler.__call__``).

        Args:
            agent_id: the agent the outbox item belongs to.
            effect: the effect record, or the domain event to publish.
            key: the item's idempotency key, the same on every retry.

        Returns:
            Platform events observed while performing it, fed back to the agent.

        Raises:
            TemporaryError: retry later.
            PermanentError: never retry; park the item.
        """
        ...


class _Task:
    """Runs a worker's loop as a task: ``start``/``stop``, or ``async with``."""

    shutdown_timeout: float = 10.0
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event | None = None

    async def run(self, stop: asyncio.Event | None = None, idle: float = 0.5) -> None:
        """Work until ``stop`` is set (forever without one). Subclasses provide it."""
        raise NotImplementedError  # pragma: no cover

    def start(self, idle: float = 0.5) -> None:
        """Run ``run`` as a task of the running loop, until ``stop``."""
        if self._task is not None and not self._task.done():
            return
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self.run(self._stop, idle))

    async def stop(self) -> None:
        """Let the work under way finish (at most ``shutdown_timeout`` seconds, then cancel
        it at an ``await``) and end the task. Errors that stopped the task are raised."""
        task, stop = self._task, self._stop
        self._task, self._stop = None, None
        if task is None or stop is None:
            return
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=self.shutdown_timeout)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return
        task.result()

    async def __aenter__(self) -> _Task:
        self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    # ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` can swallow a
    # cancellation that arrives as its timeout fires.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


async def _idle(store: Any, seen: int | None, stop: asyncio.Event, idle: float) -> None:
    """Wait for new work announced after ``seen``, ``stop``, or ``idle`` seconds."""
    if seen is None:
        await _sleep_unless(stop, idle)
        return
    work = asyncio.ensure_future(store.wait_for_work(seen, idle))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for f in (work, stopped):
            f.cancel()
        await asyncio.gather(work, stopped, return_exceptions=True)


async def _run_until_stopped(
    run_once: Callable[[], Awaitable[R]],
    store: Any,
    stop: asyncio.Event | None,
    idle: float,
    name: str,
) -> None:
    # The thread workers' loop (``run_until_stopped``), awaited, and woken by new work.
    stop = stop or asyncio.Event()
    marks = getattr(store, "work_seen", None)
    while not stop.is_set():
        if cancelling():
            # A library that swallowed the cancellation must not keep the worker running.
            raise asyncio.CancelledError()
        seen = marks() if marks is not None else None
        try:
            report = await run_once()
        except StoreError as exc:
            if not exc.retryable:
                raise
            log.warning("%s: store unavailable, retrying: %s", name, exc)
            await _sleep_unless(stop, idle)
            continue
        if not report.claimed:
            await _idle(store, seen, stop, idle)


class AsyncOutboxWorker(_Task, _OutboxSteps):
    """``OutboxWorker`` for asyncio; the handler may be a coroutine function.

    Args:
        controller: an ``AsyncController`` (feeds the handler's events back).
        handler: an ``EffectHandler`` or an ``AsyncEffectHandler``.
        worker_id, batch_size, lease, max_attempts, backoff_base, backoff_max, rng,
            on_batch: as ``OutboxWorker``'s.
        shutdown_timeout: seconds ``stop`` lets the batch under way run before cancelling it.
    """

    def __init__(
        self,
        controller: AsyncController,
        handler: EffectHandler | AsyncEffectHandler,
        *,
        worker_id: str | None = None,
        batch_size: int = 100,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 8,
        backoff_base: timedelta = timedelta(seconds=1),
        backoff_max: timedelta = timedelta(minutes=10),
        rng: random.Random | None = None,
        on_batch: Callable[[BatchReport], None] | None = None,
        shutdown_timeout: float = 10.0,
    ) -> None:
        super().__init__(
            controller, handler, worker_id=worker_id, batch_size=batch_size,  # type: ignore[arg-type]
            lease=lease, max_attempts=max_attempts, backoff_base=backoff_base,
            backoff_max=backoff_max, rng=rng, on_batch=on_batch,
        )  # fmt: skip
        self.shutdown_timeout = shutdown_timeout

    async def run_once(self) -> BatchReport:
        """Claim one batch and perform it (``claimed == 0``: nothing due)."""
        return await run_steps_async(self._batch_steps(), self.store)

    async def drain(self, max_batches: int = 1_000_000) -> BatchReport:
        """Run batches until one finds nothing due (or ``max_batches`` ran)."""
        return await run_steps_async(self._drain_steps(max_batches), self.store)

    async def run(self, stop: asyncio.Event | None = None, idle: float = 0.5) -> None:
        """Run batches until ``stop`` is set, waiting for new work (at most ``idle`` seconds)
        when nothing is due. A retryable ``StoreError`` is waited out; others end the loop."""
        name = f"outbox worker {self.worker_id}"
        await _run_until_stopped(self.run_once, self.store, stop, idle, name)


class AsyncTimerWorker(_Task, _TimerSteps):
    """``TimerWorker`` for asyncio.

    Args:
        controller: an ``AsyncController``.
        worker_id, batch_size, lease, on_batch: as ``TimerWorker``'s.
        shutdown_timeout: seconds ``stop`` lets the batch under way run before cancelling it.
    """

    def __init__(
        self,
        controller: AsyncController,
        *,
        worker_id: str | None = None,
        batch_size: int = 200,
        lease: timedelta = timedelta(seconds=60),
        on_batch: Callable[[TimerReport], None] | None = None,
        shutdown_timeout: float = 10.0,
    ) -> None:
        super().__init__(
            controller, worker_id=worker_id, batch_size=batch_size, lease=lease, on_batch=on_batch
        )
        self.shutdown_timeout = shutdown_timeout

    async def run_once(self) -> TimerReport:
        """Fire one batch of due timers."""
        return await run_steps_async(self._batch_steps(), self.store)

    async def drain(self, max_batches: int = 1_000_000) -> TimerReport:
        """Fire batches until none is due (see ``TimerWorker.drain``)."""
        return await run_steps_async(self._drain_steps(max_batches), self.store)

    async def run(self, stop: asyncio.Event | None = None, idle: float = 0.5) -> None:
        """Fire timers until ``stop`` is set, waiting at most ``idle`` seconds between looks."""
        name = f"timer worker {self.worker_id}"
        await _run_until_stopped(self.run_once, self.store, stop, idle, name)


class AsyncReconcileLoop(KeyQueue):
    """``ReconcileLoop`` for asyncio: the reconciler may be a coroutine function.

    Args:
        reconciler: reconciles one key (``key -> requeue after``), sync or ``async def``.
        clock: when keys are due.
        on_error: called with (key, exception) for every failed pass.

    Drive it with ``await run_due()``, or run ``workers`` tasks with ``start``/``stop`` or
    ``async with``. A pass cancelled at an ``await`` frees its key, due again at once.
    """

    def __init__(
        self,
        reconciler: Reconciler | Callable[[str], Awaitable[timedelta | None]],
        clock: Clock,
        *,
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        super().__init__(reconciler, clock, on_error=on_error)
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None

    def _notify(self) -> None:
        super()._notify()
        loop, changed = self._loop, self._changed
        if loop is not None and changed is not None and not loop.is_closed():
            loop.call_soon_threadsafe(changed.set)  # enqueue may come from another thread

    async def run_due(self, limit: int | None = None, *, once: bool = False) -> PassReport:
        """Reconcile every key due now, one at a time (see ``ReconcileLoop.run_due``)."""
        return await run_steps_async(self._run_due_steps(limit, once), None)

    async def run_now(self, key: str) -> PassResult | None:
        """Reconcile ``key`` at once, unless a worker has it (see ``ReconcileLoop.run_now``).

        Raises:
            ValueError: ``key`` is not a non-empty string.
        """
        return await run_steps_async(self._run_now_steps(key), None)

    def start(self, workers: int = 2, poll: float = 0.05) -> None:
        """Run ``workers`` tasks on the running loop; different keys run concurrently.

        Raises:
            ValueError: ``workers`` is below 1.
        """
        if workers < 1:
            raise ValueError("a reconcile loop needs at least one worker")
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        for _ in range(workers):
            self._tasks.append(self._loop.create_task(self._work(poll)))

    async def _work(self, poll: float) -> None:
        changed = self._changed
        assert changed is not None
        while not self._stopping:
            with self._lock:
                key = self._take(self._clock.now())
            if key is None:
                if self._stopping:
                    return
                changed.clear()
                await _sleep_unless(changed, poll)
                continue
            await run_steps_async(self._pass_steps(key), None)

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop the tasks: passes under way get ``timeout`` seconds, then are cancelled."""
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        self._stopping = True
        if self._changed is not None:
            self._changed.set()
        try:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for t in pending:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._stopping = False

    async def __aenter__(self) -> AsyncReconcileLoop:
        self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
