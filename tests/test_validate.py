"""Build-time validation: each structural check catches its fault, and Machine refuses to build."""

from __future__ import annotations

import attrs
import pytest

from agentfsm import (
    EventSpec,
    InvalidMachine,
    Machine,
    MachineSpec,
    StateSpec,
    TransitionSpec,
)
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
