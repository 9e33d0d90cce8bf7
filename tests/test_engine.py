"""The engine on its own: the order of its checks, guard combinators, payload fields, ``fire``,
and a fuzz of every event of every shipped machine with arbitrary payloads.

The small machine below is built for these tests (a door with a lock); it exercises engine
features the shipped models do not all use (``AnyOf``, ``Not``, datetime and int fields,
choosers).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import event as note_outcome
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import (
    ActionSpec,
    Actor,
    AllOf,
    AnyOf,
    ChooserSpec,
    Context,
    Event,
    EventSpec,
    FieldSpec,
    Guard,
    GuardSpec,
    Implementations,
    Machine,
    MachineSpec,
    Not,
    Policy,
    Refusal,
    Snapshot,
    StateSpec,
    Step,
    TransitionRefused,
    TransitionSpec,
    decide,
    fire,
)
from agentfsm._spec import SAME
from agentfsm.models import ALFE, ALFE_SELF_HOSTED, RECIF, AlfeAgent, RecifAgent, RecifSpec

A = Actor
T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
CTX = Context(T0)


@attrs.frozen
class Door:
    code: int = 1234
    locks: int = 0
    last: str = "closed"


def _door_machine() -> Machine:
    spec = MachineSpec(
        name="door",
        initial="closed",
        states=(StateSpec("closed"), StateSpec("open"), StateSpec("locked")),
        events=(
            EventSpec("open", frozenset({A.USER}), "Open"),
            EventSpec("close", frozenset({A.USER, A.SYSTEM}), "Close"),
            EventSpec(
                "lock",
                frozenset({A.USER}),
                "Lock",
                fields=(
                    FieldSpec("code", "int"),
                    FieldSpec("until", "datetime", required=False),
                ),
            ),
            EventSpec("unlock", frozenset({A.USER}), "Unlock", fields=(FieldSpec("code", "int"),)),
            EventSpec("back", frozenset({A.TIMER}), "Back"),
        ),
        guards=(
            GuardSpec("code_ok", "wrong_code", "{label} needs the right code.", reads_input=True),
            GuardSpec("daytime", "night", "{label} is only allowed by day ({status})."),
            GuardSpec("master", "not_master", "{label} needs the master code."),
        ),
        choosers=(ChooserSpec("previous", ("closed", "open")),),
        updates=(ActionSpec("count"), ActionSpec("remember")),
        effects=(ActionSpec("note"),),
        explanations=(
            ("*", "open", "Only a closed door opens."),
            ("*", "close", "Only an open door closes."),
            ("*", "lock", "Only a closed door locks."),
            ("*", "unlock", "Only a locked door unlocks."),
        ),
        transitions=(
            TransitionSpec("open", "closed", "open", guard=Not(Guard("daytime"))),
            TransitionSpec("close", "open", "closed", effects="note"),
            TransitionSpec(
                "lock",
                "closed",
                "locked",
                guard=AllOf((Guard("code_ok"), Guard("daytime"))),
                updates=("count", "remember"),
                effects=("note", "note"),
            ),
            TransitionSpec(
                "unlock", "locked", "closed", guard=AnyOf((Guard("code_ok"), Guard("master")))
            ),
            TransitionSpec("back", "locked", chooser="previous"),
        ),
    )
    impl = Implementations(
        guards={
            "code_ok": lambda s, e, c: e.payload.get("code") == s.data.code,
            "daytime": lambda s, e, c: 8 <= c.now.hour < 20,
            "master": lambda s, e, c: e.payload.get("code") == 0,
        },
        updates={
            "count": lambda d, s, e, c: attrs.evolve(d, locks=d.locks + 1),
            "remember": lambda d, s, e, c: attrs.evolve(d, last=s.status),
        },
        effects={"note": lambda b, a, e, c: ((b.status, a.status, a.data.locks),)},
        choosers={"previous": lambda s, e, c: s.data.last},
    )
    return Machine(spec, impl)


DOOR = _door_machine()
NIGHT = Context(datetime(2026, 4, 3, 23, 0, tzinfo=UTC))


def door(status: str = "closed", **changes: Any) -> Snapshot:
    return Snapshot(status, 1, T0 - timedelta(minutes=5), Door(**changes))


def test_a_step_applies_updates_and_effects_in_order() -> None:
    result = decide(DOOR, door(), Event("lock", A.USER, {"code": 1234}), CTX)
    assert isinstance(result, Step)
    assert result.accepted
    assert result.snapshot == Snapshot("locked", 2, T0, Door(locks=1, last="closed"))
    assert result.effects == (("closed", "locked", 1), ("closed", "locked", 1))
    assert result.transition.event == "lock"


def test_a_chooser_picks_the_target() -> None:
    result = decide(DOOR, door("locked", last="open"), Event("back", A.TIMER), CTX)
    assert isinstance(result, Step)
    assert result.snapshot.status == "open"


def test_an_internal_transition_keeps_since() -> None:
    before = door("locked", last="locked")
    result = decide(DOOR, before, Event("back", A.TIMER), CTX)
    assert isinstance(result, Step)
    assert result.snapshot.since == before.since
    assert result.snapshot.version == before.version + 1


def test_the_first_failing_guard_of_all_of_is_the_reason() -> None:
    wrong = decide(DOOR, door(), Event("lock", A.USER, {"code": 1}), NIGHT)
    assert isinstance(wrong, Refusal)
    assert (wrong.code, wrong.guard, wrong.message) == (
        "wrong_code",
        "code_ok",
        "Lock needs the right code.",
    )
    night = decide(DOOR, door(), Event("lock", A.USER, {"code": 1234}), NIGHT)
    assert isinstance(night, Refusal)
    assert (night.code, night.message) == ("night", "Lock is only allowed by day (closed).")


def test_any_of_passes_on_any_item_and_reports_the_first() -> None:
    locked = door("locked")
    assert isinstance(decide(DOOR, locked, Event("unlock", A.USER, {"code": 1234}), CTX), Step)
    assert isinstance(decide(DOOR, locked, Event("unlock", A.USER, {"code": 0}), CTX), Step)
    refused = decide(DOOR, locked, Event("unlock", A.USER, {"code": 7}), CTX)
    assert isinstance(refused, Refusal)
    assert refused.code == "wrong_code"


def test_not_refuses_with_guard_failed() -> None:
    refused = decide(DOOR, door(), Event("open", A.USER), CTX)  # it is daytime
    assert isinstance(refused, Refusal)
    assert refused.code == "guard_failed"
    assert refused.guard == "not daytime"
    assert "Open" in refused.message
    assert isinstance(decide(DOOR, door(), Event("open", A.USER), NIGHT), Step)


def test_check_order() -> None:
    # unknown event, then actor, then payload, then status, then guards.
    bad_everything = door("open")
    unknown = decide(DOOR, bad_everything, Event("kick", A.SYSTEM, {"x": 1}), CTX)
    assert isinstance(unknown, Refusal)
    assert unknown.code == "unknown_event"
    actor = decide(DOOR, bad_everything, Event("lock", A.SYSTEM, {"x": 1}), CTX)
    assert isinstance(actor, Refusal)
    assert actor.code == "actor_not_allowed"
    payload = decide(DOOR, bad_everything, Event("lock", A.USER, {"x": 1}), CTX)
    assert isinstance(payload, Refusal)
    assert payload.code == "invalid_payload"
    status = decide(DOOR, bad_everything, Event("lock", A.USER, {"code": 1}), CTX)
    assert isinstance(status, Refusal)
    assert status.code == "not_allowed_from_status"


def test_unknown_status_is_reported_before_the_payload() -> None:
    result = decide(DOOR, door("ajar"), Event("lock", A.USER, {"code": "1234"}), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "unknown_status"


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({}, "code is required"),
        ({"code": "1234"}, "code must be a whole number"),
        ({"code": True}, "code must be a whole number"),
        ({"code": 1234, "colour": "red"}, "unexpected field 'colour'"),
        ({"code": 1234, "until": datetime(2026, 4, 4, 8, 0)}, "timezone-aware"),
        ({"code": 1234, "until": "2026-04-04T08:00:00Z"}, "timezone-aware"),
    ],
)
def test_payload_fields_are_checked(payload: dict[str, Any], problem: str) -> None:
    result = decide(DOOR, door(), Event("lock", A.USER, payload), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "invalid_payload"
    assert problem in result.message
    assert result.message.startswith("Lock ")


def test_an_aware_datetime_field_is_accepted() -> None:
    payload = {"code": 1234, "until": datetime(2026, 4, 4, 8, 0, tzinfo=UTC)}
    assert isinstance(decide(DOOR, door(), Event("lock", A.USER, payload), CTX), Step)


def test_fire_returns_the_step_or_raises_the_refusal() -> None:
    step = fire(DOOR, door(), Event("lock", A.USER, {"code": 1234}), CTX)
    assert step.snapshot.status == "locked"
    with pytest.raises(TransitionRefused) as raised:
        fire(DOOR, door(), Event("lock", A.USER, {"code": 1}), CTX)
    assert raised.value.refusal.code == "wrong_code"
    assert str(raised.value) == "[wrong_code] Lock needs the right code."


def test_one_event_serves_many_snapshots() -> None:
    event = Event("lock", A.USER, {"code": 1234})
    first, second = door(), door(locks=4)
    a = decide(DOOR, first, event, CTX)
    b = decide(DOOR, second, event, CTX)
    assert isinstance(a, Step)
    assert isinstance(b, Step)
    assert (a.snapshot.data.locks, b.snapshot.data.locks) == (1, 5)
    assert first == door()  # inputs untouched


def test_decide_has_no_clock_of_its_own() -> None:
    before = door()
    event = Event("lock", A.USER, {"code": 1234})
    assert decide(DOOR, before, event, CTX) == decide(DOOR, before, event, CTX)


def test_machine_names_itself() -> None:
    assert DOOR.name == "door"
    assert "door" in repr(DOOR)
    assert DOOR.initial(Door(), T0) == Snapshot("closed", 0, T0, Door())
    assert DOOR.initial(Door(), CTX).since == T0


# -- fuzz: every event of every machine, arbitrary payloads, never an exception -----------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.binary(max_size=4),
    st.datetimes(timezones=st.one_of(st.none(), st.just(UTC))),
    st.timedeltas(),
    st.sampled_from(["support-bot", "good", "payment_issue", "CrashLoopBackOff", " ", ""]),
)
_VALUES = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=2),
    st.dictionaries(st.text(max_size=3), _SCALARS, max_size=2),
)


# Values that pass the shipped machines' field checks and guards, so accepted steps are drawn too.
_PLAUSIBLE = st.sampled_from(
    ["support-bot", "large", "good", "payment_issue", "CrashLoopBackOff", "img:3", 1, 3, 10]
)


_CONFIGS = st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2)


def _payload(draw: st.DrawFn, spec: EventSpec) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for field in spec.fields:
        if field.required or draw(st.booleans()):
            plausible = _CONFIGS if field.kind == "mapping" else _PLAUSIBLE
            payload[field.name] = draw(st.one_of(plausible, _VALUES))
    if draw(st.integers(0, 4)) == 0:  # now and then, a field the event does not have
        payload.update(draw(st.dictionaries(st.text(max_size=6), _VALUES, max_size=1)))
    return payload


def _alfe_data(draw: st.DrawFn) -> AlfeAgent:
    deleted_at = draw(st.one_of(st.none(), st.just(T0 - timedelta(days=40))))
    return AlfeAgent(
        "agt-1",
        "support-bot",
        size=draw(st.sampled_from(["small", "large"])),
        host=draw(st.integers(0, 3)),
        credentials=draw(st.integers(0, 3)),
        remembered=draw(st.one_of(st.none(), st.sampled_from(ALFE.spec.state_names))),
        suspend_reason=draw(st.one_of(st.none(), st.just("payment_issue"))),
        capacity_attempts=draw(st.integers(0, 40)),
        deleted_at=deleted_at,
        purge_at=None if deleted_at is None else deleted_at + timedelta(days=30),
        purged_at=draw(st.one_of(st.none(), st.just(T0 - timedelta(days=1)))),
    )


def _recif_data(draw: st.DrawFn) -> RecifAgent:
    return RecifAgent(
        "support-agent",
        RecifSpec(replicas=draw(st.integers(1, 10)), config={"strategy": "react"}),
        canary=draw(st.one_of(st.none(), st.just("img:2"))),
        release_due=draw(st.booleans()),
        last_reason=draw(st.one_of(st.none(), st.just("OOMKilled"))),
    )


@st.composite
def _attempts(draw: st.DrawFn, machine: Machine) -> tuple[Snapshot, Event, Context]:
    status = draw(st.sampled_from([*machine.spec.state_names * 4, "bogus", "RUNNING", ""]))
    data = _recif_data(draw) if machine is RECIF else _alfe_data(draw)
    since = T0 - draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)))
    spec = draw(st.sampled_from(machine.spec.events))
    name = draw(st.sampled_from([spec.name] * 20 + ["reboot", "Stop"]))
    actor = draw(st.one_of(st.sampled_from(sorted(spec.actors, key=str)), st.sampled_from(A)))
    event = Event(name, actor, _payload(draw, spec))
    policy = Policy(
        stuck_after=draw(st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=1)))
    )
    return Snapshot(status, 3, since, data), event, Context(T0, policy)


@pytest.mark.parametrize("machine", [ALFE, ALFE_SELF_HOSTED, RECIF], ids=lambda m: m.name)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_arbitrary_input_gets_a_step_or_a_refusal(machine: Machine, data: st.DataObject) -> None:
    before, event, context = data.draw(_attempts(machine))
    kept = repr(before)
    result = decide(machine, before, event, context)
    assert isinstance(result, Step | Refusal)
    note_outcome("accepted" if result.accepted else f"refused: {result.code}")  # type: ignore[union-attr]
    assert repr(before) == kept
    if isinstance(result, Step):
        assert result.snapshot.version == before.version + 1
        assert result.snapshot.status in machine.states
        assert actor_may_send(machine, event)
    else:
        assert result.code
        assert result.message.strip()
        assert result.event == event.name


def actor_may_send(machine: Machine, event: Event) -> bool:
    return event.actor in machine.spec.event(event.name).actors


def test_regression_decide_names_a_malformed_event_or_context() -> None:
    from agentfsm import Context, InvalidInput, decide
    from agentfsm.models import ALFE, AlfeAgent

    snapshot = ALFE.initial(AlfeAgent("ag_1", "support-agent"), T0)
    # A str is an event's name (decide's fast path); bytes are still no event.
    with pytest.raises(InvalidInput, match="needs an Event"):
        decide(ALFE, snapshot, b"provision", Context(T0))  # type: ignore[arg-type]
    starting = snapshot._replace(status="starting")  # Start reads the clock here
    with pytest.raises(InvalidInput, match="needs a Context"):
        decide(ALFE, starting, Event("start", Actor.USER), T0)  # type: ignore[arg-type]


def test_regression_a_bug_in_a_guard_is_not_hidden_as_a_refusal() -> None:
    import attrs

    from agentfsm import Context, Implementations, Machine, decide
    from agentfsm.models import ALFE_IMPLEMENTATIONS, ALFE_SPEC, AlfeAgent

    def broken(s: object, e: object, c: object) -> bool:
        raise TypeError("a bug in the guard itself")

    impl = attrs.evolve(
        ALFE_IMPLEMENTATIONS, guards={**ALFE_IMPLEMENTATIONS.guards, "stuck": broken}
    )
    machine = Machine(
        ALFE_SPEC, Implementations(impl.guards, impl.updates, impl.effects, impl.choosers)
    )
    starting = machine.initial(AlfeAgent("ag_1", "support-agent"), T0)._replace(status="starting")
    with pytest.raises(TypeError, match="a bug in the guard itself"):
        decide(machine, starting, Event("start", Actor.USER), Context(T0))


# ---------------------------------------------------------------------------------------------
# Paths the shipped models and the door do not all take: nested guards, SAME rows, many
# effects, list-returning effect builders, malformed snapshots, optional and bool fields.

_G = {"a": "no_a", "b": "no_b", "c": "no_c"}


def _bench(guard: Any = None, **row: Any) -> Machine:
    """One status, one user event ``poke`` with the given guard; ``a``, ``b`` and ``c`` read
    the payload's flags of the same name."""
    spec = MachineSpec(
        name="bench",
        initial="idle",
        states=(StateSpec("idle"), StateSpec("busy")),
        events=(
            EventSpec(
                "poke",
                frozenset({A.USER}),
                "Poke",
                fields=(
                    FieldSpec("a", "bool", required=False),
                    FieldSpec("b", "bool", required=False),
                    FieldSpec("c", "bool", required=False),
                    FieldSpec("n", "int", required=False),
                ),
            ),
            EventSpec("done", frozenset({A.SYSTEM}), "Done"),
            EventSpec("wake", frozenset({A.SYSTEM}), "Wake"),
        ),
        guards=tuple(GuardSpec(g, code, f"{{label}} needs {g}.") for g, code in _G.items()),
        effects=(ActionSpec("one"), ActionSpec("two"), ActionSpec("many")),
        transitions=(
            TransitionSpec("poke", "idle", row.pop("target", "busy"), guard=guard, **row),
            TransitionSpec("done", "busy", "idle"),
            TransitionSpec("wake", "idle", "busy"),
        ),
        explanations=(("busy", "poke", "Busy."),),
    )
    impl = Implementations(
        guards={g: (lambda name: lambda s, e, c: bool(e.payload.get(name)))(g) for g in _G},
        effects={
            "one": lambda b, a, e, c: ("one",),
            "two": lambda b, a, e, c: ("two", "three"),
            "many": lambda b, a, e, c: ["four", "five"],  # a list, not a tuple
        },
    )
    return Machine(spec, impl)


