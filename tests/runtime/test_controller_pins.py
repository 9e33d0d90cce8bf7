"""More of the controller's promises, each one a behaviour a user would notice: a duplicate of
an event recorded before audit rows carried their snapshot is answered by replaying the log up
to that row; every audit row records the machine version, principal and snapshot it was decided
with; two senders' events with the same id derive different outbox keys; a failed write leaves
no stale snapshot in the cache, which is bounded and forgets the agent written longest ago; a
principal that no store can hold is refused with a ``CodecError`` whatever the event's effects;
refusals and failures show on spans and metrics; and refused input is named in the message."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import attrs
import pytest
from runtime_support import T0, FaultyStore

from agentfsm import Actor, Event, InvalidInput, Machine, Refusal, Step
from agentfsm.effects import CancelTimer, ScheduleTimer
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    CodecError,
    Controller,
    Delivery,
    ManualClock,
    SQLiteStore,
    StoreUnavailable,
    UnknownAgent,
    UnknownMachine,
    VersionConflict,
    Write,
)
from agentfsm.runtime._telemetry import TELEMETRY

S, U = Actor.SYSTEM, Actor.USER
LONE_SURROGATE = "\udcff"


@pytest.fixture
def store() -> Iterator[SQLiteStore]:
    s = SQLiteStore(":memory:")
    yield s
    s.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def controller(store: SQLiteStore, clock: ManualClock) -> Controller:
    c = Controller(MACHINES, store, clock)
    c.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    return c


# -- duplicates of rows written before the row carried its snapshot ---------------------------


def test_a_duplicate_of_an_old_row_is_answered_by_replaying_the_log_up_to_that_row(
    store: SQLiteStore, clock: ManualClock, controller: Controller
) -> None:
    # A version-5 database left its rows without the snapshot they were decided on. The answer
    # to a redelivered event is then rebuilt from the rows before it, by the agent's own
    # machine, and is the step recorded the first time, not a decision on the agent as it is
    # now (on which the same event would be refused).
    outcomes: dict[str, Step | Refusal] = {}
    for event_id, name in (("p", "provision"), ("h", "host_up"), ("c", "connected")):
        clock.advance(timedelta(minutes=5))
        outcomes[event_id] = controller.handle("a1", Event(name, S, id=event_id))
    assert all(isinstance(o, Step) for o in outcomes.values())
    store._conn().execute("UPDATE audit SET before_since = NULL, before_data = NULL")
    written = store.history("a1")
    assert all(row.before is None for row in written)

    fresh = Controller(MACHINES, store, clock)
    again = fresh.handle("a1", Event("host_up", S, id="h"))
    assert again == outcomes["h"]
    assert isinstance(again, Step)
    assert again.snapshot.status == "starting"
    assert store.history("a1") == written  # nothing was written


# -- what each audit row records ------------------------------------------------------------------


def _v2(name: str) -> Machine:
    machine = MACHINES[name]
    return Machine(attrs.evolve(machine.spec, version=2), machine.implementations, record=AlfeAgent)


def test_every_kind_of_decision_records_the_machine_version_that_made_it(
    store: SQLiteStore, clock: ManualClock
) -> None:
    controller = Controller(_v2("alfe"), store, clock)
    controller.create("a2", "alfe", AlfeAgent("a2", "Ann"))
    with_effects = controller.handle("a2", Event("provision", S))
    without_effects = controller.handle("a2", Event("provisioning_failed", S))
    refused = controller.handle("a2", Event("provision", S))
    assert isinstance(with_effects, Step)
    assert with_effects.effects
    assert isinstance(without_effects, Step)
    assert without_effects.effects == ()
    assert isinstance(refused, Refusal)
    assert [r.machine_version for r in store.history("a2")] == [2, 2, 2, 2]


def test_an_accepted_event_without_effects_records_its_principal_and_the_snapshot_before(
    store: SQLiteStore, controller: Controller
) -> None:
    assert isinstance(controller.handle("a1", Event("provision", S)), Step)
    before = store.load("a1").snapshot
    step = controller.handle("a1", Event("provisioning_failed", S, id="f"), principal="ops")
    assert isinstance(step, Step)
    assert step.effects == ()
    row = store.history("a1")[-1]
    assert (row.event, row.principal, row.before) == ("provisioning_failed", "ops", before)
    # The principal is part of the key's scope: the row is found under it, and only under it.
    assert store.audit_row("a1", row.scope, "f") == row
    assert store.audit_row("a1", "S", "f") is None


# -- outbox keys --------------------------------------------------------------------------------


def _outbox_keys(store: SQLiteStore) -> list[str]:
    return [item.key for item in store.outbox(agent_id="a1")]


def _outbox_items(steps: list[Step | Refusal]) -> int:
    """How many outbox items the steps wrote: every effect but the timer changes."""
    timers = (ScheduleTimer, CancelTimer)
    return sum(
        not isinstance(e, timers) for step in steps if isinstance(step, Step) for e in step.effects
    )


def test_the_same_event_id_from_two_actors_derives_different_outbox_keys(
    store: SQLiteStore, controller: Controller
) -> None:
    # The first effect of each is outbox item 0 of event id "k": only the sender tells them apart.
    steps = [controller.handle("a1", Event("provision", S, id="k"))]
    steps += [controller.handle("a1", Event(name, S)) for name in ("host_up", "connected")]
    steps.append(controller.handle("a1", Event("stop", U, id="k")))
    assert all(isinstance(step, Step) for step in steps)
    keys = _outbox_keys(store)
    assert len(keys) == _outbox_items(steps)
    assert len(set(keys)) == len(keys)


def test_the_same_event_id_from_two_principals_derives_different_outbox_keys(
    store: SQLiteStore, controller: Controller
) -> None:
    steps = [controller.handle("a1", Event(n, S)) for n in ("provision", "host_up", "connected")]
    steps.append(controller.handle("a1", Event("stop", U, id="k"), principal="alice"))
    steps.append(controller.handle("a1", Event("shutdown_complete", S)))
    steps.append(controller.handle("a1", Event("start", U, id="k"), principal="bob"))
    assert all(isinstance(step, Step) for step in steps)
    keys = _outbox_keys(store)
    assert len(keys) == _outbox_items(steps)
    assert len(set(keys)) == len(keys)


# -- the cache after a failed write ---------------------------------------------------------------


class CommitsThenFails:
    """A store whose next ``commit`` is applied and then reported failed, as when the
    connection drops after the database committed: the caller cannot know it was written."""

    def __init__(self, inner: SQLiteStore) -> None:
        self.inner = inner
        self.fail_next = False

    def commit(self, writes: Sequence[Write]) -> None:
        self.inner.commit(writes)
        if self.fail_next:
            self.fail_next = False
            raise StoreUnavailable("the connection was lost after the commit")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_write_of_unknown_outcome_leaves_no_cached_snapshot_behind(
    store: SQLiteStore, clock: ManualClock, controller: Controller
) -> None:
    flaky = CommitsThenFails(store)
    c = Controller(MACHINES, flaky, clock)  # type: ignore[arg-type]
    assert isinstance(c.handle("a1", Event("provision", S)), Step)  # cached at version 1
    flaky.fail_next = True
    with pytest.raises(StoreUnavailable):
        c.handle("a1", Event("host_up", S))  # written after all: version 2
    assert store.load("a1").snapshot.version == 2
    step = c.handle("a1", Event("connected", S))
    assert isinstance(step, Step)
    assert step.snapshot.version == 3
    assert c.stats.conflicts == 0  # decided on the stored agent, not the cached one


def test_a_conflict_raised_to_the_caller_leaves_no_stale_snapshot_behind(
    store: SQLiteStore, clock: ManualClock, controller: Controller
) -> None:
    # With no retries a conflict is raised at once; the next call must read the agent again,
    # or every later call would meet the same stale snapshot and the same conflict.
    hasty = Controller(MACHINES, store, clock, max_retries=0)
    assert isinstance(hasty.handle("a1", Event("provision", S)), Step)  # cached
    assert isinstance(controller.handle("a1", Event("host_up", S)), Step)  # another writer
    with pytest.raises(VersionConflict):
        hasty.handle("a1", Event("connected", S))
    step = hasty.handle("a1", Event("connected", S))
    assert isinstance(step, Step)
    assert step.snapshot.status == "running"
    assert hasty.stats.conflicts == 1


# -- principals that are not strings ---------------------------------------------------------


@pytest.mark.parametrize("principal", [7, b"alice"])
def test_a_refused_principal_is_named_in_the_message(
    controller: Controller, principal: object
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(f"not {principal!r}")):
        controller.handle("a1", Event("provision", S), principal=principal)  # type: ignore[arg-type]


# -- principals no store can hold -------------------------------------------------------------


def test_a_principal_with_a_lone_surrogate_is_a_codec_error_on_an_event_with_effects(
    store: SQLiteStore, controller: Controller
) -> None:
    # ``provision`` has effects, so outbox keys are derived from the principal's scope before
    # the store sees the write: that derivation must not be what fails (UnicodeEncodeError).
    before = store.load("a1")
    event = Event("provision", S)
    with pytest.raises(CodecError, match="principal"):
        controller.handle("a1", event, principal=LONE_SURROGATE)
    with pytest.raises(CodecError, match="principal"):
        controller.handle_many([Delivery("a1", event, principal=LONE_SURROGATE)])
    assert store.load("a1") == before
    assert len(store.history("a1")) == 1  # the creation only


# -- spans and metrics ----------------------------------------------------------------------------

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
from opentelemetry.trace import StatusCode  # noqa: E402


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    TELEMETRY.use(provider)
    try:
        yield exporter
    finally:
        TELEMETRY.use()


@pytest.fixture
def metrics() -> Iterator[InMemoryMetricReader]:
    delta = AggregationTemporality.DELTA
    reader = InMemoryMetricReader(preferred_temporality={Counter: delta, Histogram: delta})
    TELEMETRY.use(None, MeterProvider(metric_readers=[reader]))
    try:
        yield reader
    finally:
        TELEMETRY.use()


def _points(reader: InMemoryMetricReader, name: str) -> list[tuple[dict[str, Any], Any]]:
    """Each data point of the metric ``name``: its attributes and its value (a counter's
    value, a histogram's ``(count, sum)``)."""
    data = reader.get_metrics_data()
    out = []
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name != name:
                    continue
                for p in metric.data.data_points:
                    value = getattr(p, "value", None)
                    out.append((dict(p.attributes), (p.count, p.sum) if value is None else value))
    return out


def test_a_refused_decision_span_names_the_machine_and_the_status_it_stayed_in(
    spans: InMemorySpanExporter, controller: Controller
) -> None:
    refused = controller.handle("a1", Event("stop", U, id="s1"))
    assert isinstance(refused, Refusal)
    [span] = [s for s in spans.get_finished_spans() if s.name == "agentfsm.handle"]
    attributes: dict[str, Any] = dict(span.attributes or {})
    assert attributes == {
        "agentfsm.agent": "a1", "agentfsm.event": "stop", "agentfsm.actor": "U",
        "agentfsm.machine": "alfe", "agentfsm.from": "pending", "agentfsm.to": "pending",
        "agentfsm.accepted": False, "agentfsm.refusal_code": refused.code,
    }  # fmt: skip


def test_each_refusal_counts_once_under_its_machine_event_and_code(
    metrics: InMemoryMetricReader, controller: Controller
) -> None:
    refused = controller.handle("a1", Event("stop", U))
    assert isinstance(refused, Refusal)
    assert _points(metrics, "agentfsm.refusals") == [
        ({"agentfsm.machine": "alfe", "agentfsm.event": "stop",
          "agentfsm.refusal_code": refused.code}, 1),
    ]  # fmt: skip


def test_time_in_status_records_a_status_left_within_a_second_as_the_fraction_it_lasted(
    metrics: InMemoryMetricReader, clock: ManualClock, controller: Controller
) -> None:
    clock.advance(timedelta(milliseconds=250))
    assert isinstance(controller.handle("a1", Event("provision", S)), Step)
    assert _points(metrics, "agentfsm.time_in_status") == [
        ({"agentfsm.machine": "alfe", "agentfsm.status": "pending"}, (1, 0.25)),
    ]


def test_a_failed_handle_marks_its_span_with_the_error_it_raised(
    spans: InMemorySpanExporter, controller: Controller
) -> None:
    with pytest.raises(UnknownAgent) as raised:
        controller.handle("nobody", Event("provision", S))
    [span] = [s for s in spans.get_finished_spans() if s.name == "agentfsm.handle"]
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "UnknownAgent"
    [recorded] = span.events
    assert recorded.name == "exception"
    assert (recorded.attributes or {})["exception.message"] == str(raised.value)


# -- messages that name what was wrong ------------------------------------------------------


def test_a_delivery_of_the_wrong_types_is_refused_naming_the_value(controller: Controller) -> None:
    with pytest.raises(InvalidInput, match=re.escape("an agent id must be a string, not 7")):
        controller.handle(7, Event("provision", S))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=re.escape("an Event, not 'provision'")):
        controller.handle("a1", "provision")  # type: ignore[arg-type]


