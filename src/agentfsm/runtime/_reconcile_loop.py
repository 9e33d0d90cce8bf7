"""A reconcile loop with controller-runtime's semantics, for any reconciler and any store.

* **Level-triggered.** A request names a key (an agent id), never an event; enqueueing a key
  that is already waiting does nothing more, so a burst of changes costs one reconcile.
* **One key, one worker.** A key being reconciled is never handed to a second worker; if it
  is enqueued meanwhile it runs again once the first pass is over.
* **Requeue after.** A reconcile returns how long to wait before looking again (Recif: 30 s),
  or ``None`` to wait for the next change, or ``GONE`` when the key's subject no longer exists
  (the loop stops tracking the key; enqueueing it again tracks it anew).
* **Errors.** ``TemporaryError(delay)`` retries after its delay; ``TerminalError`` (or the
  runtime's ``PermanentError``) stops retrying the key until it is enqueued again; any other
  exception retries with per-key exponential backoff (5 ms doubling to 1000 s, as
  controller-runtime does), reset by the next success.

The queue lives in memory: after a restart, ``enqueue_all`` the stored keys, and every agent
is reconciled once from its full state, which is what level-triggering makes safe.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from datetime import datetime, timedelta
from typing import Literal, Protocol

import attrs

from agentfsm.runtime._clock import Clock
from agentfsm.runtime._errors import PermanentError, TemporaryError
from agentfsm.runtime._steps import Invoke, Steps, run_steps
from agentfsm.runtime._telemetry import TELEMETRY

log = logging.getLogger("agentfsm.runtime")

BASE_DELAY = timedelta(milliseconds=5)
MAX_DELAY = timedelta(seconds=1000)

PassResult = Literal["reconciled", "failed", "abandoned"]
"""How one pass over one key ended."""


@attrs.frozen(repr=False)
class _Gone:
    def __repr__(self) -> str:
        return "GONE"


GONE = _Gone()
"""What a reconciler returns for a key whose subject no longer exists (a deleted agent with
nothing left in the cluster): the loop stops tracking it, as ``forget`` would, once the pass
is over. A key enqueued again (during the pass too) is tracked anew."""

Requeue = timedelta | None | _Gone
"""What a reconcile pass returns: when to look again, ``None`` (at the next change) or
``GONE``."""


class TerminalError(Exception):
    """Raised by a reconciler when retrying cannot help (a spec that can never be satisfied)."""


class Reconciler(Protocol):
    """Brings one key's actual state toward its desired state."""

    def __call__(self, key: str) -> Requeue:
        """Reconcile ``key`` from its full current state.

        Returns:
            How long to wait before reconciling it again, ``None`` to wait for a change, or
            ``GONE`` when the key's subject no longer exists.

        Raises:
            TemporaryError: retry after the error's delay.
            TerminalError: do not retry until the key is enqueued again.
        """
        ...


@attrs.frozen
class PassReport:
    """What one call of ``run_due`` did.

    Attributes:
        reconciled: keys reconciled successfully.
        failed: keys whose reconcile raised and will be retried.
        abandoned: keys that raised a terminal error.
        lost: keys whose lease lapsed before their pass was over (``SharedReconcileLoop``
            only): another replica owns them now.
    """

    reconciled: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    abandoned: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()

    @property
    def passes(self) -> int:
        """How many keys this call took, whatever became of them."""
        return len(self.reconciled) + len(self.failed) + len(self.abandoned) + len(self.lost)


def backoff_delay(failures: int) -> timedelta:
    """controller-runtime's per-item backoff: 5 ms doubled per failure, at most 1000 s."""
    exponent = min(max(failures - 1, 0), 40)  # 2**40 * 5 ms is far past the cap
    delay: timedelta = BASE_DELAY * (2**exponent)
    return min(delay, MAX_DELAY)


