"""``SharedReconcileLoop``: the reconcile loop of a fleet of replicas, scheduled in the store.

``ReconcileLoop`` keeps its queue in memory, so every replica running one reconciles every
key. This loop keeps the queue in the store's ``leases`` table instead (schema version 7): a
replica takes due keys under a lease with a fencing token, reconciles them with the token
current (``current_fence()``), and releases each with the time it is next due. The semantics
are the in-memory loop's (level-triggered keys, one pass per key at a time, requeue after,
the same error rules and backoff), now across processes:

* **One owner per key.** A key is held by at most one replica at a time; its pass runs only
  while the lease is valid.
* **Once per period, fleet-wide.** The next due time lives in the key's row and only its
  holder moves it, so a 30 s resync reconciles each key once per 30 s whatever the fleet size.
* **Dead replicas.** A replica that dies stops releasing; its keys are due again for the others
  once their lease time has passed.
* **Late replicas.** A replica paused past its lease can wake up in the middle of a pass: its
  token is then older than the new owner's, so a fenced resource refuses its writes
  (``StaleFence``) and its release changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from agentfsm.runtime._async_leases import AsyncLeaseStore, require_async_leases
from agentfsm.runtime._clock import Clock
from agentfsm.runtime._errors import PermanentError, TemporaryError
from agentfsm.runtime._fencing import Fence, StaleFence, set_fence
from agentfsm.runtime._leases import Lease, LeaseStore, require_leases
from agentfsm.runtime._outbox import default_worker_id
from agentfsm.runtime._reconcile_loop import (
    GONE,
    PassReport,
    Reconciler,
    Requeue,
    TerminalError,
    backoff_delay,
)
from agentfsm.runtime._steps import Call, Invoke, Steps, run_steps, run_steps_async
from agentfsm.runtime._telemetry import TELEMETRY

log = logging.getLogger("agentfsm.runtime")


def _checked(lease: timedelta, batch_size: int) -> None:
    if not isinstance(lease, timedelta) or lease <= timedelta(0):
        raise ValueError(f"lease must be a positive timedelta, not {lease!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number of at least 1, not {batch_size!r}")


class _SharedLoopSteps:
    """What a pass of the shared loop does, for the sync and the asyncio loop (see ``_steps``):
    its ``Call`` requests go to the store's leases."""

    def __init__(
        self,
        reconciler: Callable[[str], Any],
        clock: Clock,
        replica_id: str | None,
        lease: timedelta,
        batch_size: int,
        on_error: Callable[[str, BaseException], None] | None,
    ) -> None:
        self.replica_id = replica_id or default_worker_id()
        self.lease = lease
        self.batch_size = batch_size
        self._reconcile = reconciler
        self._clock = clock
        self._on_error = on_error or (lambda k, e: log.warning("reconcile %s failed: %s", k, e))

    # -- passes ----------------------------------------------------------------------------------

    def _run_due_steps(self, limit: int | None) -> Steps[PassReport]:
        done: dict[str, list[str]] = {"reconciled": [], "failed": [], "abandoned": [], "lost": []}
        ran: set[str] = set()
        while limit is None or len(ran) < limit:
            now = self._clock.now()
            want = self.batch_size if limit is None else min(self.batch_size, limit - len(ran))
            leases: list[Lease] = yield Call("take", (self.replica_id, now, now + self.lease, want))
            if not leases:
                break
            again = [x for x in leases if x.key in ran]
            for lease in again:
                # Due again within this call (its own pass asked for it): the next call runs it.
                yield Call("release", (lease, self._clock.now(), now, lease.failures))
            for lease in leases:
                if lease.key not in ran:
                    done[(yield from self._pass_steps(lease))].append(lease.key)
                    ran.add(lease.key)
            if again:
                break
        return PassReport(
            tuple(done["reconciled"]), tuple(done["failed"]), tuple(done["abandoned"]),
            tuple(done["lost"]),
        )  # fmt: skip

    def _pass_steps(self, lease: Lease) -> Steps[str]:
        if self._clock.now() >= lease.until:
            # The batch took longer than the lease: another replica may hold the key already.
            return "lost"
        span = TELEMETRY.span(
            "agentfsm.reconcile",
            {"agentfsm.key": lease.key, "agentfsm.fence": lease.token,
             "agentfsm.replica": lease.holder},
        )  # fmt: skip
        began = time.perf_counter()
        outcome = "cancelled"
        try:
            outcome = yield from self._reconcile_once(lease)
            return outcome
        finally:
            span.set_attribute("agentfsm.outcome", outcome)
            span.end()
            TELEMETRY.reconcile_duration.record(
                time.perf_counter() - began, {"agentfsm.outcome": outcome}
            )

    def _reconcile_once(self, lease: Lease) -> Steps[str]:
        previous = set_fence(Fence(lease.token, lease.holder, lease.key, lease.until))
        outcome = "reconciled"
        failures = 0
        due: datetime | None
        gone = False
        try:
            requeue = yield Invoke(self._reconcile, (lease.key,))
            gone = requeue is GONE
            due = None if requeue is None or gone else self._clock.now() + requeue
        except StaleFence as exc:
            # A newer owner has acted: this replica's lease lapsed mid-pass. It owns nothing.
            log.warning("reconcile %s: %s", lease.key, exc)
            return "lost"
        except TemporaryError as exc:
            self._on_error(lease.key, exc)
            failures = lease.failures + 1
            delay = exc.delay if exc.delay is not None else backoff_delay(failures)
            due, outcome = self._clock.now() + delay, "failed"
        except (TerminalError, PermanentError) as exc:
            self._on_error(lease.key, exc)
            due, outcome = None, "abandoned"
        except Exception as exc:
            self._on_error(lease.key, exc)
            failures = lease.failures + 1
            due, outcome = self._clock.now() + backoff_delay(failures), "failed"
        finally:
            set_fence(previous)
        if gone:
            # The row goes, unless the key was enqueued during the pass: then it is released
            # due at once, as after any pass.
            released = yield Call("drop", (lease, self._clock.now()))
        else:
            released = yield Call("release", (lease, self._clock.now(), due, failures))
        if not released:
            log.warning(
                "reconcile %s: the lease (token %d) lapsed before it was released; "
                "another replica owns the key now", lease.key, lease.token,
            )  # fmt: skip
            return "lost"
        return outcome


