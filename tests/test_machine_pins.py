"""What ``Machine`` builds and promises, pinned one behaviour at a time: merged implementations,
new agents' snapshots, the payload field kinds word for word, refusal sentences, policy
variants and the tables compiled for each row.

The small machine here (a kettle) declares a field of every kind, so each kind's check and
sentence can be seen on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from agentfsm import (
    ActionSpec,
    Actor,
    AllOf,
    AnyOf,
    Context,
    Event,
    EventSpec,
    FieldSpec,
    Guard,
    GuardSpec,
    Implementations,
    InvalidInput,
    InvalidMachine,
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
    offered,
)

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
CTX = Context(T0)


@attrs.frozen
class Kettle:
    litres: int = 1


_FILL_FIELDS = (
    FieldSpec("litres", "int"),
    FieldSpec("brand", "str", required=False),
    FieldSpec("filtered", "bool", required=False),
    FieldSpec("at", "datetime", required=False),
    FieldSpec("extras", "mapping", required=False),
)

KETTLE_SPEC = MachineSpec(
    name="kettle",
    initial="empty",
    states=(StateSpec("empty"), StateSpec("full")),
    events=(
        EventSpec("fill", frozenset({Actor.USER}), "Fill", fields=_FILL_FIELDS),
        EventSpec("pour", frozenset({Actor.USER}), "Pour"),
    ),
    transitions=(
        TransitionSpec("fill", "empty", "full"),
        TransitionSpec("pour", "full", "empty"),
    ),
    explanations=(("full", "fill", "A full kettle takes no more."), ("empty", "pour", "Empty.")),
)

KETTLE = Machine(KETTLE_SPEC, Implementations(), record=Kettle)
EMPTY = KETTLE.initial(Kettle(), T0)


def _fill(payload: Mapping[str, Any]) -> Step | Refusal:
    return decide(KETTLE, EMPTY, Event("fill", Actor.USER, payload), CTX)


# -- Implementations.merged ------------------------------------------------------------------


def _impl(tag: str) -> Implementations:
    def fn(*_: object) -> str:
        return tag

    return Implementations(
        guards={"shared": fn, f"guard_{tag}": fn},
        updates={"shared": fn, f"update_{tag}": fn},
        effects={"shared": fn, f"effect_{tag}": fn},
        choosers={"shared": fn, f"chooser_{tag}": fn},
    )


def test_merged_implementations_keep_both_sides_of_every_kind_and_the_other_wins() -> None:
    merged = _impl("mine").merged(_impl("theirs"))
    for kind in ("guard", "update", "effect", "chooser"):
        table = getattr(merged, f"{kind}s")
        assert sorted(table) == sorted({"shared", f"{kind}_mine", f"{kind}_theirs"}), kind
        assert table["shared"]() == "theirs", kind
        assert table[f"{kind}_mine"]() == "mine", kind


# -- Machine.initial ---------------------------------------------------------------------------

_UNTIMED = Machine(KETTLE_SPEC, Implementations(), record=Kettle, timed=False)


def test_an_untimed_machines_new_agent_keeps_its_data_version_zero_and_no_since() -> None:
    data = Kettle(litres=3)
    assert _UNTIMED.initial(data) == Snapshot("empty", 0, None, data)


@pytest.mark.parametrize("now", [T0, Context(T0)])
def test_an_untimed_machine_given_the_time_records_it(now: datetime | Context) -> None:
    data = Kettle(litres=3)
    assert _UNTIMED.initial(data, now) == Snapshot("empty", 0, T0, data)


def test_a_timed_machines_new_agent_needs_the_time() -> None:
    with pytest.raises(InvalidInput):
        KETTLE.initial(Kettle())


# -- payload fields: each kind's check, word for word -----------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("litres", "two", "litres must be a whole number, not 'two'"),
        ("litres", True, "litres must be a whole number, not True"),
        ("brand", 7, "brand must be a string, not 7"),
        ("filtered", 1, "filtered must be true or false, not 1"),
        (
            "at",
            datetime(2026, 4, 3, 10, 0),
            "at must be a timezone-aware datetime, not datetime.datetime(2026, 4, 3, 10, 0)",
        ),
        ("at", "noon", "at must be a timezone-aware datetime, not 'noon'"),
        ("extras", ["a"], "extras must be a mapping, not ['a']"),
    ],
)
def test_a_field_of_the_wrong_kind_is_refused_in_words(
    name: str, value: object, words: str
) -> None:
    payload = {"litres": 2, name: value}
    result = _fill(payload)
    assert isinstance(result, Refusal)
    assert result.code == "invalid_payload"
    assert result.message == f"Fill was sent with a bad payload: {words}."


class _Litres(int):
    """An ``int`` subclass: a whole number, though not of the exact type."""


class _Extras(Mapping[str, object]):
    """A mapping that is not a ``dict``."""

    def __getitem__(self, key: str) -> object:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class _Brand(str):
    """A ``str`` subclass: a string, though not of the exact type."""


# Values of every kind that fit, of exact and of other types: an aware datetime in another zone,
# an int subclass, a mapping that is no dict.
_GOOD = {
    "litres": _Litres(2),
    "brand": _Brand("acme"),
    "filtered": False,
    "at": datetime(2026, 4, 3, 12, 0, tzinfo=timezone(timedelta(hours=2))),
    "extras": _Extras(),
}


def test_fields_of_every_kind_that_fit_are_accepted() -> None:
    assert isinstance(_fill(_GOOD), Step)
    assert isinstance(_fill({"litres": 2, "brand": "acme", "filtered": True, "extras": {}}), Step)


def test_beside_an_unexpected_field_only_that_field_is_named() -> None:
    # The full check looks at every field: fitting values of every kind must not be named.
    for good in (_GOOD, {"litres": 2, "brand": "acme", "filtered": True, "at": T0, "extras": {}}):
        result = _fill({**good, "colour": "red"})
        assert isinstance(result, Refusal)
        assert result.message == "Fill was sent with a bad payload: unexpected field 'colour'."


# -- building a machine: bad arguments, names, strictness -------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"record": "Kettle"}, "record must be a class, not 'Kettle'"),
        ({"policy": 30}, "policy must be a Policy, not 30"),
    ],
)
def test_a_record_that_is_no_class_or_a_policy_that_is_no_policy_is_refused_in_words(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        Machine(KETTLE_SPEC, Implementations(), **change)
    assert str(info.value) == message


def test_an_unresolved_name_is_reported_with_the_machines_name_and_every_problem() -> None:
    spec = attrs.evolve(
        KETTLE_SPEC,
        transitions=(
            *KETTLE_SPEC.transitions,
            TransitionSpec("pour", ("full", "empty"), updates="count", effects="whistle"),
            TransitionSpec("pour", "full", chooser="pick"),
        ),
    )
    with pytest.raises(InvalidMachine) as info:
        Machine(spec, Implementations())
    assert info.value.machine == "kettle"
    assert info.value.problems == (
        "transition 'pour' from full, empty uses the undeclared update 'count': add an ActionSpec",
        "transition 'pour' from full, empty uses the undeclared effect 'whistle': "
        "add an ActionSpec",
        "transition 'pour' from full uses the undeclared chooser 'pick'",
    )


# The kettle with a user action ('pour') neither handled nor explained in 'empty'.
_LAX = attrs.evolve(KETTLE_SPEC, explanations=KETTLE_SPEC.explanations[:1])


def test_strict_given_to_the_machine_overrides_the_specs() -> None:
    assert _LAX.strict is False
    assert Machine(_LAX, Implementations()).strict is False
    with pytest.raises(InvalidMachine, match="'pour' is neither handled nor explained"):
        Machine(_LAX, Implementations(), strict=True)
    strict_spec = attrs.evolve(_LAX, strict=True)
    with pytest.raises(InvalidMachine, match="'pour' is neither handled nor explained"):
        Machine(strict_spec, Implementations())
    relaxed = Machine(strict_spec, Implementations(), strict=False)
    assert relaxed.strict is False
    assert Machine(KETTLE_SPEC, Implementations(), strict=1).strict is True  # type: ignore[arg-type]


def test_a_machine_is_timed_unless_told_otherwise() -> None:
    assert KETTLE.timed is True
    assert Machine(KETTLE_SPEC, Implementations(), timed=0).timed is False  # type: ignore[arg-type]
    # A timed machine takes no snapshot without a time; an untimed one does.
    unset = EMPTY._replace(since=None)
    refused = decide(KETTLE, unset, Event("fill", Actor.USER, {"litres": 1}), CTX)
    assert isinstance(refused, Refusal)
    assert refused.code == "invalid_snapshot"
    assert isinstance(decide(_UNTIMED, unset, Event("fill", Actor.USER, {"litres": 1})), Step)


def test_a_timed_machine_decides_and_offers_nothing_without_a_context() -> None:
    fill = Event("fill", Actor.USER, {"litres": 1})
    with pytest.raises(InvalidInput):
        decide(KETTLE, EMPTY, fill)
    with pytest.raises(InvalidInput):
        offered(KETTLE, EMPTY)
    assert [o.event for o in offered(_UNTIMED, EMPTY._replace(since=None))] == ["fill", "pour"]


# -- with_policy: one variant per policy, kept, bounded ----------------------------------------

_QUICK = Policy(grace_period=timedelta(days=1))
_SLOW = Policy(grace_period=timedelta(days=90))


def test_a_variant_is_kept_per_equal_policy_and_leads_back_to_the_machine() -> None:
    machine = Machine(KETTLE_SPEC, Implementations(), record=Kettle)
    quick = machine.with_policy(_QUICK)
    slow = machine.with_policy(_SLOW)
    assert quick is not slow
    assert (quick.policy, slow.policy) == (_QUICK, _SLOW)
    # An equal policy that is another object, asked for after a different one.
    assert machine.with_policy(Policy(grace_period=timedelta(days=1))) is quick
    assert machine.with_policy(_SLOW) is slow
    assert machine.with_policy(_QUICK) is quick
    assert quick.with_policy(machine.policy) is machine
    assert quick.with_policy(_SLOW) is slow
    assert machine.with_policy(machine.policy) is machine


@pytest.mark.parametrize("policy", ["quick", [1], None])
def test_with_policy_refuses_what_is_no_policy_in_words(policy: object) -> None:
    with pytest.raises(InvalidInput) as info:
        KETTLE.with_policy(policy)  # type: ignore[arg-type]
    assert str(info.value) == f"policy must be a Policy, not {policy!r}"


def test_a_variant_keeps_the_record_type_strictness_and_clock_of_its_machine() -> None:
    strict = Machine(KETTLE_SPEC, Implementations(), record=Kettle, strict=True)
    variant = strict.with_policy(_QUICK)
    assert (variant.record, variant.strict, variant.timed) == (Kettle, True, True)
    assert variant.spec is KETTLE_SPEC
    assert variant.implementations is strict.implementations
    untimed = _UNTIMED.with_policy(_QUICK)
    assert untimed.timed is False
    assert untimed.initial(Kettle()) == Snapshot("empty", 0, None, Kettle())
    # Decided under the variant, a foreign record or a missing time is still refused.
    ctx = Context(T0, _QUICK)
    fill = Event("fill", Actor.USER, {"litres": 1})
    for snapshot in (EMPTY._replace(data="kettle"), EMPTY._replace(since=None)):
        refused = decide(strict, snapshot, fill, ctx)
        assert isinstance(refused, Refusal)
        assert refused.code == "invalid_snapshot"


def test_a_variant_of_a_machine_built_without_validation_builds_too() -> None:
    from tests.machines import LAMP_IMPLEMENTATIONS, OVERLAPPING_SPEC

    lamp = Machine(OVERLAPPING_SPEC, LAMP_IMPLEMENTATIONS, validate=False)
    assert lamp.with_policy(_QUICK).policy == _QUICK


def _policies(n: int) -> list[Policy]:
    return [Policy(grace_period=timedelta(hours=i + 1)) for i in range(n)]


def test_the_variants_kept_are_bounded_and_the_machines_own_policy_stays() -> None:
    machine = Machine(KETTLE_SPEC, Implementations(), record=Kettle)
    policies = _policies(63)
    variants = [machine.with_policy(p) for p in policies]
    assert len(machine._variants) == 64  # the machine's own and 63 others
    assert all(machine.with_policy(p) is v for p, v in zip(policies, variants, strict=True))
    # The next new policy drops the 32 oldest others before it is added.
    newest = machine.with_policy(Policy(grace_period=timedelta(days=900)))
    kept = machine._variants
    assert len(kept) == 33
    assert kept[machine.policy] is machine
    assert [p for p in kept if p != machine.policy] == [*policies[32:], newest.policy]
    assert machine.with_policy(machine.policy) is machine


def test_cycling_through_policies_from_variant_to_variant_keeps_the_machine() -> None:
    machine = Machine(KETTLE_SPEC, Implementations(), record=Kettle)
    current = machine
    for policy in _policies(100):
        current = current.with_policy(policy)
        assert current.policy == policy
    assert len(machine._variants) <= 64
    assert current.with_policy(machine.policy) is machine


# -- refusal sentences: explanations, senders, negations --------------------------------------

_OWNER, _ADMIN, _BILLING = Role("owner"), Role("Admin"), Role("billing")

_TALK_SPEC = MachineSpec(
    name="teapot",
    initial="empty",
    states=(StateSpec("empty"), StateSpec("full"), StateSpec("cracked")),
    events=(
        EventSpec("fill", frozenset({Actor.USER, _OWNER}), "Fill"),
        EventSpec("pour_out", frozenset({Actor.USER}), "Pour out"),
        EventSpec("crack", frozenset({Actor.SYSTEM, _ADMIN, _BILLING})),
        EventSpec("brew", frozenset({Actor.USER}), "Brew"),
    ),
    guards=(
        GuardSpec("warm", "cold", "{label} ({event}) needs a warm pot while {status}."),
        GuardSpec("sealed", "open", "{label} needs a sealed lid.", "the lid is sealed"),
        GuardSpec("clean", "dirty", "{label} needs a clean pot."),
    ),
    transitions=(
        TransitionSpec("fill", "empty", "full", guard=AllOf((Guard("warm"), Not(Guard("sealed"))))),
        TransitionSpec(
            "pour_out",
            "full",
            "empty",
            guard=AnyOf((Not(AllOf((Guard("sealed"), Guard("clean")))), Guard("warm"))),
        ),
        TransitionSpec("crack", "full", "cracked"),
        TransitionSpec("brew", "full", guard=AllOf((Guard("warm"), Guard("clean"), Guard("warm")))),
    ),
    explanations=(
        ("empty", "pour_out", "You can only pour out a full pot."),
        (
            "full",
            "fill",
            "{label} ({event}) waits while the pot is {status}, {grace_period} at most.",
        ),
        ("cracked", "*", "The pot is cracked."),
        ("*", "brew", "Only a full pot brews."),
    ),
)


def _always(value: bool) -> Any:
    return lambda s, e, c: value


def _flags(**flags: bool) -> Implementations:
    return Implementations(guards={g: _always(v) for g, v in flags.items()})


def _teapot(**flags: bool) -> Machine:
    return Machine(_TALK_SPEC, _flags(**{"warm": True, "sealed": False, "clean": True, **flags}))


def _refusal(machine: Machine, status: str, event: str, actor: Any = Actor.USER) -> Refusal:
    result = decide(machine, Snapshot(status, 1, T0, None), Event(event, actor), CTX)
    assert isinstance(result, Refusal), result
    return result


@pytest.mark.parametrize(
    ("status", "event", "message"),
    [
        # It names the action by its label, in another case: no prefix.
        ("empty", "pour_out", "You can only pour out a full pot."),
        # Placeholders filled in, the policy's duration in words.
        ("full", "fill", "Fill (fill) waits while the pot is full, 30 days at most."),
        # A wildcard that does not name the action gets it in front.
        ("cracked", "fill", "Fill is not available: The pot is cracked."),
        ("cracked", "pour_out", "Pour out is not available: The pot is cracked."),
        # An explanation for the action in any status; the status's own comes first.
        ("empty", "brew", "Brew is not available: Only a full pot brews."),
        ("cracked", "brew", "Brew is not available: The pot is cracked."),
    ],
)
def test_an_explained_refusal_says_the_specs_sentence_naming_the_action(
    status: str, event: str, message: str
) -> None:
    refusal = _refusal(_teapot(), status, event)
    assert (refusal.code, refusal.message) == ("not_allowed_from_status", message)
    assert (refusal.event, refusal.status, refusal.guard) == (event, status, None)


def test_an_unexplained_refusal_names_the_action_and_the_status() -> None:
    refusal = _refusal(_teapot(), "empty", "crack", Actor.SYSTEM)
    assert refusal.message == "crack is not available while the agent is empty."
    assert (refusal.code, refusal.event, refusal.status) == (
        "not_allowed_from_status",
        "crack",
        "empty",
    )


@pytest.mark.parametrize(
    ("event", "actor", "message"),
    [
        ("fill", Actor.SYSTEM, "Fill can only be sent by the owner, user, not by a platform."),
        ("pour_out", _OWNER, "Pour out can only be sent by the user, not by an owner."),
        ("pour_out", _ADMIN, "Pour out can only be sent by the user, not by an Admin."),
        ("pour_out", _BILLING, "Pour out can only be sent by the user, not by a billing."),
        (
            "crack",
            Actor.USER,
            "crack can only be sent by the Admin, billing, platform, not by a user.",
        ),
    ],
)
def test_a_sender_the_event_does_not_allow_is_refused_in_words(
    event: str, actor: Any, message: str
) -> None:
    for status in ("empty", "full"):
        refusal = _refusal(_teapot(), status, event, actor)
        assert (refusal.code, refusal.message) == ("actor_not_allowed", message)
        assert (refusal.event, refusal.status) == (event, status)


def test_a_failing_guard_refuses_with_its_code_and_its_sentence_filled_in() -> None:
    refusal = _refusal(_teapot(warm=False), "empty", "fill")
    assert (refusal.code, refusal.guard) == ("cold", "warm")
    assert refusal.message == "Fill (fill) needs a warm pot while empty."
    assert (refusal.event, refusal.status) == ("fill", "empty")


def test_a_negated_guard_names_the_guard_by_its_description() -> None:
    refusal = _refusal(_teapot(sealed=True), "empty", "fill")
    assert (refusal.code, refusal.guard) == ("guard_failed", "not sealed")
    assert refusal.message == "Fill is not allowed because the lid is sealed."
    assert (refusal.event, refusal.status) == ("fill", "empty")


def test_a_negated_group_names_each_guard_and_any_of_gives_its_first_reason() -> None:
    # pour_out: AnyOf(Not(sealed and clean), warm); both fail: the first one is the reason.
    refusal = _refusal(_teapot(sealed=True, clean=True, warm=False), "full", "pour_out")
    assert (refusal.code, refusal.guard) == ("guard_failed", "not (...)")
    assert refusal.message == "Pour out is not allowed because the lid is sealed and clean."
    assert (refusal.event, refusal.status) == ("pour_out", "full")
    for flags in ({"sealed": False}, {"clean": False}, {"warm": True, "sealed": True}):
        result = decide(
            _teapot(**{"sealed": True, "clean": True, "warm": False, **flags}),
            Snapshot("full", 1, T0, None),
            Event("pour_out"),
            CTX,
        )
        assert isinstance(result, Step), flags


@pytest.mark.parametrize(
    ("flags", "failed"),
    [
        ({"warm": False}, "warm"),
        ({"clean": False}, "clean"),
        ({"warm": False, "clean": False}, "warm"),
    ],
)
def test_every_guard_of_a_plain_all_of_is_checked_in_order(
    flags: dict[str, bool], failed: str
) -> None:
    refusal = _refusal(_teapot(**flags), "full", "brew")
    assert refusal.guard == failed
    assert isinstance(decide(_teapot(), Snapshot("full", 1, T0, None), Event("brew"), CTX), Step)


class _AKettleRecordWhoseClassNameRunsOnPastFortyCharacters:
    """Data of the wrong type, with a long class name."""


def test_a_foreign_records_class_is_named_in_at_most_forty_characters() -> None:
    with pytest.raises(InvalidInput) as info:
        KETTLE.initial(_AKettleRecordWhoseClassNameRunsOnPastFortyCharacters(), T0)  # type: ignore[arg-type]
    assert str(info.value) == (
        "a new agent's data is refused: the kettle model's agents hold Kettle records, "
        "not _AKettleRecordWhoseClassNameRunsOnPastFo"
    )


# -- rows with several updates and effects, and nested guards, on both paths ------------------


@attrs.frozen
class _Still:
    level: int = 0
    trail: tuple[str, ...] = ()


_STILL_SPEC = MachineSpec(
    name="still",
    initial="cold",
    states=(StateSpec("cold"), StateSpec("hot")),
    events=(
        EventSpec(
            "heat",
            frozenset({Actor.USER}),
            "Heat",
            fields=(FieldSpec("by", "int"), FieldSpec("force", "bool", required=False)),
        ),
        EventSpec("cool", frozenset({Actor.USER}), "Cool"),
    ),
    guards=(
        GuardSpec("full", "empty", "{label} needs a full still."),
        GuardSpec("forced", "unforced", "{label} needs force.", reads_input=True),
        GuardSpec("daytime", "night", "{label} waits for the day.", "it is day"),
    ),
    updates=(ActionSpec("warm"), ActionSpec("mark"), ActionSpec("stamp")),
    effects=(ActionSpec("log"), ActionSpec("ring"), ActionSpec("report")),
    transitions=(
        # Heat: (full and day) or forced, and not (forced and night): nested both ways.
        TransitionSpec(
            "heat",
            "cold",
            "hot",
            guard=AllOf(
                (
                    AnyOf((AllOf((Guard("full"), Guard("daytime"))), Guard("forced"))),
                    Not(AllOf((Guard("forced"), Not(Guard("daytime"))))),
                )
            ),
            updates=("warm", "mark", "stamp"),
            effects=("log", "ring", "report"),
        ),
        # Two of each: the first and the second builder are each given every argument.
        TransitionSpec("cool", "hot", "cold", updates=("mark", "warm"), effects=("ring", "log")),
    ),
)
_STILL = Machine(
    _STILL_SPEC,
    Implementations(
        guards={
            "full": lambda s, e, c: s.data.level >= 0 and s.status == "cold",
            "forced": lambda s, e, c: bool(e.payload.get("force")),
            "daytime": lambda s, e, c: 8 <= c.now.hour < 20,
        },
        updates={
            # Each reads what it is given: the data so far, the snapshot, the event, the time.
            "warm": lambda d, s, e, c: attrs.evolve(d, level=d.level + e.payload.get("by", -1)),
            "mark": lambda d, s, e, c: attrs.evolve(d, trail=(*d.trail, f"{s.status}:{e.name}")),
            "stamp": lambda d, s, e, c: attrs.evolve(d, trail=(*d.trail, f"{c.now.hour}h")),
        },
        effects={
            # A list too: decide makes a tuple of what a builder returns.
            "log": lambda b, a, e, c: [("log", b.status, a.status, e.name)],
            "ring": lambda b, a, e, c: (("ring", e.name, a.data.level, c.now.hour),),
            "report": lambda b, a, e, c: (("report", c.now.hour, b.data.level),),
        },
    ),
)
_DAY, _NIGHT = Context(T0), Context(datetime(2026, 4, 3, 23, 0, tzinfo=UTC))


@pytest.mark.parametrize("path", ["decide", "decide_reference"])
def test_three_updates_and_three_effects_each_see_what_they_are_given(path: str) -> None:
    from agentfsm._engine import decide_reference

    decides = decide if path == "decide" else decide_reference
    cold = Snapshot("cold", 4, T0 - timedelta(hours=1), _Still(2, ("start",)))
    step = decides(_STILL, cold, Event("heat", payload={"by": 3}), _DAY)
    assert isinstance(step, Step)
    assert step.snapshot == Snapshot("hot", 5, T0, _Still(5, ("start", "cold:heat", "10h")))
    assert step.effects == (
        ("log", "cold", "hot", "heat"),
        ("ring", "heat", 5, 10),
        ("report", 10, 2),
    )
    back = decides(_STILL, step.snapshot, Event("cool"), _NIGHT)
    assert isinstance(back, Step)
    assert back.snapshot.data == _Still(4, ("start", "cold:heat", "10h", "hot:cool"))
    assert back.effects == (("ring", "cool", 4, 23), ("log", "hot", "cold", "cool"))


@pytest.mark.parametrize("path", ["decide", "decide_reference"])
@pytest.mark.parametrize(
    ("level", "force", "ctx", "code"),
    [
        (0, False, _DAY, None),  # full and day
        (-1, False, _DAY, "empty"),  # neither full nor forced: the first reason
        (0, False, _NIGHT, "night"),  # full, but night, and not forced
        (-1, True, _DAY, None),  # forced by day
        (0, True, _NIGHT, "guard_failed"),  # forced at night: the negation fails
        (-1, True, _NIGHT, "guard_failed"),
    ],
)
def test_nested_guards_read_the_snapshot_the_event_and_the_time_on_both_paths(
    path: str, level: int, force: bool, ctx: Context, code: str | None
) -> None:
    from agentfsm._engine import decide_reference

    decides = decide if path == "decide" else decide_reference
    cold = Snapshot("cold", 1, T0 - timedelta(hours=1), _Still(level))
    payload: dict[str, Any] = {"by": 1, "force": True} if force else {"by": 1}
    result = decides(_STILL, cold, Event("heat", payload=payload), ctx)
    if code is None:
        assert isinstance(result, Step)
        assert result.snapshot.status == "hot"
    else:
        assert isinstance(result, Refusal), result
        assert (result.code, result.event, result.status) == (code, "heat", "cold")


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"force": True},
        {"by": "3"},
        {"by": 3.0},
        {"by": True},
        {"by": 3, "force": "yes"},
        {"by": 3, "extra": 1},
        {"by": 3, "force": True, "extra": 1},
    ],
)
def test_a_payload_missing_a_field_or_of_the_wrong_kind_is_refused_on_both_paths(
    payload: dict[str, Any],
) -> None:
    from agentfsm._engine import decide_reference

    cold = Snapshot("cold", 1, T0 - timedelta(hours=1), _Still(1))
    fast = decide(_STILL, cold, Event("heat", payload=payload), _DAY)
    generic = decide_reference(_STILL, cold, Event("heat", payload=payload), _DAY)
    assert isinstance(fast, Refusal)
    assert fast.code == "invalid_payload"
    assert generic == fast
