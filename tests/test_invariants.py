"""The invariants: each one as a property over random event streams through the real engine and
real guards, and each one shown to catch a forged transition that breaks it."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, Phase, example, find, given, settings
from hypothesis import strategies as st

from agentfsm import Actor, Context, Event, Machine, Refusal, Snapshot, Step, decide
from agentfsm.analysis import (
    ALFE_INVARIANTS,
    ALFE_SELF_HOSTED_INVARIANTS,
    BUILTIN_INVARIANTS,
    RECIF_INVARIANTS,
    Invariant,
    invariant,
    invariants_for,
    register_invariants,
)
from agentfsm.effects import AgentDeleted, Emit
from agentfsm.models import (
    ALFE,
    ALFE_IMPLEMENTATIONS,
    ALFE_SELF_HOSTED,
    MACHINES,
    RECIF,
    AlfeAgent,
    RecifAgent,
    derive_conditions,
)
from tests.machines import IDLE_TIMEOUT_SPEC, LAMP_IMPLEMENTATIONS, LAMP_SPEC, MISPHASED_RECIF

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
NAME = "my-agent"

# ---------------------------------------------------------------------------------------------
# Random event streams: mostly well-formed (so walks get deep), sometimes anything at all.

_JUNK = st.dictionaries(
    st.text(max_size=6),
    st.one_of(st.none(), st.booleans(), st.integers(-3, 20), st.text(max_size=6)),
    max_size=2,
)

_ALFE_PAYLOADS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "recreate": st.fixed_dictionaries(
        {"confirmation": st.sampled_from([NAME, NAME.upper(), "", 7])},
        optional={"size": st.sampled_from(["small", "large"])},
    ),
    "billing_suspend": st.fixed_dictionaries(
        {"reason": st.sampled_from(["payment_issue", "credits_exhausted", "fraud", ""])}
    ),
    "billing_resume": st.fixed_dictionaries({"standing": st.sampled_from(["good", "overdue"])}),
}

_RECIF_PAYLOADS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "pods_ready": st.fixed_dictionaries(
        {"ready_replicas": st.integers(-1, 3)},
        optional={"endpoint": st.just("http://support-agent:8000")},
    ),
    "pods_unhealthy": st.fixed_dictionaries(
        {"reason": st.sampled_from(["CrashLoopBackOff", "ImagePullBackOff", "", " "])}
    ),
    "update_config": st.fixed_dictionaries(
        {},
        optional={
            "config": st.one_of(
                st.dictionaries(st.sampled_from(["model", "tools"]), st.just("x"), max_size=2),
                st.just({"model": 3}),
            ),
            "image": st.sampled_from(["corail:v2", "", "corail:v3"]),
        },
    ),
    "scale": st.fixed_dictionaries(
        {"replicas": st.one_of(st.integers(-1, 12), st.booleans(), st.just("3"))}
    ),
    "start_canary": st.fixed_dictionaries({"image": st.sampled_from(["corail:v3", "", " "])}),
}

_PAYLOADS = {"alfe": _ALFE_PAYLOADS, "alfe-self-hosted": _ALFE_PAYLOADS, "recif": _RECIF_PAYLOADS}

_INITIAL_DATA: dict[str, Callable[[], Any]] = {
    "alfe": lambda: AlfeAgent(agent_id="ag-1", name=NAME),
    "alfe-self-hosted": lambda: AlfeAgent(agent_id="ag-2", name=NAME),
    "recif": lambda: RecifAgent(slug="support-agent"),
}

# Clock advances chosen around the model's limits (stuck 10 min, boot 5, recovery 15, grace 30 d).
_ADVANCES = st.sampled_from(
    [timedelta(minutes=m) for m in (0, 0.5, 6, 11, 16)] + [timedelta(days=31)]
)

Move = tuple[Event, timedelta]


def _step_payload(machine: Machine, name: str) -> st.SearchStrategy[dict[str, Any]]:
    return _PAYLOADS[machine.name].get(name, st.just({}))


def _leads_on(machine: Machine, status: str, event: str) -> bool:
    """True when ``event`` has a row from ``status`` into a status that is not terminal.

    Streams favour these, or they would mostly end early in a terminal status (Delete is
    offered almost everywhere); terminal statuses are still reached by the other draws.
    """
    terminal = {s.name for s in machine.spec.states if s.terminal}
    rows = machine.events[event].by_status.get(status, ())
    return any(row.target not in terminal or row.chooser for row in rows)


@st.composite
def walks(draw: st.DrawFn, machine: Machine, max_size: int = 40) -> list[Move]:
    """Random event streams for ``machine``, with the actor, payload and clock advance of each.

    Most events are drawn among those the current status has a row for, sent by an allowed
    actor, and among those mostly the ones few statuses have (not Delete or a billing
    suspension, which would end most streams early), so streams get deep; the rest are anything
    at all (unknown events, wrong actors, junk payloads). The stream is run through the real
    engine as it is drawn, to know the current status; ``run_walk`` replays it.
    """
    spec = machine.spec
    names = [e.name for e in spec.events]
    snapshot = machine.initial(_INITIAL_DATA[machine.name](), T0)
    now = T0
    walk: list[Move] = []
    for _ in range(draw(st.integers(0, max_size))):
        well_formed, advance = draw(st.tuples(st.integers(0, 9), _ADVANCES))
        handled = [n for n in names if _leads_on(machine, snapshot.status, n)]
        local = [n for n in handled if len(machine.events[n].by_status) <= len(spec.states) // 2]
        if well_formed < 5 and local:
            name = draw(st.sampled_from(local))
        elif well_formed < 7 and handled:
            name = draw(st.sampled_from(handled))
        else:
            name = draw(st.sampled_from([*names, "teleport"]))
        allowed = [a for a in Actor if name in machine.events and a in machine.events[name].actors]
        if well_formed > 0 and allowed:
            actor = draw(st.sampled_from(allowed))
            payload = draw(_step_payload(machine, name))
        else:
            actor = draw(st.sampled_from(list(Actor)))
            payload = draw(st.one_of(_step_payload(machine, name), _JUNK))
        event = Event(name, actor, payload)
        now += advance
        result = decide(machine, snapshot, event, Context(now))
        if isinstance(result, Step):
            snapshot = result.snapshot
        walk.append((event, advance))
    return walk


def _plain(value: object) -> Hashable:
    """A deep, comparable copy (deepcopy cannot copy the read-only mappings in the data)."""
    if attrs.has(type(value)):
        fields = attrs.fields(type(value))
        return (type(value).__name__, *(_plain(getattr(value, f.name)) for f in fields))
    if isinstance(value, Mapping):
        return tuple(sorted((k, _plain(v)) for k, v in value.items()))
    if isinstance(value, tuple | list):
        return tuple(_plain(v) for v in value)
    assert isinstance(value, Hashable)
    return value


def run_walk(machine: Machine, walk: list[Move], invariants: tuple[Invariant, ...]) -> Snapshot:
    """Drive ``walk`` through the real engine, checking ``invariants`` on every event."""
    snapshot = machine.initial(_INITIAL_DATA[machine.name](), T0)
    now = T0
    history: list[str] = []
    for event, advance in walk:
        now += advance
        context = Context(now)
        held, fingerprint = snapshot, _plain(snapshot)
        result = decide(machine, snapshot, event, context)
        history.append(f"{event.name} by {event.actor.label} {dict(event.payload)} at +{now - T0}")
        for inv in invariants:
            message = inv.check(snapshot, event, result, machine, context)
            assert message is None, f"{inv.name}: {message}\n  after: " + "\n  ".join(history)
        if isinstance(result, Refusal):
            # A refused event changes nothing: the snapshot held is the same, unchanged object.
            assert snapshot is held
            assert _plain(snapshot) == fingerprint, f"refused {event.name!r} changed the snapshot"
        else:
            assert isinstance(result, Step)
            snapshot = result.snapshot
    return snapshot


_CASES = [(name, inv) for name, m in MACHINES.items() for inv in invariants_for(m)]


@pytest.mark.parametrize(("machine_name", "inv"), _CASES, ids=[f"{m}:{i.name}" for m, i in _CASES])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_each_invariant_holds_on_random_event_streams(
    machine_name: str, inv: Invariant, data: st.DataObject
) -> None:
    machine = MACHINES[machine_name]
    run_walk(machine, data.draw(walks(machine)), (inv,))


@pytest.mark.parametrize("machine_name", sorted(MACHINES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_all_invariants_hold_together_on_long_streams(
    machine_name: str, data: st.DataObject
) -> None:
    machine = MACHINES[machine_name]
    run_walk(machine, data.draw(walks(machine, max_size=60)), invariants_for(machine))


@pytest.mark.parametrize("machine", list(MACHINES.values()), ids=list(MACHINES))
def test_random_streams_reach_every_status(machine: Machine) -> None:
    # The properties above are only as good as the streams: show that they visit every status.
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(walk=walks(machine))
    def explore(walk: list[Move]) -> None:
        snapshot = machine.initial(_INITIAL_DATA[machine.name](), T0)
        now = T0
        for event, advance in walk:
            now += advance
            result = decide(machine, snapshot, event, Context(now))
            if isinstance(result, Step):
                snapshot = result.snapshot
                seen.add(snapshot.status)

    explore()
    assert set(machine.spec.state_names) - seen - {machine.spec.initial} == set()


# ---------------------------------------------------------------------------------------------
# Each invariant catches a transition that breaks it (forged: the shipped models never do).


def _alfe(status: str, **data: Any) -> Snapshot:
    return Snapshot(status, 3, T0, AlfeAgent(agent_id="ag-1", name=NAME, **data))


def _recif(status: str, **data: Any) -> Snapshot:
    agent = RecifAgent(slug="support-agent", **data)
    conditions = derive_conditions(status, agent.generation, T0, (), agent.last_reason)
    return Snapshot(status, 3, T0, attrs.evolve(agent, conditions=conditions))


def _step(machine: Machine, before: Snapshot, status: str, **changes: Any) -> Step:
    effects = changes.pop("effects", ())
    data = attrs.evolve(before.data, **changes)
    since = before.since if status == before.status else T0 + timedelta(minutes=1)
    row = machine.spec.transitions[0]
    return Step(Snapshot(status, before.version + 1, since, data), effects, row)


def _ev(name: str, actor: Actor = Actor.USER, **payload: Any) -> Event:
    return Event(name, actor, payload)


S, T = Actor.SYSTEM, Actor.TIMER
_RUNNING = _alfe("running", host=1, credentials=1)
_SUSPENDED = _alfe("billing_suspended", host=1, credentials=1, remembered="stopped")
_DELETED = _alfe("deleted", deleted_at=T0, purge_at=T0)
_R_RUNNING = _recif("Running", ready_replicas=1)

_BROKEN: list[tuple[str, Machine, Snapshot, Event, Callable[[Snapshot], Step | Refusal]]] = [
    ("alfe-1", ALFE, _DELETED, _ev("purge", T), lambda b: _step(ALFE, b, "pending")),
    ("alfe-1", ALFE, _DELETED, _ev("purge", T), lambda b: _step(ALFE, b, "deleted", host=4)),
    ("alfe-2", ALFE, _RUNNING, _ev("connected", S), lambda b: _step(ALFE, b, "running", name="x")),
    ("alfe-2", ALFE, _RUNNING, _ev("host_up", S), lambda b: _step(ALFE, b, "running", host=2)),
    ("alfe-2", ALFE, _RUNNING, _ev("recreate"), lambda b: _step(ALFE, b, "provisioning")),
    ("alfe-3", ALFE, _RUNNING, _ev("restart"), lambda b: _step(ALFE, b, "rebooting", host=2)),
    ("alfe-4", ALFE, _RUNNING, _ev("connection_lost", S), lambda b: _step(ALFE, b, "stopping")),
    ("alfe-5", ALFE, _RUNNING, _ev("stop"), lambda b: _step(ALFE, b, "billing_suspended")),
    ("alfe-5", ALFE, _SUSPENDED, _ev("start"), lambda b: _step(ALFE, b, "starting")),
    (
        "alfe-5",
        ALFE,
        _SUSPENDED,
        _ev("billing_resume", S, standing="good"),
        lambda b: _step(ALFE, b, "starting", remembered=None),
    ),
    (
        "alfe-5",
        ALFE,
        _RUNNING,
        _ev("billing_suspend", S, reason="payment_issue"),
        lambda b: _step(ALFE, b, "billing_suspended", remembered="stopped"),
    ),
    (
        "alfe-6",
        ALFE,
        _RUNNING,
        _ev("start"),
        lambda b: Refusal("not_allowed_from_status", " ", "start", "running"),
    ),
    ("alfe-7", ALFE, _RUNNING, _ev("connection_lost"), lambda b: _step(ALFE, b, "failing")),
    (
        "alfe-running-means-connected",
        ALFE,
        _alfe("failing"),
        _ev("restart"),
        lambda b: _step(ALFE, b, "running"),
    ),
    (
        "self-hosted-1",
        ALFE_SELF_HOSTED,
        _alfe("deleted"),
        _ev("setup_complete", S),
        lambda b: _step(ALFE_SELF_HOSTED, b, "active"),
    ),
    (
        "self-hosted-2",
        ALFE_SELF_HOSTED,
        _alfe("active"),
        _ev("restart"),
        lambda b: _step(ALFE_SELF_HOSTED, b, "active"),
    ),
    (
        "recif-deleted-absorbing",
        RECIF,
        _recif("Failed", last_reason="CrashLoopBackOff"),
        _ev("pods_unhealthy", S, reason="CrashLoopBackOff"),
        lambda b: _step(RECIF, b, "deleted", deleted_at=T0),
    ),
    (
        "recif-phases",
        MISPHASED_RECIF,
        _R_RUNNING,
        _ev("pods_unhealthy", S, reason="CrashLoopBackOff"),
        lambda b: _step(RECIF, b, "Failed"),
    ),
    (
        "recif-conditions",
        RECIF,
        _recif("Pending"),
        _ev("pods_ready", S, ready_replicas=1),
        lambda b: _step(RECIF, b, "Running", ready_replicas=1),  # conditions still Pending's
    ),
    (
        "recif-scale-bounds",
        RECIF,
        _R_RUNNING,
        _ev("scale", replicas=11),
        lambda b: _step(RECIF, b, "Running"),
    ),
    (
        "recif-pods",
        RECIF,
        _R_RUNNING,
        _ev("stop"),
        lambda b: _step(RECIF, b, "Terminated", ready_replicas=1),
    ),
    (
        "recif-spec-changes",
        RECIF,
        _R_RUNNING,
        _ev("scale", replicas=2),
        lambda b: _step(RECIF, b, "Running"),
    ),
    (
        "recif-releases",
        RECIF,
        _R_RUNNING,
        _ev("stop"),
        lambda b: _step(RECIF, b, "Running", effects=(Emit(AgentDeleted("support-agent", T0)),)),
    ),
    (
        "step-is-well-formed",
        ALFE,
        _RUNNING,
        _ev("connection_lost", S),
        lambda b: _step(ALFE, b, "levitating"),
    ),
    (
        "only-listed-actors",
        ALFE,
        _RUNNING,
        _ev("connection_lost", Actor.USER),
        lambda b: _step(ALFE, b, "failing"),
    ),
    ("terminal-states-absorb", ALFE, _DELETED, _ev("purge", T), lambda b: _step(ALFE, b, "failed")),
    (
        "offered-agrees-with-decide",
        ALFE,
        _alfe("failed"),
        _ev("restart"),
        lambda b: _step(ALFE, b, "rebooting"),
    ),
    (
        "decide-returns-a-verdict",
        ALFE,
        _RUNNING,
        _ev("start"),
        lambda b: Refusal("", "", "start", "running"),
    ),
    (
        "refusal-changes-nothing",
        ALFE,
        _alfe("stopped"),
        _ev("start"),
        lambda b: Refusal("not_allowed_from_status", "Stopped.", "start", "stopped"),
    ),
]

_ALL = {i.name: i for i in (*BUILTIN_INVARIANTS, *ALFE_INVARIANTS, *RECIF_INVARIANTS)}
_ALL.update({i.name: i for i in ALFE_SELF_HOSTED_INVARIANTS})


@pytest.mark.parametrize(
    ("name", "machine", "before", "event", "forge"),
    _BROKEN,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(_BROKEN)],
)
def test_each_invariant_catches_a_transition_that_breaks_it(
    name: str,
    machine: Machine,
    before: Snapshot,
    event: Event,
    forge: Callable[[Snapshot], Step | Refusal],
) -> None:
    message = _ALL[name].check(
        before, event, forge(before), machine, Context(T0 + timedelta(minutes=1))
    )
    assert message is not None
    assert message.strip()


def test_every_shipped_invariant_has_a_breaking_example() -> None:
    covered = {case[0] for case in _BROKEN}
    assert set(_ALL) <= covered


@pytest.mark.parametrize("machine", list(MACHINES.values()), ids=list(MACHINES))
def test_every_machine_gets_the_builtins_first(machine: Machine) -> None:
    invs = invariants_for(machine)
    assert invs[: len(BUILTIN_INVARIANTS)] == BUILTIN_INVARIANTS
    names = [i.name for i in invs]
    assert len(names) == len(set(names))
    assert all(i.description for i in invs)


# ---------------------------------------------------------------------------------------------
# Declaring one's own invariant


def test_a_decorated_function_becomes_a_registered_invariant() -> None:
    @invariant("lamp-never-on-twice", machines=["lamp-for-test"])
    def never_on_twice(
        before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
    ) -> str | None:
        """A lamp that is on is not switched on again."""
        if isinstance(result, Step) and before.status == result.snapshot.status == "on":
            return "switched on twice"
        return None

    assert isinstance(never_on_twice, Invariant)
    assert never_on_twice.description == "A lamp that is on is not switched on again."
    machine = Machine(attrs.evolve(LAMP_SPEC, name="lamp-for-test"), LAMP_IMPLEMENTATIONS)
    assert never_on_twice in invariants_for(machine)
    on = Snapshot("on", 1, T0, None)
    bad = Step(Snapshot("on", 2, T0, None), (), machine.spec.transitions[0])
    assert never_on_twice.check(on, _ev("switch"), bad, machine, Context(T0)) == "switched on twice"


def test_bare_decorator_uses_the_function_name_and_takes_the_context() -> None:
    @invariant
    def clock_never_goes_back(
        before: Snapshot, event: Event, result: Step | Refusal, machine: Machine, context: Context
    ) -> str | None:
        """Nothing happens before the agent's status began."""
        return "too early" if context.now < before.since else None

    assert clock_never_goes_back.name == "clock-never-goes-back"
    snap = _alfe("running")
    refusal = Refusal("x", "y", "start", "running")
    assert clock_never_goes_back.check(snap, _ev("start"), refusal, ALFE, Context(T0)) is None
    early = Context(T0 - timedelta(seconds=1))
    assert clock_never_goes_back.check(snap, _ev("start"), refusal, ALFE, early) == "too early"


