"""Recif's reconcile: one example per rule of the operator's loop, then its properties.

The properties are the ones ``models.md`` states: convergence (perform the actions, reconcile
again: nothing left), idempotence, level-triggering (only the current inputs count), scale
bounds, recovery of failed agents, clean deletion, and agreement with the RECIF machine when
its platform events are fed from reconcile outcomes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import Actor, Context, Event, InvalidInput, Policy, Refusal, decide
from agentfsm.effects import (
    CreateCanary,
    CreateConfigMap,
    CreateDeployment,
    CreateService,
    DeleteResources,
    RecreateConfigMap,
    RestartPods,
    ScaleDeployment,
    UpdateDeploymentImage,
)
from agentfsm.models import RECIF, RecifAgent, RecifSpec, phase_of
from agentfsm.recif import (
    MISSING_CONFIG_REASON,
    DeleteCanary,
    DesiredSpec,
    Fault,
    MountSecrets,
    ObservedState,
    ReconcileResult,
    apply_actions,
    config_hash,
    phase_event,
    reconcile,
)

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
GOOD = {"model": "gpt-4o", "strategy": "react"}
BAD = {"model": "no-such-model", "strategy": "react"}
IMAGE, NEW_IMAGE, BAD_IMAGE = "corail:1", "corail:2", "corail:broken"


def desired(**kw: Any) -> DesiredSpec:
    """A desired spec for ``support-agent``; spec fields and CRD fields both by keyword."""
    spec_fields = {"image", "replicas", "config", "env_secrets", "credential_secret"}
    spec = RecifSpec(
        **{
            "image": IMAGE,
            "replicas": 2,
            "config": GOOD,
            **{k: v for k, v in kw.items() if k in spec_fields},
        }
    )
    return DesiredSpec(
        "support-agent", spec, **{k: v for k, v in kw.items() if k not in spec_fields}
    )


def converged(d: DesiredSpec, faults: tuple[Fault, ...] = ()) -> ObservedState:
    """The cluster after the operator has brought ``d`` up from nothing."""
    return apply_actions(
        ObservedState(), reconcile(d, ObservedState(), now=T0).actions, faults=faults
    )


def kinds(result: ReconcileResult) -> list[type]:
    return [type(a) for a in result.actions]


# -- a fresh agent: missing Service, ConfigMap, Deployment are created -------------------------


def test_a_new_agent_gets_its_configmap_service_and_deployment() -> None:
    d = desired(credential_secret="llm-keys")
    r = reconcile(d, ObservedState(), now=T0)
    assert r.actions == (
        CreateConfigMap(GOOD),
        CreateService(),
        CreateDeployment(IMAGE, 2, ("agent-env",), "llm-keys"),
    )
    assert r.phase == "Pending"
    assert r.requeue_after == timedelta(seconds=30)


def test_the_service_listens_on_the_data_and_control_ports() -> None:
    r = reconcile(desired(), ObservedState(), now=T0)
    service = next(a for a in r.actions if isinstance(a, CreateService))
    assert service.ports == (8000, 8001)


def test_the_configmap_is_created_before_the_deployment_that_reads_it() -> None:
    r = reconcile(desired(), ObservedState(), now=T0)
    assert kinds(r).index(CreateConfigMap) < kinds(r).index(CreateDeployment)


@pytest.mark.parametrize("missing", ["service", "configmap"])
def test_a_missing_object_alone_is_recreated(missing: str) -> None:
    d = desired()
    o = converged(d)
    o = attrs.evolve(o, service=False) if missing == "service" else attrs.evolve(o, configmap=None)
    r = reconcile(d, o, now=T0)
    assert r.actions == ((CreateService(),) if missing == "service" else (CreateConfigMap(GOOD),))


def test_a_missing_deployment_alone_is_recreated() -> None:
    d = desired()
    o = attrs.evolve(
        converged(d),
        deployment=False,
        image=None,
        replicas=0,
        config_hash=None,
        mounted_secrets=frozenset(),
        ready_replicas=0,
    )
    r = reconcile(d, o, now=T0)
    assert r.actions == (CreateDeployment(IMAGE, 2, ("agent-env",), None),)
    assert r.phase == "Pending"


def test_an_agent_that_matches_its_spec_needs_nothing() -> None:
    d = desired(canary=NEW_IMAGE, credential_secret="llm-keys")
    r = reconcile(d, converged(d), now=T0)
    assert r.actions == ()
    assert r.converged


# -- spec changed: update the Deployment / ConfigMap --------------------------------------------


def test_an_image_change_is_a_rolling_update_without_a_separate_restart() -> None:
    o = converged(desired())
    r = reconcile(desired(image=NEW_IMAGE), o, now=T0)
    assert r.actions == (UpdateDeploymentImage(NEW_IMAGE),)
    assert r.phase == "Running"  # the old pods keep serving during the rollout


def test_a_config_change_recreates_the_configmap_and_restarts_the_pods() -> None:
    o = converged(desired())
    r = reconcile(desired(config=BAD), o, now=T0)
    assert r.actions == (RecreateConfigMap(BAD), RestartPods())


def test_image_and_config_change_together_roll_once() -> None:
    o = converged(desired())
    r = reconcile(desired(image=NEW_IMAGE, config=BAD), o, now=T0)
    assert r.actions == (RecreateConfigMap(BAD), UpdateDeploymentImage(NEW_IMAGE))
    after = apply_actions(o, r.actions)
    assert after.config_hash == config_hash(BAD)


def test_a_hand_edited_configmap_is_put_back_without_restarting_pods() -> None:
    d = desired()
    o = attrs.evolve(converged(d), configmap={"model": "edited"})
    assert reconcile(d, o, now=T0).actions == (RecreateConfigMap(GOOD),)


def test_pods_started_with_an_old_config_are_restarted() -> None:
    d = desired()
    o = attrs.evolve(converged(d), config_hash=config_hash(BAD))
    assert reconcile(d, o, now=T0).actions == (RestartPods(),)


# -- replicas mismatch: scale -------------------------------------------------------------------


@pytest.mark.parametrize("observed_replicas", [0, 1, 3, 10, 25])
def test_a_replica_mismatch_scales_to_the_spec(observed_replicas: int) -> None:
    d = desired(replicas=3)
    o = attrs.evolve(converged(d), replicas=observed_replicas, ready_replicas=0)
    r = reconcile(d, o, now=T0)
    expected = () if observed_replicas == 3 else (ScaleDeployment(3),)
    assert r.actions == expected


# -- canary management ----------------------------------------------------------------------------


def test_a_wanted_canary_is_created() -> None:
    o = converged(desired())
    assert reconcile(desired(canary=NEW_IMAGE), o, now=T0).actions == (CreateCanary(NEW_IMAGE),)


def test_a_canary_of_another_image_is_replaced() -> None:
    o = converged(desired(canary=NEW_IMAGE))
    r = reconcile(desired(canary="corail:3"), o, now=T0)
    assert r.actions == (CreateCanary("corail:3"),)


def test_an_unwanted_canary_is_deleted() -> None:
    o = converged(desired(canary=NEW_IMAGE))
    assert reconcile(desired(), o, now=T0).actions == (DeleteCanary(),)


def test_a_promoted_canary_rolls_the_stable_deployment_and_goes_away() -> None:
    o = converged(desired(canary=NEW_IMAGE))
    r = reconcile(desired(image=NEW_IMAGE), o, now=T0)
    assert r.actions == (UpdateDeploymentImage(NEW_IMAGE), DeleteCanary())


# -- secret propagation ---------------------------------------------------------------------------


def test_unmounted_secrets_are_mounted() -> None:
    o = converged(desired())
    d = desired(env_secrets=("agent-env", "team-env"), credential_secret="llm-keys")
    r = reconcile(d, o, now=T0)
    assert r.actions == (MountSecrets(("agent-env", "team-env"), "llm-keys"),)
    after = apply_actions(o, r.actions)
    assert after.mounted_secrets == {"agent-env", "team-env", "llm-keys"}


def test_a_secret_no_longer_declared_is_unmounted() -> None:
    o = converged(desired(credential_secret="llm-keys"))
    r = reconcile(desired(), o, now=T0)
    assert r.actions == (MountSecrets(("agent-env",), None),)


# -- pod unhealthy -> Failed; pod ready -> Running; otherwise Pending -----------------------------


@pytest.mark.parametrize("reason", ["CrashLoopBackOff", "ImagePullBackOff"])
def test_unhealthy_pods_make_the_agent_failed(reason: str) -> None:
    d = desired()
    o = attrs.evolve(converged(d), ready_replicas=0, waiting_reason=reason)
    r = reconcile(d, o, now=T0)
    assert (r.phase, r.reason, r.endpoint) == ("Failed", reason, None)
    assert r.actions == ()  # a failed agent is never torn down automatically


def test_an_unhealthy_pod_wins_over_ready_ones() -> None:
    d = desired()
    o = attrs.evolve(converged(d), ready_replicas=1, waiting_reason="CrashLoopBackOff")
    assert reconcile(d, o, now=T0).phase == "Failed"


def test_ready_pods_behind_the_service_make_the_agent_running() -> None:
    d = desired()
    r = reconcile(d, converged(d), now=T0)
    assert r.phase == "Running"
    assert r.ready_replicas == 2
    assert r.endpoint == "http://support-agent:8000"


def test_ready_pods_without_a_service_are_not_reachable_yet() -> None:
    d = desired()
    r = reconcile(d, attrs.evolve(converged(d), service=False), now=T0)
    assert r.phase == "Pending"
    assert r.actions == (CreateService(),)


def test_a_deployment_without_ready_pods_is_pending() -> None:
    d = desired()
    r = reconcile(d, attrs.evolve(converged(d), ready_replicas=0), now=T0)
    assert (r.phase, r.endpoint, r.reason) == ("Pending", None, None)


# -- stop and delete ------------------------------------------------------------------------------


def test_stop_scales_to_zero_and_terminates() -> None:
    o = converged(desired())
    r = reconcile(desired(stopped=True), o, now=T0)
    assert r.actions == (ScaleDeployment(0),)
    assert r.phase == "Terminated"
    assert r.requeue_after == timedelta(seconds=30)


def test_a_stopped_agent_keeps_its_objects() -> None:
    d = desired(stopped=True)
    after = apply_actions(converged(desired()), reconcile(d, converged(desired()), now=T0).actions)
    assert (after.deployment, after.service, after.configmap_present) == (True, True, True)
    assert (after.replicas, after.ready_replicas) == (0, 0)


def test_a_stopped_agent_runs_no_canary() -> None:
    o = converged(desired(canary=NEW_IMAGE))
    r = reconcile(desired(canary=NEW_IMAGE, stopped=True), o, now=T0)
    assert r.actions == (ScaleDeployment(0), DeleteCanary())


def test_a_config_change_while_stopped_restarts_nothing_until_restart() -> None:
    o = apply_actions(converged(desired()), (ScaleDeployment(0),))
    r = reconcile(desired(stopped=True, config=BAD), o, now=T0)
    assert r.actions == (RecreateConfigMap(BAD),)
    o = apply_actions(o, r.actions)
    restarted = reconcile(desired(config=BAD), o, now=T0)
    assert restarted.actions == (RestartPods(), ScaleDeployment(2))


def test_a_stopped_agent_without_a_deployment_gets_one_at_zero() -> None:
    r = reconcile(desired(stopped=True), ObservedState(), now=T0)
    assert CreateDeployment(IMAGE, 0, ("agent-env",), None) in r.actions


def test_delete_removes_everything_and_terminates() -> None:
    o = converged(desired(canary=NEW_IMAGE))
    r = reconcile(desired(deleted=True), o, now=T0)
    assert r.actions == (DeleteResources(),)
    assert (r.phase, r.deleted) == ("Terminated", True)
    assert {c.reason for c in r.conditions} == {"Deleted"}
    assert apply_actions(o, r.actions).nothing_left


def test_a_deleted_agent_with_nothing_left_is_not_requeued() -> None:
    r = reconcile(desired(deleted=True, stopped=True), ObservedState(), now=T0)
    assert (r.actions, r.requeue_after, r.phase) == ((), None, "Terminated")


def test_requeue_after_comes_from_the_policy() -> None:
    policy = Policy(requeue_after=timedelta(seconds=7))
    r = reconcile(desired(), ObservedState(), now=T0, policy=policy)
    assert r.requeue_after == timedelta(seconds=7)


# -- the simulated cluster ------------------------------------------------------------------------


def test_a_bad_config_crashes_until_the_config_is_fixed() -> None:
    crash = (Fault("CrashLoopBackOff", config=BAD),)
    o = converged(desired(config=BAD), crash)
    assert reconcile(desired(config=BAD), o, now=T0).phase == "Failed"
    fixed = reconcile(desired(), o, now=T0)
    assert fixed.phase == "Failed"  # the fix is in flight, the pods still crash
    o = apply_actions(o, fixed.actions, faults=crash)
    assert reconcile(desired(), o, now=T0).phase == "Running"


def test_a_missing_secret_fails_until_it_is_created() -> None:
    missing = (Fault("CreateContainerConfigError", secret="llm-keys"),)
    d = desired(credential_secret="llm-keys")
    o = converged(d, missing)
    assert reconcile(d, o, now=T0).reason == "CreateContainerConfigError"
    o = apply_actions(o, (), faults=())  # the Secret now exists; the kubelet retries
    assert reconcile(d, o, now=T0).phase == "Running"


def test_pods_started_before_their_configmap_wait_for_it() -> None:
    o = apply_actions(ObservedState(), (CreateDeployment(IMAGE, 1),))
    assert o.waiting_reason == MISSING_CONFIG_REASON
    r = reconcile(desired(replicas=1), o, now=T0)
    assert r.phase == "Failed"
    assert kinds(r) == [CreateConfigMap, CreateService, RestartPods]


def test_the_cluster_refuses_work_on_a_deployment_that_does_not_exist() -> None:
    with pytest.raises(InvalidInput, match="no Deployment"):
        apply_actions(ObservedState(), (ScaleDeployment(2),))


def test_the_cluster_refuses_an_action_it_does_not_know() -> None:
    with pytest.raises(InvalidInput, match="cannot perform"):
        apply_actions(ObservedState(), ("scale it up",))


def test_a_fault_must_say_what_it_strikes() -> None:
    with pytest.raises(InvalidInput, match="what it strikes"):
        Fault("CrashLoopBackOff")
    with pytest.raises(InvalidInput, match="waiting reason"):
        Fault(" ", image=IMAGE)
    with pytest.raises(InvalidInput, match="Fault values"):
        apply_actions(ObservedState(), (), faults=("CrashLoopBackOff",))  # type: ignore[arg-type]


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: DesiredSpec("Support_Agent"), "DNS-1123"),
        (lambda: DesiredSpec("a", spec={"image": IMAGE}), "RecifSpec"),
        (lambda: DesiredSpec("a", canary=""), "canary image"),
        (lambda: DesiredSpec("a", stopped="yes"), "stopped must be True or False"),
        (lambda: DesiredSpec("a", generation=0), "generation must be at least 1"),
        (lambda: DesiredSpec("a", generation=True), "generation must be a whole number"),
        (lambda: desired(replicas=11), "between 1 and 10"),
        (lambda: desired(replicas=0), "between 1 and 10"),
        (lambda: desired(env_secrets=("Agent_Env",)), "not a valid Secret name"),
        (lambda: desired(credential_secret=3), "credential_secret must be a Secret name"),
        (lambda: ObservedState(replicas=2), "without a Deployment"),
        (lambda: ObservedState(waiting_reason="CrashLoopBackOff"), "without a Deployment"),
        (lambda: ObservedState(deployment=True), "must have an image"),
        (lambda: ObservedState(deployment=True, image=IMAGE, replicas=-1), "at least 0"),
        (lambda: ObservedState(deployment=True, image=IMAGE, replicas=1.5), "whole number"),
        (lambda: ObservedState(mounted_secrets="agent-env"), "set of Secret names"),
        (lambda: ObservedState(configmap={"replicas": 3}), "strings"),
        (lambda: ObservedState(service=1), "service must be True or False"),
    ],
)
def test_bad_input_gets_a_clear_error(build: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build()


def test_reconcile_rejects_a_naive_time_and_wrong_types() -> None:
    d, o = desired(), ObservedState()
    with pytest.raises(InvalidInput, match="timezone-aware"):
        reconcile(d, o, now=datetime(2026, 4, 3, 10, 0))  # naive on purpose
    with pytest.raises(InvalidInput, match="DesiredSpec"):
        reconcile(d.spec, o, now=T0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="ObservedState"):
        reconcile(d, {}, now=T0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="Condition"):
        reconcile(d, o, now=T0, previous_conditions=("Ready",))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="Policy"):
        reconcile(d, o, now=T0, policy=30)  # type: ignore[arg-type]


# -- the desired spec of a machine's agent --------------------------------------------------------


def _snapshot(status: str, **data: Any) -> Any:
    snap = RECIF.initial(RecifAgent("support-agent", **data), T0)
    return snap._replace(status=status)


def test_the_desired_spec_follows_the_machine_status() -> None:
    spec = RecifSpec(image=NEW_IMAGE, replicas=4)
    running = DesiredSpec.from_snapshot(_snapshot("Running", spec=spec, canary="c:1", generation=3))
    assert (running.image, running.replicas, running.canary, running.generation) == (
        NEW_IMAGE,
        4,
        "c:1",
        3,
    )
    assert not running.stopped
    assert not running.deleted
    assert DesiredSpec.from_snapshot(_snapshot("Terminated")).stopped
    assert DesiredSpec.from_snapshot(_snapshot("deleted")).deleted


def test_an_agent_never_deployed_has_nothing_to_reconcile() -> None:
    with pytest.raises(InvalidInput, match="never deployed"):
        DesiredSpec.from_snapshot(_snapshot("created"))
    with pytest.raises(InvalidInput, match="RecifAgent"):
        DesiredSpec.from_snapshot(_snapshot("Running")._replace(data="support-agent"))


# -- phase_event ----------------------------------------------------------------------------------


def test_phase_event_reports_ready_pods_to_a_pending_agent() -> None:
    d = desired()
    event = phase_event("Pending", reconcile(d, converged(d), now=T0))
    assert event == Event(
        "pods_ready",
        Actor.SYSTEM,
        {"ready_replicas": 2, "endpoint": "http://support-agent:8000"},
    )


def test_phase_event_reports_unhealthy_pods_to_a_running_agent() -> None:
    crash = (Fault("ImagePullBackOff", image=BAD_IMAGE),)
    d = desired(image=BAD_IMAGE)
    event = phase_event("Running", reconcile(d, converged(d, crash), now=T0))
    assert event is not None
    assert (event.name, event.actor, event.payload["reason"]) == (
        "pods_unhealthy",
        Actor.SYSTEM,
        "ImagePullBackOff",
    )


@pytest.mark.parametrize("previous", ["Running", "Terminated", "deleted", "created"])
def test_phase_event_is_silent_when_the_machine_has_no_platform_row(previous: str) -> None:
    d = desired()
    assert phase_event(previous, reconcile(d, converged(d), now=T0)) is None


def test_phase_event_rejects_an_unknown_status() -> None:
    d = desired()
    with pytest.raises(InvalidInput, match="unknown Recif status"):
        phase_event("running", reconcile(d, ObservedState(), now=T0))
    with pytest.raises(InvalidInput, match="ReconcileResult"):
        phase_event("Running", "Running")  # type: ignore[arg-type]


# == properties ===================================================================================

IMAGES = st.sampled_from([IMAGE, NEW_IMAGE, BAD_IMAGE])
CONFIGS = st.sampled_from([GOOD, BAD, {}, {"model": "claude", "tools": "search"}])
SECRETS = st.sampled_from(["agent-env", "team-env", "llm-keys"])
REASONS = st.sampled_from(["CrashLoopBackOff", "ImagePullBackOff", "CreateContainerConfigError"])


@st.composite
def desired_specs(draw: st.DrawFn) -> DesiredSpec:
    spec = RecifSpec(
        image=draw(IMAGES),
        replicas=draw(st.integers(1, 10)),
        config=draw(CONFIGS),
        env_secrets=tuple(draw(st.lists(SECRETS, min_size=1, max_size=2, unique=True))),
        credential_secret=draw(st.none() | SECRETS),
    )
    return DesiredSpec(
        draw(st.sampled_from(["support-agent", "a", "agent-7"])),
        spec,
        canary=draw(st.none() | IMAGES),
        stopped=draw(st.booleans()),
        deleted=draw(st.booleans()),
        generation=draw(st.integers(1, 50)),
    )


@st.composite
def observed_states(draw: st.DrawFn) -> ObservedState:
    common: dict[str, Any] = {
        "service": draw(st.booleans()),
        "configmap": draw(st.none() | CONFIGS),
        "canary_image": draw(st.none() | IMAGES),
    }
    if not draw(st.booleans()):
        return ObservedState(**common)
    return ObservedState(
        deployment=True,
        image=draw(IMAGES),
        replicas=draw(st.integers(0, 14)),
        config_hash=draw(st.none() | CONFIGS.map(config_hash)),
        mounted_secrets=frozenset(draw(st.lists(SECRETS, max_size=3))),
        ready_replicas=draw(st.integers(0, 14)),
        waiting_reason=draw(st.none() | REASONS),
        **common,
    )


faults = st.lists(
    st.one_of(
        st.builds(Fault, REASONS, image=IMAGES),
        st.builds(Fault, REASONS, config=CONFIGS),
        st.builds(Fault, REASONS, secret=SECRETS),
    ),
    max_size=2,
).map(tuple)

times = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
)


def step(d: DesiredSpec, o: ObservedState, fs: tuple[Fault, ...]) -> ObservedState:
    """One turn of the operator: reconcile, then perform what it asked."""
    return apply_actions(o, reconcile(d, o, now=T0).actions, faults=fs)


@settings(max_examples=200)
@given(desired_specs(), observed_states(), faults)
def test_convergence_performing_the_actions_leaves_nothing_to_do(
    d: DesiredSpec, o: ObservedState, fs: tuple[Fault, ...]
) -> None:
    after = step(d, o, fs)
    assert reconcile(d, after, now=T0).actions == ()
    # ... and the cluster then shows what was declared, not merely something stable.
    if d.deleted:
        assert after.nothing_left
        return
    assert (after.deployment, after.service, after.configmap) == (True, True, d.config)
    assert (after.image, after.replicas) == (d.image, 0 if d.stopped else d.replicas)
    assert after.mounted_secrets == {*d.spec.env_secrets, d.spec.credential_secret} - {None}
    assert after.canary_image == (None if d.stopped else d.canary)
    if not d.stopped:
        assert after.config_hash == config_hash(d.config)


@given(desired_specs(), observed_states(), faults, times)
def test_idempotence_reconciling_twice_is_reconciling_once(
    d: DesiredSpec, o: ObservedState, fs: tuple[Fault, ...], now: datetime
) -> None:
    first = reconcile(d, o, now=now)
    assert reconcile(d, o, now=now) == first
    once = apply_actions(o, first.actions, faults=fs)
    assert apply_actions(once, first.actions, faults=fs) == once
    assert step(d, once, fs) == once  # a second turn of the loop changes nothing


@settings(max_examples=50)
@given(
    desired_specs(),
    observed_states(),
    st.lists(st.tuples(desired_specs(), observed_states()), max_size=3),
)
def test_level_triggered_nothing_but_the_current_inputs_counts(
    d: DesiredSpec, o: ObservedState, others: list[tuple[DesiredSpec, ObservedState]]
) -> None:
    alone = reconcile(d, o, now=T0)
    for other_d, other_o in others:
        reconcile(other_d, other_o, now=T0)
    assert reconcile(d, o, now=T0) == alone


@given(desired_specs(), observed_states(), desired_specs(), observed_states(), times)
def test_previous_conditions_only_carry_transition_times(
    d: DesiredSpec, o: ObservedState, d0: DesiredSpec, o0: ObservedState, later: datetime
) -> None:
    previous = reconcile(d0, o0, now=T0).conditions
    fresh = reconcile(d, o, now=later)
    remembered = reconcile(d, o, now=later, previous_conditions=previous)
    assert attrs.evolve(remembered, conditions=()) == attrs.evolve(fresh, conditions=())
    for new, old in zip(remembered.conditions, fresh.conditions, strict=True):
        assert attrs.evolve(new, last_transition_time=T0) == attrs.evolve(
            old, last_transition_time=T0
        )


@given(
    st.lists(desired_specs(), min_size=1, max_size=5),
    observed_states(),
    faults,
)
def test_missed_intermediate_specs_do_not_matter(
    history: list[DesiredSpec], o: ObservedState, fs: tuple[Fault, ...]
) -> None:
    """Going through every spec, or straight to the last one, ends in the same place."""
    final = history[-1]
    walked = o
    for d in history:
        walked = step(d, walked, fs)
    direct = step(final, o, fs)
    assert reconcile(final, walked, now=T0) == reconcile(final, direct, now=T0)
    if not final.stopped:  # a stopped Deployment's template may remember an older config
        assert walked == direct


@given(desired_specs(), observed_states())
def test_replicas_stay_within_bounds_or_zero_when_stopped(d: DesiredSpec, o: ObservedState) -> None:
    counts = [a.replicas for a in reconcile(d, o, now=T0).actions if hasattr(a, "replicas")]
    for n in counts:
        if d.stopped:
            assert n == 0
        else:
            assert 1 <= n <= 10
            assert n == d.replicas


@given(desired_specs(), observed_states(), faults)
def test_deleted_always_ends_with_nothing_left(
    d: DesiredSpec, o: ObservedState, fs: tuple[Fault, ...]
) -> None:
    gone = attrs.evolve(d, deleted=True)
    first = reconcile(gone, o, now=T0)
    assert first.phase == "Terminated"
    after = apply_actions(o, first.actions, faults=fs)
    assert after.nothing_left
    assert after.ready_replicas == 0
    last = reconcile(gone, after, now=T0)
    assert (last.actions, last.requeue_after) == ((), None)


@given(desired_specs(), observed_states(), st.sampled_from(["config", "image", "secret"]), REASONS)
def test_a_failed_agent_returns_to_running_once_its_fault_is_removed(
    d: DesiredSpec, o: ObservedState, cause: str, reason: str
) -> None:
    d = attrs.evolve(d, stopped=False, deleted=False)
    matchers: dict[str, dict[str, Any]] = {
        "config": {"config": d.config},
        "image": {"image": d.image},
        "secret": {"secret": d.spec.env_secrets[0]},
    }
    what = matchers[cause]
    fault = (Fault(reason, **what),)
    o = step(d, o, fault)
    broken = reconcile(d, o, now=T0)
    assert (broken.phase, broken.reason) == ("Failed", reason)
    # Fix the cause: a config or image the fault does not strike, or create the Secret.
    fixed = d
    if cause == "config":
        fixed = attrs.evolve(d, spec=attrs.evolve(d.spec, config={**d.config, "fixed": "yes"}))
    elif cause == "image":
        fixed = attrs.evolve(d, spec=attrs.evolve(d.spec, image="corail:fixed"))
    still = fault if cause != "secret" else ()
    o = step(fixed, o, still)
    assert reconcile(fixed, o, now=T0).phase == "Running"


# -- agreement with the RECIF machine -------------------------------------------------------------

USER_STEPS = st.one_of(
    st.just(("deploy", {})),
    st.just(("stop", {})),
    st.just(("restart", {})),
    st.just(("delete", {})),
    st.just(("promote_canary", {})),
    st.builds(lambda c: ("update_config", {"config": c}), CONFIGS),
    st.builds(lambda i: ("update_config", {"image": i}), IMAGES),
    st.builds(lambda n: ("scale", {"replicas": n}), st.integers(1, 10)),
    st.builds(lambda i: ("start_canary", {"image": i}), IMAGES),
)
CLUSTER_STEPS: st.SearchStrategy[tuple[str, dict[str, Any]]] = st.sampled_from(
    [("secret_missing", {}), ("secret_created", {}), ("tick", {})]
)
ALWAYS = (Fault("CrashLoopBackOff", config=BAD), Fault("ImagePullBackOff", image=BAD_IMAGE))
MISSING_SECRET = Fault("CreateContainerConfigError", secret="agent-env")


def _feed(snapshot: Any, result: ReconcileResult, now: datetime) -> Any:
    event = phase_event(snapshot.status, result)
    if event is None:
        return snapshot
    outcome = decide(RECIF, snapshot, event, Context(now))
    assert not isinstance(outcome, Refusal), outcome
    return outcome.snapshot


@settings(max_examples=150)
@given(st.lists(st.one_of(USER_STEPS, CLUSTER_STEPS), max_size=25))
def test_the_machine_follows_the_reconciled_phase(steps: list[tuple[str, dict[str, Any]]]) -> None:
    """Deploy, then any mix of user actions and cluster changes: the phases never disagree."""
    steps = [("deploy", {}), *steps]
    agent = RecifAgent("support-agent", RecifSpec(image=IMAGE, replicas=2, config=GOOD))
    snapshot = RECIF.initial(agent, T0)
    observed = ObservedState()
    secret_missing = False
    for i, (name, payload) in enumerate(steps):
        now = T0 + timedelta(minutes=i)
        if name in ("secret_missing", "secret_created"):
            secret_missing = name == "secret_missing"
        elif name != "tick":
            outcome = decide(RECIF, snapshot, Event(name, Actor.USER, payload), Context(now))
            if not isinstance(outcome, Refusal):
                snapshot = outcome.snapshot
        if snapshot.status == "created":
            continue
        fs = (*ALWAYS, MISSING_SECRET) if secret_missing else ALWAYS
        d = DesiredSpec.from_snapshot(snapshot)
        first = reconcile(d, observed, now=now)
        snapshot = _feed(snapshot, first, now)
        assert phase_of(snapshot) == first.phase
        observed = apply_actions(observed, first.actions, faults=fs)
        second = reconcile(d, observed, now=now)
        assert second.actions == ()
        snapshot = _feed(snapshot, second, now)
        assert phase_of(snapshot) == second.phase
        statuses = [(c.type, c.status) for c in snapshot.data.conditions]
        assert statuses == [(c.type, c.status) for c in second.conditions]


# -- gaps the mutation run found ------------------------------------------------------------------


def test_a_secrets_change_with_a_config_change_rolls_once() -> None:
    o = converged(desired())
    d = desired(config=BAD, credential_secret="llm-keys")
    r = reconcile(d, o, now=T0)
    assert r.actions == (RecreateConfigMap(BAD), MountSecrets(("agent-env",), "llm-keys"))


def test_a_deleted_agent_reports_no_ready_pods_while_they_are_removed() -> None:
    o = converged(desired())
    assert o.ready_replicas == 2
    r = reconcile(desired(deleted=True), o, now=T0)
    assert (r.ready_replicas, r.endpoint, r.deleted) == (0, None, True)


def test_a_converged_agent_is_still_requeued() -> None:
    d = desired()
    r = reconcile(d, converged(d), now=T0)
    assert r.converged
    assert r.requeue_after == Policy().requeue_after


def test_conditions_carry_the_generation_the_time_and_the_reason() -> None:
    crash = (Fault("CrashLoopBackOff", config=BAD),)
    d = desired(config=BAD, generation=4)
    r = reconcile(d, converged(d, crash), now=T0 + timedelta(minutes=3))
    assert r.phase == "Failed"
    assert {c.observed_generation for c in r.conditions} == {4}
    assert {c.last_transition_time for c in r.conditions} == {T0 + timedelta(minutes=3)}
    (degraded,) = [c for c in r.conditions if c.type == "Degraded"]
    assert degraded.reason == "CrashLoopBackOff"


def test_an_unhealthy_phase_event_carries_the_degraded_message() -> None:
    crash = (Fault("CrashLoopBackOff", config=BAD),)
    d = desired(config=BAD)
    result = reconcile(d, converged(d, crash), now=T0)
    (degraded,) = [c for c in result.conditions if c.type == "Degraded"]
    assert degraded.message
    event = phase_event("Running", result)
    assert event is not None
    assert event.payload == {"reason": "CrashLoopBackOff", "message": degraded.message}


def test_phase_event_reports_only_platform_moves_that_change_the_phase() -> None:
    d = desired()
    running = reconcile(d, converged(d), now=T0)
    assert phase_event("Running", running) is None  # in place: no event every resync
    assert phase_event("Failed", running) is not None  # Failed -> Running is a platform row
    pending = reconcile(d, ObservedState(), now=T0)
    assert phase_event("Running", pending) is None  # no platform row leaves Running for Pending


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: reconcile(7, ObservedState(), now=T0), "DesiredSpec, not int"),
        (lambda: reconcile(desired(), 7, now=T0), "ObservedState, not int"),
        (lambda: reconcile(desired(), ObservedState(), now=T0, policy=7), "Policy, not int"),
        (
            lambda: reconcile(desired(), ObservedState(), now=T0, previous_conditions=7),
            "sequence of Condition, not int",
        ),
        (lambda: phase_event("Running", 7), "ReconcileResult, not int"),
        (
            lambda: phase_event("Sleeping", reconcile(desired(), ObservedState(), now=T0)),
            "use one of created, Pending, Running",
        ),
    ],
)
def test_wrong_arguments_are_named_in_the_error(call: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        call()
