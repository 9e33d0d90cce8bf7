"""Recif agents on Kubernetes: their manifests, and a host that applies and observes them.

``deployment``, ``service``, ``config_map``, ``canary_deployment`` and ``canary_service`` build
an agent's objects from its ``DesiredSpec`` with the official client's models; ``to_dict`` and
``to_yaml`` render them. ``KubernetesHost`` performs the Recif effects and reconcile actions
through the ``AppsV1Api`` and ``CoreV1Api`` its caller passes in, reads pod readiness and
waiting reasons back into an ``ObservedState``, and runs one reconcile with ``sync``.
``FakeKubernetesApi`` is an in-memory API server with fault injection, for tests.
Needs the ``kubernetes`` extra: ``pip install 'agentfsm[kubernetes]'``.
"""

from agentfsm.kubernetes import _deps  # noqa: F401  # first: a missing extra is named
from agentfsm.kubernetes._api import MAX_CONFLICTS, AppsApi, CoreApi
from agentfsm.kubernetes._fake import FakeKubernetesApi, PodFault
from agentfsm.kubernetes._host import RECIF_EFFECTS, KubernetesHost, SyncResult
from agentfsm.kubernetes._manifests import (
    canary_deployment,
    canary_service,
    config_map,
    deployment,
    manifests,
    service,
    to_dict,
    to_yaml,
)
from agentfsm.kubernetes._names import (
    CONFIG_HASH_ANNOTATION,
    CONFIG_MOUNT_PATH,
    CREDENTIALS_MOUNT_PATH,
    FENCE_ANNOTATION,
    HEALTH_PATH,
    MANAGED_BY,
    canary_name,
)
from agentfsm.kubernetes._observe import INCOMPLETE_CANARY, NORMAL_WAITING
from agentfsm.kubernetes._workload import ForeignObject

__all__ = [
    "CONFIG_HASH_ANNOTATION",
    "CONFIG_MOUNT_PATH",
    "CREDENTIALS_MOUNT_PATH",
    "FENCE_ANNOTATION",
    "HEALTH_PATH",
    "INCOMPLETE_CANARY",
    "MANAGED_BY",
    "MAX_CONFLICTS",
    "NORMAL_WAITING",
    "RECIF_EFFECTS",
    "AppsApi",
    "CoreApi",
    "FakeKubernetesApi",
    "ForeignObject",
    "KubernetesHost",
    "PodFault",
    "SyncResult",
    "canary_deployment",
    "canary_name",
    "canary_service",
    "config_map",
    "deployment",
    "manifests",
    "service",
    "to_dict",
    "to_yaml",
]
