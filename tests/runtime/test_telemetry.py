"""OpenTelemetry: the spans and metrics the runtime records, read back from the SDK's
in-memory exporters (the SDK is a test dependency; the library needs only the API)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from runtime_support import T0, FakeHost

from agentfsm import Actor, Event
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    AsyncController,
    AsyncSQLiteStore,
    Controller,
    Delivery,
    ManualClock,
    OutboxWorker,
    ReconcileLoop,
    SQLiteStore,
    TimerWorker,
)
from agentfsm.runtime._telemetry import TELEMETRY

sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import (  # noqa: E402
    AggregationTemporality,
    InMemoryMetricReader,
)
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

S, U = Actor.SYSTEM, Actor.USER


@pytest.fixture
def otel() -> Iterator[tuple[InMemorySpanExporter, InMemoryMetricReader]]:
    """Providers of the test's own, recording in memory (the global ones are left alone)."""
    spans = InMemorySpanExporter()
    tracer_provider = sdk_trace.TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    delta = AggregationTemporality.DELTA
    reader = InMemoryMetricReader(preferred_temporality={Counter: delta, Histogram: delta})
    TELEMETRY.use(tracer_provider, MeterProvider(metric_readers=[reader]))
    try:
        yield spans, reader
    finally:
        TELEMETRY.use()


def _points(data: Any, name: str) -> list[tuple[dict[str, Any], Any]]:
    out = []
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    for p in metric.data.data_points:
                        value = getattr(p, "value", None)
                        if value is None:
                            value = (p.count, p.sum)
                        out.append((dict(p.attributes), value))
    return out


def _spans(exporter: InMemorySpanExporter, name: str) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def test_a_span_per_handle_with_the_decision(otel: Any, tmp_path: Path) -> None:
    spans, metrics = otel
    store = SQLiteStore(tmp_path / "a.db")
    clock = ManualClock(T0)
    c = Controller(MACHINES, store, clock)
    c.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    clock.advance(timedelta(seconds=30))
    c.handle("a1", Event("provision", S, id="p1"))
    c.handle("a1", Event("stop", U, id="s1"))  # refused: provisioning
    c.handle("a1", Event("provision", S, id="p1"))  # a duplicate
    accepted, refused, duplicate = _spans(spans, "agentfsm.handle")
    assert dict(accepted.attributes) == {
        "agentfsm.agent": "a1", "agentfsm.event": "provision", "agentfsm.actor": "S",
        "agentfsm.machine": "alfe", "agentfsm.from": "pending", "agentfsm.to": "provisioning",
        "agentfsm.accepted": True,
    }  # fmt: skip
    assert refused.attributes["agentfsm.accepted"] is False
    assert refused.attributes["agentfsm.refusal_code"] == "not_allowed_from_status"
    assert duplicate.attributes["agentfsm.duplicate"] is True
    data = metrics.get_metrics_data()
    labels = {"agentfsm.machine": "alfe", "agentfsm.event": "provision",
              "agentfsm.from": "pending", "agentfsm.to": "provisioning"}  # fmt: skip
    assert (labels, 1) in _points(data, "agentfsm.transitions")
    refusals = _points(data, "agentfsm.refusals")
    assert any(a["agentfsm.refusal_code"] == "not_allowed_from_status" for a, _ in refusals)
    [(labels, (count, total))] = _points(data, "agentfsm.time_in_status")
    assert labels == {"agentfsm.machine": "alfe", "agentfsm.status": "pending"}
    assert (count, total) == (1, 30.0)
    store.close()


