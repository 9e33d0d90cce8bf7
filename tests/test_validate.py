"""Build-time validation: each structural check catches its fault, and Machine refuses to build."""

from __future__ import annotations

import attrs
import pytest

from agentfsm import (
    ActionSpec,
    Actor,
    AllOf,
    AnyOf,
    ChooserSpec,
    EventSpec,
    FieldSpec,
    Guard,
    GuardSpec,
    Implementations,
    InvalidMachine,
    Machine,
    MachineSpec,
    Not,
    StateSpec,
    TransitionSpec,
)
from agentfsm._spec import GuardExpr
from agentfsm._validate import structural_problems
from agentfsm.analysis import validate
from agentfsm.models import MACHINES
from tests.machines import (
    CONTRADICTED_SPEC,
    EXCLUSIVE_SPEC,
    LAMP_IMPLEMENTATIONS,
    LAMP_SPEC,
    LEAKY_TERMINAL_SPEC,
    OVERLAPPING_SPEC,
    UNEXPLAINED_SPEC,
    UNREACHABLE_SPEC,
)


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_the_shipped_models_are_sound(name: str) -> None:
    assert validate(MACHINES[name].spec) == []


def test_a_sound_machine_has_no_problems_and_builds() -> None:
    assert validate(LAMP_SPEC) == []
    assert Machine(LAMP_SPEC, LAMP_IMPLEMENTATIONS).name == "lamp"


def test_exclusive_guards_on_one_status_and_event_are_allowed() -> None:
    assert validate(EXCLUSIVE_SPEC) == []


# Each broken spec has exactly one fault; the problem must name the culprit and say what to do.
_FAULTS = [
    (UNREACHABLE_SPEC, ["'repaired'", "cannot be reached", "'off'"]),
    (OVERLAPPING_SPEC, ["'off'", "'switch'", "both apply", "has_power", "no guard"]),
    (LEAKY_TERMINAL_SPEC, ["'scrapped'", "terminal", "'salvage'", "off"]),
    (UNEXPLAINED_SPEC, ["'switch'", "'broken'", "neither handled nor explained"]),
    (CONTRADICTED_SPEC, ["'on'", "'switch'", "both handles"]),
]


@pytest.mark.parametrize(
    ("spec", "words"),
    _FAULTS,
    ids=["unreachable", "overlapping", "leaky-terminal", "unexplained", "contradicted"],
)
def test_each_check_catches_its_fault(spec: MachineSpec, words: list[str]) -> None:
    problems = validate(spec)
    assert len(problems) == 1, problems
    for word in words:
        assert word in problems[0]


@pytest.mark.parametrize(
    ("spec", "words"),
    _FAULTS,
    ids=["unreachable", "overlapping", "leaky-terminal", "unexplained", "contradicted"],
)
def test_machine_refuses_to_build_and_names_the_fault(spec: MachineSpec, words: list[str]) -> None:
    with pytest.raises(InvalidMachine) as info:
        Machine(spec, LAMP_IMPLEMENTATIONS)
    assert info.value.machine == "lamp"
    assert info.value.problems == tuple(validate(spec))
    assert words[0] in str(info.value)


def test_validation_can_be_skipped_when_building() -> None:
    machine = Machine(OVERLAPPING_SPEC, LAMP_IMPLEMENTATIONS, validate=False)
    assert machine.spec is OVERLAPPING_SPEC


def test_every_fault_is_reported_at_once() -> None:
    spec = attrs.evolve(
        UNREACHABLE_SPEC,
        transitions=OVERLAPPING_SPEC.transitions,
        explanations=(*UNREACHABLE_SPEC.explanations[:1], ("repaired", "*", "-")),
    )
    problems = validate(spec)
    assert any("cannot be reached" in p for p in problems)
    assert any("both apply" in p for p in problems)
    assert any("neither handled nor explained" in p for p in problems)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"initial": "nowhere"}, ["initial status 'nowhere'"]),
        ({"states": (*LAMP_SPEC.states, StateSpec("off"))}, ["status 'off'", "2 times"]),
        (
            {"transitions": (*LAMP_SPEC.transitions, TransitionSpec("switch", "on", "attic"))},
            ["target 'attic'"],
        ),
        (
            {"transitions": (*LAMP_SPEC.transitions, TransitionSpec("dim", "on", "off"))},
            ["event 'dim' is not declared"],
        ),
        ({"events": (*LAMP_SPEC.events, EventSpec("hum", frozenset()))}, ["'hum' has no actor"]),
    ],
    ids=["initial", "duplicate", "target", "event", "actorless"],
)
def test_names_that_do_not_resolve_are_reported(
    change: dict[str, object], words: list[str]
) -> None:
    problems = validate(attrs.evolve(LAMP_SPEC, **change))  # type: ignore[arg-type]
    for word in words:
        assert any(word in p for p in problems), problems


def test_validate_is_the_structural_check_machine_runs() -> None:
    for spec in (LAMP_SPEC, OVERLAPPING_SPEC, UNEXPLAINED_SPEC):
        assert validate(spec) == structural_problems(spec)


