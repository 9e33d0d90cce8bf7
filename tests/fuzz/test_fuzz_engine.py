"""The pure engine under hostile input: ``Event``, ``Context``, ``decide``, ``fire``,
``offered`` and ``Machine.initial``.

Contracts (from the docstrings): ``Event`` and ``Context`` refuse a malformed value with
``InvalidInput``; ``decide`` never raises for a bad event, and refuses a malformed snapshot
(``invalid_snapshot``/``unknown_status``), raising ``InvalidInput`` only when an argument is not
an ``Event``/``Context``/``Snapshot`` at all; ``fire`` adds ``TransitionRefused``; ``offered``
raises ``InvalidInput`` for a status the machine lacks; ``Machine.initial`` raises
``InvalidInput`` for a naive time or a record that is not its machine's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agentfsm import (
    Context,
    Event,
    InvalidInput,
    Machine,
    Policy,
    Refusal,
    Snapshot,
    Step,
    TransitionRefused,
    decide,
    fire,
    offered,
)
from agentfsm.models import MACHINES, AlfeAgent, RecifAgent

from . import _hostile as h
from ._tally import attempt, expect, fuzz_settings

FUZZ = fuzz_settings(60)

RECORDS: dict[str, type] = {"alfe": AlfeAgent, "alfe-self-hosted": AlfeAgent, "recif": RecifAgent}


def good_record(machine: str) -> Any:
    return RecifAgent("support-agent") if machine == "recif" else AlfeAgent("a-1", "Agent")


machines = st.sampled_from(sorted(MACHINES))


@st.composite
def good_snapshots(draw: st.DrawFn) -> tuple[Machine, Snapshot]:
    """A machine and a well-formed snapshot of it in any of its statuses."""
    name = draw(machines)
    machine = MACHINES[name]
    status = draw(st.sampled_from(machine.spec.state_names))
    version = draw(st.integers(0, 10**6))
    since = draw(st.sampled_from((h.T0, h.T0.replace(year=1), h.T0.replace(year=9999))))
    return machine, Snapshot(status, version, since, good_record(name))


def hostile_snapshots() -> st.SearchStrategy[tuple[Any, ...]]:
    """Recipes for snapshots with a hostile status, version, time or record (see ``snap``)."""
    return st.tuples(
        st.one_of(h.text(), st.sampled_from(("pending", "running", "Running")), h.anything()),
        st.one_of(h.ints(), h.anything()),
        st.one_of(h.datetimes(), h.anything()),
        h.records(),
    )


def snap(recipe: tuple[Any, ...]) -> Snapshot:
    return Snapshot(*(h.real(v) for v in recipe))


@FUZZ
@given(
    name=st.one_of(h.text(), h.anything()),
    actor=h.actors(),
    payload=h.payloads(),
    ident=h.anything(),
)
def test_fuzz_event_construction(name: Any, actor: Any, payload: Any, ident: Any) -> None:
    """``Event`` builds or refuses with ``InvalidInput``; nothing else comes out."""
    name, actor, payload, ident = (h.real(v) for v in (name, actor, payload, ident))
    attempt("Event", (InvalidInput,), lambda: Event(name, actor, payload, ident), name, payload)


@FUZZ
@given(now=st.one_of(h.datetimes(), h.anything()), policy=h.anything(), delta=h.anything())
def test_fuzz_context_and_policy_construction(now: Any, policy: Any, delta: Any) -> None:
    """``Context`` and ``Policy`` refuse malformed values with ``InvalidInput``."""
    now, policy, delta = (h.real(v) for v in (now, policy, delta))
    attempt("Context", (InvalidInput,), lambda: Context(now), now)
    attempt("Context", (InvalidInput,), lambda: Context(h.T0, policy), policy)
    attempt("Policy", (InvalidInput,), lambda: Policy(stuck_after=delta), delta)


@FUZZ
@given(pair=good_snapshots(), recipe=h.events(), context=h.contexts())
def test_fuzz_decide_never_raises_for_a_bad_event(
    pair: tuple[Machine, Snapshot], recipe: tuple[Any, ...], context: Context
) -> None:
    """A hostile event or an extreme time is decided: a ``Step`` or a ``Refusal``, no raise."""
    machine, snapshot = pair
    event = h.event(recipe)
    before = repr(snapshot)  # records hold mapping proxies, which cannot be deep-copied
    result = attempt("decide", (), lambda: decide(machine, snapshot, event, context), event)
    if isinstance(result, BaseException):
        return
    expect("decide", isinstance(result, Step | Refusal), "returned neither Step nor Refusal")
    expect("decide", repr(snapshot) == before, "changed the snapshot it was given", event)


@FUZZ
@given(name=machines, shape=hostile_snapshots(), recipe=h.events(), context=h.contexts())
def test_fuzz_decide_refuses_a_malformed_snapshot(
    name: str, shape: tuple[Any, ...], recipe: tuple[Any, ...], context: Context
) -> None:
    """A snapshot with a hostile status, version, time or record is refused, never raised on.

    A record that is not the machine's is refused as ``invalid_snapshot``, whatever the event.
    """
    machine = MACHINES[name]
    snapshot, event = snap(shape), h.event(recipe)
    result = attempt(
        "decide", (), lambda: decide(machine, snapshot, event, context), snapshot, event
    )
    if isinstance(result, BaseException):
        return
    if not isinstance(snapshot.data, RECORDS[name]):
        expect(
            "decide",
            isinstance(result, Refusal),
            f"accepted a snapshot whose data is a {type(snapshot.data).__name__}",
            snapshot,
            event,
        )


@FUZZ
@given(name=machines, snapshot=h.anything(), event=h.anything(), context=h.anything())
def test_fuzz_decide_with_arguments_of_the_wrong_type(
    name: str, snapshot: Any, event: Any, context: Any
) -> None:
    """Arguments that are not a ``Snapshot``/``Event``/``Context`` give ``InvalidInput``."""
    machine = MACHINES[name]
    snapshot, event, context = (h.real(v) for v in (snapshot, event, context))
    attempt(
        "decide",
        (InvalidInput,),
        lambda: decide(machine, snapshot, event, context),
        snapshot,
        event,
        context,
    )


@FUZZ
@given(pair=good_snapshots(), recipe=h.events(), context=h.contexts())
def test_fuzz_fire(
    pair: tuple[Machine, Snapshot], recipe: tuple[Any, ...], context: Context
) -> None:
    """``fire`` returns a ``Step`` or raises ``TransitionRefused``."""
    machine, snapshot = pair
    event = h.event(recipe)
    attempt("fire", (TransitionRefused,), lambda: fire(machine, snapshot, event, context), event)


@FUZZ
@given(
    name=machines,
    shape=st.one_of(hostile_snapshots(), good_snapshots().map(lambda p: tuple(p[1]))),
    context=h.contexts(),
    actor=h.actors(),
)
def test_fuzz_offered(name: str, shape: tuple[Any, ...], context: Context, actor: Any) -> None:
    """``offered`` answers, or raises ``InvalidInput`` for a status or actor it cannot use."""
    machine = MACHINES[name]
    snapshot, actor = snap(shape), h.real(actor)
    attempt(
        "offered",
        (InvalidInput,),
        lambda: offered(machine, snapshot, context, actor=actor),
        snapshot,
        actor,
    )


@FUZZ
@given(
    name=machines,
    data=st.one_of(h.records(), h.anything()),
    now=st.one_of(st.just(h.T0), h.datetimes(), h.contexts(), h.anything()),
)
def test_fuzz_machine_initial(name: str, data: Any, now: Any) -> None:
    """``Machine.initial`` refuses a naive or non-datetime time and a record not its machine's
    with ``InvalidInput``."""
    machine = MACHINES[name]
    data, now = h.real(data), h.real(now)
    result = attempt("Machine.initial", (InvalidInput,), lambda: machine.initial(data, now), data)
    if isinstance(result, Snapshot):
        expect(
            "Machine.initial",
            isinstance(data, RECORDS[name]),
            f"accepted a {type(data).__name__} as a {name} record",
            data,
        )


@FUZZ
@given(name=machines, data=h.records())
def test_fuzz_machine_initial_with_an_ordinary_time(name: str, data: Any) -> None:
    """Only the machine's own record makes an initial snapshot."""
    machine = MACHINES[name]
    result = attempt("Machine.initial", (InvalidInput,), lambda: machine.initial(data, h.T0), data)
    accepted = isinstance(result, Snapshot)
    expect(
        "Machine.initial",
        accepted == isinstance(data, RECORDS[name]),
        f"{'accepted' if accepted else 'refused'} a {type(data).__name__} as a {name} record",
        data,
    )


