"""``KubernetesHost`` against ``FakeKubernetesApi``: writes, reads, and what API failures become."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import urllib3.exceptions
from k8s_helpers import CONFIG, IMAGE, NAMESPACE, SLUG, SPEC, T0
from kubernetes.client.exceptions import ApiException

from agentfsm import InvalidInput
from agentfsm import effects as fx
from agentfsm.kubernetes import (
    CONFIG_HASH_ANNOTATION,
    INCOMPLETE_CANARY,
    MAX_CONFLICTS,
    FakeKubernetesApi,
    KubernetesHost,
    deployment,
)
from agentfsm.recif import DeleteCanary, DesiredSpec, MountSecrets, ObservedState, config_hash
from agentfsm.runtime import PermanentError, TemporaryError

DESIRED = DesiredSpec(SLUG, SPEC)


@pytest.fixture
def fake() -> FakeKubernetesApi:
    return FakeKubernetesApi()


@pytest.fixture
def host(fake: FakeKubernetesApi) -> KubernetesHost:
    return KubernetesHost(fake, fake, namespace=NAMESPACE, clock=lambda: T0)


def _live_template(fake: FakeKubernetesApi, name: str = SLUG) -> object:
    return fake.get("Deployment", NAMESPACE, name).spec.template


# -- applying ---------------------------------------------------------------------------------


def test_apply_creates_the_three_objects_and_observes_them(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    host.apply(DESIRED)
    for kind in ("Deployment", "Service", "ConfigMap"):
        assert fake.names(kind, NAMESPACE) == [SLUG]
    fake.settle()
    seen = host.observe(SLUG)
    assert seen == ObservedState(
        deployment=True,
        image=IMAGE,
        replicas=2,
        config_hash=config_hash(CONFIG),
        service=True,
        configmap=CONFIG,
        mounted_secrets=frozenset({"agent-env", "support-creds"}),
        ready_replicas=2,
    )


def test_applying_again_writes_nothing(fake: FakeKubernetesApi, host: KubernetesHost) -> None:
    host.apply(DESIRED)
    writes = fake.writes()
    host.apply(DESIRED)
    host.apply(DESIRED)
    assert fake.writes() == writes


def test_every_effect_performed_twice_writes_once(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    effects = [
        fx.CreateConfigMap(CONFIG),
        fx.CreateService(),
        fx.CreateDeployment(IMAGE, 2, ("agent-env",), "support-creds"),
        fx.UpdateDeploymentImage("img:2"),
        fx.RecreateConfigMap({"model_type": "other"}),
        fx.RestartPods(),
        MountSecrets(("agent-env", "more-env"), None),
        fx.ScaleDeployment(3),
        fx.CreateCanary("img:3"),
        DeleteCanary(),
        fx.RecordEvents("CrashLoopBackOff", "boom"),
        fx.DeleteResources(),
    ]
    for i, effect in enumerate(effects):
        host(SLUG, effect, f"k{i}")
        writes = fake.writes()
        host(SLUG, effect, f"k{i}")
        assert fake.writes() == writes, effect


def test_a_replace_keeps_the_allocated_cluster_ip(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    host.apply(DESIRED)

    def hand_edit(svc: Any) -> None:  # someone removed the control port and broke the selector
        svc.spec.ports = svc.spec.ports[:1]
        svc.spec.selector = {"app": "other"}

    fake.edit("Service", NAMESPACE, SLUG, hand_edit)
    host.apply(DESIRED)
    repaired = fake.get("Service", NAMESPACE, SLUG)
    assert [p.port for p in repaired.spec.ports] == [8000, 8001]
    assert repaired.spec.cluster_ip == "10.0.0.1"


def test_a_deployment_created_before_its_configmap_gets_the_hash_with_it(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    # The machine's own order: Deployment, Service, ConfigMap.
    host(SLUG, fx.CreateDeployment(IMAGE, 1), "a")
    assert CONFIG_HASH_ANNOTATION not in (_live_template(fake).metadata.annotations or {})
    fake.settle()
    assert host.observe(SLUG).ready_replicas == 0  # waiting for the ConfigMap volume
    assert host.observe(SLUG).waiting_reason is None  # ContainerCreating is normal
    host(SLUG, fx.CreateService(), "b")
    host(SLUG, fx.CreateConfigMap(CONFIG), "c")
    annotations = _live_template(fake).metadata.annotations
    assert annotations[CONFIG_HASH_ANNOTATION] == config_hash(CONFIG)


def test_a_new_config_rolls_the_pods_only_when_they_are_restarted(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    host.apply(DESIRED)
    host(SLUG, fx.RecreateConfigMap({"model_type": "anthropic"}), "a")
    assert host.observe(SLUG).config_hash == config_hash(CONFIG)  # pods still run the old one
    host(SLUG, fx.RestartPods(), "b")
    assert host.observe(SLUG).config_hash == config_hash({"model_type": "anthropic"})


def test_mount_secrets_replaces_the_env_and_credential_secrets(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    host.apply(DesiredSpec(SLUG, SPEC, canary="img:2"))
    host(SLUG, MountSecrets(("team-env",), "new-creds"), "a")
    assert host.observe(SLUG).mounted_secrets == {"team-env", "new-creds"}
    canary = fake.get("Deployment", NAMESPACE, f"{SLUG}-canary")
    (container,) = canary.spec.template.spec.containers
    assert [e.secret_ref.name for e in container.env_from] == ["team-env"]


def test_stop_scales_to_zero_and_keeps_everything(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    host.apply(DESIRED)
    fake.settle()
    host.scale(SLUG, 0)
    fake.settle()
    seen = host.observe(SLUG)
    assert (seen.replicas, seen.ready_replicas, seen.service) == (0, 0, True)
    assert fake.names("Pod", NAMESPACE) == []


def test_delete_leaves_nothing(fake: FakeKubernetesApi, host: KubernetesHost) -> None:
    host.apply(DesiredSpec(SLUG, SPEC, canary="img:2"))
    fake.settle()
    host.delete(SLUG)
    fake.settle()
    assert host.observe(SLUG).nothing_left
    for kind in ("Deployment", "Service", "ConfigMap", "Pod"):
        assert fake.names(kind, NAMESPACE) == []
    host.delete(SLUG)  # deleting again is fine


def test_a_canary_copies_the_stable_secrets_and_goes_away_when_deleted(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    host.apply(DESIRED)
    host(SLUG, fx.CreateCanary("img:2"), "a")
    fake.settle()
    assert host.observe(SLUG).canary_image == "img:2"
    stable = deployment(DESIRED, NAMESPACE).spec.template.spec
    canary = _live_template(fake, f"{SLUG}-canary").spec
    assert canary.volumes == stable.volumes
    host(SLUG, DeleteCanary(), "b")
    assert host.observe(SLUG).canary_image is None


def test_half_a_canary_is_reported_so_reconcile_repairs_or_removes_it(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    host.apply(DesiredSpec(SLUG, SPEC, canary="img:2"))
    fake.delete_namespaced_service(f"{SLUG}-canary", NAMESPACE)
    assert host.observe(SLUG).canary_image == INCOMPLETE_CANARY
    host.sync(DesiredSpec(SLUG, SPEC, canary="img:2"), phase="Running", now=T0)
    assert host.observe(SLUG).canary_image == "img:2"
    fake.delete_namespaced_deployment(f"{SLUG}-canary", NAMESPACE)
    host.sync(DESIRED, phase="Running", now=T0)
    assert host.observe(SLUG).canary_image is None
    assert fake.names("Service", NAMESPACE) == [SLUG]


def test_a_canary_needs_a_stable_deployment_first(host: KubernetesHost) -> None:
    with pytest.raises(TemporaryError, match="no stable Deployment"):
        host(SLUG, fx.CreateCanary("img:2"), "a")


def test_record_events_writes_one_warning_per_key(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    host.apply(DESIRED)
    host(SLUG, fx.RecordEvents("CrashLoopBackOff", "bad model"), "k1")
    host(SLUG, fx.RecordEvents("CrashLoopBackOff", "bad model"), "k1")
    host(SLUG, fx.RecordEvents("CrashLoopBackOff", "bad model"), "k2")
    events = [fake.get("Event", NAMESPACE, n) for n in fake.names("Event", NAMESPACE)]
    assert len(events) == 2
    assert {(e.reason, e.message, e.type) for e in events} == {
        ("CrashLoopBackOff", "bad model", "Warning")
    }
    assert events[0].involved_object.name == SLUG


# -- observing --------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"])
def test_waiting_pods_are_reported_with_their_reason(
    fake: FakeKubernetesApi, host: KubernetesHost, reason: str
) -> None:
    fake.break_pods(reason, image=IMAGE)
    host.apply(DESIRED)
    fake.settle()
    seen = host.observe(SLUG)
    assert (seen.waiting_reason, seen.ready_replicas) == (reason, 0)


def test_a_failing_canary_does_not_fail_the_stable_pods(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    fake.break_pods("CrashLoopBackOff", image="img:2")
    host.apply(DesiredSpec(SLUG, SPEC, canary="img:2"))
    fake.settle()
    seen = host.observe(SLUG)
    assert (seen.waiting_reason, seen.ready_replicas) == (None, 2)


def test_healed_pods_recover(fake: FakeKubernetesApi, host: KubernetesHost) -> None:
    fault = fake.break_pods("CrashLoopBackOff", config=CONFIG)
    host.apply(DESIRED)
    fake.settle()
    assert host.observe(SLUG).waiting_reason == "CrashLoopBackOff"
    fake.heal(fault)
    fake.settle()
    assert host.observe(SLUG).waiting_reason is None


# -- API failures ---------------------------------------------------------------------------


def test_a_conflict_is_re_read_and_retried(fake: FakeKubernetesApi, host: KubernetesHost) -> None:
    host.apply(DESIRED)
    fake.fail("replace_namespaced_deployment", 409)
    host(SLUG, fx.UpdateDeploymentImage("img:2"), "a")
    assert host.observe(SLUG).image == "img:2"
    replaces = [c for c in fake.calls if c[0] == "replace_namespaced_deployment"]
    assert len(replaces) == 2


def test_a_create_race_becomes_a_replace(fake: FakeKubernetesApi, host: KubernetesHost) -> None:
    fake.fail("create_namespaced_config_map", 409)  # someone created it between read and write
    host(SLUG, fx.CreateConfigMap(CONFIG), "a")
    assert host.observe(SLUG).configmap == CONFIG


def test_endless_conflicts_are_a_temporary_error(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    host.apply(DESIRED)
    fake.fail("replace_namespaced_deployment", 409, times=MAX_CONFLICTS)
    with pytest.raises(TemporaryError, match="conflicted"):
        host(SLUG, fx.UpdateDeploymentImage("img:2"), "a")
    host(SLUG, fx.UpdateDeploymentImage("img:2"), "a")  # the outbox's retry succeeds
    assert host.observe(SLUG).image == "img:2"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_are_temporary_and_a_retry_succeeds(
    fake: FakeKubernetesApi, host: KubernetesHost, status: int
) -> None:
    fake.fail("create_namespaced_service", status)
    with pytest.raises(TemporaryError, match=str(status)):
        host(SLUG, fx.CreateService(), "a")
    host(SLUG, fx.CreateService(), "a")
    assert host.observe(SLUG).service


def test_retry_after_becomes_the_delay(fake: FakeKubernetesApi, host: KubernetesHost) -> None:
    busy = ApiException(status=429, reason="TooManyRequests")
    busy.headers = {"Retry-After": "7"}
    fake.fail_with("read_namespaced_deployment", busy)
    with pytest.raises(TemporaryError) as caught:
        host.observe(SLUG)
    assert caught.value.delay == timedelta(seconds=7)


@pytest.mark.parametrize(
    "error",
    [
        urllib3.exceptions.ReadTimeoutError(None, "/apis", "read timed out"),  # type: ignore[arg-type]
        urllib3.exceptions.MaxRetryError(None, "/apis"),  # type: ignore[arg-type]
        ConnectionRefusedError("connection refused"),
    ],
)
def test_timeouts_and_lost_connections_are_temporary(
    fake: FakeKubernetesApi, host: KubernetesHost, error: BaseException
) -> None:
    fake.fail_with("read_namespaced_config_map", error)
    with pytest.raises(TemporaryError, match="did not answer"):
        host(SLUG, fx.CreateConfigMap(CONFIG), "a")


@pytest.mark.parametrize("status", [400, 403, 422])
def test_refused_requests_are_permanent(
    fake: FakeKubernetesApi, host: KubernetesHost, status: int
) -> None:
    fake.fail("create_namespaced_deployment", status)
    with pytest.raises(PermanentError, match=str(status)):
        host(SLUG, fx.CreateDeployment(IMAGE, 1), "a")


def test_objects_agentfsm_does_not_own_are_left_alone(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    host.apply(DESIRED)
    fake.edit(
        "ConfigMap", NAMESPACE, SLUG, lambda cm: setattr(cm.metadata, "labels", {"owner": "x"})
    )
    with pytest.raises(PermanentError, match="not managed by agentfsm"):
        host(SLUG, fx.RecreateConfigMap({"a": "b"}), "a")
    with pytest.raises(PermanentError, match="not managed by agentfsm"):
        host.delete(SLUG)
    assert fake.get("ConfigMap", NAMESPACE, SLUG).data == CONFIG


def test_work_on_a_missing_deployment_is_permanent(host: KubernetesHost) -> None:
    for effect in (fx.ScaleDeployment(1), fx.UpdateDeploymentImage("x"), fx.RestartPods()):
        with pytest.raises(PermanentError, match="deploy it first"):
            host(SLUG, effect, "a")


def test_effects_that_are_not_kubernetes_work_are_parked(host: KubernetesHost) -> None:
    emit = fx.Emit(fx.AgentDeleted(SLUG, T0))
    with pytest.raises(PermanentError, match="outbox"):
        host(SLUG, emit, "a")
    with pytest.raises(PermanentError, match="not Recif Kubernetes work"):
        host(SLUG, fx.ProvisionHost("small", 1), "a")


def test_bad_names_and_values_are_permanent(host: KubernetesHost) -> None:
    with pytest.raises(PermanentError, match="DNS-1123"):
        host("Agent_1", fx.CreateService(), "a")
    with pytest.raises(PermanentError, match="ConfigMap key"):
        host(SLUG, fx.CreateConfigMap({"bad key": "x"}), "a")
    with pytest.raises(PermanentError, match="8000 and 8001"):
        host(SLUG, fx.CreateService(ports=(80,)), "a")
    with pytest.raises(PermanentError, match="at least 0"):
        host(SLUG, fx.ScaleDeployment(-1), "a")
    with pytest.raises(PermanentError, match="cannot run a canary"):
        host("a" * 60, fx.CreateCanary("x"), "a")


def test_the_agent_id_can_be_mapped_to_a_slug(fake: FakeKubernetesApi) -> None:
    host = KubernetesHost(fake, fake, namespace=NAMESPACE, slug_of=lambda a: a.split(":")[1])
    host("ag_01:support-agent", fx.CreateService(), "a")
    assert fake.names("Service", NAMESPACE) == [SLUG]


def test_a_bad_namespace_is_refused(fake: FakeKubernetesApi) -> None:
    with pytest.raises(InvalidInput, match="namespace"):
        KubernetesHost(fake, fake, namespace="Team A")


def test_the_fake_refuses_to_script_a_method_it_lacks(fake: FakeKubernetesApi) -> None:
    with pytest.raises(InvalidInput, match="no API method"):
        fake.fail("create_namespaced_secret")
    with pytest.raises(InvalidInput, match="no Service"):
        fake.edit("Service", NAMESPACE, SLUG, print)


def test_a_write_between_read_and_replace_is_a_real_conflict(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    host.apply(DESIRED)
    stale = fake.read_namespaced_config_map(SLUG, NAMESPACE)
    fake.edit("ConfigMap", NAMESPACE, SLUG, lambda cm: cm.data.update({"x": "1"}))
    stale.data = {"y": "2"}
    with pytest.raises(ApiException, match="Conflict") as caught:
        fake.replace_namespaced_config_map(SLUG, NAMESPACE, stale)
    assert getattr(caught.value, "status", None) == 409
    host(SLUG, fx.RecreateConfigMap(CONFIG), "a")  # the host reads the new version first
    assert host.observe(SLUG).configmap == CONFIG
