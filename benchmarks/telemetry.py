"""The cost of the runtime's telemetry when no OpenTelemetry SDK is configured.

    python benchmarks/telemetry.py

Times ``Controller.handle`` on a SQLite file (billing_suspend -> billing_resume, each event a
compare-and-set and an audit row) with the telemetry calls going to the API's no-op providers,
and with them replaced by do-nothing stand-ins (what the runtime does without the API). Runs
alternate, best of five each; the difference is the cost per handle (goal: under 2%).
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from agentfsm import Actor, Event
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import Controller, ManualClock, SQLiteStore
from agentfsm.runtime import _telemetry as telemetry

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
CYCLE = (
    Event("billing_suspend", Actor.SYSTEM, {"reason": "payment_issue"}),
    Event("billing_resume", Actor.SYSTEM, {"standing": "good"}),
)


def _rate(path: Path, count: int) -> float:
    store = SQLiteStore(path)
    controller = Controller(MACHINES, store, ManualClock(T0))
    ids = [f"a{i}" for i in range(50)]
    controller.create_many([(a, "alfe", AlfeAgent(a, "x")) for a in ids])
    begin = time.perf_counter()
    for n in range(count):
        e = CYCLE[(n // len(ids)) % 2]
        controller.handle(ids[n % len(ids)], Event(e.name, e.actor, e.payload, f"e{n}"))
    rate = count / (time.perf_counter() - begin)
    store.close()
    return rate


def _without() -> None:
    t = telemetry.TELEMETRY
    t._tracer = None
    for name in ("transitions", "refusals", "conflicts", "time_in_status", "effects",
                 "timers_fired", "timer_lateness", "reconcile_duration"):  # fmt: skip
        setattr(t, name, telemetry._NO_INSTRUMENT)


def _calls_alone(n: int = 100_000) -> float:
    """Microseconds for the telemetry calls one accepted ``handle`` makes."""
    t = telemetry.TELEMETRY
    t.use()
    attrs = {"agentfsm.machine": "alfe", "agentfsm.event": "e", "agentfsm.from": "a"}
    begin = time.perf_counter()
    for _ in range(n):
        span = t.span("agentfsm.handle", {"agentfsm.agent": "a1", "agentfsm.event": "e"})
        span.set_attributes(attrs)
        t.transitions.add(1, attrs)
        t.time_in_status.record(1.0, attrs)
        span.end()
    return (time.perf_counter() - begin) / n * 1e6


def main() -> int:
    count = 4000
    with_api: list[float] = []
    without: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(5):
            telemetry.TELEMETRY.use()
            with_api.append(_rate(Path(tmp) / f"w{n}.db", count))
            _without()
            without.append(_rate(Path(tmp) / f"n{n}.db", count))
    telemetry.TELEMETRY.use()
    a, b = max(with_api), max(without)
    print(f"handle on SQLite: {b:,.0f} events/s without telemetry, {a:,.0f} with the API's")
    print(f"no-op providers: {(1 / a - 1 / b) * 1e6:.1f} us per handle, {(b / a - 1) * 100:.1f}%")
    alone = _calls_alone()
    print(f"the calls alone: {alone:.2f} us per handle, {alone * b / 1e6 * 100:.2f}% of one")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
