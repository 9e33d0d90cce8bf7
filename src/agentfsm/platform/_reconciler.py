"""The Recif reconcile pass, run by the runtime's reconcile loop: every 30 s and on change.

Each pass over one agent reads the whole picture (the desired spec from the agent's snapshot,
the observed objects from the cluster), asks the pure ``agentfsm.recif.reconcile`` what to do,
performs its actions through the cluster, and tells the RECIF machine what it saw with
``phase_event``. Nothing depends on which change woke the loop up, so a missed or repeated
wake-up does no harm: the next pass repairs it.

The scheduling is the loop's: an agent id is its key, a pass returns the policy's
``requeue_after`` (``None`` once nothing is left to watch, or for an agent that is not a
deployed Recif agent), a change (an accepted event, a change of the agent's objects in the
cluster: the watch) enqueues the key at once, and one agent is never reconciled by two workers
at once.

The loop is the in-memory ``ReconcileLoop`` (one process) or the store's
``SharedReconcileLoop`` (several replicas on one store: the schedule and the per-agent
leases live in the store, so each agent is reconciled by one replica at a time and once per
period by the whole fleet).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Literal

import attrs

from agentfsm._errors import InvalidInput
from agentfsm._values import Actor, Event, Refusal, Snapshot, Step
from agentfsm.models import RecifAgent
from agentfsm.platform._cluster import SimulatedCluster
from agentfsm.platform._keys import derived_id
from agentfsm.recif import DesiredSpec, ReconcileResult, phase_event, reconcile
from agentfsm.runtime import (
    GONE,
    AgentRecord,
    Controller,
    ReconcileLoop,
    Requeue,
    SharedReconcileLoop,
    UnknownAgent,
)

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


@attrs.define
class _Batch:
    """What the passes run in one thread during one call produced."""

    outcomes: list[ReconcileOutcome] = attrs.field(factory=list)
    errors: list[Exception] = attrs.field(factory=list)


class RecifReconciler:
    """Runs Recif's reconcile for stored agents against a ``SimulatedCluster``.

    Args:
        controller: where the agents are read and the platform events the passes produce are
            fed; its clock paces the loop.
        cluster: where the agents' objects are observed and the actions performed. The
            reconciler subscribes to it, so a change of an agent's objects enqueues the agent.
        loop: ``"memory"`` for a ``ReconcileLoop`` of this process, ``"shared"`` for a
            ``SharedReconcileLoop`` on the controller's store (which must keep leases).
        replica_id: the name the shared loop holds its leases under (unique per process by
            default); unused in memory.
        lease: how long the shared loop holds an agent; a pass must end within it, and a dead
            replica's agents wait this long before another replica takes them.

    Raises:
        StoreError: ``loop="shared"`` on a store that keeps no leases.
        InvalidInput: ``loop`` is neither ``"memory"`` nor ``"shared"``.

    The resync interval is the Recif machine's ``policy.requeue_after`` (30 s by default): the
    machine the controller decides with, so the loop and the decisions read one policy.

    Attributes:
        loop: the ``ReconcileLoop`` or ``SharedReconcileLoop`` that schedules the passes
            (``pending()`` shows what is due when). ``run_due`` drives it in the caller's
            thread; its own ``start`` works too, but then outcomes are only kept for ``last``
            and failures are only logged.
        shared: the loop is the store's shared one.
    """

    def __init__(
        self,
        controller: Controller,
        cluster: SimulatedCluster,
        *,
        loop: Literal["memory", "shared"] = "memory",
        replica_id: str | None = None,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        if loop not in ("memory", "shared"):
            raise InvalidInput(f"loop must be 'memory' or 'shared', not {loop!r}")
        self._controller = controller
        self._cluster = cluster
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._last: dict[str, ReconcileResult] = {}
        self._local = threading.local()  # the calling thread's ``_Batch``, while it runs passes
        self.shared = loop == "shared"
        self.loop: ReconcileLoop | SharedReconcileLoop
        if self.shared:
            self.loop = SharedReconcileLoop(
                controller.store,
                self._reconcile_key,
                controller.clock,
                replica_id=replica_id,
                lease=lease,
                on_error=self._failed,
            )
        else:
            self.loop = ReconcileLoop(self._reconcile_key, controller.clock, on_error=self._failed)
        cluster.subscribe(self.mark)

    def mark(self, agent_id: str) -> None:
        """Make the agent due now (its spec or its objects changed). Thread-safe and quick.

        With the shared loop the agent is due for the whole fleet: whichever replica takes it
        first runs the pass (one being run runs again once that pass is over).

        Raises:
            ValueError: ``agent_id`` is not a non-empty string.
        """
        self.loop.enqueue(agent_id)

    def see(self, records: Iterable[AgentRecord]) -> None:
        """Enqueue the deployed Recif agents among ``records`` that have not had a pass yet.

        After a start (or a restart over a stored fleet), every such agent is reconciled once
        from its full state, which is what level-triggering makes safe. With the shared loop,
        an agent the fleet already tracks keeps its schedule (``SharedReconcileLoop.offer``):
        a replica starting does not make every agent due again.
        """
        new = []
        with self._lock:
            for r in records:
                if is_recif(r) and r.agent_id not in self._seen:
                    self._seen.add(r.agent_id)
                    new.append(r.agent_id)
        if isinstance(self.loop, SharedReconcileLoop):
            if new:
                self.loop.offer(new)
        else:
            self.loop.enqueue_all(new)

    def last(self, agent_id: str) -> ReconcileResult | None:
        """The result of the agent's latest pass (phase, conditions…), if it had one."""
        with self._lock:
            return self._last.get(agent_id)

    def run_due(self, records: Iterable[AgentRecord] = ()) -> list[ReconcileOutcome]:
        """Reconcile every due agent once, in this thread (the loop's ``run_due``).

        Args:
            records: stored agents; the deployed Recif agents among them not seen before are
                enqueued first (see ``see``).

        Returns:
            One outcome per pass over a deployed Recif agent. An agent due again because of its
            own pass (its actions changed the cluster) waits for the next call.

        Raises:
            Exception: the first error a pass raised (a ``StoreError`` when the controller could
                not record an event), once every due agent had its pass. The failed agents are
                retried with the loop's backoff.
        """
        self.see(records)
        loop = self.loop
        if isinstance(loop, SharedReconcileLoop):
            batch = self._run(loop.run_due)
        else:
            batch = self._run(lambda: loop.run_due(once=True))
        return batch.outcomes

    def reconcile(self, record: AgentRecord) -> ReconcileOutcome | None:
        """One pass over the agent ``record`` names (read again from the store first), now.

        The pass stands for the agent's next one: it is requeued from it as after any pass.
        With the shared loop the agent is made due and this replica runs what is due (this
        agent among them, unless another replica holds it).

        Returns:
            What the pass did, or ``None`` when the agent is being reconciled by another caller
            (or replica) right now or is not a deployed Recif agent.

        Raises:
            Exception: the error the pass raised (a ``StoreError`` when the controller could not
                record the event); the agent is retried with the loop's backoff.
        """
        if not is_recif(record):
            return None
        loop = self.loop
        if isinstance(loop, SharedReconcileLoop):
            loop.enqueue(record.agent_id)
            batch = self._run(loop.run_due)
        else:
            batch = self._run(lambda: loop.run_now(record.agent_id))
        mine = [o for o in batch.outcomes if o.agent_id == record.agent_id]
        return mine[0] if mine else None

    def _run(self, passes: Callable[[], object]) -> _Batch:
        """Run ``passes`` collecting this thread's outcomes; raise the first error they met."""
        self._local.batch = batch = _Batch()
        try:
            passes()
        finally:
            self._local.batch = None
        if batch.errors:
            for extra in batch.errors[1:]:
                log.warning("reconcile failed as well: %s", extra)
            raise batch.errors[0]
        return batch

    def _reconcile_key(self, key: str) -> Requeue:
        """The loop's reconciler: one pass, and when to look again (``GONE`` once there is
        nothing left to watch, so that the shared loop's row for the key goes too)."""
        try:
            # Read again: the agent may have changed since it was enqueued.
            record = self._controller.get(key)
        except UnknownAgent:
            return GONE  # nothing stored under this key: nothing to watch
        if not is_recif(record):
            return None  # an Alfe agent, or a Recif one not deployed yet: its deploy enqueues it
        outcome = self._pass(record)
        with self._lock:
            self._seen.add(key)
            self._last[key] = outcome.result
        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is not None:
            batch.outcomes.append(outcome)
        result = outcome.result
        if result.deleted and not result.actions and result.requeue_after is None:
            return GONE  # deleted, and nothing of it is left in the cluster
        return result.requeue_after

    def _failed(self, agent_id: str, error: BaseException) -> None:
        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is not None and isinstance(error, Exception):
            batch.errors.append(error)
        else:
            log.warning("reconcile of %s failed: %s", agent_id, error)

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
            policy=self._controller.machines[record.machine].policy,
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
            event, id=derived_id("reconcile", record.agent_id, snapshot.version, event)
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
