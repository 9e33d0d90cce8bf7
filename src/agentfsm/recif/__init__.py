"""Recif's operator logic: a pure, level-triggered reconcile and a simulated cluster to run it on.

``reconcile(desired, observed, now=...)`` compares an agent's declared spec (``DesiredSpec``)
with what the cluster shows (``ObservedState``) and returns the phase and conditions to publish,
the Kubernetes actions to perform and when to look again. ``apply_actions`` performs actions on a
simulated cluster, with injectable ``Fault``s. ``phase_event`` turns a reconcile outcome into the
platform event that keeps the ``RECIF`` machine's status in step with the cluster.
"""

from agentfsm.recif._actions import KUBERNETES_WORK, DeleteCanary, MountSecrets, RecifAction
from agentfsm.recif._cluster import MISSING_CONFIG_REASON, Fault, apply_actions
from agentfsm.recif._reconcile import ReconcileResult, phase_event, reconcile
from agentfsm.recif._state import DesiredSpec, ObservedState, config_hash

__all__ = [
    "KUBERNETES_WORK",
    "MISSING_CONFIG_REASON",
    "DeleteCanary",
    "DesiredSpec",
    "Fault",
    "MountSecrets",
    "ObservedState",
    "RecifAction",
    "ReconcileResult",
    "apply_actions",
    "config_hash",
    "phase_event",
    "reconcile",
]
