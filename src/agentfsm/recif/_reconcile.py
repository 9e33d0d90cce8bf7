"""Recif's reconcile: one pure, level-triggered function from (desired, observed) to what to do.

Level-triggered means the answer depends only on the full desired spec and the full observed
state, never on which change woke the operator up: a missed or repeated notification cannot
make it do the wrong thing, because the next look at the whole picture repairs it. The only
memory it is given, ``previous_conditions``, serves one purpose: keeping each condition's
``lastTransitionTime`` while its status does not change.

Phase rules, in the order the operator's loop checks them: deleted or stopped -> ``Terminated``;
a pod waiting on an error (``CrashLoopBackOff``…) -> ``Failed``; a ready pod behind the Service ->
``Running``; anything else -> ``Pending``. Pods that keep serving during a rolling update stay
``Running``, because the machine has no row that leaves ``Running`` for a spec change.

``requeue_after`` is the policy's resync interval (30 s by default, the operator's documented
period) for every agent that still owns something or should, whether or not actions were
returned: watches on the owned objects bring the agent back sooner when they change, and the
resync catches what a watch missed. A deleted agent with nothing left is ``None``: there is
nothing more to watch.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

from agentfsm._effects import (
    CreateCanary,
    CreateConfigMap,
    CreateDeployment,
    CreateService,
    DeleteResources,
    RecreateConfigMap,
    RestartPods,
    ScaleDeployment,
    UpdateDeploymentImage,
)
from agentfsm._errors import InvalidInput
from agentfsm._values import DEFAULT_POLICY, Actor, Context, Event, Policy
from agentfsm.models._conditions import Condition, derive_conditions
from agentfsm.models._recif import RECIF_SPEC
from agentfsm.recif._actions import DeleteCanary, MountSecrets, RecifAction
from agentfsm.recif._state import DesiredSpec, ObservedState


@attrs.frozen(slots=True)
class ReconcileResult:
    """What one reconcile decided: the status to publish and the work to do.

    Attributes:
        phase: the CRD phase: ``Pending``, ``Running``, ``Failed`` or ``Terminated``.
        conditions: ``Ready``, ``Available``, ``Progressing`` and ``Degraded``, derived from the
            phase by ``derive_conditions`` (deleted agents get the ``Deleted`` reasons).
        actions: the Kubernetes work to perform, in order; empty when the cluster matches.
        requeue_after: when to reconcile again at the latest, or ``None`` for never.
        ready_replicas: ``status.replicas``: the ready pods observed.
        endpoint: ``status.endpoint``: the Service's in-cluster URL while ``Running``.
        reason: why pods are unhealthy while ``Failed`` (``CrashLoopBackOff``…).
        deleted: the agent is deleted (phase ``Terminated`` with ``deleted_at`` set).
    """

    phase: str
    conditions: tuple[Condition, ...]
    actions: tuple[RecifAction, ...]
    requeue_after: timedelta | None
    ready_replicas: int = 0
    endpoint: str | None = None
    reason: str | None = None
    deleted: bool = False

    @property
    def converged(self) -> bool:
        """The cluster already matches the desired spec: there is nothing to do."""
        return not self.actions


def reconcile(
    desired: DesiredSpec,
    observed: ObservedState,
    *,
    now: datetime,
    previous_conditions: Iterable[Condition] = (),
    policy: Policy = DEFAULT_POLICY,
) -> ReconcileResult:
    """Compare the declared spec with the cluster and say what to publish and what to do.

    Args:
        desired: the Agent CRD's spec (see ``DesiredSpec.from_snapshot`` for a machine's agent).
        observed: the objects the operator found in the cluster.
        now: the current time, timezone-aware; stamps conditions whose status changes.
        previous_conditions: the conditions published last time, so that unchanged ones keep
            their ``lastTransitionTime``.
        policy: ``policy.requeue_after`` is the resync interval (30 s by default).

    Returns:
        A ``ReconcileResult``. Performing its actions and reconciling again returns no actions.

    Raises:
        InvalidInput: an argument has the wrong type, or ``now`` is naive.
    """
    if not isinstance(desired, DesiredSpec):
        raise InvalidInput(f"desired must be a DesiredSpec, not {type(desired).__name__}")
    if not isinstance(observed, ObservedState):
        raise InvalidInput(f"observed must be an ObservedState, not {type(observed).__name__}")
    if not isinstance(policy, Policy):
        raise InvalidInput(f"policy must be a Policy, not {type(policy).__name__}")
    Context(now, policy)  # the one place that checks a time is aware
    previous = _conditions(previous_conditions)

    actions = _actions(desired, observed)
    state, reason = _state(desired, observed)
    phase = RECIF_SPEC.state(state).phase
    assert phase is not None  # every state reconcile reports has a CRD phase
    gone = desired.deleted and not actions
    return ReconcileResult(
        phase=phase,
        conditions=derive_conditions(state, desired.generation, now, previous, reason),
        actions=actions,
        requeue_after=None if gone else policy.requeue_after,
        ready_replicas=observed.ready_replicas if state != "deleted" else 0,
        endpoint=desired.endpoint if state == "Running" else None,
        reason=reason,
        deleted=desired.deleted,
    )


def _conditions(value: Iterable[Condition]) -> tuple[Condition, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidInput(
            f"previous_conditions must be a sequence of Condition, not {type(value).__name__}"
        )
    out = tuple(value)
    for c in out:
        if not isinstance(c, Condition):
            raise InvalidInput(f"previous_conditions must hold Condition values, not {c!r}")
    return out


def _state(desired: DesiredSpec, observed: ObservedState) -> tuple[str, str | None]:
    """The machine state the observation amounts to, and the unhealthy reason if any."""
    if desired.deleted:
        return "deleted", None
    if desired.stopped:
        return "Terminated", None
    if observed.deployment and observed.waiting_reason is not None:
        return "Failed", observed.waiting_reason
    if observed.deployment and observed.service and observed.ready_replicas >= 1:
        return "Running", None
    return "Pending", None


def _actions(d: DesiredSpec, o: ObservedState) -> tuple[RecifAction, ...]:
    if d.deleted:
        return () if o.nothing_left else (DeleteResources(),)
    out: list[RecifAction] = []
    target = d.target_replicas
    # Stopping scales down first, so no template change below rolls pods that are going away.
    if d.stopped and o.deployment and o.replicas != target:
        out.append(ScaleDeployment(target))
    # The ConfigMap comes before the Deployment: pods read it when they start.
    if o.configmap is None:
        out.append(CreateConfigMap(d.config))
    elif o.configmap != d.config:
        out.append(RecreateConfigMap(d.config))
    if not o.service:
        out.append(CreateService())
    if not o.deployment:
        out.append(CreateDeployment(d.image, target, d.spec.env_secrets, d.spec.credential_secret))
    else:
        rolls = False  # a template change starts new pods, which read the current ConfigMap
        if o.image != d.image:
            out.append(UpdateDeploymentImage(d.image))
            rolls = True
        if o.mounted_secrets != d.secret_names:
            out.append(MountSecrets(d.spec.env_secrets, d.spec.credential_secret))
            rolls = True
        # A stopped agent has no pods to restart; restarting it restarts them (next look).
        if not rolls and not d.stopped and o.config_hash != d.config_hash:
            out.append(RestartPods())
        if not d.stopped and o.replicas != target:
            out.append(ScaleDeployment(target))
    # A canary runs pods too, so a stopped agent has none; restarting brings it back.
    canary = None if d.stopped else d.canary
    if canary is not None and o.canary_image != canary:
        out.append(CreateCanary(canary))
    elif canary is None and o.canary_image is not None:
        out.append(DeleteCanary())
    return tuple(out)


def _system_rows() -> dict[tuple[str, str], str]:
    """(source, target) -> the platform event of the RECIF machine that changes the phase.

    In-place rows (a Running agent reporting a new ready count) are left out: a reconcile every
    30 s must not become a transition every 30 s when nothing moved.
    """
    system = {e.name for e in RECIF_SPEC.events if Actor.SYSTEM in e.actors}
    return {
        (source, row.target): row.event
        for row in RECIF_SPEC.transitions
        if row.event in system
        for source in row.sources
        if row.target != source
    }


_SYSTEM_ROWS = _system_rows()
_STATES = frozenset(RECIF_SPEC.state_names)


def phase_event(previous_phase: str, result: ReconcileResult) -> Event | None:
    """The platform event that tells the RECIF machine what a reconcile observed.

    Args:
        previous_phase: the machine status the agent is in (``Pending``, ``Running``…).
        result: the reconcile outcome for that agent.

    Returns:
        ``pods_ready`` (with ``ready_replicas`` and ``endpoint``) when the agent just became
        ``Running``; ``pods_unhealthy`` (with ``reason`` and a ``message``) when it just became
        ``Failed``; ``None`` when the machine has no platform row for the move (nothing changed,
        or the change is a user's to make: stop, restart, delete). In particular a ``Running``
        agent whose pods all disappear without an error reason is not moved back to ``Pending``:
        the machine has no such row.

    Raises:
        InvalidInput: ``previous_phase`` is not a RECIF state, or ``result`` is not a
            ``ReconcileResult``.
    """
    if previous_phase not in _STATES:
        known = ", ".join(RECIF_SPEC.state_names)
        raise InvalidInput(f"unknown Recif status {previous_phase!r}; use one of {known}")
    if not isinstance(result, ReconcileResult):
        raise InvalidInput(f"result must be a ReconcileResult, not {type(result).__name__}")
    if result.deleted:
        return None
    name = _SYSTEM_ROWS.get((previous_phase, result.phase))
    if name == "pods_ready":
        payload: dict[str, object] = {"ready_replicas": result.ready_replicas}
        if result.endpoint is not None:
            payload["endpoint"] = result.endpoint
        return Event(name, Actor.SYSTEM, payload)
    if name == "pods_unhealthy":
        degraded = next((c for c in result.conditions if c.type == "Degraded"), None)
        message = degraded.message if degraded is not None else ""
        return Event(name, Actor.SYSTEM, {"reason": result.reason, "message": message})
    return None