# -- every message, word for word, and the overlaps of two guarded rows ---------------------------

_U, _S = frozenset({Actor.USER}), frozenset({Actor.SYSTEM})


def _lamp(**changes: object) -> MachineSpec:
    return attrs.evolve(LAMP_SPEC, **changes)


def _rows(*extra: TransitionSpec) -> tuple[TransitionSpec, ...]:
    return (*LAMP_SPEC.transitions, *extra)


_MESSAGES = [
    (
        _lamp(events=(*LAMP_SPEC.events, EventSpec("switch", _U, "Switch"))),
        ["the event 'switch' is defined 2 times: keep one"],
    ),
    (
        _lamp(guards=(*LAMP_SPEC.guards, *LAMP_SPEC.guards)),
        ["the guard 'has_power' is defined 2 times: keep one"],
    ),
    (
        _lamp(updates=(ActionSpec("dim"), ActionSpec("dim"))),
        ["the update 'dim' is defined 2 times: keep one"],
    ),
    (
        _lamp(effects=(ActionSpec("buzz"), ActionSpec("buzz"))),
        ["the effect 'buzz' is defined 2 times: keep one"],
    ),
    (
        _lamp(choosers=(ChooserSpec("pick", ("off",)), ChooserSpec("pick", ("on",)))),
        ["the chooser 'pick' is defined 2 times: keep one"],
    ),
    (
        _lamp(events=(*LAMP_SPEC.events, EventSpec("dim", _S, fields=(FieldSpec("x", "float"),)))),
        [
            "field 'x' of event 'dim' has the unknown kind 'float': "
            "use one of str, int, bool, datetime, mapping"
        ],
    ),
    (
        _lamp(transitions=_rows(TransitionSpec("switch", (), "off"))),
        ["transition 'switch' from (nothing): it has no source status"],
    ),
    (
        _lamp(transitions=_rows(TransitionSpec("scrap", ("off", "attic"), "scrapped"))),
        ["transition 'scrap' from off, attic: the source 'attic' is not a status"],
    ),
    (
        _lamp(
            choosers=(ChooserSpec("pick", ("off", "attic")),),
            transitions=_rows(TransitionSpec("switch", "broken", chooser="pick")),
        ),
        ["chooser 'pick' may return 'attic', not a status"],
    ),
    (
        _lamp(explanations=(*LAMP_SPEC.explanations, ("attic", "switch", "No."))),
        ["an explanation names the unknown status 'attic'"],
    ),
    (
        _lamp(explanations=(*LAMP_SPEC.explanations, ("broken", "repair", "No."))),
        ["an explanation names the unknown event 'repair'"],
    ),
    (
        _lamp(
            transitions=(
                TransitionSpec("switch", "off", "broken"),
                *LAMP_SPEC.transitions,
            )
        ),
        [
            "from 'off', event 'switch' has two transitions that can both apply "
            "(no guard; guard has_power): make their guards exclusive, e.g. G and Not(G)"
        ],
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"), _MESSAGES, ids=[str(i) for i in range(len(_MESSAGES))]
)
def test_each_problem_is_described_exactly(spec: MachineSpec, expected: list[str]) -> None:
    assert structural_problems(spec) == expected


def test_regression_an_undeclared_chooser_made_validation_raise() -> None:
    spec = _lamp(transitions=_rows(TransitionSpec("switch", "broken", chooser="pick")))
    assert structural_problems(spec) == [
        "transition 'switch' from broken: the chooser 'pick' is not declared"
    ]


_GUARDS = (
    GuardSpec("has_power", "no_power", "{label} needs power."),
    GuardSpec("is_new", "worn", "{label} needs a new bulb."),
)


def _two_guarded(first: GuardExpr, second: GuardExpr) -> MachineSpec:
    return _lamp(
        guards=_GUARDS,
        transitions=(
            TransitionSpec("switch", "off", "on", guard=first),
            TransitionSpec("switch", "off", "broken", guard=second),
            *LAMP_SPEC.transitions[1:],
        ),
    )


_P, _N = Guard("has_power"), Guard("is_new")


@pytest.mark.parametrize(
    ("first", "second", "rendered"),
    [
        (_P, _N, "guard has_power; guard is_new"),  # different guards: both may pass
        (_P, _P, "guard has_power; guard has_power"),  # the same guard twice
        (Not(_P), Not(_N), "guard not has_power; guard not is_new"),  # both pass when all fail
        (
            AllOf((_P, _N)),
            AnyOf((_N, Not(_P))),
            "guard (has_power and is_new); guard (is_new or not has_power)",
        ),
    ],
)
def test_two_guarded_rows_that_can_both_pass_overlap(
    first: GuardExpr, second: GuardExpr, rendered: str
) -> None:
    (problem,) = [p for p in structural_problems(_two_guarded(first, second)) if "both apply" in p]
    assert f"({rendered})" in problem


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (_P, Not(_P)),
        (AllOf((_P, _N)), Not(_P)),
        (AllOf((_P, _N)), AnyOf((Not(_P), Not(_N)))),
    ],
)
def test_two_guarded_rows_that_exclude_each_other_do_not_overlap(
    first: GuardExpr, second: GuardExpr
) -> None:
    assert [p for p in structural_problems(_two_guarded(first, second)) if "both apply" in p] == []


