"""Scaling and deleting through ``KubernetesHost`` under fencing tokens: checked before the call.

A scale or a delete carrying a token older than the stamp (``FENCE_ANNOTATION``) of an object
it would change is refused with ``StaleFence`` before any write reaches the cluster, and the
cluster is left exactly as it was; a scale stamps its token, so a newer owner's scale refuses a
late one; a write between the check and the call is a 409, after which the object is read and
checked again. Work with a token at least as new as every stamp goes through.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from k8s_helpers import NAMESPACE, SLUG, SPEC

from agentfsm import effects as fx
from agentfsm.kubernetes import FENCE_ANNOTATION, FakeKubernetesApi, KubernetesHost
from agentfsm.models import RecifSpec
from agentfsm.recif import DeleteCanary, DesiredSpec
from agentfsm.runtime import Fence, StaleFence
from agentfsm.runtime._fencing import set_fence

CANARY = f"{SLUG}-canary"
WITH_CANARY = DesiredSpec(
    SLUG, RecifSpec(image=SPEC.image, replicas=1, config=SPEC.config), canary="img:canary"
)


@contextmanager
def fenced(token: int) -> Iterator[None]:
    """Perform what follows as the work of a lease with ``token``."""
    previous = set_fence(Fence(token, f"owner-{token}", SLUG))
    try:
        yield
    finally:
        set_fence(previous)


def cluster_state(fake: FakeKubernetesApi) -> dict[tuple[str, str], Any]:
    """Every stored object but the pods, as (kind, name) -> the object."""
    return {
        (kind, name): copy.deepcopy(fake.get(kind, NAMESPACE, name))
        for kind in ("Deployment", "Service", "ConfigMap")
        for name in fake.names(kind, NAMESPACE)
    }


def stamp(fake: FakeKubernetesApi, kind: str, name: str = SLUG) -> str | None:
    annotations = fake.get(kind, NAMESPACE, name).metadata.annotations or {}
    found: str | None = annotations.get(FENCE_ANNOTATION)
    return found


@pytest.fixture
def fake() -> FakeKubernetesApi:
    return FakeKubernetesApi()


@pytest.fixture
def host(fake: FakeKubernetesApi) -> KubernetesHost:
    return KubernetesHost(fake, fake, namespace=NAMESPACE)


def _calls_since(fake: FakeKubernetesApi, n: int) -> list[str]:
    return [method for method, _ in fake.calls[n:]]


# -- scaling ----------------------------------------------------------------------------------


def test_regression_a_newer_owners_scale_left_no_stamp_so_a_stale_scale_went_through(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    with fenced(3):
        host.apply(WITH_CANARY)
    with fenced(8):
        host.scale(SLUG, 0)  # the newer owner stops the agent
    assert stamp(fake, "Deployment") == "8"
    before, writes, calls = cluster_state(fake), fake.writes(), len(fake.calls)
    with fenced(5), pytest.raises(StaleFence) as refused:
        host.scale(SLUG, 2)  # the late owner would start it again
    assert (refused.value.token, refused.value.applied) == (5, 8)
    assert "patch_namespaced_deployment" not in _calls_since(fake, calls)  # never sent
    assert fake.writes() == writes
    assert cluster_state(fake) == before
    assert fake.get("Deployment", NAMESPACE, SLUG).spec.replicas == 0


def test_a_scale_by_the_effect_handler_is_refused_the_same_way(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    with fenced(8):
        host.apply(WITH_CANARY)
    before, writes = cluster_state(fake), fake.writes()
    with fenced(7), pytest.raises(StaleFence):
        host(SLUG, fx.ScaleDeployment(3), "k")
    assert (fake.writes(), cluster_state(fake)) == (writes, before)


class RacingFake(FakeKubernetesApi):
    """A fake where a newer owner (token 9) writes ``target`` right after the host reads it
    the first time: between the host's check and its call."""

    def __init__(self, target: tuple[str, str]) -> None:
        super().__init__()
        self.target = target
        self.armed = False

    def _race(self, kind: str, name: str) -> None:
        if self.armed and (kind, name) == self.target:
            self.armed = False

            def newer_owner(obj: Any) -> None:
                obj.metadata.annotations = {**(obj.metadata.annotations or {}),
                                            FENCE_ANNOTATION: "9"}  # fmt: skip

            self.edit(kind, NAMESPACE, name, newer_owner)

    def read_namespaced_deployment(self, name: str, namespace: str, **kw: Any) -> Any:
        found = super().read_namespaced_deployment(name, namespace, **kw)
        self._race("Deployment", name)
        return found

    def read_namespaced_config_map(self, name: str, namespace: str, **kw: Any) -> Any:
        found = super().read_namespaced_config_map(name, namespace, **kw)
        self._race("ConfigMap", name)
        return found


def test_a_write_between_the_check_and_the_scale_makes_the_scale_a_conflict_then_a_refusal() -> (
    None
):
    fake = RacingFake(("Deployment", SLUG))
    host = KubernetesHost(fake, fake, namespace=NAMESPACE)
    with fenced(5):
        host.apply(WITH_CANARY)
        fake.armed = True
        with pytest.raises(StaleFence) as refused:
            host.scale(SLUG, 4)
    assert refused.value.applied == 9
    assert fake.get("Deployment", NAMESPACE, SLUG).spec.replicas == 1  # the patch was a 409
    assert stamp(fake, "Deployment") == "9"


