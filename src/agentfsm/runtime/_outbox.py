"""The outbox worker: performs recorded effects through an effect handler, at least once.

A worker claims a batch of due items (a lease: ``claimed_by`` / ``claimed_until``), performs
each through the handler with the item's idempotency key, feeds the handler's platform events
back through the controller (with ids derived from the key, so feeding twice records once), and
marks the item done. A temporary failure is retried with exponential backoff and jitter; after
``max_attempts`` failures, or at once on a permanent one, the item is parked with its last error.
A worker killed mid-batch leaves its items claimed: it resumes them when restarted under the
same ``worker_id``, and any other worker takes them once the lease lapses.
"""

from __future__ import annotations

import inspect
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from agentfsm._effects import RemoveRetainedData
from agentfsm._values import Event
from agentfsm.runtime._async_leases import async_leases_of
from agentfsm.runtime._controller import Controller, Decisions, Delivery
from agentfsm.runtime._errors import PermanentError, StoreError, TemporaryError
from agentfsm.runtime._fencing import Fence, StaleFence, set_fence
from agentfsm.runtime._leases import leases_of
from agentfsm.runtime._polling import run_until_stopped
from agentfsm.runtime._records import OutboxItem
from agentfsm.runtime._steps import Call, Invoke, Steps, run_steps
from agentfsm.runtime._telemetry import TELEMETRY

if TYPE_CHECKING:
    from agentfsm.runtime._async_controller import AsyncController

log = logging.getLogger("agentfsm.runtime")


class EffectHandler(Protocol):
    """Performs one effect (or publishes one domain event) for one agent.

    Called at least once per outbox item; a handler whose work must not happen twice keeps
    ``key`` (stable across every retry of the item) and does nothing the second time.
    """

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        """Perform ``effect`` for the agent.

        Args:
            agent_id: the agent the outbox item belongs to.
            effect: the effect record, or the domain event to publish.
            key: the item's idempotency key, the same on every retry.

        Returns:
            Platform events observed while performing it (``host_up``…), fed back to the agent.

        Raises:
            TemporaryError: retry later (with its ``delay``, or exponential backoff).
            PermanentError: never retry; park the item.
        """
        ...


class EffectRouter:
    """An ``EffectHandler`` that dispatches on the effect's type.

    Args:
        routes: ``effect type -> handler``.
        default: the handler for other types; without one, they are parked (``PermanentError``).
    """

    def __init__(
        self,
        routes: Mapping[type[Any], EffectHandler],
        default: EffectHandler | None = None,
    ) -> None:
        self._routes = dict(routes)
        self._default = default

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        """Perform ``effect`` with the handler registered for its type."""
        handler = self._routes.get(type(effect), self._default)
        if handler is None:
            raise PermanentError(f"no handler is registered for {type(effect).__name__}")
        return handler(agent_id, effect, key)


class RetainedDataRemover:
    """The ``RemoveRetainedData`` handler: clears the agent's stored data beyond its identity.

    It goes through ``Controller.erase``, so the removal is an audit row (the log still
    replays to the stored snapshot) and is idempotent by the item's key.
    """

    def __init__(self, controller: Controller | AsyncController) -> None:
        self._controller = controller

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        """Remove the data; returns no events."""
        if not isinstance(effect, RemoveRetainedData):
            raise PermanentError(f"RetainedDataRemover cannot perform {type(effect).__name__}")
        done = self._controller.erase(agent_id, event_id=f"erase:{key}")
        if inspect.isawaitable(done):  # an AsyncController's: the async worker awaits it
            return _nothing_after(done)  # type: ignore[return-value]
        return ()


async def _nothing_after(done: Awaitable[Any]) -> Sequence[Event]:
    await done
    return ()


def exponential_backoff(
    attempt: int, base: timedelta, cap: timedelta, rng: random.Random
) -> timedelta:
    """The wait before retry number ``attempt`` (1 for the first): ``base * 2**(attempt-1)``,
    capped at ``cap``, then scaled by a random factor in [0.5, 1] so that items that failed
    together do not all come back together."""
    # In float seconds: a timedelta multiplied by 2**60 would overflow before the cap applied.
    seconds = min(base.total_seconds() * 2.0 ** min(attempt - 1, 60), cap.total_seconds())
    return timedelta(seconds=seconds * rng.uniform(0.5, 1.0))