class SharedReconcileLoop(_SharedLoopSteps):
    """A reconcile loop whose keys, schedule and owners live in the store, for many replicas.

    Args:
        store: a ``SQLiteStore`` or ``PostgresStore`` at schema version 7 or later, shared by
            every replica.
        reconciler: reconciles one key (``key -> requeue after``); ``current_fence()`` gives
            the pass's fencing token while it runs.
        clock: the time leases and due times are measured in (every replica's must agree:
            ``SystemClock`` in production).
        replica_id: the name this replica's leases are held under (unique per process by
            default).
        lease: how long a key is held; a pass must finish within it, and a dead replica's keys
            wait this long before another replica takes them.
        batch_size: keys taken per round trip.
        on_error: called with (key, exception) for every failed pass (logging by default).

    Raises:
        StoreError: the store keeps no leases (another ``Store`` implementation).
        ValueError: ``lease`` is not positive, or ``batch_size`` is below 1.
    """

    def __init__(
        self,
        store: object,
        reconciler: Reconciler | Callable[[str], Requeue],
        clock: Clock,
        *,
        replica_id: str | None = None,
        lease: timedelta = timedelta(seconds=60),
        batch_size: int = 8,
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        _checked(lease, batch_size)
        self.leases: LeaseStore = require_leases(store)
        super().__init__(reconciler, clock, replica_id, lease, batch_size, on_error)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- the schedule ----------------------------------------------------------------------------

    def offer(self, keys: Iterable[str]) -> int:
        """Track ``keys`` the fleet does not track yet, due at once; returns how many were new.

        Keys already tracked keep their schedule, so every replica may offer the whole fleet
        when it starts without making anything due again.

        Raises:
            InvalidInput: a key is not a non-empty string.
        """
        return self.leases.offer(keys, self._clock.now())

    def enqueue(self, key: str, after: timedelta = timedelta(0)) -> None:
        """Make ``key`` due ``after`` from now at the latest (a change was seen).

        A key being reconciled runs again once that pass is over, on whichever replica.

        Raises:
            InvalidInput: ``key`` is not a non-empty string.
        """
        self.leases.enqueue(key, self._clock.now() + after)

    def forget(self, key: str) -> bool:
        """Stop reconciling ``key`` (its agent is gone); False when it was not tracked."""
        return self.leases.forget(key)

    def pending(self) -> dict[str, datetime | None]:
        """Every tracked key and when it is next due (``None``: once it is enqueued)."""
        return {k: due for k, (due, _) in self.leases.schedule().items()}

    # -- passes ------------------------------------------------------------------------------------

    def run_due(self, limit: int | None = None) -> PassReport:
        """Take the keys due now that no replica holds and reconcile them, in this thread.

        Each key runs at most once per call: one whose own pass made it due again is given
        back for the next call.

        Args:
            limit: stop after this many keys (``None``: until none is due).

        Returns:
            Which keys were reconciled, failed, abandoned, or lost (their lease lapsed before
            the pass began or ended, or a fenced resource refused the pass as stale).
        """
        return run_steps(self._run_due_steps(limit), self.leases)

    # -- threads ---------------------------------------------------------------------------------

    def start(self, workers: int = 1, poll: float = 0.2) -> None:
        """Run ``workers`` background threads taking due keys, waiting ``poll`` s when idle.

        Raises:
            ValueError: ``workers`` is below 1.
        """
        if workers < 1:
            raise ValueError("a reconcile loop needs at least one worker")
        self._stop.clear()
        for n in range(workers):
            t = threading.Thread(
                target=self._work, args=(poll,), name=f"shared-reconcile-{n}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def _work(self, poll: float) -> None:
        while not self._stop.is_set():
            try:
                report = self.run_due(limit=self.batch_size)
            except Exception as exc:  # a store outage: wait it out, as the other workers do
                log.warning("shared reconcile loop %s: %s", self.replica_id, exc)
                self._stop.wait(poll)
                continue
            if not report.passes:
                self._stop.wait(poll)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background threads, letting passes in progress finish and release."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()


class AsyncSharedReconcileLoop(_SharedLoopSteps):
    """``SharedReconcileLoop`` for asyncio: on ``AsyncSQLiteStore`` or ``AsyncPostgresStore``,
    with a reconciler that may be a coroutine function.

    Args:
        store: the asyncio store, opened, at schema version 7 or later.
        reconciler: reconciles one key (``key -> requeue after``), sync or ``async def``.
        clock: the time leases and due times are measured in.
        replica_id: the name this replica's leases are held under.
        lease: how long a key is held.
        batch_size: keys taken per round trip.
        on_error: called with (key, exception) for every failed pass.

    Raises:
        StoreError: the store keeps no leases.
        ValueError: ``lease`` is not positive, or ``batch_size`` is below 1.

    A pass cancelled at an ``await`` keeps its lease until it lapses: another replica (or this
    one) takes the key then. Drive it with ``await run_due()``, or ``start``/``stop`` tasks.
    """

    def __init__(
        self,
        store: object,
        reconciler: (Reconciler | Callable[[str], Requeue] | Callable[[str], Awaitable[Requeue]]),
        clock: Clock,
        *,
        replica_id: str | None = None,
        lease: timedelta = timedelta(seconds=60),
        batch_size: int = 8,
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        _checked(lease, batch_size)
        self.leases: AsyncLeaseStore = require_async_leases(store)
        super().__init__(reconciler, clock, replica_id, lease, batch_size, on_error)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def offer(self, keys: Iterable[str]) -> int:
        """Track ``keys`` the fleet does not track yet (see ``SharedReconcileLoop.offer``).

        Raises:
            InvalidInput: a key is not a non-empty string.
        """
        return await self.leases.offer(list(keys), self._clock.now())

    async def enqueue(self, key: str, after: timedelta = timedelta(0)) -> None:
        """Make ``key`` due ``after`` from now at the latest (see ``SharedReconcileLoop``).

        Raises:
            InvalidInput: ``key`` is not a non-empty string.
        """
        await self.leases.enqueue(key, self._clock.now() + after)

    async def forget(self, key: str) -> bool:
        """Stop reconciling ``key``; False when it was not tracked."""
        return await self.leases.forget(key)

    async def pending(self) -> dict[str, datetime | None]:
        """Every tracked key and when it is next due."""
        return {k: due for k, (due, _) in (await self.leases.schedule()).items()}

    async def run_due(self, limit: int | None = None) -> PassReport:
        """Take the due keys nobody holds and reconcile them (see ``SharedReconcileLoop``)."""
        return await run_steps_async(self._run_due_steps(limit), self.leases)

    def start(self, workers: int = 1, poll: float = 0.2) -> None:
        """Run ``workers`` tasks on the running loop taking due keys.

        Raises:
            ValueError: ``workers`` is below 1.
        """
        if workers < 1:
            raise ValueError("a reconcile loop needs at least one worker")
        self._stopping.clear()
        loop = asyncio.get_running_loop()
        self._tasks += [loop.create_task(self._work(poll)) for _ in range(workers)]

    async def _work(self, poll: float) -> None:
        while not self._stopping.is_set():
            try:
                report = await self.run_due(limit=self.batch_size)
            except Exception as exc:  # a store outage: wait it out
                log.warning("shared reconcile loop %s: %s", self.replica_id, exc)
                report = PassReport()
            if not report.passes:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), poll)

    async def stop(self) -> None:
        """Stop the tasks after the passes in progress (each ends with its release)."""
        self._stopping.set()
        tasks, self._tasks = self._tasks, []
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self) -> AsyncSharedReconcileLoop:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