@st.composite
def unprintable_payloads(draw: st.DrawFn) -> tuple[str, str, str, h.Danger]:
    """A machine, one of its events that declares payload fields, a field, and a value that
    cannot be printed (the refusal sentence must not ``repr`` it)."""
    name = draw(machines)
    spec = draw(st.sampled_from([e for e in MACHINES[name].spec.events if e.fields]))
    field = draw(st.sampled_from([f.name for f in spec.fields]))
    return name, spec.name, field, draw(h.dangers())


@FUZZ
@given(case=unprintable_payloads(), pair=good_snapshots())
def test_fuzz_decide_with_unprintable_payload_values(
    case: tuple[str, str, str, h.Danger], pair: tuple[Machine, Snapshot]
) -> None:
    """A declared field carrying a 5,000-digit int or a 100,000-deep value is refused."""
    name, event_name, field, danger = case
    machine = MACHINES[name]
    status = pair[1].status if pair[1].status in machine.states else machine.spec.initial
    snapshot = Snapshot(status, 0, h.T0, good_record(name))
    for actor in sorted({a for e in machine.spec.events for a in e.actors}, key=str):
        event = Event(event_name, actor, {field: h.real(danger)})
        attempt(
            "decide",
            (),
            lambda event=event: decide(machine, snapshot, event, Context(h.T0)),
            event_name,
            danger,
        )


def test_fuzz_decide_every_event_at_the_ends_of_time() -> None:
    """Every event of every machine, from every status, sent by each of its actors, at
    ``datetime.max`` and ``datetime.min`` (aware): decided, never raised on (a timer due after
    the end of time is the engine's to refuse, not an ``OverflowError``)."""
    payloads: dict[str, Any] = {
        "confirmation": "Agent",
        "size": "small",
        "reason": "credits_exhausted",
        "standing": "good",
        "image": "ghcr.io/recif/corail:2.0",
        "replicas": 2,
        "ready_replicas": 1,
        "endpoint": "http://x",
        "message": "m",
        "config": {},
    }
    for name, machine in sorted(MACHINES.items()):
        record = good_record(name)
        for status in machine.spec.state_names:
            for spec in machine.spec.events:
                payload = {f.name: payloads[f.name] for f in spec.fields if f.name in payloads}
                for actor in spec.actors:
                    event = Event(spec.name, actor, payload)
                    for end in (datetime.max, datetime.min):
                        context = Context(end.replace(tzinfo=UTC))
                        snapshot = Snapshot(status, 3, context.now, record)
                        attempt(
                            "decide",
                            (),
                            lambda m=machine, s=snapshot, e=event, c=context: decide(m, s, e, c),
                            name,
                            status,
                            spec.name,
                            end,
                        )