def test_create_names_the_bad_agent_id_or_machine_name(controller: Controller) -> None:
    with pytest.raises(InvalidInput, match=re.escape("a non-empty string, not ''")):
        controller.create("", "alfe", AlfeAgent("x", "X"))
    with pytest.raises(InvalidInput, match=re.escape("a machine name must be a string, not 7")):
        controller.create("x", 7, AlfeAgent("x", "X"))  # type: ignore[arg-type]


def test_an_unknown_machine_is_refused_listing_the_machines_given(controller: Controller) -> None:
    with pytest.raises(UnknownMachine) as raised:
        controller.create("x", "alfa", AlfeAgent("x", "X"))
    assert f"(it has {', '.join(sorted(MACHINES))})" in str(raised.value)


# -- the cache's bound ------------------------------------------------------------------------


class CountingLoads:
    """Passes every call on to a store, counting the agents loaded one by one."""

    def __init__(self, inner: SQLiteStore) -> None:
        self.inner = inner
        self.loaded: list[str] = []

    def load(self, agent_id: str) -> Any:
        self.loaded.append(agent_id)
        return self.inner.load(agent_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_full_cache_forgets_the_agent_written_longest_ago(
    store: SQLiteStore, clock: ManualClock
) -> None:
    counting = CountingLoads(store)
    c = Controller(MACHINES, counting, clock, cache_size=2)  # type: ignore[arg-type]
    for agent_id in ("old", "mid", "new"):
        c.create(agent_id, "alfe", AlfeAgent(agent_id, agent_id))
    assert isinstance(c.handle("old", Event("provision", S)), Step)
    assert counting.loaded == ["old"]  # forgotten when "new" was written
    assert isinstance(c.handle("new", Event("provision", S)), Step)
    assert counting.loaded == ["old"]  # still cached
    assert isinstance(c.handle("mid", Event("provision", S)), Step)
    assert counting.loaded == ["old", "mid"]  # forgotten when "old" was written again


def test_the_cache_holds_ten_thousand_agents_by_default(
    store: SQLiteStore, clock: ManualClock
) -> None:
    counting = CountingLoads(store)
    c = Controller(MACHINES, counting, clock)  # type: ignore[arg-type]
    c.create_many([(f"a{n}", "alfe", AlfeAgent(f"a{n}", "A")) for n in range(10_001)])
    for agent_id in ("a1", "a0"):  # a0 was the one forgotten for the 10,001st
        assert isinstance(c.handle(agent_id, Event("provision", S)), Step)
    assert counting.loaded == ["a0"]


# -- construction ---------------------------------------------------------------------------------


def test_a_controller_takes_a_sequence_of_machine_versions_and_gives_new_agents_the_highest(
    store: SQLiteStore, clock: ManualClock
) -> None:
    c = Controller([MACHINES["alfe"], _v2("alfe")], store, clock)
    c.create("x", "alfe", AlfeAgent("x", "X"))
    assert store.load("x").machine_version == 2


def test_a_controller_without_machines_or_with_one_version_twice_is_refused(
    store: SQLiteStore,
) -> None:
    with pytest.raises(InvalidInput, match="a Controller needs at least one machine"):
        Controller([], store)
    with pytest.raises(InvalidInput, match="the machine 'alfe' version 2 is given twice"):
        Controller([_v2("alfe"), _v2("alfe")], store)


def test_a_controller_retries_eight_conflicts_by_default(
    store: SQLiteStore, clock: ManualClock, controller: Controller
) -> None:
    eight = Controller(MACHINES, FaultyStore(store, 8), clock)  # type: ignore[arg-type]
    assert isinstance(eight.handle("a1", Event("provision", S)), Step)
    assert eight.stats.conflicts == 8
    nine = Controller(MACHINES, FaultyStore(store, 9), clock)  # type: ignore[arg-type]
    with pytest.raises(VersionConflict):
        nine.handle("a1", Event("host_up", S))
    assert nine.stats.conflicts == 9