_IDLE = Snapshot("idle", 2, T0 - timedelta(hours=1), None)


def _poke(machine: Machine, **flags: Any) -> Step | Refusal:
    return decide(machine, _IDLE, Event("poke", A.USER, flags), CTX)


_A, _B, _C = Guard("a"), Guard("b"), Guard("c")


@pytest.mark.parametrize(
    ("guard", "passing", "failing"),
    [
        (AnyOf((AllOf((_A, _B)), _C)), [{"a": True, "b": True}, {"c": True}], [{"a": True}, {}]),
        (Not(AllOf((_A, _B))), [{}, {"a": True}, {"b": True}], [{"a": True, "b": True}]),
        (Not(AnyOf((_A, _B))), [{}, {"c": True}], [{"a": True}, {"b": True}]),
        (AllOf((AnyOf((_A, _B)), Not(_C))), [{"b": True}], [{"b": True, "c": True}, {"c": True}]),
    ],
)
def test_nested_guards_combine_as_written(
    guard: Any, passing: list[dict[str, bool]], failing: list[dict[str, bool]]
) -> None:
    machine = _bench(guard)
    for flags in passing:
        assert isinstance(_poke(machine, **flags), Step), flags
    for flags in failing:
        result = _poke(machine, **flags)
        assert isinstance(result, Refusal), flags
        assert result.code in (*_G.values(), "guard_failed")  # a negation has no code of its own


