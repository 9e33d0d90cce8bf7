"""The manifests of a Recif agent, built from its ``DesiredSpec`` with the client's own models.

Pure functions: the same spec and namespace always give the same objects, and nothing here
talks to a cluster. ``to_dict`` and ``to_yaml`` render them as ``kubectl apply`` would read them,
through the client's ``ApiClient().sanitize_for_serialization`` (camelCase keys, no ``None``s).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from kubernetes import client

from agentfsm._effects import CONTROL_PORT, DATA_PORT
from agentfsm._errors import InvalidInput
from agentfsm._slug import check_slug
from agentfsm.kubernetes import _names as n
from agentfsm.kubernetes._workload import Workload, build_deployment
from agentfsm.recif import DesiredSpec


def _check(desired: object, namespace: object) -> DesiredSpec:
    if not isinstance(desired, DesiredSpec):
        raise InvalidInput(f"desired must be a DesiredSpec, not {type(desired).__name__}")
    try:
        check_slug(namespace)
    except InvalidInput as exc:
        raise InvalidInput(f"namespace: {exc}") from None
    return desired


def stable_workload(desired: DesiredSpec) -> Workload:
    """The values of the agent's stable Deployment (replicas 0 when stopped or deleted)."""
    spec = desired.spec
    return Workload(
        slug=desired.slug,
        canary=False,
        image=spec.image,
        replicas=desired.target_replicas,
        env_secrets=spec.env_secrets,
        credential_secret=spec.credential_secret,
        config_hash=desired.config_hash,
    )


def deployment(desired: DesiredSpec, namespace: str) -> client.V1Deployment:
    """The agent's Deployment: the Corail image, its replicas, its Secrets, its config hash.

    Args:
        desired: the agent's declared spec.
        namespace: the team namespace (a DNS-1123 label).

    Returns:
        A ``V1Deployment`` named after the slug, running ``replicas`` pods (0 when stopped)
        with ports 8000 (``data``) and 8001 (``control``), ``envFrom`` every ``envSecrets``
        Secret, the ``credentialSecret`` mounted read-only at ``CREDENTIALS_MOUNT_PATH``, the
        ConfigMap at ``CONFIG_MOUNT_PATH``, a readiness probe on ``/healthz`` and the config
        hash as a pod-template annotation (a config change rolls the pods).

    Raises:
        InvalidInput: ``desired`` is not a ``DesiredSpec`` or ``namespace`` is not a label.
    """
    return build_deployment(stable_workload(_check(desired, namespace)), namespace)


def build_service(slug: str, namespace: str, *, canary: bool) -> client.V1Service:
    """The Service in front of the stable (or canary) pods of agent ``slug``."""
    name = n.canary_name(slug) if canary else slug
    return client.V1Service(
        api_version="v1",
        kind="Service",
        metadata=client.V1ObjectMeta(
            name=name,
            namespace=namespace,
            labels=n.labels(slug, name, "canary" if canary else "agent"),
        ),
        spec=client.V1ServiceSpec(
            type="ClusterIP",
            selector=n.selector(slug, name),
            ports=[
                client.V1ServicePort(name="data", port=DATA_PORT, target_port="data"),
                client.V1ServicePort(name="control", port=CONTROL_PORT, target_port="control"),
            ],
        ),
    )


def service(desired: DesiredSpec, namespace: str) -> client.V1Service:
    """The agent's Service: port 8000 ``data`` and 8001 ``control``, selecting the stable pods.

    Raises:
        InvalidInput: ``desired`` is not a ``DesiredSpec`` or ``namespace`` is not a label.
    """
    return build_service(_check(desired, namespace).slug, namespace, canary=False)


def build_config_map(slug: str, namespace: str, config: Mapping[str, str]) -> client.V1ConfigMap:
    """The ConfigMap of agent ``slug`` holding ``config``.

    Raises:
        InvalidInput: a config key cannot be a ConfigMap key.
    """
    n.check_config_keys(config)
    return client.V1ConfigMap(
        api_version="v1",
        kind="ConfigMap",
        metadata=client.V1ObjectMeta(
            name=slug, namespace=namespace, labels=n.labels(slug, slug, "config")
        ),
        data=dict(sorted(config.items())),
    )


def config_map(desired: DesiredSpec, namespace: str) -> client.V1ConfigMap:
    """The agent's ConfigMap: one entry per config key (model type, strategy, tools…).

    Raises:
        InvalidInput: ``desired`` or ``namespace`` is malformed, or a config key cannot be a
            ConfigMap key.
    """
    d = _check(desired, namespace)
    return build_config_map(d.slug, namespace, d.config)


def _canary_image(desired: DesiredSpec) -> str:
    if desired.canary is None:
        raise InvalidInput(f"agent {desired.slug!r} declares no canary; set DesiredSpec.canary")
    return desired.canary


def canary_deployment(desired: DesiredSpec, namespace: str) -> client.V1Deployment:
    """The canary Deployment ``<slug>-canary``: one pod of the canary image, same secrets/config.

    Raises:
        InvalidInput: no canary is declared, the slug leaves no room for ``-canary``, or
            ``desired``/``namespace`` is malformed.
    """
    d = _check(desired, namespace)
    stable = stable_workload(d)
    return build_deployment(
        Workload(
            slug=d.slug,
            canary=True,
            image=_canary_image(d),
            replicas=0 if d.stopped or d.deleted else 1,
            env_secrets=stable.env_secrets,
            credential_secret=stable.credential_secret,
            config_hash=stable.config_hash,
        ),
        namespace,
    )


def canary_service(desired: DesiredSpec, namespace: str) -> client.V1Service:
    """The canary Service ``<slug>-canary`` in front of the canary pods only.

    Raises:
        InvalidInput: as ``canary_deployment``.
    """
    d = _check(desired, namespace)
    _canary_image(d)
    return build_service(d.slug, namespace, canary=True)


def manifests(desired: DesiredSpec, namespace: str) -> tuple[Any, ...]:
    """Every object the agent should own, in the order to apply them.

    The ConfigMap comes first (pods read it when they start), then the Service and the
    Deployment, then the canary pair when one is declared.

    Raises:
        InvalidInput: as the functions above.
    """
    out: list[Any] = [
        config_map(desired, namespace),
        service(desired, namespace),
        deployment(desired, namespace),
    ]
    if desired.canary is not None:
        out += [canary_deployment(desired, namespace), canary_service(desired, namespace)]
    return tuple(out)


def to_dict(obj: Any) -> dict[str, Any]:
    """``obj`` (a client model) as the plain mapping the API server reads (camelCase keys).

    Raises:
        InvalidInput: ``obj`` does not render as a mapping.
    """
    api: Any = client.ApiClient()  # its serializer is not annotated
    out = api.sanitize_for_serialization(obj)
    if not isinstance(out, dict):
        raise InvalidInput(f"{type(obj).__name__} is not a Kubernetes object")
    return out


def to_yaml(objects: Iterable[Any]) -> str:
    """``objects`` as one multi-document YAML text, ready for ``kubectl apply -f -``."""
    return yaml.safe_dump_all([to_dict(o) for o in objects], sort_keys=False)
