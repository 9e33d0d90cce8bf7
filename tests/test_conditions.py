"""Recif's Kubernetes-style conditions: what each phase publishes, and that they never disagree.

The expectations come from the Kubernetes API conventions: ``Ready``/``Available`` are true only
while pods serve (``Running``), ``Progressing`` while a rollout is under way (``Pending``),
``Degraded`` while pods fail (``Failed``, with the pods' waiting reason); a condition keeps its
``lastTransitionTime`` until its status changes; ``observedGeneration`` is the spec's generation.
Conditions are checked as the reconciler publishes them and as the RECIF machine keeps them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import Actor, Context, Event, Refusal, decide
from agentfsm.models import (
    CONDITION_TYPES,
    RECIF,
    Condition,
    RecifAgent,
    derive_conditions,
    phase_of,
)
from agentfsm.recif import DesiredSpec, ObservedState, apply_actions, reconcile

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=5)

# phase -> the statuses of Ready, Available, Progressing, Degraded, by the API conventions.
EXPECTED = {
    "Pending": ("False", "False", "True", "False"),
    "Running": ("True", "True", "False", "False"),
    "Failed": ("False", "False", "False", "True"),
    "Terminated": ("False", "False", "False", "False"),
}


def by_type(conditions: tuple[Condition, ...]) -> dict[str, Condition]:
    return {c.type: c for c in conditions}


@pytest.mark.parametrize("state", ["Pending", "Running", "Failed", "Terminated", "deleted"])
def test_each_state_publishes_the_four_conditions_once(state: str) -> None:
    conditions = derive_conditions(state, 3, T0, reason="CrashLoopBackOff")
    assert tuple(c.type for c in conditions) == CONDITION_TYPES
    assert {c.observed_generation for c in conditions} == {3}
    assert {c.last_transition_time for c in conditions} == {T0}
    phase = "Terminated" if state == "deleted" else state
    assert tuple(c.status for c in conditions) == EXPECTED[phase]
    assert all(c.message for c in conditions)


def test_an_agent_never_deployed_has_no_conditions() -> None:
    assert derive_conditions("created", 1, T0) == ()


def test_a_failed_agent_names_the_reason_its_pods_fail() -> None:
    degraded = by_type(derive_conditions("Failed", 1, T0, reason="ImagePullBackOff"))["Degraded"]
    assert degraded.reason == "ImagePullBackOff"
    assert "ImagePullBackOff" in degraded.message


def test_stopped_and_deleted_agents_say_which_they_are() -> None:
    assert {c.reason for c in derive_conditions("Terminated", 1, T0)} == {"Stopped"}
    assert {c.reason for c in derive_conditions("deleted", 1, T0)} == {"Deleted"}


def test_a_condition_keeps_its_transition_time_until_its_status_changes() -> None:
    pending = derive_conditions("Pending", 1, T0)
    running = by_type(derive_conditions("Running", 2, LATER, pending))
    # Degraded was False and stays False: its clock does not move.
    assert running["Degraded"].last_transition_time == T0
    # The other three flip between Pending and Running.
    for ctype in ("Ready", "Available", "Progressing"):
        assert running[ctype].last_transition_time == LATER
    assert {c.observed_generation for c in running.values()} == {2}


def test_the_reconciler_publishes_the_conditions_of_its_phase() -> None:
    d = DesiredSpec("support-agent")
    first = reconcile(d, ObservedState(), now=T0)
    settled = apply_actions(ObservedState(), first.actions)
    second = reconcile(d, settled, now=LATER, previous_conditions=first.conditions)
    assert (first.phase, second.phase) == ("Pending", "Running")
    assert tuple(c.status for c in second.conditions) == EXPECTED["Running"]
    assert by_type(second.conditions)["Degraded"].last_transition_time == T0
    assert by_type(second.conditions)["Ready"].last_transition_time == LATER


# -- properties ----------------------------------------------------------------------------------

observed = st.one_of(
    st.builds(ObservedState, service=st.booleans()),
    st.builds(
        ObservedState,
        deployment=st.just(True),
        image=st.just("corail:1"),
        replicas=st.integers(0, 12),
        service=st.booleans(),
        ready_replicas=st.integers(0, 12),
        waiting_reason=st.none() | st.sampled_from(["CrashLoopBackOff", "ImagePullBackOff"]),
    ),
)
desired = st.builds(
    DesiredSpec,
    st.just("support-agent"),
    stopped=st.booleans(),
    deleted=st.booleans(),
    generation=st.integers(1, 100),
)


@given(desired, observed)
def test_reconciled_conditions_agree_with_the_phase(d: DesiredSpec, o: ObservedState) -> None:
    r = reconcile(d, o, now=T0)
    assert tuple(c.type for c in r.conditions) == CONDITION_TYPES
    assert tuple(c.status for c in r.conditions) == EXPECTED[r.phase]
    assert {c.observed_generation for c in r.conditions} == {d.generation}
    if r.phase == "Failed":
        assert by_type(r.conditions)["Degraded"].reason == o.waiting_reason
    if d.deleted:
        assert {c.reason for c in r.conditions} == {"Deleted"}


@given(desired, observed, st.integers(1, 10_000))
def test_conditions_are_stable_while_nothing_changes(
    d: DesiredSpec, o: ObservedState, minutes: int
) -> None:
    first = reconcile(d, o, now=T0)
    again = reconcile(
        d, o, now=T0 + timedelta(minutes=minutes), previous_conditions=first.conditions
    )
    assert again.conditions == first.conditions


EVENTS = st.one_of(
    st.sampled_from(
        [
            ("deploy", Actor.USER, {}),
            ("stop", Actor.USER, {}),
            ("restart", Actor.USER, {}),
            ("delete", Actor.USER, {}),
            ("promote_canary", Actor.USER, {}),
            ("pods_unhealthy", Actor.SYSTEM, {"reason": "CrashLoopBackOff"}),
            ("update_config", Actor.USER, {"config": {"model": "claude"}}),
            ("start_canary", Actor.USER, {"image": "corail:2"}),
        ]
    ),
    st.builds(lambda n: ("pods_ready", Actor.SYSTEM, {"ready_replicas": n}), st.integers(0, 3)),
    st.builds(lambda n: ("scale", Actor.USER, {"replicas": n}), st.integers(0, 11)),
)


@settings(max_examples=100)
@given(st.lists(EVENTS, max_size=30))
def test_the_machine_keeps_conditions_consistent_with_its_phase(
    events: list[tuple[str, Actor, dict[str, Any]]],
) -> None:
    snapshot = RECIF.initial(RecifAgent("support-agent"), T0)
    for i, (name, actor, payload) in enumerate(events):
        before = snapshot
        outcome = decide(RECIF, snapshot, Event(name, actor, payload), Context(T0 + timedelta(i)))
        if isinstance(outcome, Refusal):
            continue
        snapshot = outcome.snapshot
        data = snapshot.data
        phase = phase_of(snapshot)
        assert phase is not None
        assert tuple(c.status for c in data.conditions) == EXPECTED[phase]
        assert {c.observed_generation for c in data.conditions} == {data.generation}
        if snapshot.status == "Failed":
            assert by_type(data.conditions)["Degraded"].reason == data.last_reason
        # A condition whose status did not change keeps its transition time.
        old = by_type(before.data.conditions)
        for c in data.conditions:
            if c.type in old and old[c.type].status == c.status:
                assert c.last_transition_time == old[c.type].last_transition_time