@attrs.define
class BatchReport:
    """What one batch did. ``fed_back`` counts platform events handed to the controller."""

    claimed: int = 0
    done: int = 0
    retried: int = 0
    parked: int = 0
    lost: int = 0
    fed_back: int = 0

    def add(self, other: BatchReport) -> None:
        """Add ``other``'s counts to these."""
        for f in attrs.fields(BatchReport):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def default_worker_id() -> str:
    """``host:pid:random``, unique to this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _OutboxSteps:
    """The outbox worker's logic, for the sync and the asyncio worker (see ``_steps``)."""

    def __init__(
        self,
        controller: Decisions,
        handler: EffectHandler,
        *,
        worker_id: str | None = None,
        batch_size: int = 100,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 8,
        backoff_base: timedelta = timedelta(seconds=1),
        backoff_max: timedelta = timedelta(minutes=10),
        rng: random.Random | None = None,
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        self.controller = controller
        self.store = controller.store
        self.clock = controller.clock
        self.handler = handler
        self.worker_id = worker_id or default_worker_id()
        self.batch_size = batch_size
        self.lease = lease
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.rng = rng or random.Random()
        self.on_batch = on_batch
        self.total = BatchReport()

    def _batch_steps(self) -> Steps[BatchReport]:
        now = self.clock.now()
        until = now + self.lease
        items = yield Call("claim_outbox", (self.worker_id, now, until, self.batch_size))
        report = BatchReport(claimed=len(items))
        fences = (yield from self._fence_steps(items)) if items else None
        for item in items:
            if fences is not None and item.id not in fences:
                report.lost += 1  # the claim lapsed before it was fenced: another worker has it
                continue
            previous = set_fence(
                None if fences is None else Fence(fences[item.id], self.worker_id, item.key, until)
            )
            try:
                yield from self._perform(item, report)
            finally:
                set_fence(previous)
        self.total.add(report)
        if items:
            log.debug("outbox worker %s: %s", self.worker_id, report)
            if self.on_batch is not None:
                self.on_batch(report)
        return report

    def _fence_steps(self, items: Sequence[OutboxItem]) -> Steps[dict[int, int] | None]:
        # Every claim gets a fencing token from the store's counter (schema 7); a store that
        # keeps none runs unfenced, and the handler sees ``current_fence() is None``.
        leases: Any = leases_of(self.store) or async_leases_of(self.store)
        if leases is None:
            return None
        tokens: dict[int, int] = yield Invoke(
            leases.fence_outbox, (self.worker_id, [i.id for i in items])
        )
        return tokens

    def _drain_steps(self, max_batches: int) -> Steps[BatchReport]:
        total = BatchReport()
        for _ in range(max_batches):
            report = yield from self._batch_steps()
            total.add(report)
            if not report.claimed:
                break
        return total

    def _perform(self, item: OutboxItem, report: BatchReport) -> Steps[None]:
        span = TELEMETRY.span(
            "agentfsm.effect",
            {"agentfsm.agent": item.agent_id, "agentfsm.effect": type(item.payload).__name__,
             "agentfsm.outbox.kind": item.kind, "agentfsm.outbox.key": item.key,
             "agentfsm.outbox.attempt": item.attempts + 1},
            link=item.trace_context,
        )  # fmt: skip
        before = attrs.asdict(report)
        try:
            yield from self._perform_item(item, report)
        finally:
            outcome = next(
                (k for k, v in attrs.asdict(report).items() if v != before[k] and k != "fed_back"),
                "cancelled",
            )
            span.set_attribute("agentfsm.outcome", outcome)
            span.end()
            TELEMETRY.effects.add(
                1, {"agentfsm.effect": type(item.payload).__name__, "agentfsm.outcome": outcome}
            )

    def _perform_item(self, item: OutboxItem, report: BatchReport) -> Steps[None]:
        try:
            events = yield Invoke(self.handler, (item.agent_id, item.payload, item.key))
            for i, event in enumerate(events):
                if event.id is None:
                    event = attrs.evolve(event, id=f"{item.key}/{i}")
                delivery = Delivery(item.agent_id, event, item.key)
                yield from self.controller._handle_steps(delivery)
                report.fed_back += 1
        except StaleFence as exc:
            # A newer claim has acted on the resource: this one owns nothing any more.
            log.warning("outbox item %s: %s", item.id, exc)
            report.lost += 1
            return
        except PermanentError as exc:
            yield from self._park(item, f"permanent: {exc}", report)
            return
        except TemporaryError as exc:
            yield from self._retry(item, str(exc) or type(exc).__name__, exc.delay, report)
            return
        except StoreError as exc:
            if not exc.retryable:
                yield from self._park(item, f"{type(exc).__name__}: {exc}", report)
                return
            yield from self._retry(item, f"{type(exc).__name__}: {exc}", None, report)
            return
        except Exception as exc:
            # A handler bug is retried like a temporary failure, so it ends up parked with its
            # message rather than stopping the worker.
            log.exception("outbox item %s: handler raised", item.id)
            yield from self._retry(item, f"{type(exc).__name__}: {exc}", None, report)
            return
        if (yield Call("finish_outbox", (item.id, self.worker_id, self.clock.now()))):
            report.done += 1
        else:
            report.lost += 1
            log.warning("outbox item %s: claim lapsed before it was marked done", item.id)

    def _retry(
        self, item: OutboxItem, error: str, delay: timedelta | None, report: BatchReport
    ) -> Steps[None]:
        attempt = item.attempts + 1
        if attempt >= self.max_attempts:
            yield from self._park(item, error, report)
            return
        now = self.clock.now()
        wait = (
            delay
            if delay is not None
            else exponential_backoff(attempt, self.backoff_base, self.backoff_max, self.rng)
        )
        if (yield Call("retry_outbox", (item.id, self.worker_id, error, now + wait, now))):
            report.retried += 1
        else:
            report.lost += 1

    def _park(self, item: OutboxItem, error: str, report: BatchReport) -> Steps[None]:
        log.warning("outbox item %s parked: %s", item.id, error)
        if (yield Call("park_outbox", (item.id, self.worker_id, error, self.clock.now()))):
            report.parked += 1
        else:
            report.lost += 1


class OutboxWorker(_OutboxSteps):
    """Claims due outbox items in batches and performs them through ``handler``.

    Args:
        controller: feeds the handler's events back (and gives the store and the clock).
        handler: performs effects and publishes domain events.
        worker_id: the name the worker's claims are made under; reuse it after a restart to
            resume the batch the worker was killed in.
        batch_size: items claimed at a time.
        lease: how long a claim lasts before another worker may take the item over.
        max_attempts: failures after which an item is parked.
        backoff_base: the exponential backoff's first wait.
        backoff_max: the exponential backoff's cap.
        rng: the jitter's random source (seed it in tests).
        on_batch: called with each batch's ``BatchReport`` (progress for long runs).
    """

    def __init__(
        self,
        controller: Controller,
        handler: EffectHandler,
        *,
        worker_id: str | None = None,
        batch_size: int = 100,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 8,
        backoff_base: timedelta = timedelta(seconds=1),
        backoff_max: timedelta = timedelta(minutes=10),
        rng: random.Random | None = None,
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        super().__init__(
            controller, handler, worker_id=worker_id, batch_size=batch_size, lease=lease,
            max_attempts=max_attempts, backoff_base=backoff_base, backoff_max=backoff_max,
            rng=rng, on_batch=on_batch,
        )  # fmt: skip

    def run_once(self) -> BatchReport:
        """Claim one batch and perform it. Returns what it did (``claimed == 0``: nothing due).

        Raises:
            TypeError: the handler is a coroutine function (use ``AsyncOutboxWorker``).
        """
        return run_steps(self._batch_steps(), self.store)

    def drain(self, max_batches: int = 1_000_000) -> BatchReport:
        """Run batches until one finds nothing due (or ``max_batches`` ran)."""
        return run_steps(self._drain_steps(max_batches), self.store)

    def run(self, stop: threading.Event, idle: float = 0.5) -> None:
        """Run batches until ``stop`` is set, waiting ``idle`` seconds when nothing is due."""
        run_until_stopped(self.run_once, stop, idle, f"outbox worker {self.worker_id}")