def test_a_check_with_the_wrong_arity_is_refused_at_declaration() -> None:
    with pytest.raises(TypeError, match="before, event, result, machine"):

        @invariant("bad")
        def bad(before: Snapshot) -> str | None:
            return None


def test_registering_the_same_name_twice_replaces_it() -> None:
    first = Invariant("dup", "first", lambda *a: None)
    second = Invariant("dup", "second", lambda *a: "no")
    register_invariants("dup-machine", first)
    register_invariants("dup-machine", second)
    machine = Machine(attrs.evolve(LAMP_SPEC, name="dup-machine"), LAMP_IMPLEMENTATIONS)
    own = [i for i in invariants_for(machine) if i.name == "dup"]
    assert own == [second]
    with pytest.raises(TypeError):
        register_invariants("dup-machine", "not an invariant")  # type: ignore[arg-type]


def test_the_random_streams_find_a_broken_model() -> None:
    # The same streams, on an Alfe copy whose platform stops running agents, break invariant 4.
    broken = Machine(IDLE_TIMEOUT_SPEC, ALFE_IMPLEMENTATIONS)
    alfe_4 = next(i for i in ALFE_INVARIANTS if i.name == "alfe-4")

    def breaks(walk: list[Move]) -> bool:
        try:
            run_walk(broken, walk, (alfe_4,))
        except AssertionError as failure:
            messages.append(str(failure))
            return True
        return False

    messages: list[str] = []
    no_shrinking = settings(max_examples=500, database=None, phases=[Phase.generate])
    find(walks(broken), breaks, settings=no_shrinking)
    assert messages[-1].startswith("alfe-4: the platform event 'idle_timeout' led a running")


