"""Gauges read from the store: agents per status, the outbox's backlog, timers due and late.

Counters and histograms are recorded as the runtime works; these are the fleet's state, so
they are read from the database when the metrics are collected (observable gauges).
``StoreGauges`` registers them for one store: a sync store is read in the collection callback
(at most once per ``max_age`` seconds); an async store cannot be awaited there, so its counts
are refreshed by ``await gauges.refresh_async()`` or by the task ``async with gauges:`` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, NamedTuple

from agentfsm.runtime._clock import Clock, SystemClock
from agentfsm.runtime._telemetry import SCOPE


class StoreCounts(NamedTuple):
    """What a store holds, counted (``Store.counts``).

    Attributes:
        agents: agents by ``(machine, status)``.
        pending: outbox items waiting to be performed.
        parked: outbox items parked after failing.
        oldest_pending: when the oldest pending item was written, or ``None``.
        timers_due: timers due at the time asked about.
        timers_late: timers due ``late_after`` or more before it.
    """

    agents: dict[tuple[str, str], int]
    pending: int
    parked: int
    oldest_pending: datetime | None
    timers_due: int
    timers_late: int


def counts_from(
    agents: Iterable[Any], outbox: Iterable[Any], timers: Any, time_of: Any
) -> StoreCounts:
    """A ``StoreCounts`` from the rows of the three counting queries both stores run."""
    by_state = {state: (int(n), oldest) for state, n, oldest in outbox}
    pending, oldest = by_state.get("pending", (0, None))
    due, late = timers
    return StoreCounts(
        {(str(m), str(s)): int(n) for m, s, n in agents},
        pending,
        by_state.get("parked", (0, None))[0],
        None if oldest is None else time_of(oldest),
        int(due or 0),
        int(late or 0),
    )


class StoreGauges:
    """Observable gauges of one store's contents.

    Args:
        store: a sync or async store (anything with ``counts``).
        clock: the time the timers and the outbox's age are measured against.
        late_after: a timer due this long ago or more counts as late.
        meter_provider: where the gauges are registered (default: the global provider).
        max_age: seconds a reading of a sync store is reused for.
        interval: seconds between refreshes of an async store under ``async with``.

    Raises:
        MissingExtra: the OpenTelemetry API is not installed (``agentfsm[otel]``).
    """

    def __init__(
        self,
        store: Any,
        *,
        clock: Clock | None = None,
        late_after: timedelta = timedelta(minutes=1),
        meter_provider: Any = None,
        max_age: float = 1.0,
        interval: float = 15.0,
    ) -> None:
        try:
            from opentelemetry import metrics
            from opentelemetry.metrics import Observation
        except ImportError as exc:  # pragma: no cover - the extra is installed in tests
            from agentfsm._errors import MissingExtra

            raise MissingExtra("StoreGauges", "otel", "opentelemetry-api") from exc
        self.store = store
        self.clock = clock or SystemClock()
        self.late_after = late_after
        self.max_age = max_age
        self.interval = interval
        self._async = asyncio.iscoroutinefunction(getattr(store, "counts", None))
        self._last: StoreCounts | None = None
        self._read_at = -1e18
        self._lock = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._observation = Observation
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        meter.create_observable_gauge(
            "agentfsm.agents", [self._agents], "{agent}", "Agents by machine and status"
        )
        meter.create_observable_gauge(
            "agentfsm.outbox.items", [self._outbox], "{item}", "Outbox items pending and parked"
        )
        meter.create_observable_gauge(
            "agentfsm.outbox.oldest_pending_age", [self._age], "s",
            "Age of the oldest pending outbox item",
        )  # fmt: skip
        meter.create_observable_gauge(
            "agentfsm.timers", [self._timers], "{timer}", "Timers due, and due but late"
        )

    def refresh(self) -> StoreCounts:
        """Count a sync store now.

        Raises:
            StoreError: the store failed.
        """
        counts: StoreCounts = self.store.counts(self.clock.now(), self.late_after)
        self._keep(counts)
        return counts

    async def refresh_async(self) -> StoreCounts:
        """Count an async store now.

        Raises:
            StoreError: the store failed.
        """
        counts: StoreCounts = await self.store.counts(self.clock.now(), self.late_after)
        self._keep(counts)
        return counts

    def _keep(self, counts: StoreCounts) -> None:
        with self._lock:
            self._last, self._read_at = counts, time.monotonic()

    def _current(self) -> StoreCounts | None:
        if not self._async and time.monotonic() - self._read_at > self.max_age:
            with contextlib.suppress(Exception):  # a failed reading reports nothing
                return self.refresh()
            return None
        return self._last

    def _agents(self, options: Any) -> list[Any]:
        counts = self._current()
        if counts is None:
            return []
        return [
            self._observation(n, {"agentfsm.machine": m, "agentfsm.status": s})
            for (m, s), n in sorted(counts.agents.items())
        ]

    def _outbox(self, options: Any) -> list[Any]:
        counts = self._current()
        if counts is None:
            return []
        return [
            self._observation(counts.pending, {"agentfsm.state": "pending"}),
            self._observation(counts.parked, {"agentfsm.state": "parked"}),
        ]

    def _age(self, options: Any) -> list[Any]:
        counts = self._current()
        if counts is None:
            return []
        oldest = counts.oldest_pending
        age = 0.0 if oldest is None else max((self.clock.now() - oldest).total_seconds(), 0.0)
        return [self._observation(age)]

    def _timers(self, options: Any) -> list[Any]:
        counts = self._current()
        if counts is None:
            return []
        return [
            self._observation(counts.timers_due, {"agentfsm.timers": "due"}),
            self._observation(counts.timers_late, {"agentfsm.timers": "late"}),
        ]

    async def _refresh_forever(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.refresh_async()
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> StoreGauges:
        self._task = asyncio.get_running_loop().create_task(self._refresh_forever())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
