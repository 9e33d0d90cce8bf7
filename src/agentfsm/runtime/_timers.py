"""The timer worker: fires due timers as timer (T) events through the controller.

Timers are rows, so they survive a restart. A fired timer is deleted in the same transaction
that records its event (accepted or refused), and its event id is derived from the timer's
token, so a timer fired twice (a worker killed after the commit but before it knew) is
recorded once, and then deleted as spent. Timer events are sent as ``Actor.TIMER``, so their
ids live in the timers' own scope, where no user's or platform's key can take them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

import attrs

from agentfsm._values import Actor, Event, Refusal, Step
from agentfsm.runtime._controller import Controller, Decisions, Delivery
from agentfsm.runtime._errors import StoreError
from agentfsm.runtime._outbox import default_worker_id
from agentfsm.runtime._polling import run_until_stopped
from agentfsm.runtime._steps import Call, Steps, run_steps
from agentfsm.runtime._telemetry import TELEMETRY

log = logging.getLogger("agentfsm.runtime")


@attrs.define
class TimerReport:
    """What one batch of timers did."""

    claimed: int = 0
    accepted: int = 0
    refused: int = 0
    failed: int = 0


class _TimerSteps:
    """The timer worker's logic, for the sync and the asyncio worker (see ``_steps``)."""

    def __init__(
        self,
        controller: Decisions,
        *,
        worker_id: str | None = None,
        batch_size: int = 200,
        lease: timedelta = timedelta(seconds=60),
        on_batch: Callable[[TimerReport], None] | None = None,
    ) -> None:
        self.controller = controller
        self.store = controller.store
        self.clock = controller.clock
        self.worker_id = worker_id or default_worker_id()
        self.batch_size = batch_size
        self.lease = lease
        self.on_batch = on_batch

    def _batch_steps(self) -> Steps[TimerReport]:
        now = self.clock.now()
        timers = yield Call(
            "claim_timers", (self.worker_id, now, now + self.lease, self.batch_size)
        )
        report = TimerReport(claimed=len(timers))
        if not timers:
            return report
        deliveries = [
            Delivery(t.agent_id, Event(t.event, Actor.TIMER, id=f"timer:{t.token}"), None, t.token)
            for t in timers
        ]
        spans = [
            TELEMETRY.span(
                "agentfsm.timer",
                {
                    "agentfsm.agent": t.agent_id,
                    "agentfsm.event": t.event,
                    "agentfsm.timer.lateness_s": max((now - t.due_at).total_seconds(), 0.0),
                },
            )
            for t in timers
        ]
        for t in timers:
            TELEMETRY.timer_lateness.record(
                max((now - t.due_at).total_seconds(), 0.0), {"agentfsm.event": t.event}
            )
        results: list[Step | Refusal | None] = []
        try:
            results = yield from self._fire(deliveries, report)
        finally:
            for i, span in enumerate(spans):
                r = results[i] if i < len(results) else None
                outcome = "failed" if r is None else "accepted" if r.accepted else "refused"
                span.set_attribute("agentfsm.outcome", outcome)
                span.end()
                TELEMETRY.timers_fired.add(
                    1, {"agentfsm.event": timers[i].event, "agentfsm.outcome": outcome}
                )
        for result in results:
            if isinstance(result, Step):
                report.accepted += 1
            elif result is not None:
                report.refused += 1
        if self.on_batch is not None:
            self.on_batch(report)
        return report

    def _fire(
        self, deliveries: list[Delivery], report: TimerReport
    ) -> Steps[list[Step | Refusal | None]]:
        """One outcome per delivery, ``None`` for a timer that failed to fire."""
        results: list[Step | Refusal | None] = []
        try:
            results.extend((yield from self.controller._handle_many_steps(deliveries)))
        except StoreError:
            results = []
            for d in deliveries:
                try:
                    results.append((yield from self.controller._handle_steps(d)))
                except StoreError as exc:
                    results.append(None)
                    # Left claimed: fired again by the next drain (or by another worker once
                    # the lease lapses), and reported meanwhile.
                    report.failed += 1
                    log.error("timer %s for agent %s failed: %s", d.event.name, d.agent_id, exc)
        return results

    def _drain_steps(self, max_batches: int) -> Steps[TimerReport]:
        total = TimerReport()
        for _ in range(max_batches):
            r = yield from self._batch_steps()
            for f in attrs.fields(TimerReport):
                setattr(total, f.name, getattr(total, f.name) + getattr(r, f.name))
            if not r.claimed or r.failed == r.claimed:
                break
        return total


class TimerWorker(_TimerSteps):
    """Claims due timers in batches and fires them.

    Args:
        controller: records the timer events (and gives the store and the clock).
        worker_id: the name claims are made under (see ``OutboxWorker``).
        batch_size: timers fired per transaction.
        lease: how long a claim lasts before another worker may take the timer over.
        on_batch: called with each batch's ``TimerReport``.
    """

    def __init__(
        self,
        controller: Controller,
        *,
        worker_id: str | None = None,
        batch_size: int = 200,
        lease: timedelta = timedelta(seconds=60),
        on_batch: Callable[[TimerReport], None] | None = None,
    ) -> None:
        super().__init__(
            controller, worker_id=worker_id, batch_size=batch_size, lease=lease, on_batch=on_batch
        )

    def run_once(self) -> TimerReport:
        """Fire one batch of due timers."""
        return run_steps(self._batch_steps(), self.store)

    def drain(self, max_batches: int = 1_000_000) -> TimerReport:
        """Fire batches until none is due, or a batch fired none of the timers it claimed
        (they failed and are left for later: claiming them again at once would spin), or
        ``max_batches`` ran."""
        return run_steps(self._drain_steps(max_batches), self.store)

    def run(self, stop: threading.Event, idle: float = 0.5) -> None:
        """Fire timers until ``stop`` is set, waiting ``idle`` seconds when none is due."""
        run_until_stopped(self.run_once, stop, idle, f"timer worker {self.worker_id}")
