"""The straight-line deciders give the answers of the generic path, on every machine.

``decide`` answers the usual case with a function generated per (event, status) from the
machine's tables (``agentfsm._fastpath``) and everything else with the generic path, which
``decide_reference`` runs alone. These tests compare the two: on arbitrary single decisions
(hypothesis), and along long seeded walks where each step is decided both ways and the walk
goes on with the answer, on Alfe, Recif and a machine defined with ``agentfsm.define``.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentfsm import (
    Actor,
    AllOf,
    ChooserSpec,
    Context,
    Event,
    EventSpec,
    FieldSpec,
    Guard,
    GuardSpec,
    Implementations,
    InvalidInput,
    Machine,
    MachineSpec,
    Not,
    Policy,
    Refusal,
    Role,
    Snapshot,
    StateSpec,
    Step,
    TransitionSpec,
    decide,
)
from agentfsm._effects import ScheduleTimer
from agentfsm._engine import decide_reference
from agentfsm._values import replacer
from agentfsm.define import define_machine, effect, event, guard, update
from agentfsm.models import ALFE, ALFE_SELF_HOSTED, RECIF, AlfeAgent, RecifAgent
from agentfsm.models._alfe import BILLING_REASONS

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
OWNER = Role("owner")


@attrs.frozen
class Job:
    gpus: int = 1
    runs: int = 0


@guard(code="no_quota", sentence="{label} needs at most eight GPUs.")
def has_quota(snapshot: Snapshot, ev: Event, context: Context) -> bool:
    return bool(snapshot.data.gpus <= 8)


@guard(code="too_early", sentence="{label} waits a minute in {status}.")
def waited(snapshot: Snapshot, ev: Event, context: Context) -> bool:
    return bool(context.now - snapshot.since >= timedelta(minutes=1))


@update
def count_run(data: Job, snapshot: Snapshot, ev: Event, context: Context) -> Job:
    return attrs.evolve(data, runs=data.runs + 1)


@update
def resize(data: Job, snapshot: Snapshot, ev: Event, context: Context) -> Job:
    return attrs.evolve(data, gpus=ev.payload["gpus"])


@effect
def announce(before: Snapshot, after: Snapshot, ev: Event, context: Context) -> list[object]:
    # A list on purpose: decide turns a builder's list into a tuple.
    return [ScheduleTimer("tick", context.now + timedelta(minutes=1))]


@effect
def nothing(before: Snapshot, after: Snapshot, ev: Event, context: Context) -> tuple[object, ...]:
    return ()


JOBS = define_machine(
    "jobs",
    statuses=["queued", "running", "paused", "done"],
    terminal=["done"],
    events=[
        event("start", by=OWNER),
        event("pause", by=[OWNER, Actor.USER]),
        event("resume", by=OWNER),
        event("resize", by=OWNER, fields={"gpus": int}),
        event("tick", by=Actor.TIMER),
        event("finish", by=Actor.SYSTEM),
    ],
    rows=[
        ("queued", "start", "running", has_quota, (count_run, announce, nothing)),
        ("running", "pause", "paused", waited),
        ("running", "pause", "running", ~waited, (nothing,)),
        ("paused", "resume", "running", has_quota | waited, (count_run,)),
        (("queued", "paused"), "resize", "=", None, (resize,)),
        ("running", "tick", "=", waited & has_quota, (announce,)),
        (("running", "paused"), "finish", "done"),
    ],
    record=Job,
)

MACHINES = (ALFE, ALFE_SELF_HOSTED, RECIF, JOBS)
OTHER_POLICY = Policy(stuck_after=timedelta(minutes=2), grace_period=timedelta(hours=1))


def _record(machine: Machine, rng: random.Random) -> Any:
    if machine is JOBS:
        return Job(gpus=rng.choice([1, 4, 9]), runs=rng.randrange(3))
    if machine is RECIF:
        return RecifAgent("agent-1")
    return AlfeAgent(
        "agent-1",
        "agent-1",
        host=rng.randrange(3),
        credentials=rng.randrange(3),
        remembered=rng.choice([None, "running", "stopped", "pending"]),
        capacity_attempts=rng.randrange(4),
        purge_at=rng.choice([None, T0, T0 + timedelta(days=40)]),
    )


def _payload(machine: Machine, name: str, rng: random.Random) -> dict[str, Any]:
    spec = machine.spec.event(name)
    payload: dict[str, Any] = {}
    for f in spec.fields:
        if not f.required and rng.random() < 0.5:
            continue
        if f.name == "confirmation":
            payload[f.name] = rng.choice(["agent-1", "someone-else"])
        elif f.name == "reason":
            payload[f.name] = rng.choice([*BILLING_REASONS, "whim"])
        elif f.name == "standing":
            payload[f.name] = rng.choice(["good", "bad"])
        elif f.kind == "int":
            payload[f.name] = rng.choice([1, 3, 12, True])
        elif f.kind == "datetime":
            payload[f.name] = T0
        elif f.kind == "bool":
            payload[f.name] = rng.random() < 0.5
        elif f.kind == "str":
            payload[f.name] = rng.choice(["small", " ", "img:2"])
        else:
            payload[f.name] = {}
    if rng.random() < 0.05:
        payload["stray"] = 1  # an unexpected field: the payload refusal
    return payload


def _event(machine: Machine, rng: random.Random, status: object = None) -> Event:
    # Mostly an event the status handles, so that the walk moves; now and then any event.
    handled = [e for e in machine.spec.events if status in machine.events[e.name].by_status]
    spec = rng.choice(handled if handled and rng.random() < 0.8 else machine.spec.events)
    roles = sorted(spec.actors, key=lambda a: a.code)
    actor = rng.choice(roles) if rng.random() < 0.9 else rng.choice(machine.roles)
    if actor == OWNER and rng.random() < 0.2:
        actor = Role("owner")  # an equal role that is another object: the generic path
    return Event(spec.name, actor, _payload(machine, spec.name, rng))


def _context(now: datetime, rng: random.Random) -> Context:
    choice = rng.random()
    policy = None if choice < 0.6 else (OTHER_POLICY if choice < 0.8 else Policy())
    return Context(now, policy)


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except InvalidInput as exc:
        return ("InvalidInput", str(exc))


def _same(fast: Any, reference: Any) -> bool:
    if fast.__class__ is not reference.__class__:
        return False
    if isinstance(fast, Step):
        return bool(
            fast.snapshot == reference.snapshot
            and fast.effects == reference.effects
            and fast.effects.__class__ is tuple
            and fast.transition is reference.transition
        )
    return bool(fast == reference)


def _walk(machine: Machine, steps: int, seed: int) -> tuple[int, int, int]:
    """(mismatches, accepted, refused) along a seeded walk of ``steps`` decisions."""
    rng = random.Random(seed)
    agents = [machine.initial(_record(machine, rng), T0) for _ in range(20)]
    now = T0
    mismatches = accepted = refused = 0
    for _ in range(steps):
        now += timedelta(seconds=rng.choice([0, 0, 1, 30, 400, 4000]))
        context = _context(now, rng)
        for _ in range(rng.choice([1, 1, 3])):  # several events with one context, as a batch
            i = rng.randrange(len(agents))
            ev = _event(machine, rng, agents[i].status)
            fast = _outcome(decide, machine, agents[i], ev, context)
            reference = _outcome(decide_reference, machine, agents[i], ev, context)
            if not _same(fast, reference):
                mismatches += 1
            if isinstance(fast, Step):
                accepted += 1
                agents[i] = fast.snapshot
            else:
                refused += 1
            ended = machine.spec.state(agents[i].status).terminal
            if rng.random() < (0.2 if ended else 0.01):  # now and then an agent starts over
                agents[i] = machine.initial(_record(machine, rng), now)
    return mismatches, accepted, refused


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_a_long_walk_decides_alike_on_both_paths(machine: Machine) -> None:
    mismatches, accepted, refused = _walk(machine, 6_000, seed=14)
    assert mismatches == 0
    # The walk exercised both outcomes in earnest.
    assert accepted > 500
    assert refused > 500


_STATUSES = st.one_of(
    st.sampled_from(sorted({s for m in MACHINES for s in m.states})),
    st.sampled_from(["", "Running", ("running",), None, 3]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    machine=st.sampled_from(MACHINES),
    status=_STATUSES,
    version=st.sampled_from([0, 7, True, "1", None]),
    since=st.sampled_from([T0, T0 - timedelta(hours=3), datetime(2026, 4, 3), None, "T0"]),
    seed=st.integers(0, 2**32),
    age=st.sampled_from([timedelta(0), timedelta(seconds=59), timedelta(minutes=20)]),
    foreign=st.booleans(),
)
def test_any_single_decision_is_alike_on_both_paths(
    machine: Machine,
    status: Any,
    version: Any,
    since: Any,
    seed: int,
    age: timedelta,
    foreign: bool,
) -> None:
    rng = random.Random(seed)
    data = (Job() if machine is not JOBS else AlfeAgent("a", "a")) if foreign else None
    data = data if data is not None else _record(machine, rng)
    snapshot = Snapshot(status, version, since, data)
    ev = _event(machine, rng, status if isinstance(status, str) else None)
    context = _context(T0 + age, rng)
    fast = _outcome(decide, machine, snapshot, ev, context)
    reference = _outcome(decide_reference, machine, snapshot, ev, context)
    assert _same(fast, reference), (fast, reference)


def test_regression_a_status_holding_an_unhashable_value_is_refused_not_raised() -> None:
    class Unhashable:
        def __hash__(self) -> int:
            raise RuntimeError("no hash")

    snapshot = Snapshot((Unhashable(),), 1, T0, AlfeAgent("a", "a"))  # type: ignore[arg-type]
    for actor in Actor:  # an allowed sender and refused ones alike
        refusal = decide(ALFE_SELF_HOSTED, snapshot, Event("setup_complete", actor), Context(T0))
        assert isinstance(refusal, Refusal)
        assert refusal.code == "unknown_status"


def test_a_timer_kept_for_one_context_is_not_given_for_the_next() -> None:
    agent = ALFE.initial(AlfeAgent("a", "a", host=1, credentials=1), T0)
    agent = agent._replace(status="provisioning")
    host_up = Event("host_up", Actor.SYSTEM)
    first = Context(T0)
    later = Context(T0 + timedelta(minutes=3))
    one = decide(ALFE, agent, host_up, first)
    again = decide(ALFE, agent, host_up, first)
    other = decide(ALFE, agent, host_up, later)
    assert isinstance(one, Step)
    assert isinstance(again, Step)
    assert isinstance(other, Step)
    timers = [
        [e.at for e in step.effects if isinstance(e, ScheduleTimer)] for step in (one, again, other)
    ]
    assert timers[0] == timers[1] == [T0 + ALFE.policy.boot_timeout]
    assert timers[2] == [later.now + ALFE.policy.boot_timeout]


def test_a_record_copy_is_the_frozen_record_itself() -> None:
    copy = replacer(AlfeAgent, "host", "credentials")
    before = AlfeAgent("a", "b", size="large", remembered="running")
    after = copy(before, 4, 5)
    assert after.__class__ is AlfeAgent
    assert after == attrs.evolve(before, host=4, credentials=5)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        after.host = 6  # type: ignore[misc]


def test_a_record_with_a_weak_reference_slot_is_still_copied() -> None:
    @attrs.frozen(slots=True)  # the default keeps a __weakref__ slot: no twin can stand in
    class Weak:
        a: int = 0
        b: str = "x"

    after = replacer(Weak, "a")(Weak(1, "y"), 2)
    assert after.__class__ is Weak
    assert after == Weak(2, "y")


# A machine with what the shipped models lack: two guarded rows for one (event, status) in
# either order of plain and compound guards, and a chooser row that re-enters its status.


@attrs.frozen
class Flags:
    a: bool = False
    b: bool = False
    pick: str = "busy"


def _flags_machine() -> Machine:
    spec = MachineSpec(
        name="flags",
        initial="idle",
        states=(StateSpec("idle"), StateSpec("busy"), StateSpec("held")),
        events=(
            EventSpec("go", frozenset({Actor.USER}), "Go"),
            EventSpec("run", frozenset({Actor.USER}), "Run"),
            EventSpec("again", frozenset({Actor.USER}), "Again"),
            EventSpec("size", frozenset({Actor.USER}), "Size", fields=(FieldSpec("n", "int"),)),
            EventSpec(
                "until", frozenset({Actor.USER}), "Until", fields=(FieldSpec("at", "datetime"),)
            ),
        ),
        guards=(
            GuardSpec("a", "no_a", "{label} needs a."),
            GuardSpec("b", "no_b", "{label} needs b."),
        ),
        choosers=(ChooserSpec("pick", ("busy", "held")),),
        transitions=(
            # "go": a compound first row, then a plain one.
            TransitionSpec("go", "idle", "busy", guard=AllOf((Guard("a"), Not(Guard("b"))))),
            TransitionSpec("go", "idle", "held", guard=Guard("b")),
            # "run": a plain first row, then a compound one.
            TransitionSpec("run", "idle", "held", guard=Guard("b")),
            TransitionSpec("run", "idle", "busy", guard=AllOf((Guard("a"), Not(Guard("b"))))),
            TransitionSpec("again", "busy", chooser="pick", reenter=True),
            TransitionSpec("size", "idle"),
            TransitionSpec("until", "idle"),
        ),
    )
    impl = Implementations(
        guards={"a": lambda s, e, c: s.data.a, "b": lambda s, e, c: s.data.b},
        choosers={"pick": lambda s, e, c: s.data.pick},
    )
    return Machine(spec, impl)


FLAGS = _flags_machine()


def _both(snapshot: Snapshot, ev: Event) -> Step | Refusal:
    fast = decide(FLAGS, snapshot, ev, Context(T0))
    reference = decide_reference(FLAGS, snapshot, ev, Context(T0))
    assert _same(fast, reference), (fast, reference)
    return fast


@pytest.mark.parametrize("name", ["go", "run"])
def test_when_every_row_fails_the_first_rows_reason_is_the_answer(name: str) -> None:
    refused = _both(Snapshot("idle", 1, T0, Flags()), Event(name, Actor.USER))
    assert isinstance(refused, Refusal)
    assert refused.code == ("no_a" if name == "go" else "no_b")


@pytest.mark.parametrize("name", ["go", "run"])
@pytest.mark.parametrize(("flags", "target"), [(Flags(a=True), "busy"), (Flags(b=True), "held")])
def test_the_row_whose_guards_pass_is_taken_whichever_comes_first(
    name: str, flags: Flags, target: str
) -> None:
    step = _both(Snapshot("idle", 1, T0, flags), Event(name, Actor.USER))
    assert isinstance(step, Step)
    assert step.snapshot.status == target


def test_a_re_entering_chooser_row_restarts_since_even_when_it_stays() -> None:
    before = Snapshot("busy", 3, T0 - timedelta(hours=1), Flags(pick="busy"))
    step = _both(before, Event("again", Actor.USER))
    assert isinstance(step, Step)
    assert step.snapshot.status == "busy"
    assert step.snapshot.since == T0
    moved = _both(before._replace(data=Flags(pick="held")), Event("again", Actor.USER))
    assert isinstance(moved, Step)
    assert (moved.snapshot.status, moved.snapshot.since) == ("held", T0)


@pytest.mark.parametrize(
    ("name", "payload"),
    [("size", {}), ("size", {"n": "3"}), ("until", {"at": datetime(2026, 4, 3)}), ("until", {})],
)
def test_a_payload_the_fields_refuse_is_refused_on_the_fast_path_too(
    name: str, payload: dict[str, Any]
) -> None:
    refused = _both(Snapshot("idle", 1, T0, Flags()), Event(name, Actor.USER, payload))
    assert isinstance(refused, Refusal)
    assert refused.code == "invalid_payload"
    accepted = {"size": {"n": 3}, "until": {"at": T0}}[name]
    assert isinstance(
        _both(Snapshot("idle", 1, T0, Flags()), Event(name, Actor.USER, accepted)), Step
    )


def test_a_since_whose_zone_gives_no_offset_is_refused_when_a_guard_reads_it() -> None:
    import datetime as dt

    class NoOffset(dt.tzinfo):
        def utcoffset(self, when: datetime | None) -> None:
            return None

    since = datetime(2026, 4, 3, 9, 0, tzinfo=NoOffset())  # tzinfo set, yet naive
    snapshot = Snapshot("running", 1, since, Job())
    for fn in (decide, decide_reference):
        refused = fn(JOBS, snapshot, Event("pause", OWNER), Context(T0))
        assert isinstance(refused, Refusal)
        assert refused.code == "invalid_snapshot"


class _RenamedSince(Snapshot):  # type: ignore[misc]
    """A subclass whose ``since`` is not the tuple's third item: attributes are the truth."""

    @property
    def since(self) -> datetime:  # type: ignore[override]
        return T0 - timedelta(hours=1)


def test_a_snapshot_subclass_is_decided_by_its_attributes_on_both_paths() -> None:
    # The straight-line deciders read an exact Snapshot's fields by position; a subclass,
    # which may define its fields otherwise, must get the generic path's answer.
    record = AlfeAgent("a", "a", deleted_at=T0 - timedelta(hours=2), purge_at=T0)
    deleted = _RenamedSince("deleted", 3, T0, record)
    purge = Event("purge", Actor.TIMER)
    context = Context(T0 + timedelta(minutes=1))
    fast = decide(ALFE, deleted, purge, context)
    reference = decide_reference(ALFE, deleted, purge, context)
    assert _same(fast, reference), (fast, reference)
    # Purging stays in deleted: the new snapshot keeps the ``since`` attribute, not the item.
    assert isinstance(fast, Step)
    assert fast.snapshot.since == T0 - timedelta(hours=1)
    assert decide(ALFE, Snapshot(*deleted), purge, context).snapshot.since == T0  # type: ignore[union-attr]