def test_a_nested_guard_refusal_names_the_guard_that_failed() -> None:
    result = _poke(_bench(AllOf((AnyOf((_A, _B)), Not(_C)))), b=True, c=True)
    assert isinstance(result, Refusal)
    # The failing part is Not(c): a negated guard refuses with the generic code and names it.
    assert (result.code, result.guard) == ("guard_failed", "not c")
    assert result.message == "Poke is not allowed because c."
    missing = _poke(_bench(AllOf((AnyOf((_A, _B)), Not(_C)))))
    assert isinstance(missing, Refusal)
    assert missing.code in ("no_a", "no_b")


def test_a_row_with_the_default_target_keeps_the_status_and_its_since() -> None:
    result = _poke(_bench(target=SAME))
    assert isinstance(result, Step)
    after = result.snapshot
    assert (after.status, after.version, after.since) == ("idle", 3, _IDLE.since)


def test_every_effect_of_a_row_comes_out_in_order() -> None:
    result = _poke(_bench(effects=("one", "two", "one")))
    assert isinstance(result, Step)
    assert result.effects == ("one", "two", "three", "one")


@pytest.mark.parametrize(
    "effects", [("one", "many"), ("many", "one"), ("one", "two", "many"), ("many", "many", "one")]
)
def test_regression_a_list_from_one_of_several_effect_builders_raised_type_error(
    effects: tuple[str, ...],
) -> None:
    result = _poke(_bench(effects=effects))
    assert isinstance(result, Step)
    expected = {"one": ("one",), "two": ("two", "three"), "many": ("four", "five")}
    assert result.effects == sum((expected[name] for name in effects), ())
    assert isinstance(result.effects, tuple)


