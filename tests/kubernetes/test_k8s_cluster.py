"""The same lifecycle against a real cluster, when ``KUBECONFIG`` names one.

Each test works in a namespace of its own, created and deleted around it. The bad-image story
needs nothing else; the full story needs an image that answers ``GET /healthz`` on port 8000
(``AGENTFSM_K8S_IMAGE``), since a pod is Running only once its readiness probe passes.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest
from k8s_helpers import BAD_IMAGE, CONFIG, Story

from agentfsm.kubernetes import KubernetesHost
from agentfsm.models import RecifSpec

pytestmark = pytest.mark.skipif(
    not os.environ.get("KUBECONFIG"),
    reason="KUBECONFIG is not set: there is no cluster to run the adapter against",
)
GOOD_IMAGE = os.environ.get("AGENTFSM_K8S_IMAGE")
PULL_FAILURES = {"ErrImagePull", "ImagePullBackOff"}
ROUNDS = 90  # two seconds apart: three minutes for pods to pull, start and become ready


@pytest.fixture
def host() -> Iterator[KubernetesHost]:
    from kubernetes import client, config

    config.load_kube_config()
    apps, core = client.AppsV1Api(), client.CoreV1Api()
    namespace = f"agentfsm-test-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    try:
        core.create_namespaced_secret(
            namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name="agent-env"), string_data={"MODE": "test"}
            ),
        )
        yield KubernetesHost(apps, core, namespace=namespace)
    finally:
        core.delete_namespace(namespace)


def _story(host: KubernetesHost, image: str) -> Story:
    spec = RecifSpec(image=image, replicas=1, config=CONFIG)
    return Story(host, lambda: time.sleep(2), spec=spec)


def test_a_bad_image_fails_and_delete_leaves_nothing(host: KubernetesHost) -> None:
    story = _story(host, BAD_IMAGE)
    story.user("deploy")
    seen = story.run_until("Failed", rounds=ROUNDS)
    assert seen.waiting_reason in PULL_FAILURES
    story.user("delete")
    assert story.run_until("deleted", rounds=ROUNDS).nothing_left


@pytest.mark.skipif(
    not GOOD_IMAGE, reason="AGENTFSM_K8S_IMAGE is not set: no image answers /healthz on 8000"
)
def test_the_whole_lifecycle_on_the_cluster(host: KubernetesHost) -> None:
    assert GOOD_IMAGE is not None
    story = _story(host, GOOD_IMAGE)
    story.user("deploy")
    assert story.run_until("Running", rounds=ROUNDS).ready_replicas == 1
    story.user("update_config", image=BAD_IMAGE)
    assert story.run_until("Failed", rounds=ROUNDS).waiting_reason in PULL_FAILURES
    story.user("update_config", image=GOOD_IMAGE)
    assert story.run_until("Running", rounds=ROUNDS).image == GOOD_IMAGE
    story.user("stop")
    seen = story.run_until("Terminated", rounds=ROUNDS)
    assert (seen.replicas, seen.service) == (0, True)
    story.user("delete")
    assert story.run_until("deleted", rounds=ROUNDS).nothing_left
