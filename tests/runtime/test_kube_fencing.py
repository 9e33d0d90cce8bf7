"""Stale scales and deletes refused by the served fake cluster the replica tests share.

The cluster runs in a server process of its own (``replica_cluster.ClusterManager``); the host
reaches it through a proxy, as every replica process does, so the preconditions a scale or a
delete carries cross the same boundary as in the multi-replica tests.
"""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from replica_cluster import NAMESPACE, ClusterManager, connect

from agentfsm.kubernetes import FENCE_ANNOTATION, KubernetesHost
from agentfsm.models import RecifSpec
from agentfsm.recif import DesiredSpec
from agentfsm.runtime import Fence, StaleFence
from agentfsm.runtime._fencing import set_fence

SLUG = "fenced"
DESIRED = DesiredSpec(SLUG, RecifSpec(image="img:1", replicas=1, config={"m": "1"}), canary="c:1")


@pytest.fixture
def served() -> Iterator[Any]:
    authkey = uuid.uuid4().bytes
    spawn = multiprocessing.get_context("spawn")
    manager = ClusterManager(address=("127.0.0.1", 0), authkey=authkey, ctx=spawn)
    manager.start()
    try:
        yield connect(manager.address, authkey)
    finally:
        manager.shutdown()


@contextmanager
def fenced(token: int) -> Iterator[None]:
    previous = set_fence(Fence(token, f"owner-{token}", SLUG))
    try:
        yield
    finally:
        set_fence(previous)


def _state(proxy: Any) -> dict[str, Any]:
    """What the served cluster holds of the agent: each object's version and stamp."""
    host = KubernetesHost(proxy, proxy, namespace=NAMESPACE)
    o = host.objects(SLUG)
    found = {
        "deployment": o.read_deployment(),
        "canary": o.read_deployment(canary=True),
        "service": o.read_service(),
        "canary-service": o.read_service(canary=True),
        "configmap": o.read_config_map(),
    }
    return {
        name: None
        if obj is None
        else (obj.metadata.resource_version, (obj.metadata.annotations or {}).get(FENCE_ANNOTATION))
        for name, obj in found.items()
    }


def test_the_served_cluster_refuses_a_stale_scale_and_delete_and_admits_a_fresh_one(
    served: Any,
) -> None:
    host = KubernetesHost(served, served, namespace=NAMESPACE)
    with fenced(3):
        host.apply(DESIRED)
    with fenced(8):
        host.scale(SLUG, 0)  # a newer owner stopped the agent
    before = _state(served)
    writes = served.report()["writes"]
    assert before["deployment"][1] == "8"
    with fenced(5):
        with pytest.raises(StaleFence):
            host.scale(SLUG, 2)
        with pytest.raises(StaleFence):
            host.delete(SLUG)
    assert _state(served) == before  # nothing reached the cluster
    assert served.report()["writes"] == writes
    with fenced(9):
        host.scale(SLUG, 2)
        assert _state(served)["deployment"][1] == "9"
        host.delete(SLUG)
    assert set(_state(served).values()) == {None}