def test_a_row_that_keeps_the_status_is_sound() -> None:
    # SAME leads back to the source: it must not make a status reachable or leave a terminal one.
    spec = _lamp(
        transitions=_rows(
            TransitionSpec("burn_out", "broken"),  # the default target, SAME
            TransitionSpec("scrap", "scrapped"),
        ),
    )
    assert structural_problems(spec) == []


def test_a_terminal_status_left_through_a_chooser_names_every_target() -> None:
    spec = _lamp(
        choosers=(ChooserSpec("revive", ("off", "on")),),
        transitions=_rows(TransitionSpec("burn_out", "scrapped", chooser="revive")),
    )
    assert structural_problems(spec) == [
        "status 'scrapped' is terminal but event 'burn_out' leads from it to off, on: "
        "remove it from the row's sources"
    ]


def test_user_actions_are_checked_in_every_status_after_one_that_handles_them() -> None:
    # 'switch' is handled in off and on, and neither handled nor explained in broken.
    spec = _lamp(explanations=(("scrapped", "*", "The lamp is scrapped."),))
    assert structural_problems(spec) == [
        "user action 'switch' is neither handled nor explained in status 'broken': "
        "add a transition, or an explanation ('broken', 'switch', 'why not')"
    ]


def test_user_actions_are_checked_in_every_status_after_one_that_explains_them() -> None:
    # 'switch' is explained in broken; scrapped, after it, has neither row nor explanation.
    spec = _lamp(explanations=(("broken", "switch", "A broken lamp does not switch."),))
    assert structural_problems(spec) == [
        "user action 'switch' is neither handled nor explained in status 'scrapped': "
        "add a transition, or an explanation ('scrapped', 'switch', 'why not')",
        "user action 'scrap' is neither handled nor explained in status 'scrapped': "
        "add a transition, or an explanation ('scrapped', 'scrap', 'why not')",
    ]


def test_an_overlap_with_an_unguarded_second_row_says_so() -> None:
    assert structural_problems(OVERLAPPING_SPEC) == [
        "from 'off', event 'switch' has two transitions that can both apply "
        "(guard has_power; no guard): make their guards exclusive, e.g. G and Not(G)"
    ]


@pytest.mark.parametrize(
    "guard",
    [AnyOf(()), Not(AnyOf(())), AllOf((_P, AnyOf(()))), AnyOf((_N, AllOf((AnyOf(()),))))],
    ids=["alone", "negated", "in-all-of", "nested"],
)
def test_regression_an_empty_any_of_passed_in_the_engine_and_failed_in_the_analysis(
    guard: GuardExpr,
) -> None:
    # No item fails, so the compiled guard passed; no item passes, so the analysis (overlaps,
    # the model checker) took it for one that never does. It is refused instead.
    spec = _two_guarded(guard, Not(_P))
    assert structural_problems(spec) == [
        "transition 'switch' from off: its guard has an AnyOf with no items: list its guards"
    ]
    both = Implementations(guards={"has_power": lambda *_: True, "is_new": lambda *_: True})
    with pytest.raises(InvalidMachine, match="AnyOf with no items"):
        Machine(spec, both)


def test_an_any_of_with_items_and_an_empty_all_of_are_sound() -> None:
    # An AllOf of nothing passes in the engine and in the analysis alike.
    for guard in (AnyOf((_P, _N)), AllOf(()), Not(AllOf(()))):
        assert "AnyOf" not in " ".join(structural_problems(_two_guarded(guard, Not(_P))))


@pytest.mark.parametrize("version", [0, -1, True, False, "2", 2.0, None])
def test_a_version_that_is_no_positive_whole_number_is_reported(version: object) -> None:
    assert structural_problems(_lamp(version=version)) == [
        f"the version must be a positive integer, not {version!r}"
    ]


def test_a_bad_version_is_reported_beside_a_name_defined_twice() -> None:
    spec = _lamp(version=0, states=(*LAMP_SPEC.states, StateSpec("off")))
    assert structural_problems(spec) == [
        "the version must be a positive integer, not 0",
        "the status 'off' is defined 2 times: keep one",
    ]


def test_strict_given_to_the_check_overrides_the_specs() -> None:
    # 'switch' is neither handled nor explained in broken once its explanation is gone.
    lax = _lamp(strict=False, explanations=(("scrapped", "*", "The lamp is scrapped."),))
    unexplained = [
        "user action 'switch' is neither handled nor explained in status 'broken': "
        "add a transition, or an explanation ('broken', 'switch', 'why not')"
    ]
    assert structural_problems(lax) == []
    assert structural_problems(lax, strict=True) == unexplained
    strict = attrs.evolve(lax, strict=True)
    assert structural_problems(strict) == unexplained
    assert structural_problems(strict, strict=False) == []
