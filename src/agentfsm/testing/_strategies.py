"""Hypothesis strategies for any machine: payloads, events, event streams, walks, snapshots.

Payload values come from each field's declared kind, refined by *hints*: a mapping from field
name to a function of the current snapshot returning a strategy. Hints let a confirmation be the
agent's own name half the time, or replicas cluster around the 1–10 bound, so guards are
exercised both ways. The default hints cover the shipped models' fields; pass your own for yours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from agentfsm._engine import decide
from agentfsm._machine import Machine
from agentfsm._spec import EventSpec, FieldSpec
from agentfsm._values import AnyRole, Context, Event, RecordT, Snapshot, Step

Hint = Callable[[Snapshot], st.SearchStrategy[Any]]
"""A function of the current snapshot giving the strategy for one payload field."""

START = datetime(2026, 1, 1, tzinfo=UTC)
"""Where generated clocks start, unless told otherwise."""


def _name_or_noise(s: Snapshot) -> st.SearchStrategy[Any]:
    name = getattr(s.data, "name", None)
    noise = st.text(max_size=8)
    return st.one_of(st.just(name), noise) if isinstance(name, str) else noise


DEFAULT_HINTS: Mapping[str, Hint] = {
    "confirmation": _name_or_noise,
    "reason": lambda s: st.sampled_from(
        (
            "payment_issue",
            "credits_exhausted",
            "subscription_lapsed",
            "CrashLoopBackOff",
            "ImagePullBackOff",
            "bogus",
            "",
        )
    ),
    "standing": lambda s: st.sampled_from(("good", "overdue")),
    "replicas": lambda s: st.integers(-1, 12),
    "ready_replicas": lambda s: st.integers(0, 3),
    "image": lambda s: st.sampled_from(("corail:1", "corail:2", "")),
    "size": lambda s: st.sampled_from(("small", "large")),
}
"""Hints for the shipped models' payload fields."""


def _by_kind(field: FieldSpec) -> st.SearchStrategy[Any]:
    if field.kind == "int":
        return st.integers(-5, 20)
    if field.kind == "bool":
        return st.booleans()
    if field.kind == "datetime":
        return st.datetimes(timezones=st.just(UTC))
    if field.kind == "mapping":
        return st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3)
    return st.text(max_size=12)


def payloads(
    event: EventSpec, snapshot: Snapshot, hints: Mapping[str, Hint] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Well-typed payloads for ``event``: every required field, optional ones sometimes."""
    hints = DEFAULT_HINTS if hints is None else {**DEFAULT_HINTS, **hints}

    def value(f: FieldSpec) -> st.SearchStrategy[Any]:
        return hints[f.name](snapshot) if f.name in hints else _by_kind(f)

    required = {f.name: value(f) for f in event.fields if f.required}
    optional = {f.name: value(f) for f in event.fields if not f.required}
    return st.fixed_dictionaries(required, optional=optional)


def _junk_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True),
        st.text(max_size=5),
        st.lists(st.integers(), max_size=2),
        st.datetimes(),  # naive: must be refused where an aware one is needed
    )


def events(
    machine: Machine,
    snapshot: Snapshot,
    *,
    actors: tuple[AnyRole, ...] | None = None,
    hints: Mapping[str, Hint] | None = None,
    valid: bool = True,
) -> st.SearchStrategy[Event]:
    """Events of ``machine``, with their actors and payloads.

    Args:
        snapshot: the agent the events are for (hints may read it).
        actors: restrict the senders; default: any actor, so refusals are generated too.
        valid: when false, payloads may also be ill-typed or carry unexpected fields, and unknown
            event names appear.
    """
    specs = machine.spec.events
    sender = st.sampled_from(actors or machine.roles)

    def build(spec: EventSpec) -> st.SearchStrategy[Event]:
        good = payloads(spec, snapshot, hints)
        if not valid:
            bad = st.dictionaries(
                st.sampled_from(("x", *(f.name for f in spec.fields))), _junk_values()
            )
            good = st.one_of(good, bad)
        return st.builds(Event, st.just(spec.name), sender, good)

    known = st.sampled_from(specs).flatmap(build)
    if valid:
        return known
    unknown = st.builds(Event, st.text(min_size=1, max_size=10), sender)
    return st.one_of(known, unknown)


def enabled_events(
    machine: Machine, snapshot: Snapshot, hints: Mapping[str, Hint] | None = None
) -> st.SearchStrategy[Event]:
    """Events the table allows from the snapshot's status, sent by an allowed actor.

    Guards may still refuse them; that is the point of generating guard inputs both ways.
    """
    specs = [
        machine.spec.event(name)
        for name, compiled in machine.events.items()
        if snapshot.status in compiled.by_status
    ]
    if not specs:
        return st.nothing()
    return st.sampled_from(specs).flatmap(
        lambda spec: st.builds(
            Event,
            st.just(spec.name),
            st.sampled_from(sorted(spec.actors, key=lambda a: a.value)),
            payloads(spec, snapshot, hints),
        )
    )


def event_named(
    machine: Machine, snapshot: Snapshot, name: str, hints: Mapping[str, Hint] | None = None
) -> st.SearchStrategy[Event]:
    """The event ``name``, sent by one of its allowed actors, with a well-typed payload."""
    spec = machine.spec.event(name)
    return st.builds(
        Event,
        st.just(name),
        st.sampled_from(sorted(spec.actors, key=lambda a: a.value)),
        payloads(spec, snapshot, hints),
    )


def event_streams(
    machine: Machine, snapshot: Snapshot, *, max_size: int = 30
) -> st.SearchStrategy[list[Event]]:
    """Arbitrary streams of events, also invalid ones (any actor, ill-typed payloads)."""
    return st.lists(events(machine, snapshot, valid=False), max_size=max_size)


def walks(
    machine: Machine[RecordT],
    data: RecordT,
    *,
    start: datetime = START,
    max_steps: int = 25,
    hints: Mapping[str, Hint] | None = None,
) -> st.SearchStrategy[list[tuple[Event, Context, Step[RecordT]]]]:
    """Valid walks from the initial status: each element an accepted event and its step.

    Between events the clock moves on by 0 to 60 minutes, so time-based guards pass sometimes.
    """

    @st.composite
    def walk(draw: st.DrawFn) -> list[tuple[Event, Context, Step[RecordT]]]:
        snapshot = machine.initial(data, start)
        now = start
        out: list[tuple[Event, Context, Step[RecordT]]] = []
        for _ in range(draw(st.integers(0, max_steps))):
            now += timedelta(minutes=draw(st.integers(0, 60)))
            ctx = Context(now)
            candidates = enabled_events(machine, snapshot, hints)
            if candidates.is_empty:
                break
            event = draw(candidates)
            result = decide(machine, snapshot, event, ctx)
            if isinstance(result, Step):
                out.append((event, ctx, result))
                snapshot = result.snapshot
        return out

    return walk()


def snapshots(
    machine: Machine[RecordT], data: RecordT, *, start: datetime = START, max_steps: int = 25
) -> st.SearchStrategy[Snapshot[RecordT]]:
    """Snapshots reachable from the initial status by a valid walk."""
    initial = machine.initial(data, start)
    return walks(machine, data, start=start, max_steps=max_steps).map(
        lambda w: w[-1][2].snapshot if w else initial
    )