def test_a_fresh_token_scales_and_stamps_the_deployment(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    with fenced(3):
        host.apply(WITH_CANARY)
    with fenced(3):
        host.scale(SLUG, 2)  # the same owner again
    with fenced(4):
        host.scale(SLUG, 5)
    assert fake.get("Deployment", NAMESPACE, SLUG).spec.replicas == 5
    assert stamp(fake, "Deployment") == "4"
    host.scale(SLUG, 1)  # unfenced work is not checked (and leaves the stamp alone)
    assert fake.get("Deployment", NAMESPACE, SLUG).spec.replicas == 1
    assert stamp(fake, "Deployment") == "4"


# -- deleting ---------------------------------------------------------------------------------


def test_regression_a_stale_delete_removed_the_canary_before_the_newer_stamp_refused_it(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    with fenced(3):
        host.apply(WITH_CANARY)
    with fenced(8):
        host(SLUG, fx.UpdateDeploymentImage("img:2"), "k")  # restamps the stable Deployment only
    assert (stamp(fake, "Deployment", CANARY), stamp(fake, "Deployment")) == ("3", "8")
    before, writes, calls = cluster_state(fake), fake.writes(), len(fake.calls)
    with fenced(5), pytest.raises(StaleFence) as refused:
        host.delete(SLUG)
    assert refused.value.applied == 8
    assert not [c for c in _calls_since(fake, calls) if c.startswith("delete")]
    assert fake.writes() == writes
    assert cluster_state(fake) == before  # the canary is still there


def test_a_newer_stamp_on_the_configmap_alone_refuses_a_stale_delete(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    with fenced(3):
        host.apply(WITH_CANARY)
    with fenced(8):
        host(SLUG, fx.RecreateConfigMap({"model": "m2"}), "k")
    before = cluster_state(fake)
    with fenced(5), pytest.raises(StaleFence):
        host.delete(SLUG)  # the ConfigMap is read and checked before the canary is deleted
    assert cluster_state(fake) == before


def test_a_write_between_the_check_and_the_delete_makes_the_delete_a_conflict_then_a_refusal() -> (
    None
):
    fake = RacingFake(("Deployment", CANARY))
    host = KubernetesHost(fake, fake, namespace=NAMESPACE)
    with fenced(5):
        host.apply(WITH_CANARY)
    before = cluster_state(fake)
    fake.armed = True
    with fenced(5), pytest.raises(StaleFence) as refused:
        host.delete(SLUG)
    assert refused.value.applied == 9
    after = cluster_state(fake)
    assert set(after) == set(before)  # the delete of the canary was a 409: nothing went


def test_a_fresh_token_deletes_everything(fake: FakeKubernetesApi, host: KubernetesHost) -> None:
    with fenced(3):
        host.apply(WITH_CANARY)
    with fenced(8):
        host(SLUG, fx.UpdateDeploymentImage("img:2"), "k")
    with fenced(8):
        host.delete(SLUG)
    assert cluster_state(fake) == {}
    with fenced(2):
        host.delete(SLUG)  # nothing is left to refuse or to delete


def test_a_stale_canary_delete_is_refused_before_either_canary_object_goes(
    fake: FakeKubernetesApi, host: KubernetesHost
) -> None:
    with fenced(3):
        host.apply(WITH_CANARY)

    def newer(obj: Any) -> None:
        obj.metadata.annotations = {**(obj.metadata.annotations or {}), FENCE_ANNOTATION: "8"}

    fake.edit("Service", NAMESPACE, CANARY, newer)  # the second canary object to be deleted
    before = cluster_state(fake)
    with fenced(5), pytest.raises(StaleFence):
        host.perform(SLUG, DeleteCanary())
    assert cluster_state(fake) == before


# -- the rule, as a property ------------------------------------------------------------------

OPS = st.lists(
    st.tuples(st.sampled_from(["scale", "delete", "apply"]), st.integers(1, 9), st.integers(0, 3)),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(OPS)
def test_property_a_refused_scale_or_delete_changes_nothing_and_the_newest_token_passes(
    ops: list[tuple[str, int, int]],
) -> None:
    fake = FakeKubernetesApi()
    host = KubernetesHost(fake, fake, namespace=NAMESPACE)
    for op, token, replicas in ops:
        stamps = [
            int((fake.get(k, NAMESPACE, n).metadata.annotations or {}).get(FENCE_ANNOTATION, 0))
            for (k, n) in cluster_state(fake)
        ]
        newest = token >= max(stamps, default=0)
        before, writes = cluster_state(fake), fake.writes()
        with fenced(token):
            try:
                if op == "scale" and (("Deployment", SLUG) in before):
                    host.scale(SLUG, replicas)
                elif op == "delete":
                    host.delete(SLUG)
                else:
                    host.apply(WITH_CANARY)
            except StaleFence:
                assert not newest  # the newest token is never refused
                assert (fake.writes(), cluster_state(fake)) == (writes, before)