def test_an_effect_builder_returning_a_list_still_gives_a_tuple() -> None:
    result = _poke(_bench(effects="many"))
    assert isinstance(result, Step)
    assert result.effects == ("four", "five")
    assert isinstance(result.effects, tuple)


def test_a_payload_check_goes_past_a_missing_optional_field() -> None:
    result = _poke(_bench(), n="seven")  # a, b, c are optional and missing; n is bad
    assert isinstance(result, Refusal)
    assert result.code == "invalid_payload"
    assert "n must be a whole number" in result.message


@pytest.mark.parametrize(("field", "value"), [("a", 1), ("a", "yes"), ("n", True), ("n", False)])
def test_bool_and_int_fields_do_not_take_each_other(field: str, value: object) -> None:
    result = _poke(_bench(), **{field: value})
    assert isinstance(result, Refusal)
    assert result.code == "invalid_payload"


def test_a_bool_field_takes_true_and_false() -> None:
    assert isinstance(_poke(_bench(_A), a=True), Step)
    refused = _poke(_bench(_A), a=False)
    assert isinstance(refused, Refusal)
    assert refused.code == "no_a"


@pytest.mark.parametrize("since", [datetime(2026, 4, 3, 9, 0), "an hour ago"])
def test_a_malformed_snapshot_is_refused_invalid_snapshot(since: object) -> None:
    # Start on a stuck agent reads how long it has been starting: now - since.
    snapshot = Snapshot("starting", 3, since, AlfeAgent("ag-1", "bot", host=1, credentials=1))  # type: ignore[arg-type]
    result = decide(ALFE, snapshot, Event("start"), CTX)
    assert isinstance(result, Refusal)
    assert (result.code, result.event, result.status) == ("invalid_snapshot", "start", "starting")
    assert repr(since) in result.message