def test_effect_timer_and_reconcile_spans_and_metrics(otel: Any, tmp_path: Path) -> None:
    spans, metrics = otel
    store = SQLiteStore(tmp_path / "a.db")
    clock = ManualClock(T0)
    c = Controller(MACHINES, store, clock)
    c.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    c.handle("a1", Event("provision", S))
    OutboxWorker(c, FakeHost()).drain()
    effects = _spans(spans, "agentfsm.effect")
    assert {s.attributes["agentfsm.effect"] for s in effects} >= {"ProvisionHost", "BootAgent"}
    assert {s.attributes["agentfsm.outcome"] for s in effects} == {"done"}
    done = _points(metrics.get_metrics_data(), "agentfsm.effects")
    assert any(a["agentfsm.outcome"] == "done" for a, _ in done)
    # A boot that never connects: the boot timer fires 5 minutes late... after 6 minutes.
    c.create("b", "alfe", AlfeAgent("b", "Bee"))
    c.handle("b", Event("provision", S))
    c.handle("b", Event("host_up", S))
    clock.advance(timedelta(minutes=6))
    TimerWorker(c).drain()
    [timer] = [s for s in _spans(spans, "agentfsm.timer") if s.attributes["agentfsm.agent"] == "b"]
    assert timer.attributes["agentfsm.event"] == "boot_timeout"
    assert timer.attributes["agentfsm.outcome"] == "accepted"
    assert timer.attributes["agentfsm.timer.lateness_s"] == 60.0
    loop = ReconcileLoop(lambda key: None, clock)
    loop.enqueue("k")
    loop.run_due()
    [rec] = _spans(spans, "agentfsm.reconcile")
    assert dict(rec.attributes) == {"agentfsm.key": "k", "agentfsm.outcome": "reconciled"}
    [(labels, (count, _))] = _points(metrics.get_metrics_data(), "agentfsm.reconcile.duration")
    assert (labels, count) == ({"agentfsm.outcome": "reconciled"}, 1)
    store.close()


def test_the_async_path_records_the_same_spans(otel: Any, tmp_path: Path) -> None:
    spans, _ = otel

    async def main() -> None:
        async with AsyncSQLiteStore(tmp_path / "a.db") as store:
            c = AsyncController(MACHINES, store, ManualClock(T0))
            await c.create("a1", "alfe", AlfeAgent("a1", "Bob"))
            await c.handle("a1", Event("provision", S))

    asyncio.run(main())
    [span] = _spans(spans, "agentfsm.handle")
    assert span.attributes["agentfsm.to"] == "provisioning"


def _gauge_points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    data = reader.get_metrics_data()
    names = (
        "agentfsm.agents", "agentfsm.outbox.items", "agentfsm.outbox.oldest_pending_age",
        "agentfsm.timers",
    )  # fmt: skip
    return {n: sorted(_points(data, n), key=repr) for n in names}


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_gauges_read_the_fleet_from_the_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from agentfsm.runtime import PostgresStore, StoreGauges
    from conftest import new_schema

    store: Any = (
        SQLiteStore(tmp_path / "a.db")
        if kind == "sqlite"
        else PostgresStore(request.getfixturevalue("pg_dsn"), schema=new_schema())
    )
    clock = ManualClock(T0)
    c = Controller(MACHINES, store, clock)
    c.create_many([(a, "alfe", AlfeAgent(a, "x")) for a in ("a1", "a2", "a3")])
    c.handle("a1", Event("provision", S))
    c.handle("a1", Event("host_up", S))  # a boot timer, due in 5 minutes
    reader = InMemoryMetricReader()
    gauges = StoreGauges(store, clock=clock, meter_provider=MeterProvider(metric_readers=[reader]))
    clock.advance(timedelta(minutes=7))  # the timer is 2 minutes late, the items 7 minutes old
    points = _gauge_points(reader)
    assert points["agentfsm.agents"] == [
        ({"agentfsm.machine": "alfe", "agentfsm.status": "pending"}, 2),
        ({"agentfsm.machine": "alfe", "agentfsm.status": "starting"}, 1),
    ]
    assert points["agentfsm.outbox.items"] == [
        ({"agentfsm.state": "parked"}, 0),
        ({"agentfsm.state": "pending"}, 3),
    ]
    assert points["agentfsm.outbox.oldest_pending_age"] == [({}, 420.0)]
    assert points["agentfsm.timers"] == [
        ({"agentfsm.timers": "due"}, 1),
        ({"agentfsm.timers": "late"}, 1),
    ]
    assert gauges.refresh().timers_late == 1
    store.close()