class KeyQueue:
    """The work queue of keys and what a pass does with a key, shared by ``ReconcileLoop`` and
    ``AsyncReconcileLoop`` (a pass is a generator of requests, see ``_steps``)."""

    def __init__(
        self,
        reconciler: Reconciler | Callable[[str], Awaitable[Requeue]],
        clock: Clock,
        *,
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self._reconcile = reconciler
        self._clock = clock
        self._on_error = on_error or (lambda k, e: log.warning("reconcile %s failed: %s", k, e))
        self._lock = threading.Condition()
        self._due: dict[str, datetime] = {}  # key -> when it is next due (one entry per key)
        self._heap: list[tuple[datetime, int, str]] = []
        self._seq = 0
        self._active: set[str] = set()
        self._again: set[str] = set()  # enqueued while active: run once more afterwards
        self._failures: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = False

    # -- enqueueing ---------------------------------------------------------------------------

    def enqueue(self, key: str, after: timedelta = timedelta(0)) -> None:
        """Ask for ``key`` to be reconciled ``after`` from now (at once by default).

        If the key is already due sooner, nothing changes; if it is being reconciled, it runs
        again when that pass is over.
        """
        if not isinstance(key, str) or not key:
            raise ValueError(f"a reconcile key must be a non-empty string, not {key!r}")
        with self._lock:
            self._schedule(key, self._clock.now() + after)
            self._notify()

    def enqueue_all(self, keys: Iterable[str]) -> None:
        """Enqueue every key at once (after a restart: reconcile everything from its state)."""
        for key in keys:
            self.enqueue(key)

    def _schedule(self, key: str, at: datetime) -> None:
        if key in self._active:
            self._again.add(key)
            current = self._due.get(key)
            if current is None or at < current:
                self._due[key] = at
            return
        current = self._due.get(key)
        if current is not None and current <= at:
            return
        self._due[key] = at
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, key))

    def pending(self) -> dict[str, datetime]:
        """Every waiting key and when it is due."""
        with self._lock:
            return dict(self._due)

    # -- running ------------------------------------------------------------------------------

    def _take(self, now: datetime, skip: Collection[str] = ()) -> str | None:
        held: list[tuple[datetime, int, str]] = []  # due, but in ``skip``: back in the heap
        try:
            while self._heap and self._heap[0][0] <= now:
                entry = heapq.heappop(self._heap)
                at, _, key = entry
                if self._due.get(key) != at or key in self._active:
                    continue  # a stale heap entry, or the key is busy: it will be rescheduled
                if key in skip:
                    held.append(entry)
                    continue
                del self._due[key]
                self._active.add(key)
                return key
            return None
        finally:
            for entry in held:
                heapq.heappush(self._heap, entry)

    def _finish(self, key: str, requeue: Requeue) -> None:
        with self._lock:
            self._active.discard(key)
            again = key in self._again
            self._again.discard(key)
            pending = self._due.pop(key, None)
            now = self._clock.now()
            candidates = [t for t in (pending, now if again else None) if t is not None]
            if isinstance(requeue, timedelta):  # None and GONE: nothing kept but a change
                candidates.append(now + requeue)
            if candidates:
                self._schedule(key, min(candidates))
            self._notify()

    def _notify(self) -> None:
        # The lock is held: wake the threads waiting for a due key.
        self._lock.notify_all()

    def _pass_steps(self, key: str) -> Steps[PassResult]:
        span = TELEMETRY.span("agentfsm.reconcile", {"agentfsm.key": key})
        began = time.perf_counter()
        outcome = "cancelled"
        try:
            outcome = yield from self._reconcile_once(key)
            return outcome
        finally:
            span.set_attribute("agentfsm.outcome", outcome)
            span.end()
            TELEMETRY.reconcile_duration.record(
                time.perf_counter() - began, {"agentfsm.outcome": outcome}
            )

    def _reconcile_once(self, key: str) -> Steps[PassResult]:
        try:
            requeue = yield Invoke(self._reconcile, (key,))
        except TemporaryError as exc:
            self._on_error(key, exc)
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            self._finish(key, exc.delay if exc.delay is not None else backoff_delay(failures))
            return "failed"
        except (TerminalError, PermanentError) as exc:
            self._on_error(key, exc)
            self._failures.pop(key, None)
            self._finish(key, None)
            return "abandoned"
        except GeneratorExit:
            # The pass was cancelled (an asyncio task): the key is free again, due at once.
            self._finish(key, timedelta(0))
            raise
        except Exception as exc:
            self._on_error(key, exc)
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            self._finish(key, backoff_delay(failures))
            return "failed"
        self._failures.pop(key, None)
        self._finish(key, requeue)
        return "reconciled"

    def _run_due_steps(self, limit: int | None, once: bool) -> Steps[PassReport]:
        done: dict[str, list[str]] = {"reconciled": [], "failed": [], "abandoned": []}
        ran: set[str] = set()
        count = 0
        while limit is None or count < limit:
            with self._lock:
                key = self._take(self._clock.now(), ran if once else ())
            if key is None:
                break
            done[(yield from self._pass_steps(key))].append(key)
            ran.add(key)
            count += 1
        return PassReport(
            tuple(done["reconciled"]), tuple(done["failed"]), tuple(done["abandoned"])
        )

    def _run_now_steps(self, key: str) -> Steps[PassResult | None]:
        if not isinstance(key, str) or not key:
            raise ValueError(f"a reconcile key must be a non-empty string, not {key!r}")
        with self._lock:
            if key in self._active:
                return None
            self._due.pop(key, None)  # its heap entry is now stale: ``_take`` skips it
            self._active.add(key)
        return (yield from self._pass_steps(key))

    def failures(self, key: str) -> int:
        """How many times in a row ``key`` has failed (0 after a success)."""
        return self._failures.get(key, 0)


