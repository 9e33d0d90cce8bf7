"""The generated manifests, field by field, and the properties every one of them keeps."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from k8s_helpers import CONFIG, IMAGE, NAMESPACE, SLUG, SPEC

from agentfsm import InvalidInput
from agentfsm.kubernetes import (
    CONFIG_HASH_ANNOTATION,
    CONFIG_MOUNT_PATH,
    CREDENTIALS_MOUNT_PATH,
    canary_deployment,
    canary_name,
    canary_service,
    config_map,
    deployment,
    manifests,
    service,
    to_dict,
    to_yaml,
)
from agentfsm.models import RecifSpec
from agentfsm.recif import DesiredSpec, config_hash

LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DESIRED = DesiredSpec(SLUG, SPEC)


def _container(dep: Any) -> Any:
    (container,) = dep.spec.template.spec.containers
    return container


def test_the_deployment_runs_the_image_with_its_replicas_and_labels() -> None:
    dep = deployment(DESIRED, NAMESPACE)
    assert (dep.api_version, dep.kind) == ("apps/v1", "Deployment")
    assert (dep.metadata.name, dep.metadata.namespace) == (SLUG, NAMESPACE)
    assert dep.metadata.labels["app.kubernetes.io/name"] == SLUG
    assert dep.metadata.labels["app.kubernetes.io/managed-by"] == "agentfsm"
    assert dep.spec.replicas == 2
    assert _container(dep).image == IMAGE


def test_the_deployment_selects_exactly_the_pods_of_its_template() -> None:
    dep = deployment(DESIRED, NAMESPACE)
    match = dep.spec.selector.match_labels
    pod_labels = dep.spec.template.metadata.labels
    assert match.items() <= pod_labels.items()
    assert match["app.kubernetes.io/name"] == SLUG


def test_the_container_listens_on_data_and_control_ports() -> None:
    ports = {
        p.name: (p.container_port, p.protocol) for p in _container(deployment(DESIRED, "x")).ports
    }
    assert ports == {"data": (8000, "TCP"), "control": (8001, "TCP")}


def test_the_readiness_probe_asks_healthz_on_the_data_port() -> None:
    probe = _container(deployment(DESIRED, NAMESPACE)).readiness_probe
    assert probe.http_get.path == "/healthz"
    assert probe.http_get.port == "data"


def test_env_comes_from_the_default_agent_env_secret() -> None:
    dep = deployment(DesiredSpec(SLUG, RecifSpec(image=IMAGE)), NAMESPACE)
    assert [e.secret_ref.name for e in _container(dep).env_from] == ["agent-env"]
    assert [v.name for v in dep.spec.template.spec.volumes] == ["config"]  # no credentials


def test_env_comes_from_every_env_secret_in_order() -> None:
    spec = RecifSpec(image=IMAGE, env_secrets=("shared-env", "agent-env", "team-env"))
    env_from = _container(deployment(DesiredSpec(SLUG, spec), NAMESPACE)).env_from
    assert [e.secret_ref.name for e in env_from] == ["shared-env", "agent-env", "team-env"]
    assert all(e.config_map_ref is None for e in env_from)


def test_the_credential_secret_is_a_read_only_volume() -> None:
    dep = deployment(DESIRED, NAMESPACE)
    volumes = {v.name: v for v in dep.spec.template.spec.volumes}
    assert volumes["credentials"].secret.secret_name == "support-creds"
    mounts = {m.name: m for m in _container(dep).volume_mounts}
    assert mounts["credentials"].mount_path == CREDENTIALS_MOUNT_PATH
    assert mounts["credentials"].read_only is True
    # Not in the environment: it is mounted, not spread into env vars.
    assert "support-creds" not in [e.secret_ref.name for e in _container(dep).env_from]


def test_the_configmap_is_mounted_and_its_hash_annotates_the_pods() -> None:
    dep = deployment(DESIRED, NAMESPACE)
    volumes = {v.name: v for v in dep.spec.template.spec.volumes}
    assert volumes["config"].config_map.name == SLUG
    mounts = {m.name: m.mount_path for m in _container(dep).volume_mounts}
    assert mounts["config"] == CONFIG_MOUNT_PATH
    annotations = dep.spec.template.metadata.annotations
    assert annotations[CONFIG_HASH_ANNOTATION] == config_hash(CONFIG)


def test_a_config_change_changes_the_pod_template_and_nothing_else() -> None:
    before = to_dict(deployment(DESIRED, NAMESPACE))
    new_spec = RecifSpec(
        image=IMAGE, replicas=2, config={**CONFIG, "x": "1"}, credential_secret="support-creds"
    )
    after = to_dict(deployment(DesiredSpec(SLUG, new_spec), NAMESPACE))
    old_notes = before["spec"]["template"]["metadata"].pop("annotations")
    new_notes = after["spec"]["template"]["metadata"].pop("annotations")
    assert old_notes[CONFIG_HASH_ANNOTATION] != new_notes[CONFIG_HASH_ANNOTATION]
    assert after == before  # only the annotation differs, so only it rolls the pods


def test_a_stopped_agent_has_zero_replicas() -> None:
    assert deployment(DesiredSpec(SLUG, SPEC, stopped=True), NAMESPACE).spec.replicas == 0


def test_the_service_exposes_data_and_control_to_the_stable_pods() -> None:
    svc = service(DESIRED, NAMESPACE)
    assert (svc.metadata.name, svc.metadata.namespace, svc.spec.type) == (
        SLUG,
        NAMESPACE,
        "ClusterIP",
    )
    ports = {p.name: (p.port, p.target_port) for p in svc.spec.ports}
    assert ports == {"data": (8000, "data"), "control": (8001, "control")}
    dep = deployment(DESIRED, NAMESPACE)
    assert svc.spec.selector == dep.spec.selector.match_labels
    assert svc.spec.selector.items() <= dep.spec.template.metadata.labels.items()


def test_the_configmap_holds_the_config_entries() -> None:
    cm = config_map(DESIRED, NAMESPACE)
    assert (cm.api_version, cm.kind, cm.metadata.name) == ("v1", "ConfigMap", SLUG)
    assert cm.data == CONFIG
    assert cm.metadata.labels["app.kubernetes.io/managed-by"] == "agentfsm"


def test_the_canary_pair_is_named_after_the_slug_and_selects_only_canary_pods() -> None:
    desired = DesiredSpec(SLUG, SPEC, canary="ghcr.io/recif/corail:1.5")
    dep, svc = canary_deployment(desired, NAMESPACE), canary_service(desired, NAMESPACE)
    assert dep.metadata.name == svc.metadata.name == f"{SLUG}-canary" == canary_name(SLUG)
    assert _container(dep).image == "ghcr.io/recif/corail:1.5"
    assert dep.spec.replicas == 1
    assert svc.spec.selector == dep.spec.selector.match_labels
    stable = deployment(desired, NAMESPACE)
    # Neither selector picks the other's pods, though both carry the agent's name.
    assert not svc.spec.selector.items() <= stable.spec.template.metadata.labels.items()
    assert not service(desired, NAMESPACE).spec.selector.items() <= (
        dep.spec.template.metadata.labels.items()
    )
    assert dep.spec.template.metadata.labels["app.kubernetes.io/name"] == SLUG
    # Same secrets and config as the stable pods.
    assert _container(dep).env_from == _container(stable).env_from
    assert dep.spec.template.spec.volumes == stable.spec.template.spec.volumes


def test_manifests_lists_the_configmap_first_and_the_canary_only_when_declared() -> None:
    kinds = [(o.kind, o.metadata.name) for o in manifests(DESIRED, NAMESPACE)]
    assert kinds == [("ConfigMap", SLUG), ("Service", SLUG), ("Deployment", SLUG)]
    with_canary = manifests(DesiredSpec(SLUG, SPEC, canary="img:2"), NAMESPACE)
    assert [o.metadata.name for o in with_canary][3:] == [f"{SLUG}-canary"] * 2


def test_yaml_renders_what_the_api_server_reads() -> None:
    objects = manifests(DesiredSpec(SLUG, SPEC, canary="img:2"), NAMESPACE)
    docs = list(yaml.safe_load_all(to_yaml(objects)))
    assert docs == [to_dict(o) for o in objects]
    dep = docs[2]
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "agent-env"}}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "data"}
    assert dep["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == SLUG
    assert "None" not in to_yaml(objects)
    assert "null" not in to_yaml(objects)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: deployment(DESIRED, "Team_A"), "namespace"),
        (lambda: deployment("support-agent", NAMESPACE), "DesiredSpec"),  # type: ignore[arg-type]
        (lambda: canary_deployment(DESIRED, NAMESPACE), "no canary"),
        (lambda: canary_service(DESIRED, NAMESPACE), "no canary"),
        (lambda: config_map(DesiredSpec(SLUG, RecifSpec(config={"a b": "x"})), "ns"), "'a b'"),
        (lambda: config_map(DesiredSpec(SLUG, RecifSpec(config={"..x": "x"})), "ns"), "'..x'"),
        (lambda: canary_name("a" * 60), "cannot run a canary"),
    ],
)
def test_bad_input_gets_a_clear_error(build: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        build()


slugs = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,54}[a-z0-9])?", fullmatch=True)
secret_names = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?", fullmatch=True).filter(
    lambda s: ".." not in s and "-." not in s and ".-" not in s
)


@settings(max_examples=60, deadline=None)
@given(
    slug=slugs,
    namespace=st.from_regex(r"[a-z]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True),
    replicas=st.integers(1, 10),
    stopped=st.booleans(),
    env=st.lists(secret_names, min_size=1, max_size=4),
    credential=st.none() | st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True),
    config=st.dictionaries(st.from_regex(r"[-._a-zA-Z0-9]{1,12}", fullmatch=True).filter(
        lambda k: k != "." and not k.startswith("..")), st.text(max_size=8), max_size=5),
)  # fmt: skip
def test_every_manifest_is_well_formed(
    slug: str,
    namespace: str,
    replicas: int,
    stopped: bool,
    env: list[str],
    credential: str | None,
    config: dict[str, str],
) -> None:
    spec = RecifSpec(image=IMAGE, replicas=replicas, config=config, env_secrets=tuple(env),
                     credential_secret=credential)  # fmt: skip
    desired = DesiredSpec(slug, spec, canary="img:2", stopped=stopped)
    objects = manifests(desired, namespace)
    for obj in objects:
        # Every name and label value is a DNS-1123 label (a Service name must be one).
        assert LABEL.fullmatch(obj.metadata.name)
        assert len(obj.metadata.name) <= 63
        assert obj.metadata.namespace == namespace
        assert all(LABEL.fullmatch(v) and len(v) <= 63 for v in obj.metadata.labels.values())
    cm, svc, dep, cdep, csvc = objects
    assert cm.data == config
    assert dep.spec.replicas == (0 if stopped else replicas)
    assert [e.secret_ref.name for e in _container(dep).env_from] == env
    mounted = {v.secret.secret_name for v in dep.spec.template.spec.volumes if v.secret}
    assert mounted == ({credential} if credential else set())
    for s, d in ((svc, dep), (csvc, cdep)):
        assert s.spec.selector == d.spec.selector.match_labels
        assert d.spec.selector.match_labels.items() <= d.spec.template.metadata.labels.items()
    assert cdep.metadata.name == csvc.metadata.name == f"{slug}-canary"
    assert svc.spec.selector != csvc.spec.selector
