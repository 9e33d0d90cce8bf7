"""What the cluster shows for one agent, read into the ``ObservedState`` reconcile compares.

Readiness comes from the Deployment's ``status.readyReplicas``; unhealthy pods from the
``waiting`` state of their containers. Waiting while the image is pulled or the volumes are
mounted is normal (``ContainerCreating``, ``PodInitializing``) and is not reported, otherwise
every deploy would pass through ``Failed``. Only stable pods count: a failing canary is the
canary's business, not a reason to call the whole agent ``Failed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agentfsm.kubernetes._workload import check_managed, workload_of
from agentfsm.recif import ObservedState

NORMAL_WAITING = frozenset({"ContainerCreating", "PodInitializing"})
"""Waiting reasons of pods on their way up; every other reason means the pods are unhealthy."""

INCOMPLETE_CANARY = "(incomplete canary)"
"""The ``canary_image`` reported when only half of the canary pair exists.

No declared canary image equals it, so reconcile replaces the pair when a canary is declared
and deletes the leftover half when none is.
"""


def waiting_reason(pods: Iterable[Any]) -> str | None:
    """The first abnormal waiting reason among ``pods`` (by pod name), or ``None``.

    Pods being deleted are skipped: their state no longer says anything about the agent.
    """
    live = (p for p in pods if p.metadata is not None and p.metadata.deletion_timestamp is None)
    for pod in sorted(live, key=lambda p: p.metadata.name or ""):
        status = pod.status
        if status is None:
            continue
        for c in (*(status.init_container_statuses or ()), *(status.container_statuses or ())):
            waiting = c.state.waiting if c.state is not None else None
            if waiting is not None and waiting.reason and waiting.reason not in NORMAL_WAITING:
                return str(waiting.reason)
    return None


def canary_image(deployment: Any | None, service: Any | None) -> str | None:
    """The canary's image when both halves exist, ``INCOMPLETE_CANARY`` for one, else ``None``."""
    if deployment is None and service is None:
        return None
    if deployment is None or service is None:
        return INCOMPLETE_CANARY
    return workload_of(deployment).image


def observed_state(
    *,
    deployment: Any | None,
    pods: Iterable[Any],
    service: Any | None,
    config_map: Any | None,
    canary_deployment: Any | None,
    canary_service: Any | None,
) -> ObservedState:
    """Put the live objects of one agent together into an ``ObservedState``.

    Raises:
        ForeignObject: one of the objects carries the agent's name but is not agentfsm's.
    """
    for obj, kind in ((service, "Service"), (config_map, "ConfigMap"), (canary_service, "Service")):
        if obj is not None:
            check_managed(obj, kind)
    canary = canary_image(canary_deployment, canary_service)
    configmap = None if config_map is None else dict(config_map.data or {})
    if deployment is None:
        return ObservedState(service=service is not None, configmap=configmap, canary_image=canary)
    w = workload_of(deployment)
    status = deployment.status
    return ObservedState(
        deployment=True,
        image=w.image,
        replicas=w.replicas,
        config_hash=w.config_hash,
        service=service is not None,
        configmap=configmap,
        canary_image=canary,
        mounted_secrets=w.secret_names,
        ready_replicas=(status.ready_replicas or 0) if status is not None else 0,
        waiting_reason=waiting_reason(pods),
    )