class ReconcileLoop(KeyQueue):
    """A work queue of keys and the workers that reconcile them.

    Args:
        reconciler: the function that reconciles one key.
        clock: when keys are due; a ``ManualClock`` in tests.
        on_error: called with (key, exception) for every failed pass (logging by default).

    Drive it with ``run_due()`` from your own loop (deterministic, one thread), or with
    ``start(workers=N)`` / ``stop()`` for background threads.
    """

    def _run_one(self, key: str) -> PassResult:
        return run_steps(self._pass_steps(key), None)

    def run_due(self, limit: int | None = None, *, once: bool = False) -> PassReport:
        """Reconcile every key due now, one at a time, in this thread.

        Args:
            limit: stop after this many passes (``None``: no limit).
            once: reconcile each key at most once in this call. A key due again before the
                call ends (enqueued during its own pass, or failed with a short backoff) waits
                for the next call instead. A caller that does other work between calls (a
                platform's tick) then sees each pass's effects first, and a key that keeps
                asking for itself cannot hold the thread.

        Returns:
            Which keys were reconciled, failed, or abandoned.
        """
        return run_steps(self._run_due_steps(limit, once), None)

    def run_now(self, key: str) -> PassResult | None:
        """Reconcile ``key`` in this thread at once, due or not, unless a worker has it.

        The pass stands for the key's next reconcile: a request waiting for it is consumed, and
        its requeue, errors and backoff are handled as in ``run_due``.

        Returns:
            ``"reconciled"``, ``"failed"`` or ``"abandoned"``; ``None`` when the key is being
            reconciled right now (nothing changes: that pass reads the latest state anyway).

        Raises:
            ValueError: ``key`` is not a non-empty string.
        """
        return run_steps(self._run_now_steps(key), None)

    def start(self, workers: int = 2, poll: float = 0.05) -> None:
        """Run ``workers`` background threads; different keys run in parallel."""
        if workers < 1:
            raise ValueError("a reconcile loop needs at least one worker")
        self._stopping = False
        for n in range(workers):
            t = threading.Thread(
                target=self._work, args=(poll,), name=f"reconcile-{n}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def _work(self, poll: float) -> None:
        while True:
            with self._lock:
                key = None
                while not self._stopping:
                    key = self._take(self._clock.now())
                    if key is not None:
                        break
                    self._lock.wait(poll)
                if self._stopping:
                    return
            assert key is not None
            self._run_one(key)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background threads, letting passes in progress finish."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