@attrs.frozen
class _LaterAlfeAgent(AlfeAgent):
    """A subclass of the record: still an Alfe agent."""


class _Version(int):
    """An ``int`` subclass: still a whole number."""


def test_a_record_subclass_and_an_int_subclass_version_are_decided_like_the_originals() -> None:
    plain = ALFE.initial(AlfeAgent("a", "a"), T0)
    odd = Snapshot(plain.status, _Version(plain.version), plain.since, _LaterAlfeAgent("a", "a"))
    for snapshot in (plain, odd):
        step = decide(ALFE, snapshot, Event("delete", A.USER), CTX)
        assert isinstance(step, Step), step
        assert (
            step.snapshot.status
            == decide(ALFE, plain, Event("delete", A.USER), CTX).snapshot.status
        )
        assert step.snapshot.version == plain.version + 1


def test_a_role_the_machine_does_not_know_is_refused_like_a_known_one_not_allowed() -> None:
    from agentfsm import Role

    agent = ALFE.initial(AlfeAgent("a", "a"), T0)
    known = decide(ALFE, agent, Event("delete", A.TIMER), CTX)
    stranger = decide(ALFE, agent, Event("delete", Role("stranger")), CTX)
    assert isinstance(known, Refusal)
    assert isinstance(stranger, Refusal)
    assert known.code == stranger.code == "actor_not_allowed"
    assert stranger.status == agent.status


