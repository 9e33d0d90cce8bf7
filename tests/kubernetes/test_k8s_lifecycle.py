"""The Recif lifecycle on the fake API: the real RECIF machine, reconcile and the host together.

Deploy -> Running; a bad image -> Failed (ImagePullBackOff) -> fixed -> Running; a crashing
config -> Failed (CrashLoopBackOff) -> fixed -> Running; stop -> scaled to 0; restart ->
Running; delete -> nothing left. Then the same through the durable runtime (SQLite, outbox
worker) with API failures injected, and a property: whatever the user did and whatever the
API did, once the faults stop the loop converges on exactly what the machine declares.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from k8s_helpers import BAD_IMAGE, CONFIG, IMAGE, NAMESPACE, SLUG, SPEC, T0, Story

from agentfsm import Actor, Event, TransitionRefused
from agentfsm import effects as fx
from agentfsm.kubernetes import RECIF_EFFECTS, FakeKubernetesApi, KubernetesHost
from agentfsm.models import RECIF, RecifAgent
from agentfsm.recif import DesiredSpec, config_hash
from agentfsm.runtime import (
    Controller,
    EffectRouter,
    ManualClock,
    OutboxWorker,
    SQLiteStore,
    TemporaryError,
)

BAD_CONFIG = {**CONFIG, "model_type": "no-such-model"}


@pytest.fixture
def fake() -> FakeKubernetesApi:
    return FakeKubernetesApi()


@pytest.fixture
def story(fake: FakeKubernetesApi) -> Story:
    return Story(KubernetesHost(fake, fake, namespace=NAMESPACE, clock=lambda: T0), fake.settle)


def test_deploy_reaches_running_with_ready_pods_and_a_release(story: Story) -> None:
    story.user("deploy")
    seen = story.run_until("Running")
    assert (seen.ready_replicas, seen.image, seen.service) == (2, IMAGE, True)
    assert story.snapshot.data.endpoint == f"http://{SLUG}:8000"
    assert [type(e).__name__ for e in story.released] == ["AgentDeployed"]
    assert story.statuses == ["created", "Pending", "Running"]


def test_a_bad_image_fails_with_image_pull_backoff_until_it_is_fixed(
    fake: FakeKubernetesApi, story: Story
) -> None:
    fake.break_pods("ImagePullBackOff", image=BAD_IMAGE)
    story.user("deploy")
    story.run_until("Running")
    story.user("update_config", image=BAD_IMAGE)
    seen = story.run_until("Failed")
    assert seen.waiting_reason == "ImagePullBackOff"
    assert story.snapshot.data.last_reason == "ImagePullBackOff"
    story.user("update_config", image=IMAGE)
    seen = story.run_until("Running")
    assert (seen.image, seen.ready_replicas, seen.waiting_reason) == (IMAGE, 2, None)


def test_a_crashing_config_fails_until_the_config_is_fixed(
    fake: FakeKubernetesApi, story: Story
) -> None:
    fake.break_pods("CrashLoopBackOff", config=BAD_CONFIG)
    story.user("deploy")
    story.run_until("Running")
    story.user("update_config", config=BAD_CONFIG)
    assert story.run_until("Failed").waiting_reason == "CrashLoopBackOff"
    assert story.run_until("Failed").waiting_reason == "CrashLoopBackOff"  # stuck, as it is
    story.user("update_config", config=CONFIG)
    seen = story.run_until("Running")
    assert seen.config_hash == config_hash(CONFIG)
    assert fake.get("ConfigMap", NAMESPACE, SLUG).data == CONFIG


def test_stop_scales_to_zero_restart_comes_back_delete_leaves_nothing(
    fake: FakeKubernetesApi, story: Story
) -> None:
    story.user("deploy")
    story.run_until("Running")
    story.user("stop")
    seen = story.run_until("Terminated")
    assert (seen.replicas, seen.ready_replicas, seen.service) == (0, 0, True)
    assert seen.configmap == CONFIG
    assert fake.names("Pod", NAMESPACE) == []
    story.user("restart")
    assert story.run_until("Running").ready_replicas == 2
    story.user("delete")
    assert story.run_until("deleted").nothing_left
    for kind in ("Deployment", "Service", "ConfigMap", "Pod"):
        assert fake.names(kind, NAMESPACE) == []
    assert [type(e).__name__ for e in story.released] == [
        "AgentDeployed",
        "AgentDeployed",
        "AgentDeleted",
    ]


def test_a_canary_runs_beside_the_stable_pods_and_is_promoted(
    fake: FakeKubernetesApi, story: Story
) -> None:
    story.user("deploy")
    story.run_until("Running")
    story.user("start_canary", image="img:2")
    assert story.run_until("Running").canary_image == "img:2"
    story.user("promote_canary")
    seen = story.run_until("Running")
    assert (seen.image, seen.canary_image) == ("img:2", None)
    assert fake.names("Deployment", NAMESPACE) == [SLUG]


def test_pods_stuck_in_crash_loop_keep_the_agent_failed_across_syncs(
    fake: FakeKubernetesApi, story: Story
) -> None:
    fake.break_pods("CrashLoopBackOff", image=IMAGE)
    story.user("deploy")
    story.run_until("Failed")
    for _ in range(3):
        fake.settle()
        sync = story.host.sync(story.desired(), phase=story.snapshot.status, now=T0)
        assert sync.result.phase == "Failed"
        assert sync.event is None  # already Failed: no new transition every 30 s
    fake.heal()
    story.run_until("Running")


# -- through the durable runtime ---------------------------------------------------------------


def test_the_runtime_outbox_drives_the_host_through_api_failures(
    tmp_path: Path, fake: FakeKubernetesApi
) -> None:
    clock = ManualClock(T0)
    store = SQLiteStore(str(tmp_path / "agents.db"))
    try:
        controller = Controller(RECIF, store, clock)
        host = KubernetesHost(fake, fake, namespace=NAMESPACE, clock=clock.now)
        published: list[object] = []

        def publish(agent_id: str, event: object, key: str) -> tuple[()]:
            published.append(event)
            return ()

        router = EffectRouter(dict.fromkeys(RECIF_EFFECTS, host), default=publish)
        worker = OutboxWorker(controller, router, backoff_base=timedelta(seconds=1))
        controller.create(SLUG, "recif", RecifAgent(SLUG, SPEC))
        fake.fail("create_namespaced_deployment", 500)  # the API server hiccups once
        fake.fail("create_namespaced_service", 409)  # someone created the Service first
        controller.handle(SLUG, Event("deploy", Actor.USER))
        for _ in range(10):
            worker.drain()
            clock.advance(timedelta(minutes=1))
        assert worker.total.parked == 0
        assert worker.total.retried >= 1
        fake.settle()
        record = controller.get(SLUG)
        sync = host.sync(
            DesiredSpec.from_snapshot(record.snapshot), phase=record.snapshot.status, now=T0
        )
        assert sync.event is not None
        assert sync.event.name == "pods_ready"
        controller.handle(SLUG, sync.event)
        worker.drain()
        assert controller.get(SLUG).snapshot.status == "Running"
        assert [type(e).__name__ for e in published] == ["AgentDeployed"]
    finally:
        store.close()


# -- convergence, whatever happened ------------------------------------------------------------

USER_EVENTS = st.sampled_from(
    [
        ("update_config", {"image": BAD_IMAGE}),
        ("update_config", {"image": IMAGE}),
        ("update_config", {"config": {"model_type": "other"}}),
        ("scale", {"replicas": 3}),
        ("stop", {}),
        ("restart", {}),
        ("start_canary", {"image": "img:2"}),
        ("promote_canary", {}),
        ("delete", {}),
    ]
)
API_FAULTS = st.sampled_from(
    [
        None,
        ("replace_namespaced_deployment", 409),
        ("read_namespaced_deployment", 500),
        ("create_namespaced_config_map", 503),
        ("patch_namespaced_deployment", 500),
        ("delete_namespaced_service", 500),
    ]
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(st.tuples(USER_EVENTS, API_FAULTS), max_size=8))
def test_once_faults_stop_the_loop_converges_on_the_declared_spec(
    steps: list[tuple[tuple[str, dict[str, object]], tuple[str, int] | None]],
) -> None:
    fake = FakeKubernetesApi()
    fake.break_pods("ImagePullBackOff", image=BAD_IMAGE)
    story = Story(KubernetesHost(fake, fake, namespace=NAMESPACE), fake.settle)
    story.user("deploy")
    for (name, payload), fault in steps:
        if fault is not None:
            fake.fail(*fault)
        try:
            story.user(name, **payload)
        except TransitionRefused:
            continue  # not offered in this status: nothing happened
        except TemporaryError:
            pass  # an effect failed; the next reconcile repairs what it left undone
        with contextlib.suppress(TemporaryError):  # a queued fault may hit the sync instead
            story.sync_once()
    fake.clear_failures()
    target = {"Terminated": "Terminated", "deleted": "deleted"}.get(story.snapshot.status)
    desired = story.desired()
    if target is None:  # active: Running, or Failed while the bad image is declared
        target = "Failed" if desired.image == BAD_IMAGE else "Running"
    seen = story.run_until(target, rounds=8)
    if desired.deleted:
        assert seen.nothing_left
        return
    assert (seen.image, seen.replicas) == (desired.image, desired.target_replicas)
    assert seen.configmap == desired.config
    if not desired.stopped:  # a stopped agent's pods read the new config when restarted
        assert seen.config_hash == desired.config_hash
    assert seen.canary_image == (None if desired.stopped else desired.canary)


def test_the_sequence_of_effects_the_machine_emits_is_all_kubernetes_work() -> None:
    # Every effect record of the RECIF machine is either performed here or an Emit.
    performed = {t.__name__ for t in RECIF_EFFECTS}
    machine_effects = {"CreateDeployment", "CreateService", "CreateConfigMap", "RecordEvents",
                       "ScaleDeployment", "UpdateDeploymentImage", "RecreateConfigMap",
                       "RestartPods", "CreateCanary", "DeleteResources"}  # fmt: skip
    assert machine_effects <= performed
    assert fx.Emit.__name__ not in performed
