"""The model checker: the shipped models pass; broken ones fail with a shortest counterexample."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import attrs
import pytest

from agentfsm import (
    ActionSpec,
    Actor,
    Event,
    EventSpec,
    FieldSpec,
    Guard,
    Implementations,
    Machine,
    Not,
    Policy,
    Refusal,
    Snapshot,
    StateSpec,
    Step,
    TransitionSpec,
    offered,
)
from agentfsm.analysis import (
    CheckProfile,
    CheckReport,
    Invariant,
    PathStep,
    abstract_value,
    check,
    invariant,
    invariants_for,
)
from agentfsm.analysis._profiles import START
from agentfsm.models import ALFE_IMPLEMENTATIONS, ALFE_SPEC, MACHINES
from tests.machines import (
    IDLE_TIMEOUT_SPEC,
    LAMP_IMPLEMENTATIONS,
    LAMP_SPEC,
    LOSSY_RESUME_IMPLEMENTATIONS,
    OVERLAPPING_SPEC,
    RESTART_REISSUES_SPEC,
    UNEXPLAINED_SPEC,
)


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_every_shipped_model_passes(name: str) -> None:
    machine = MACHINES[name]
    report = check(machine)
    assert report.ok, report.format()
    assert report.machine == name
    assert report.invariants == tuple(i.name for i in invariants_for(machine))
    assert report.states_explored > len(machine.spec.states) // 2
    assert report.transitions_explored > report.states_explored
    assert report.format().startswith(f"{name}: ok")


def test_the_alfe_exploration_covers_every_status_and_remembered_status() -> None:
    seen: set[tuple[str, object]] = set()

    @invariant("record")
    def record(before: Snapshot, event: Event, result: Step | Refusal, machine: Machine) -> None:
        seen.add((before.status, before.data.remembered))

    check(MACHINES["alfe"], [record])
    assert {s for s, _ in seen} == set(ALFE_SPEC.state_names)
    remembered = {r for s, r in seen if s == "billing_suspended"}
    assert remembered == set(ALFE_SPEC.state_names) - {"deleted", "billing_suspended"}


def _events(report: CheckReport, name: str) -> list[tuple[str, Actor]]:
    failure = next(f for f in report.failures if f.invariant == name)
    return [(step.event, step.actor) for step in failure.path]


def test_a_platform_event_that_stops_a_running_agent_breaks_invariant_4() -> None:
    report = check(Machine(IDLE_TIMEOUT_SPEC, ALFE_IMPLEMENTATIONS))
    assert not report.ok
    assert [f.invariant for f in report.failures] == ["alfe-4"]
    # Shortest: three platform events make the agent running, the fourth stops it.
    platform = Actor.SYSTEM
    assert _events(report, "alfe-4") == [
        ("provision", platform),
        ("host_up", platform),
        ("connected", platform),
        ("idle_timeout", platform),
    ]
    assert report.failures[0].path[-1].outcome == "running -> stopped"
    text = report.format()
    assert "alfe-4" in text
    assert "counterexample (4 events)" in text
    assert "4. idle_timeout by platform: running -> stopped" in text


def test_a_resume_that_loses_the_remembered_status_breaks_invariant_5() -> None:
    report = check(Machine(ALFE_SPEC, LOSSY_RESUME_IMPLEMENTATIONS))
    assert [f.invariant for f in report.failures] == ["alfe-5"]
    # Shortest: suspend a pending agent and resume it; it should go back to pending.
    path = report.failures[0].path
    assert [s.event for s in path] == ["billing_suspend", "billing_resume"]
    assert path[0].guards == (("billing_reason_valid", True),)
    assert path[1].guards == (("billing_in_good_standing", True),)
    assert path[1].outcome == "billing_suspended -> starting"
    assert "'pending'" in report.failures[0].message


def test_a_restart_that_reissues_credentials_breaks_invariants_2_and_3() -> None:
    report = check(Machine(RESTART_REISSUES_SPEC, ALFE_IMPLEMENTATIONS))
    assert {f.invariant for f in report.failures} == {"alfe-2", "alfe-3"}
    for failure in report.failures:
        assert len(failure.path) == 4  # provision, host_up, then connected or a boot timeout
        assert failure.path[-1].event == "restart"
        assert failure.path[-1].actor is Actor.USER


# -- a machine of one's own: the generic profile, one's own invariants --------------------------

LAMP = Machine(LAMP_SPEC, LAMP_IMPLEMENTATIONS)


def test_a_machine_without_a_profile_is_checked_with_the_generic_one() -> None:
    report = check(LAMP)
    assert report.ok, report.format()
    assert report.states_explored == len(LAMP_SPEC.states)


def test_one_s_own_invariant_fails_with_guard_outcomes_on_the_path() -> None:
    @invariant("lamp-never-breaks")
    def never_breaks(
        before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
    ) -> str | None:
        """A lamp never breaks."""
        if isinstance(result, Step) and result.snapshot.status == "broken":
            return "the lamp broke"
        return None

    report = check(LAMP, [never_breaks])
    assert report.invariants == ("lamp-never-breaks",)
    (failure,) = report.failures
    assert failure.message == "the lamp broke"
    assert [(s.event, s.guards) for s in failure.path] == [
        ("switch", (("has_power", True),)),
        ("burn_out", ()),
    ]


def test_both_outcomes_of_a_forced_guard_are_explored() -> None:
    seen: list[str] = []

    def spy(before: Snapshot, event: Event, result: Step | Refusal, machine: Machine) -> None:
        if before.status == "off" and event.name == "switch" and event.actor is Actor.USER:
            seen.append("on" if isinstance(result, Step) else result.code)

    check(LAMP, [Invariant("spy", "records", lambda b, e, r, m, c: spy(b, e, r, m))])
    assert sorted(seen) == ["no_power", "on"]


def test_a_guard_declared_exact_is_evaluated_for_real() -> None:
    seen: list[str] = []

    def spy(before: Snapshot, event: Event, result: Step | Refusal, machine: Machine) -> None:
        if before.status == "off" and event.name == "switch" and event.actor is Actor.USER:
            seen.append("on" if isinstance(result, Step) else result.code)

    profile = CheckProfile(exact_guards=frozenset({"has_power"}))
    check(
        LAMP, [Invariant("spy", "records", lambda b, e, r, m, c: spy(b, e, r, m))], profile=profile
    )
    assert seen == ["on"]  # the real guard always passes


def _explode(data: object, s: Snapshot, e: Event, c: object) -> object:
    raise KeyError("bulb")


def test_an_engine_that_raises_is_a_failure_with_its_path() -> None:
    spec = attrs.evolve(
        LAMP_SPEC,
        updates=(*LAMP_SPEC.updates, ActionSpec("explode")),
        transitions=tuple(
            attrs.evolve(t, updates=("explode",)) if t.event == "burn_out" else t
            for t in LAMP_SPEC.transitions
        ),
    )
    impl = attrs.evolve(LAMP_IMPLEMENTATIONS, updates={"explode": _explode})
    report = check(Machine(spec, impl))
    (failure,) = report.failures
    assert failure.invariant == "decide-never-raises"
    assert "KeyError" in failure.message
    assert [s.event for s in failure.path] == ["switch", "burn_out"]


def test_structural_problems_fail_the_check() -> None:
    report = check(Machine(OVERLAPPING_SPEC, LAMP_IMPLEMENTATIONS, validate=False))
    assert not report.ok
    assert any("both apply" in p for p in report.problems)
    assert "problem:" in report.format()


def test_an_abstraction_that_does_not_make_the_model_finite_stops_at_the_limit() -> None:
    # Keying by version makes every step a new state: exploration must stop, and say why.
    versions = CheckProfile(abstraction=lambda s: (s.status, s.version))
    report = check(LAMP, profile=versions, max_states=50)
    assert report.states_explored == 50
    assert not report.ok
    assert any("stopped after 50 states" in p for p in report.problems)


def test_the_state_limit_is_reported() -> None:
    report = check(MACHINES["alfe"], max_states=10)
    assert report.states_explored == 10
    assert any("stopped after 10 states" in p for p in report.problems)


def test_abstract_values_are_small_and_hashable() -> None:
    assert abstract_value(0) == 0
    assert abstract_value(7) == abstract_value(2)
    assert abstract_value(-5) == -1
    assert abstract_value({"b": 3, "a": None}) == (("a", None), ("b", 2))
    assert hash(abstract_value(ALFE_SPEC.states[0])) is not None


# -- a finding in the shipped Alfe model, pinned until the model is fixed ----------------------


@invariant("alfe-old-credentials-revoked")
def _old_credentials_revoked(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """When an agent gets new credentials, the ones it held are revoked and its old host is
    destroyed in the same step."""
    if not isinstance(result, Step):
        return None
    old, new = before.data, result.snapshot.data
    revoked = {e.credentials for e in result.effects if type(e).__name__ == "RevokeCredentials"}
    destroyed = {e.host for e in result.effects if type(e).__name__ == "DestroyHost"}
    if old.credentials and new.credentials != old.credentials and old.credentials not in revoked:
        return f"{event.name!r} replaced credentials {old.credentials} without revoking them"
    if old.host and new.host != old.host and old.host not in destroyed:
        return f"{event.name!r} replaced host {old.host} without destroying it"
    return None


def test_regression_provision_after_resume_keeps_no_stale_credentials() -> None:
    report = check(MACHINES["alfe"], [_old_credentials_revoked])
    assert report.ok, report.format()


# -- what the report keeps: every invariant, in order, and the reason it failed ------------------


def _breaks(before: Snapshot, event: Event, result: Step | Refusal, machine: Machine) -> str | None:
    if isinstance(result, Step) and result.snapshot.status == "broken":
        return "the lamp broke"
    return None


def _switches_on(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    if isinstance(result, Step) and result.snapshot.status == "on":
        return "the lamp came on"
    return None


NEVER_BREAKS = Invariant("never-breaks", "", lambda b, e, r, m, c: _breaks(b, e, r, m))
NEVER_ON = Invariant("never-on", "", lambda b, e, r, m, c: _switches_on(b, e, r, m))


def test_invariants_are_still_checked_after_one_has_failed() -> None:
    # ``never-on`` fails on the first event; ``never-breaks`` only one event later.
    report = check(LAMP, [NEVER_ON, NEVER_BREAKS])
    assert [f.invariant for f in report.failures] == ["never-on", "never-breaks"]
    assert [len(f.path) for f in report.failures] == [1, 2]


def test_failures_are_reported_in_the_order_the_invariants_were_given() -> None:
    report = check(LAMP, [NEVER_BREAKS, NEVER_ON])  # found in the other order
    assert [f.invariant for f in report.failures] == ["never-breaks", "never-on"]


def test_an_invariant_whose_check_raises_is_a_failure() -> None:
    def boom(b: Snapshot, e: Event, r: Step | Refusal, m: Machine, c: object) -> str | None:
        raise ValueError("no bulb")

    report = check(LAMP, [Invariant("fragile", "raises", boom), NEVER_ON])
    assert [f.invariant for f in report.failures] == ["fragile", "never-on"]
    assert report.failures[0].message == "the check raised ValueError('no bulb')"
    assert len(report.failures[0].path) == 1


def test_the_summary_says_failed_when_there_are_only_structural_problems() -> None:
    report = check(Machine(OVERLAPPING_SPEC, LAMP_IMPLEMENTATIONS, validate=False))
    assert report.failures == ()
    first, *rest = report.format().splitlines()
    assert first.startswith("lamp: FAILED: 1 structural problem(s), 0 invariant(s) broken (")
    assert first.endswith(" transitions explored)")
    assert rest[0].startswith("  problem: ")


def test_a_failure_prints_each_step_of_its_counterexample() -> None:
    text = check(LAMP, [NEVER_BREAKS]).format()
    assert text.splitlines()[1:] == [
        "  invariant never-breaks broken: the lamp broke",
        "    counterexample (2 events):",
        "      1. switch by user [has_power=True]: off -> on",
        "      2. burn_out by platform: on -> broken",
    ]


# A lamp that dims when switched off without power: from ``on``, one outcome of ``has_power``
# leads back to a status already seen, the other to one seen nowhere else.
DIMMING_SPEC = attrs.evolve(
    LAMP_SPEC,
    states=(*LAMP_SPEC.states, StateSpec("dimmed")),
    transitions=(
        TransitionSpec("switch", "off", "on", guard=Guard("has_power")),
        TransitionSpec("switch", "on", "off", guard=Guard("has_power")),
        TransitionSpec("switch", "on", "dimmed", guard=Not(Guard("has_power"))),
        TransitionSpec("burn_out", "on", "broken"),
        TransitionSpec("scrap", ("off", "on", "broken", "dimmed"), "scrapped"),
    ),
    explanations=(*LAMP_SPEC.explanations, ("dimmed", "switch", "A dimmed lamp is scrapped.")),
)


def _statuses_seen(machine: Machine) -> set[str]:
    seen: set[str] = set()

    def spy(b: Snapshot, e: Event, r: Step | Refusal, m: Machine, c: object) -> None:
        seen.add(b.status)

    check(machine, [Invariant("spy", "records", spy)])
    return seen


def test_the_other_guard_outcome_is_explored_when_one_reaches_a_visited_state() -> None:
    assert "dimmed" in _statuses_seen(Machine(DIMMING_SPEC, LAMP_IMPLEMENTATIONS))


def test_the_other_guard_outcome_is_explored_when_one_makes_the_engine_raise() -> None:
    spec = attrs.evolve(
        DIMMING_SPEC,
        updates=(ActionSpec("explode"),),
        transitions=tuple(
            attrs.evolve(t, updates=("explode",)) if t.target == "off" else t
            for t in DIMMING_SPEC.transitions
        ),
    )
    impl = attrs.evolve(LAMP_IMPLEMENTATIONS, updates={"explode": _explode})
    machine = Machine(spec, impl)
    assert "dimmed" in _statuses_seen(machine)
    assert [f.invariant for f in check(machine).failures] == ["decide-never-raises"]


def test_a_path_step_prints_its_payload_and_guards_in_order() -> None:
    step = PathStep(
        "recreate",
        Actor.USER,
        {"confirmation": "my-agent", "size": "large"},
        (("confirmation_matches", True), ("size_valid", False)),
        "refused (invalid_size)",
    )
    assert step.format() == (
        "recreate by user (confirmation='my-agent', size='large') "
        "[confirmation_matches=True, size_valid=False]: refused (invalid_size)"
    )


# -- how the exploration is driven: decisions, clock, payloads ------------------------------------

# The lamp's switch carries a level, so the checker has payloads that fit and payloads that do not.
LEVELLED = Machine(
    attrs.evolve(
        LAMP_SPEC,
        events=(
            EventSpec(
                "switch", frozenset({Actor.USER}), "Switch", fields=(FieldSpec("level", "int"),)
            ),
            *LAMP_SPEC.events[1:],
        ),
    ),
    LAMP_IMPLEMENTATIONS,
)
LEVELS = CheckProfile(payloads={"switch": ({"level": 1}, {"level": "high"}, {"level": 1, "x": 0})})


def _decisions(machine: Machine, profile: CheckProfile) -> tuple[Counter[tuple[Any, ...]], int]:
    counts: Counter[tuple[Any, ...]] = Counter()

    def spy(b: Snapshot, e: Event, r: Step | Refusal, m: Machine, c: object) -> None:
        counts[(b.status, e.name, e.actor, tuple(sorted(e.payload.items())))] += 1

    report = check(machine, [Invariant("spy", "records", spy)], profile=profile)
    return counts, report.transitions_explored


def test_both_guard_outcomes_are_tried_only_for_events_that_fit() -> None:
    counts, transitions = _decisions(LEVELLED, LEVELS)
    assert counts[("off", "switch", Actor.USER, (("level", 1),))] == 2  # has_power: True, False
    assert counts[("off", "switch", Actor.USER, (("level", "high"),))] == 1  # bad field
    assert counts[("off", "switch", Actor.USER, (("level", 1), ("x", 0)))] == 1  # unknown key
    assert counts[("off", "switch", Actor.USER, ())] == 1  # the level is missing
    assert counts[("off", "switch", Actor.SYSTEM, (("level", 1),))] == 1  # not its actor
    assert transitions == sum(counts.values())


def test_the_clock_moves_one_tick_per_step_of_depth() -> None:
    seen: dict[str, set[object]] = {}

    def clock(b: Snapshot, e: Event, r: Step | Refusal, m: Machine, c: Any) -> None:
        seen.setdefault(b.status, set()).add(c.now)

    profile = CheckProfile()
    check(LAMP, [Invariant("clock", "records", clock)], profile=profile)
    start = LAMP.initial(None, START).since
    # off is the start (depth 0), on is one step away, broken and scrapped two.
    assert seen["off"] == {start + profile.tick}
    assert seen["on"] == {start + 2 * profile.tick}
    assert seen["broken"] == {start + 3 * profile.tick}


def test_a_raising_engine_is_reported_before_the_invariants() -> None:
    spec = attrs.evolve(
        LAMP_SPEC,
        updates=(ActionSpec("explode"),),
        transitions=tuple(
            attrs.evolve(t, updates=("explode",)) if t.event == "burn_out" else t
            for t in LAMP_SPEC.transitions
        ),
    )
    impl = attrs.evolve(LAMP_IMPLEMENTATIONS, updates={"explode": _explode})
    report = check(Machine(spec, impl), [NEVER_ON, NEVER_BREAKS])
    assert [f.invariant for f in report.failures] == ["decide-never-raises", "never-on"]
    last = report.failures[0].path[-1]
    assert last == PathStep("burn_out", Actor.SYSTEM, {}, (), "raised KeyError('bulb')")


def test_the_state_limit_problem_says_what_to_do() -> None:
    versions = CheckProfile(abstraction=lambda s: (s.status, s.version))
    report = check(LAMP, profile=versions, max_states=5)
    assert report.problems == (
        "exploration stopped after 5 states: the abstraction does not make the model finite; "
        "register a CheckProfile with a coarser abstraction",
    )


def test_invariants_asking_what_is_offered_see_the_real_guards() -> None:
    offers: list[bool] = []

    def ask(b: Snapshot, e: Event, r: Step | Refusal, m: Machine, c: Any) -> None:
        # While switch is decided its guard is forced; after any other event nothing is.
        if b.status == "off" and e.name != "switch":
            offers.append(any(o.event == "switch" and o.offered for o in offered(m, b, c)))

    check(LAMP, [Invariant("ask", "records", ask)])
    assert offers
    assert all(offers)  # the lamp's real has_power always passes


def test_the_state_limit_still_decides_the_other_guard_outcome() -> None:
    # The limit is hit by the first new state, switch with has_power=True; the same event with
    # has_power=False (refused no_power) must still be decided and checked.
    def no_power(b: Snapshot, e: Event, r: Step | Refusal, m: Machine, c: Any) -> str | None:
        return "refused: no power" if isinstance(r, Refusal) and r.code == "no_power" else None

    versions = CheckProfile(abstraction=lambda s: (s.status, s.version))
    report = check(LAMP, [Invariant("powered", "", no_power)], profile=versions, max_states=1)
    assert [f.invariant for f in report.failures] == ["powered"]
    assert report.failures[0].path[-1].guards == (("has_power", False),)


def test_the_machine_s_own_strictness_decides_the_structural_problems() -> None:
    # UNEXPLAINED_SPEC is strict; a machine built from it with strict=False is not.
    lenient = Machine(UNEXPLAINED_SPEC, LAMP_IMPLEMENTATIONS, strict=False)
    assert check(lenient).problems == ()
    strict = Machine(UNEXPLAINED_SPEC, LAMP_IMPLEMENTATIONS, strict=True, validate=False)
    assert any("switch" in p for p in check(strict).problems)


def test_the_machine_s_policy_decides_every_explored_event() -> None:
    grace = timedelta(days=1)
    deletions: list[object] = []

    def purges_after_a_day(
        b: Snapshot, e: Event, r: Step | Refusal, m: Machine, c: Any
    ) -> str | None:
        if not isinstance(r, Step) or r.snapshot.status != "deleted" or b.status == "deleted":
            return None
        data = r.snapshot.data
        deletions.append(data.purge_at)
        return None if data.purge_at == data.deleted_at + grace else f"purge at {data.purge_at}"

    machine = MACHINES["alfe"].with_policy(Policy(grace_period=grace))
    report = check(machine, [Invariant("grace", "", purges_after_a_day)])
    assert deletions
    assert report.ok, report.format()


@attrs.frozen
class _Bulb:
    watts: int = 60


@attrs.frozen
class _Candle:
    wicks: int = 1


def _to_candle(data: object, s: Snapshot, e: Event, c: object) -> object:
    return _Candle()


def test_the_explored_machine_keeps_its_record_check() -> None:
    # An update that returns another record is a bug: the next event on that agent is refused
    # invalid_snapshot, as it would be outside the checker.
    spec = attrs.evolve(
        LAMP_SPEC,
        updates=(ActionSpec("melt"),),
        transitions=tuple(
            attrs.evolve(t, updates=("melt",)) if t.event == "burn_out" else t
            for t in LAMP_SPEC.transitions
        ),
    )
    impl = attrs.evolve(LAMP_IMPLEMENTATIONS, updates={"melt": _to_candle})
    codes: set[str] = set()

    def after_melting(b: Snapshot, e: Event, r: Step | Refusal, m: Machine, c: Any) -> None:
        if isinstance(b.data, _Candle) and isinstance(r, Refusal):
            codes.add(r.code)

    profile = CheckProfile(initial_data=_Bulb())
    check(
        Machine(spec, impl, record=_Bulb), [Invariant("melt", "", after_melting)], profile=profile
    )
    assert codes == {"invalid_snapshot"}


def _switch_only(s: Snapshot, e: Event, c: object) -> bool:
    return e.name == "switch"  # a guard that reads the event it decides


def test_invariants_asking_what_is_offered_give_the_real_guards_the_event() -> None:
    offers: list[bool] = []

    def ask(b: Snapshot, e: Event, r: Step | Refusal, m: Machine, c: Any) -> None:
        if b.status == "off" and e.name != "switch":
            offers.append(any(o.event == "switch" and o.offered for o in offered(m, b, c)))

    lamp = Machine(LAMP_SPEC, Implementations(guards={"has_power": _switch_only}))
    report = check(lamp, [Invariant("ask", "records", ask)])
    assert report.failures == ()
    assert offers
    assert all(offers)
