"""A Deployment the host owns, as the handful of values it is built from, and back again.

The host never edits a Deployment field by field: it reads the live object back into a
``Workload`` (image, replicas, secrets, config hash), changes a value, and writes the whole
manifest built from it. Both directions live here so they cannot drift apart.

Secrets: every ``envSecrets`` name becomes an ``envFrom`` secretRef, in order (a later Secret
wins on a duplicate key, as Kubernetes does). The ``credentialSecret`` is mounted as a read-only
volume rather than as environment variables: credentials are usually files (keys, certificates,
tokens), a mounted Secret is refreshed in place when it is rotated, and values in the
environment leak into every child process and into crash reports. The ConfigMap is mounted as a
volume too, so any ConfigMap key works (an environment variable name could not hold them all);
its checksum annotation on the pod template makes a config change roll the pods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from kubernetes import client

from agentfsm._effects import CONTROL_PORT, DATA_PORT
from agentfsm._errors import InvalidInput
from agentfsm._slug import check_slug
from agentfsm.kubernetes import _names as n

_READ_ONLY = 0o440  # owner and group read: the container's fsGroup may need to read it


@attrs.frozen(slots=True)
class Workload:
    """The values a stable or canary Deployment of one agent is built from.

    Attributes:
        slug: the agent.
        canary: this is the canary Deployment (``<slug>-canary``), not the stable one.
        image: the container image.
        replicas: ``spec.replicas`` (0 for a stopped agent).
        env_secrets: Secrets loaded as environment variables, in order.
        credential_secret: the Secret mounted at ``CREDENTIALS_MOUNT_PATH``, or ``None``.
        config_hash: ``config_hash`` of the ConfigMap the pods read, or ``None`` when the pod
            template was written while the ConfigMap did not exist.
    """

    slug: str = attrs.field(converter=check_slug)
    canary: bool
    image: str
    replicas: int
    env_secrets: tuple[str, ...]
    credential_secret: str | None = None
    config_hash: str | None = None

    @property
    def name(self) -> str:
        """The Deployment's name (``slug``, or ``slug-canary``)."""
        return n.canary_name(self.slug) if self.canary else self.slug

    @property
    def component(self) -> str:
        """The ``app.kubernetes.io/component`` label value."""
        return "canary" if self.canary else "agent"

    @property
    def secret_names(self) -> frozenset[str]:
        """Every Secret the pods mount."""
        extra = () if self.credential_secret is None else (self.credential_secret,)
        return frozenset((*self.env_secrets, *extra))


def build_deployment(w: Workload, namespace: str) -> client.V1Deployment:
    """The Deployment manifest of ``w`` in ``namespace``."""
    check_slug(namespace)
    volumes = [
        client.V1Volume(
            name=n.CONFIG_VOLUME,
            config_map=client.V1ConfigMapVolumeSource(name=w.slug, default_mode=_READ_ONLY),
        )
    ]
    mounts = [
        client.V1VolumeMount(name=n.CONFIG_VOLUME, mount_path=n.CONFIG_MOUNT_PATH, read_only=True)
    ]
    if w.credential_secret is not None:
        volumes.append(
            client.V1Volume(
                name=n.CREDENTIALS_VOLUME,
                secret=client.V1SecretVolumeSource(
                    secret_name=w.credential_secret, default_mode=_READ_ONLY
                ),
            )
        )
        mounts.append(
            client.V1VolumeMount(
                name=n.CREDENTIALS_VOLUME, mount_path=n.CREDENTIALS_MOUNT_PATH, read_only=True
            )
        )
    container = client.V1Container(
        name=n.CONTAINER,
        image=w.image,
        ports=[
            client.V1ContainerPort(name="data", container_port=DATA_PORT, protocol="TCP"),
            client.V1ContainerPort(name="control", container_port=CONTROL_PORT, protocol="TCP"),
        ],
        env_from=[
            client.V1EnvFromSource(secret_ref=client.V1SecretEnvSource(name=s))
            for s in w.env_secrets
        ],
        volume_mounts=mounts,
        readiness_probe=client.V1Probe(
            http_get=client.V1HTTPGetAction(path=n.HEALTH_PATH, port="data"),
            period_seconds=5,
            failure_threshold=3,
        ),
    )
    annotations = None if w.config_hash is None else {n.CONFIG_HASH_ANNOTATION: w.config_hash}
    labels = n.labels(w.slug, w.name, w.component)
    return client.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=client.V1ObjectMeta(name=w.name, namespace=namespace, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=w.replicas,
            selector=client.V1LabelSelector(match_labels=n.selector(w.slug, w.name)),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels, annotations=annotations),
                spec=client.V1PodSpec(containers=[container], volumes=volumes),
            ),
        ),
    )


class ForeignObject(InvalidInput):
    """An object with the agent's name exists but was not made by agentfsm; it is left alone."""


def check_managed(obj: Any, kind: str) -> None:
    """Raise ``ForeignObject`` unless ``obj`` carries agentfsm's ``managed-by`` label."""
    meta = obj.metadata
    found = (meta.labels or {}).get(n.MANAGED_BY_LABEL) if meta is not None else None
    if found != n.MANAGED_BY:
        name = meta.name if meta is not None else "?"
        raise ForeignObject(
            f"the {kind} {name!r} is not managed by agentfsm ({n.MANAGED_BY_LABEL}={found!r}); "
            f"delete or rename it, or give the agent another name"
        )


def workload_of(deployment: client.V1Deployment) -> Workload:
    """The values a live Deployment made by ``build_deployment`` was built from.

    Raises:
        ForeignObject: the Deployment was not made by agentfsm (or lost its agent container).
    """
    check_managed(deployment, "Deployment")
    meta, spec = deployment.metadata, deployment.spec
    assert meta is not None  # a live Deployment has both
    assert spec is not None
    labels = meta.labels or {}
    pod = spec.template.spec
    containers: Sequence[client.V1Container] = pod.containers if pod is not None else []
    agent = next((c for c in containers if c.name == n.CONTAINER), None)
    if agent is None or agent.image is None:
        raise ForeignObject(f"the Deployment {meta.name!r} has no {n.CONTAINER!r} container")
    env = tuple(
        e.secret_ref.name for e in agent.env_from or () if e.secret_ref and e.secret_ref.name
    )
    volumes = pod.volumes or [] if pod is not None else []
    credential = next(
        (v.secret.secret_name for v in volumes if v.name == n.CREDENTIALS_VOLUME and v.secret),
        None,
    )
    template_meta = spec.template.metadata
    annotations = (template_meta.annotations if template_meta is not None else None) or {}
    return Workload(
        slug=labels.get(n.NAME_LABEL, meta.name),
        canary=labels.get(n.COMPONENT_LABEL) == "canary",
        image=agent.image,
        replicas=spec.replicas if spec.replicas is not None else 1,
        env_secrets=env,
        credential_secret=credential,
        config_hash=annotations.get(n.CONFIG_HASH_ANNOTATION),
    )
