"""Every row of the Recif table in models.md, one example per source state, and its conditions.

The expected effects and data are written out from the document; the conditions are checked
against the rule "derived consistently with the phase" (Ready and Available True only when
Running, Degraded True only when Failed, Progressing True only while Pending).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from agentfsm import Actor, Context, Event, InvalidInput, Refusal, Snapshot, Step, decide
from agentfsm.effects import (
    AgentCanaryPromoted,
    AgentConfigChanged,
    AgentDeleted,
    AgentDeployed,
    CreateCanary,
    CreateConfigMap,
    CreateDeployment,
    CreateService,
    DeleteResources,
    Emit,
    RecordEvents,
    RecreateConfigMap,
    RestartPods,
    ScaleDeployment,
    UpdateDeploymentImage,
)
from agentfsm.models import RECIF, RecifAgent, RecifSpec, derive_conditions, phase_of

U, S = Actor.USER, Actor.SYSTEM
T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
EARLIER = T0 - timedelta(hours=1)
CTX = Context(T0)
SLUG = "support-agent"
IMAGE = "ghcr.io/acme/corail:1.4"
CONFIG = {"model_type": "openai", "strategy": "react", "tools": "search,calendar"}
SPEC = RecifSpec(image=IMAGE, replicas=2, config=CONFIG)
ENDPOINT = f"http://{SLUG}.agents.svc:8000"
VERSION = 5

ACTIVE = ("Pending", "Running", "Failed")


def agent_in(state: str, **changes: Any) -> Snapshot:
    """A Recif agent as it really is in ``state``, in it for an hour."""
    data = RecifAgent(SLUG, SPEC)
    if state == "Pending":  # deployed, waiting for pods: AgentDeployed is still due
        data = attrs.evolve(data, release_due=True)
    elif state == "Running":
        data = attrs.evolve(data, ready_replicas=2, endpoint=ENDPOINT)
    elif state == "Failed":
        data = attrs.evolve(data, last_reason="CrashLoopBackOff", endpoint=ENDPOINT)
    elif state == "Terminated":
        data = attrs.evolve(data, endpoint=ENDPOINT)
    elif state == "deleted":
        data = attrs.evolve(data, deleted_at=EARLIER)
    data = attrs.evolve(data, **changes)
    conditions = derive_conditions(state, data.generation, EARLIER, (), data.last_reason)
    return Snapshot(state, VERSION, EARLIER, attrs.evolve(data, conditions=conditions))


def assert_conditions_match(snapshot: Snapshot) -> None:
    """The four conditions agree with the state (none before the first deploy)."""
    data = snapshot.data
    if snapshot.status == "created":
        assert data.conditions == ()
        return
    by_type = {c.type: c for c in data.conditions}
    assert [c.type for c in data.conditions] == ["Ready", "Available", "Progressing", "Degraded"]
    running, failed = snapshot.status == "Running", snapshot.status == "Failed"
    assert by_type["Ready"].status == ("True" if running else "False")
    assert by_type["Available"].status == ("True" if running else "False")
    assert by_type["Degraded"].status == ("True" if failed else "False")
    assert by_type["Progressing"].status == ("True" if snapshot.status == "Pending" else "False")
    for c in data.conditions:
        assert c.observed_generation == data.generation
        assert c.reason
        assert c.reason[0].isupper()  # a CamelCase machine word
        assert c.message
    if failed:
        assert by_type["Degraded"].reason == data.last_reason


def step(before: Snapshot, name: str, actor: Actor = U, **payload: Any) -> Step:
    result = decide(RECIF, before, Event(name, actor, payload), CTX)
    assert isinstance(result, Step), result
    after = result.snapshot
    assert after.version == before.version + 1
    assert after.since == (before.since if after.status == before.status else T0)
    assert after.data.slug == before.data.slug
    assert_conditions_match(after)
    return result


def test_deploy_creates_the_resources() -> None:
    before = agent_in("created")
    result = step(before, "deploy")
    assert result.snapshot.status == "Pending"
    assert result.snapshot.data.release_due
    # The ConfigMap comes first, so the pods never start without the configuration they mount.
    assert result.effects == (
        CreateConfigMap(CONFIG),
        CreateService((8000, 8001)),
        CreateDeployment(IMAGE, 2, ("agent-env",), None),
    )


def test_deploy_uses_the_declared_env_secrets() -> None:
    spec = RecifSpec(image=IMAGE, env_secrets=("team-keys",), credential_secret="gcp-sa")
    before = Snapshot("created", 0, EARLIER, RecifAgent(SLUG, spec))
    result = step(before, "deploy")
    assert result.effects[-1] == CreateDeployment(IMAGE, 1, ("team-keys",), "gcp-sa")


@pytest.mark.parametrize(
    ("source", "due"), [("Pending", True), ("Failed", False), ("Failed", True)]
)
def test_pods_ready(source: str, due: bool) -> None:
    before = agent_in(source, release_due=due)
    result = step(before, "pods_ready", S, ready_replicas=2, endpoint=ENDPOINT)
    data = result.snapshot.data
    assert result.snapshot.status == "Running"
    assert (data.ready_replicas, data.endpoint, data.release_due) == (2, ENDPOINT, False)
    assert data.last_reason is None
    deployed = Emit(AgentDeployed(SLUG, T0, IMAGE, 2, CONFIG))
    # AgentDeployed only after a deploy or a restart (release_due), never on a recovery.
    assert result.effects == ((deployed,) if due else ())


def test_pods_ready_without_an_endpoint_uses_the_service() -> None:
    result = step(agent_in("Pending"), "pods_ready", S, ready_replicas=1)
    assert result.snapshot.data.endpoint == f"http://{SLUG}:8000"


@pytest.mark.parametrize("source", ["Pending", "Running"])
def test_pods_unhealthy(source: str) -> None:
    before = agent_in(source)
    result = step(before, "pods_unhealthy", S, reason="ImagePullBackOff", message="image not found")
    data = result.snapshot.data
    assert result.snapshot.status == "Failed"
    assert (data.ready_replicas, data.last_reason) == (0, "ImagePullBackOff")
    assert result.effects == (RecordEvents("ImagePullBackOff", "image not found"),)


@pytest.mark.parametrize("source", ACTIVE)
def test_stop_scales_to_zero_and_keeps_the_record(source: str) -> None:
    before = agent_in(source)
    result = step(before, "stop")
    assert result.snapshot.status == "Terminated"
    assert result.effects == (ScaleDeployment(0),)
    data = result.snapshot.data
    assert data.ready_replicas == 0
    assert data.spec == SPEC
    assert data.deleted_at is None


def test_restart_scales_back_and_makes_a_release_due() -> None:
    result = step(agent_in("Terminated"), "restart")
    assert result.snapshot.status == "Pending"
    assert result.snapshot.data.release_due
    assert result.effects == (ScaleDeployment(2),)


NEW_CONFIG = {"model_type": "anthropic", "strategy": "plan"}


@pytest.mark.parametrize("source", [*ACTIVE, "Terminated"])
def test_update_config(source: str) -> None:
    before = agent_in(source)
    result = step(before, "update_config", config=NEW_CONFIG)
    after = result.snapshot
    assert after.status == source
    assert after.data.spec == attrs.evolve(SPEC, config=NEW_CONFIG)
    assert after.data.generation == before.data.generation + 1
    changed = Emit(AgentConfigChanged(SLUG, T0, IMAGE, 2, NEW_CONFIG))
    # A stopped agent has no pods to restart.
    restart = () if source == "Terminated" else (RestartPods(),)
    assert result.effects == (RecreateConfigMap(NEW_CONFIG), *restart, changed)


def test_update_config_with_a_new_image_rolls_it_out() -> None:
    result = step(agent_in("Running"), "update_config", image="ghcr.io/acme/corail:1.5")
    assert result.effects[0] == UpdateDeploymentImage("ghcr.io/acme/corail:1.5")
    assert result.snapshot.data.spec.image == "ghcr.io/acme/corail:1.5"
    assert result.snapshot.data.spec.config == CONFIG


@pytest.mark.parametrize("source", ACTIVE)
@pytest.mark.parametrize("replicas", [1, 5, 10])
def test_scale_within_bounds(source: str, replicas: int) -> None:
    before = agent_in(source)
    result = step(before, "scale", replicas=replicas)
    assert result.snapshot.status == source
    assert result.snapshot.data.spec.replicas == replicas
    assert result.snapshot.data.generation == before.data.generation + 1
    assert result.effects == (ScaleDeployment(replicas),)


@pytest.mark.parametrize("replicas", [0, 11, -1, 1000])
def test_scale_outside_bounds_is_refused(replicas: int) -> None:
    before = agent_in("Running")
    result = decide(RECIF, before, Event("scale", U, {"replicas": replicas}), CTX)
    assert isinstance(result, Refusal)
    assert (result.code, result.guard) == ("replicas_out_of_range", "replicas_in_range")
    assert before == agent_in("Running")


def test_start_and_promote_a_canary() -> None:
    started = step(agent_in("Running"), "start_canary", image="ghcr.io/acme/corail:2.0")
    assert started.snapshot.data.canary == "ghcr.io/acme/corail:2.0"
    assert started.effects == (CreateCanary("ghcr.io/acme/corail:2.0"),)
    promoted = step(started.snapshot, "promote_canary")
    data = promoted.snapshot.data
    assert promoted.snapshot.status == "Running"
    assert (data.spec.image, data.canary) == ("ghcr.io/acme/corail:2.0", None)
    assert data.generation == started.snapshot.data.generation + 1
    assert promoted.effects == (
        UpdateDeploymentImage("ghcr.io/acme/corail:2.0"),
        Emit(AgentCanaryPromoted(SLUG, T0, "ghcr.io/acme/corail:2.0", 2, CONFIG)),
    )


def test_promote_needs_a_canary() -> None:
    result = decide(RECIF, agent_in("Running"), Event("promote_canary", U), CTX)
    assert isinstance(result, Refusal)
    assert (result.code, result.guard) == ("no_canary", "canary_exists")


@pytest.mark.parametrize("source", ["created", *ACTIVE, "Terminated"])
def test_delete(source: str) -> None:
    before = agent_in(source)
    result = step(before, "delete")
    after = result.snapshot
    assert after.status == "deleted"
    assert after.data.deleted_at == T0
    teardown = () if source == "created" else (DeleteResources(),)
    assert result.effects == (*teardown, Emit(AgentDeleted(SLUG, T0)))


def test_a_running_agent_reports_a_new_ready_count_without_a_release() -> None:
    running = step(agent_in("Pending"), "pods_ready", S, ready_replicas=1).snapshot
    result = step(running, "pods_ready", S, ready_replicas=3)
    assert isinstance(result, Step)
    assert result.snapshot.status == "Running"
    assert result.snapshot.data.ready_replicas == 3
    assert result.snapshot.since == running.since
    assert not [e for e in result.effects if isinstance(e, Emit)]


def test_every_row_of_the_document_is_refused_elsewhere() -> None:
    # The document's sources, row by row; every other (state, event) pair is refused.
    allowed = {
        "deploy": {"created"},
        # Running -> Running is ours: the operator reports a changed ready count.
        "pods_ready": {"Pending", "Failed", "Running"},
        "pods_unhealthy": {"Pending", "Running"},
        "stop": set(ACTIVE),
        "restart": {"Terminated"},
        "update_config": {*ACTIVE, "Terminated"},
        "scale": set(ACTIVE),
        "promote_canary": {"Running"},
        "delete": {"created", *ACTIVE, "Terminated"},
    }
    payloads: dict[str, dict[str, Any]] = {
        "pods_ready": {"ready_replicas": 1},
        "pods_unhealthy": {"reason": "CrashLoopBackOff"},
        "update_config": {"config": NEW_CONFIG},
        "scale": {"replicas": 3},
    }
    for event, sources in allowed.items():
        actor = S if event.startswith("pods_") else U
        for state in ("created", *ACTIVE, "Terminated", "deleted"):
            before = agent_in(state, canary="ghcr.io/acme/corail:2.0")
            result = decide(RECIF, before, Event(event, actor, payloads.get(event)), CTX)
            assert result.accepted == (state in sources), (event, state, result)
            if not result.accepted:
                assert isinstance(result, Refusal)
                assert result.code == "not_allowed_from_status"


def test_agent_deployed_only_after_deploy_or_restart() -> None:
    emitted: list[object] = []
    snap = agent_in("created")
    moves: list[tuple[str, Actor, dict[str, Any]]] = [
        ("deploy", U, {}),
        ("pods_ready", S, {"ready_replicas": 2}),  # release v1
        ("pods_unhealthy", S, {"reason": "CrashLoopBackOff"}),
        ("pods_ready", S, {"ready_replicas": 2}),  # recovered: no release
        ("scale", U, {"replicas": 3}),
        ("stop", U, {}),
        ("restart", U, {}),
        ("pods_unhealthy", S, {"reason": "OOMKilled"}),
        ("pods_ready", S, {"ready_replicas": 3}),  # restarted, finally ready: release
    ]
    for name, actor, payload in moves:
        result = step(snap, name, actor, **payload)
        emitted += [e.event for e in result.effects if isinstance(e, Emit)]
        snap = result.snapshot
    deployed = [e for e in emitted if isinstance(e, AgentDeployed)]
    assert len(deployed) == 2
    assert deployed[1].replicas == 3


def test_conditions_keep_their_transition_time_while_unchanged() -> None:
    running = step(agent_in("Pending"), "pods_ready", S, ready_replicas=2).snapshot
    ready = {c.type: c for c in running.data.conditions}["Ready"]
    assert ready.last_transition_time == T0
    later = Context(T0 + timedelta(minutes=5))
    scaled = decide(RECIF, running, Event("scale", U, {"replicas": 4}), later)
    assert isinstance(scaled, Step)
    after = {c.type: c for c in scaled.snapshot.data.conditions}
    assert after["Ready"].last_transition_time == T0
    assert after["Ready"].observed_generation == running.data.generation + 1


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("created", None),
        ("Pending", "Pending"),
        ("Running", "Running"),
        ("Failed", "Failed"),
        ("Terminated", "Terminated"),
        ("deleted", "Terminated"),
    ],
)
def test_phase_mapping(state: str, phase: str | None) -> None:
    assert phase_of(agent_in(state)) == phase


@pytest.mark.parametrize("status", ["bogus", "running", None])
def test_regression_phase_of_an_unknown_status_is_invalid_input(status: object) -> None:
    # phase_of used to raise a bare KeyError from MachineSpec.state.
    with pytest.raises(InvalidInput, match="no status"):
        phase_of(Snapshot(status, 0, T0, RecifAgent(SLUG)))  # type: ignore[arg-type]


def test_regression_env_secrets_given_as_one_name() -> None:
    # tuple("agent-env") used to split a lone Secret name into characters.
    assert RecifSpec(env_secrets="team-keys").env_secrets == ("team-keys",)
    assert RecifSpec(env_secrets=["a", "b"]).env_secrets == ("a", "b")
    for bad in (None, 3, ("ok", ""), ("ok", 4)):
        with pytest.raises(InvalidInput, match="env_secrets"):
            RecifSpec(env_secrets=bad)


# -- payload fields the table requires, deletion and secret names ---------------------------------


@pytest.mark.parametrize(
    ("state", "name", "actor"),
    [
        ("Pending", "pods_ready", S),
        ("Running", "pods_unhealthy", S),
        ("Running", "start_canary", U),
        ("Running", "scale", U),
    ],
)
def test_a_required_field_that_is_missing_is_an_invalid_payload(
    state: str, name: str, actor: Actor
) -> None:
    result = decide(RECIF, agent_in(state), Event(name, actor, {}), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "invalid_payload"


def test_delete_drops_the_canary() -> None:
    result = step(agent_in("Running", canary="ghcr.io/acme/corail:1.5"), "delete")
    assert result.snapshot.status == "deleted"
    assert result.snapshot.data.canary is None


@pytest.mark.parametrize("name", ["Bad_Name", "", "-lead", "UPPER", 7])
def test_a_credential_secret_must_be_a_dns_label(name: object) -> None:
    with pytest.raises(InvalidInput, match="credential_secret"):
        RecifSpec(credential_secret=name)  # type: ignore[arg-type]


def test_phase_of_an_unknown_status_lists_the_states() -> None:
    with pytest.raises(InvalidInput) as caught:
        phase_of(Snapshot("bogus", 0, T0, RecifAgent(SLUG)))
    states = "created, Pending, Running, Failed, Terminated, deleted"
    assert str(caught.value) == f"the recif model has no status 'bogus'; its states are {states}"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"replicas": True}, "replicas must be a whole number, not True"),
        ({"replicas": "3"}, "replicas must be a whole number, not '3'"),
        ({"replicas": 0}, "replicas must be between 1 and 10, not 0"),
        ({"replicas": 11}, "replicas must be between 1 and 10, not 11"),
        ({"config": {"model": 1}}, "config values must be strings; 'model' is a int"),
        ({"image": ""}, "an image must not be empty"),
    ],
)
def test_a_spec_out_of_bounds_is_refused_with_what_is_wrong(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        RecifSpec(**changes)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("name", "payload", "guard"),
    [
        ("pods_ready", {"ready_replicas": 0}, "pods_are_ready"),
        ("pods_unhealthy", {"reason": "   "}, "reason_given"),
    ],
)
def test_pod_reports_without_substance_are_refused(
    name: str, payload: dict[str, Any], guard: str
) -> None:
    result = decide(RECIF, agent_in("Pending"), Event(name, S, payload), CTX)
    assert isinstance(result, Refusal)
    assert result.guard == guard


@pytest.mark.parametrize("payload", [{}, {"image": "Bad Image"}])
def test_update_config_needs_a_valid_change(payload: dict[str, Any]) -> None:
    result = decide(RECIF, agent_in("Running"), Event("update_config", U, payload), CTX)
    assert isinstance(result, Refusal)
    assert result.guard == "spec_valid"


def test_a_deleted_agent_reports_no_ready_replicas() -> None:
    before = agent_in("Running")
    assert before.data.ready_replicas == 2
    result = decide(RECIF, before, Event("delete", U), CTX)
    assert isinstance(result, Step)
    assert result.snapshot.data.ready_replicas == 0


def test_an_unhealthy_report_without_a_message_records_an_empty_one() -> None:
    event = Event("pods_unhealthy", S, {"reason": "CrashLoopBackOff"})
    result = decide(RECIF, agent_in("Running"), event, CTX)
    assert isinstance(result, Step)
    assert RecordEvents("CrashLoopBackOff", "") in result.effects
