"""The Recif reconcile loop: level-triggered, every ``requeue_after`` per agent and on change.

Each pass over one agent reads the whole picture (the desired spec from the agent's snapshot,
the observed objects from the cluster), asks the pure ``agentfsm.recif.reconcile`` what to do,
performs its actions through the cluster, and tells the RECIF machine what it saw with
``phase_event``. Nothing depends on which change woke the loop up, so a missed or repeated
wake-up does no harm: the next pass repairs it.

An agent is due when its requeue time has come, or when it was marked (a spec change, or a
change of its objects in the cluster: the watch). One agent is never reconciled by two callers
at once; a caller that finds it busy skips it, and it stays due.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime

import attrs

from agentfsm._values import DEFAULT_POLICY, Actor, Event, Policy, Refusal, Snapshot, Step
from agentfsm.models import RecifAgent
from agentfsm.platform._cluster import SimulatedCluster
from agentfsm.recif import DesiredSpec, ReconcileResult, phase_event, reconcile
from agentfsm.runtime import AgentRecord, Controller

log = logging.getLogger("agentfsm.platform")


@attrs.frozen
class ReconcileOutcome:
    """What one pass over one agent did.

    Attributes:
        agent_id: the agent.
        result: the pure reconcile's answer (phase, conditions, actions, requeue).
        event: the platform event fed to the machine, if any.
        outcome: the machine's answer to that event (``None`` without an event).
    """

    agent_id: str
    result: ReconcileResult
    event: Event | None = None
    outcome: Step | Refusal | None = None

    @property
    def busy(self) -> bool:
        """The pass changed something: it performed actions or fed the machine an event."""
        return bool(self.result.actions) or self.event is not None


def is_recif(record: AgentRecord) -> bool:
    """True for a stored agent the reconcile loop looks after (a deployed Recif agent)."""
    return isinstance(record.snapshot.data, RecifAgent) and record.snapshot.status != "created"


class RecifReconciler:
    """Runs Recif's reconcile for stored agents against a ``SimulatedCluster``.

    Args:
        controller: reads nothing itself; receives the platform events the passes produce.
        cluster: where the agents' objects are observed and the actions performed. The
            reconciler subscribes to it, so a change of an agent's objects makes it due.
        policy: ``policy.requeue_after`` is the resync interval (30 s by default).
    """

    def __init__(
        self, controller: Controller, cluster: SimulatedCluster, *, policy: Policy = DEFAULT_POLICY
    ) -> None:
        self._controller = controller
        self._cluster = cluster
        self._policy = policy
        self._lock = threading.Lock()
        self._next: dict[str, datetime | None] = {}  # None: nothing left to watch
        self._marked: set[str] = set()
        self._running: set[str] = set()
        self._last: dict[str, ReconcileResult] = {}
        cluster.subscribe(self.mark)

    def mark(self, agent_id: str) -> None:
        """Make the agent due now (its spec or its objects changed). Thread-safe and quick."""
        with self._lock:
            self._marked.add(agent_id)

    def last(self, agent_id: str) -> ReconcileResult | None:
        """The result of the agent's latest pass (phase, conditions…), if it had one."""
        with self._lock:
            return self._last.get(agent_id)

    def due(self, records: Iterable[AgentRecord], now: datetime) -> list[AgentRecord]:
        """The deployed Recif agents among ``records`` that are due at ``now``."""
        out = []
        with self._lock:
            for r in records:
                if not is_recif(r):
                    continue
                if r.agent_id in self._marked:
                    out.append(r)
                    continue
                if r.agent_id not in self._next:
                    out.append(r)  # first sight since start: look once (level-triggered)
                    continue
                at = self._next[r.agent_id]
                if at is not None and at <= now:
                    out.append(r)
        return out

    def run_due(self, records: Iterable[AgentRecord], now: datetime) -> list[ReconcileOutcome]:
        """Reconcile every due agent among ``records`` once. Returns one outcome per pass."""
        outcomes = []
        for record in self.due(records, now):
            outcome = self.reconcile(record)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def reconcile(self, record: AgentRecord) -> ReconcileOutcome | None:
        """One pass over the agent ``record`` names (read again from the store first).

        Returns:
            What the pass did, or ``None`` when the agent is being reconciled by another caller
            right now (it stays due) or is not a deployed Recif agent.

        Raises:
            StoreError: the controller could not record the event (the agent stays due).
        """
        agent_id = record.agent_id
        if not is_recif(record):
            return None
        with self._lock:
            if agent_id in self._running:
                return None
            self._running.add(agent_id)
            self._marked.discard(agent_id)
        try:
            # Read again: the record may predate effects performed since it was listed.
            outcome = self._pass(self._controller.get(agent_id))
        except BaseException:
            with self._lock:
                self._marked.add(agent_id)
                self._running.discard(agent_id)
            raise
        now = self._controller.clock.now()
        requeue = outcome.result.requeue_after
        with self._lock:
            self._next[agent_id] = None if requeue is None else now + requeue
            self._last[agent_id] = outcome.result
            self._running.discard(agent_id)
        return outcome

    def _pass(self, record: AgentRecord) -> ReconcileOutcome:
        snapshot = record.snapshot
        data: RecifAgent = snapshot.data
        desired = DesiredSpec.from_snapshot(snapshot)
        observed = self._cluster.observe(record.agent_id)
        result = reconcile(
            desired,
            observed,
            now=self._controller.clock.now(),
            previous_conditions=data.conditions,
            policy=self._policy,
        )
        if result.actions:
            # The cluster tells its subscribers about the change, which marks the agent due
            # again: the next pass sees the settled pods, like a watch on owned objects.
            self._cluster.apply(record.agent_id, result.actions)
        event = phase_event(snapshot.status, result) or _ready_count_changed(snapshot, result)
        if event is None:
            return ReconcileOutcome(record.agent_id, result)
        # The id ties the event to the version it was decided from: two passes over the same
        # version report once, and a pass over a newer version reports anew.
        event = attrs.evolve(
            event, id=f"reconcile:{record.agent_id}:{snapshot.version}:{event.name}"
        )
        outcome = self._controller.handle(record.agent_id, event)
        if isinstance(outcome, Refusal):
            log.debug("reconcile of %s: %s refused: %s", record.agent_id, event.name, outcome)
        return ReconcileOutcome(record.agent_id, result, event, outcome)


def _ready_count_changed(snapshot: Snapshot, result: ReconcileResult) -> Event | None:
    """``pods_ready`` for a Running agent whose ready count moved (after a scale, say).

    ``phase_event`` reports phase changes only; the machine also has an in-place row so that
    ``status.replicas`` stays true, and a changed count is something that moved.
    """
    data = snapshot.data
    if not isinstance(data, RecifAgent) or not snapshot.status == result.phase == "Running":
        return None
    if result.ready_replicas < 1 or result.ready_replicas == data.ready_replicas:
        return None
    payload: dict[str, object] = {"ready_replicas": result.ready_replicas}
    if result.endpoint is not None:
        payload["endpoint"] = result.endpoint
    return Event("pods_ready", Actor.SYSTEM, payload)
