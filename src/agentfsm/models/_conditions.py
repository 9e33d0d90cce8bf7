"""Kubernetes-style conditions for Recif agents, derived from the phase so they never disagree.

The CRD keeps its explicit phase; conditions are observations published beside it, as the
Kubernetes API conventions recommend. ``derive_conditions`` is the only place that decides
them, and both the machine (on every transition) and the reconciler use it.
"""

from __future__ import annotations

from datetime import datetime

import attrs

CONDITION_TYPES = ("Ready", "Available", "Progressing", "Degraded")
"""The condition types published beside the phase, in the order ``derive_conditions`` returns them.
"""

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


@attrs.frozen(slots=True)
class Condition:
    """One observation about an agent, in the Kubernetes shape.

    Attributes:
        type: ``Ready``, ``Available``, ``Progressing`` or ``Degraded``.
        status: ``"True"``, ``"False"`` or ``"Unknown"``.
        reason: a CamelCase machine word (``PodsReady``, ``CrashLoopBackOff``…).
        message: a sentence for people.
        observed_generation: the spec generation this observation is about.
        last_transition_time: when ``status`` last changed.
    """

    type: str
    status: str
    reason: str
    message: str
    observed_generation: int
    last_transition_time: datetime


# state -> {type: (status, reason, message)}; "{reason}" is the last unhealthy reason.
_TABLE: dict[str, dict[str, tuple[str, str, str]]] = {
    "Pending": {
        "Ready": (FALSE, "PodsNotReady", "Waiting for pods to become ready."),
        "Available": (FALSE, "NoReadyReplicas", "No replica is serving yet."),
        "Progressing": (TRUE, "Deploying", "The Deployment is rolling out."),
        "Degraded": (FALSE, "Healthy", "No failure observed."),
    },
    "Running": {
        "Ready": (TRUE, "PodsReady", "Pods are ready and the service is reachable."),
        "Available": (TRUE, "ReplicasAvailable", "At least one replica is serving."),
        "Progressing": (FALSE, "Deployed", "The rollout is complete."),
        "Degraded": (FALSE, "Healthy", "No failure observed."),
    },
    "Failed": {
        "Ready": (FALSE, "{reason}", "Pods are not healthy: {reason}."),
        "Available": (FALSE, "{reason}", "No replica is serving."),
        "Progressing": (FALSE, "{reason}", "The rollout is blocked: {reason}."),
        "Degraded": (TRUE, "{reason}", "Pods are failing: {reason}. Fix the configuration."),
    },
    "Terminated": {
        "Ready": (FALSE, "Stopped", "The agent is stopped (scaled to 0)."),
        "Available": (FALSE, "Stopped", "The agent is stopped."),
        "Progressing": (FALSE, "Stopped", "The agent is stopped."),
        "Degraded": (FALSE, "Stopped", "The agent is stopped."),
    },
    "deleted": {
        "Ready": (FALSE, "Deleted", "The agent has been deleted."),
        "Available": (FALSE, "Deleted", "The agent has been deleted."),
        "Progressing": (FALSE, "Deleted", "The agent has been deleted."),
        "Degraded": (FALSE, "Deleted", "The agent has been deleted."),
    },
}


def derive_conditions(
    state: str,
    generation: int,
    now: datetime,
    previous: tuple[Condition, ...] = (),
    reason: str | None = None,
) -> tuple[Condition, ...]:
    """The four conditions for an agent in machine ``state`` (none before it is deployed).

    A condition keeps its ``last_transition_time`` while its status does not change.
    """
    rows = _TABLE.get(state)
    if rows is None:  # "created": no CRD exists yet, so there is nothing to observe
        return ()
    before = {c.type: c for c in previous}
    word = reason or "Unhealthy"
    out = []
    for ctype in CONDITION_TYPES:
        status, why, message = rows[ctype]
        old = before.get(ctype)
        since = old.last_transition_time if old is not None and old.status == status else now
        out.append(
            Condition(
                type=ctype,
                status=status,
                reason=why.format(reason=word),
                message=message.format(reason=word),
                observed_generation=generation,
                last_transition_time=since,
            )
        )
    return tuple(out)