# ---------------------------------------------------------------------------------------------
# The scale bounds and the engine's order of checks (payload before guards).

_SCALE_BOUNDS = _ALL["recif-scale-bounds"]


@settings(max_examples=40, deadline=None)
@given(
    replicas=st.one_of(st.integers(-3, 14), st.booleans(), st.none(), st.just("3")),
    extra=st.dictionaries(
        st.sampled_from(["x", "count", "replica"]),
        st.one_of(st.none(), st.integers(0, 3)),
        max_size=2,
    ),
)
@example(replicas=0, extra={"x": None})
def test_scale_bounds_hold_for_any_scale_payload(replicas: object, extra: dict[str, Any]) -> None:
    event = _ev("scale", **extra, replicas=replicas)
    ctx = Context(T0 + timedelta(minutes=1))
    result = decide(RECIF, _R_RUNNING, event, ctx)
    assert _SCALE_BOUNDS.check(_R_RUNNING, event, result, RECIF, ctx) is None


def test_regression_scale_with_an_undeclared_key_and_an_out_of_range_count() -> None:
    # The payload check runs before the guards, so the undeclared key is the reason given; the
    # invariant used to insist on replicas_out_of_range and failed the generated lifecycle test.
    event = _ev("scale", x=None, replicas=0)
    ctx = Context(T0 + timedelta(minutes=1))
    result = decide(RECIF, _R_RUNNING, event, ctx)
    assert isinstance(result, Refusal)
    assert result.code == "invalid_payload"
    assert _SCALE_BOUNDS.check(_R_RUNNING, event, result, RECIF, ctx) is None


def test_scale_bounds_refuse_invalid_payload_for_a_well_formed_out_of_range_count() -> None:
    # The exemption above is for payloads that really are bad, not a licence for the code.
    event = _ev("scale", replicas=0)
    forged = Refusal("invalid_payload", "Bad.", "scale", "Running")
    message = _SCALE_BOUNDS.check(_R_RUNNING, event, forged, RECIF, Context(T0))
    assert message is not None
    assert "invalid_payload" in message