def test_a_since_that_is_no_datetime_beside_an_unknown_status_is_refused_as_unknown_status() -> (
    None
):
    record = AlfeAgent("a", "a")
    unknown = decide(ALFE, Snapshot("nowhere", 1, "T0", record), Event("delete", A.USER), CTX)  # type: ignore[arg-type]
    known = decide(ALFE, Snapshot("running", 1, "T0", record), Event("delete", A.USER), CTX)  # type: ignore[arg-type]
    assert isinstance(unknown, Refusal)
    assert isinstance(known, Refusal)
    assert unknown.code == "unknown_status"
    assert known.code == "invalid_snapshot"


@pytest.mark.parametrize("kind", ["guard", "update", "effect", "chooser"])
def test_a_declared_name_without_an_implementation_is_named_with_its_kind(kind: str) -> None:
    from agentfsm import InvalidMachine

    spec = DOOR.spec
    impl = Implementations(
        guards={
            k: v
            for k, v in DOOR.implementations.guards.items()
            if kind != "guard" or k != "daytime"
        },
        updates={
            k: v
            for k, v in DOOR.implementations.updates.items()
            if kind != "update" or k != "count"
        },
        effects={k: v for k, v in DOOR.implementations.effects.items() if kind != "effect"},
        choosers={k: v for k, v in DOOR.implementations.choosers.items() if kind != "chooser"},
    )
    with pytest.raises(
        InvalidMachine, match=rf"{kind} '\w+' is declared but has no implementation"
    ):
        Machine(spec, impl)


def test_a_row_naming_an_undeclared_guard_is_refused_with_the_guards_name() -> None:
    from agentfsm import InvalidMachine

    rows = (
        *DOOR.spec.transitions,
        TransitionSpec("open", ("open", "locked"), guard=Guard("ghost")),
    )
    spec = attrs.evolve(DOOR.spec, transitions=rows)
    with pytest.raises(
        InvalidMachine, match="'open' from open, locked uses the undeclared guard 'ghost'"
    ):
        Machine(spec, DOOR.implementations)