def test_gauges_of_an_async_store_are_refreshed_by_their_task(tmp_path: Path) -> None:
    from agentfsm.runtime import StoreGauges

    reader = InMemoryMetricReader()

    async def main() -> None:
        async with AsyncSQLiteStore(tmp_path / "a.db") as store:
            c = AsyncController(MACHINES, store, ManualClock(T0))
            await c.create("a1", "alfe", AlfeAgent("a1", "x"))
            provider = MeterProvider(metric_readers=[reader])
            async with StoreGauges(store, meter_provider=provider, interval=0.01):
                await asyncio.sleep(0.05)
                points = _gauge_points(reader)
        assert points["agentfsm.agents"] == [
            ({"agentfsm.machine": "alfe", "agentfsm.status": "pending"}, 1)
        ]

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_an_effects_span_links_to_the_decision_that_wrote_it(
    otel: Any, kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from agentfsm.runtime import PostgresStore
    from conftest import new_schema

    spans, _ = otel
    store: Any = (
        SQLiteStore(tmp_path / "a.db")
        if kind == "sqlite"
        else PostgresStore(request.getfixturevalue("pg_dsn"), schema=new_schema())
    )
    c = Controller(MACHINES, store, ManualClock(T0))
    c.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    c.handle("a1", Event("provision", S))
    [decision] = _spans(spans, "agentfsm.handle")
    ctx = decision.get_span_context()
    stored = {i.trace_context for i in store.outbox()}
    flags = int(ctx.trace_flags)
    assert stored == {f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{flags:02x}"}  # in the rows
    OutboxWorker(c, FakeHost()).drain()
    first = [s for s in _spans(spans, "agentfsm.effect") if s.attributes["agentfsm.effect"]
             in ("ProvisionHost", "IssueCredentials")]  # fmt: skip
    assert len(first) == 2
    for effect in first:
        [link] = effect.links
        assert (link.context.trace_id, link.context.span_id) == (ctx.trace_id, ctx.span_id)
    store.close()


def test_untraced_decisions_store_no_trace_context(tmp_path: Path) -> None:
    from opentelemetry.trace import NoOpTracerProvider

    TELEMETRY.use(NoOpTracerProvider())  # the API without an SDK: spans are not recorded
    try:
        store = SQLiteStore(tmp_path / "a.db")
        c = Controller(MACHINES, store, ManualClock(T0))
        c.create("a1", "alfe", AlfeAgent("a1", "Bob"))
        c.handle("a1", Event("provision", S))
        assert [i.trace_context for i in store.outbox()] == [None, None]
        OutboxWorker(c, FakeHost()).drain()  # and the effects run without links
        assert store.outbox(state="pending") == []
        store.close()
    finally:
        TELEMETRY.use()


def test_version_conflicts_are_counted_for_single_events_and_batches(
    otel: Any, tmp_path: Path
) -> None:
    _, metrics = otel
    store = SQLiteStore(tmp_path / "a.db")
    clock = ManualClock(T0)
    stale, other = Controller(MACHINES, store, clock), Controller(MACHINES, store, clock)
    stale.create_many(
        [("a1", "alfe", AlfeAgent("a1", "Ann")), ("b1", "alfe", AlfeAgent("b1", "Bo"))]
    )
    other.handle("a1", Event("provision", S))
    other.handle("b1", Event("provision", S))
    stale.handle("a1", Event("host_up", S))  # decided on its stale cache: one conflict
    stale.handle_many([Delivery("b1", Event("host_up", S))])  # the batch conflicts once
    points = _points(metrics.get_metrics_data(), "agentfsm.version_conflicts")
    assert sorted(points, key=lambda p: len(p[0])) == [({}, 1), ({"agentfsm.machine": "alfe"}, 1)]
    store.close()
