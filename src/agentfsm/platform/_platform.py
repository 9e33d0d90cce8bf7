"""``Platform``: the runtime, the adapters and the reconcile loop, composed into one object."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

import attrs

from agentfsm._errors import InvalidInput
from agentfsm._machine import Machine
from agentfsm._values import Actor, Event, Refusal, Snapshot, Step
from agentfsm.billing import BillingAdapter
from agentfsm.hosts import EventSink, HostAdapter
from agentfsm.models import RecifAgent
from agentfsm.platform._billing import BillingStep
from agentfsm.platform._cluster import SimulatedCluster
from agentfsm.platform._inbox import EventInbox
from agentfsm.platform._keys import derived_id
from agentfsm.platform._reconciler import RecifReconciler, ReconcileOutcome
from agentfsm.platform._routing import build_router
from agentfsm.recif import ReconcileResult
from agentfsm.runtime import (
    AgentRecord,
    AuditRow,
    Clock,
    Controller,
    EffectHandler,
    EffectRouter,
    OutboxWorker,
    PostgresStore,
    SQLiteStore,
    Store,
    StoreError,
    SystemClock,
    TimerWorker,
    UnknownAgent,
)

if TYPE_CHECKING:
    from agentfsm.releases import ReleaseStore

log = logging.getLogger("agentfsm.platform")

HostFactory = Callable[[EventSink], HostAdapter]
"""Builds a host adapter around the sink it reports to: ``lambda sink: LocalProcessHost(sink)``."""

ReconcileLoopKind = Literal["auto", "memory", "shared"]
"""Which loop drives Recif reconcile: ``"memory"`` (this process's ``ReconcileLoop``),
``"shared"`` (the store's ``SharedReconcileLoop``) or ``"auto"`` (see ``Platform``)."""


def _shared_by_nature(store: object) -> bool:
    """True for a store that keeps reconcile leases and that other processes can open: a
    ``PostgresStore``, or a ``SQLiteStore`` on a file (not ``":memory:"``)."""
    if isinstance(store, PostgresStore):
        return True
    return isinstance(store, SQLiteStore) and store.path != ":memory:"


@attrs.define
class TickReport:
    """What one ``tick`` (or a run of them) did.

    Attributes:
        observed: host reports delivered to the controller.
        timers: timers fired.
        effects: outbox items performed (done, retried or parked).
        parked: outbox items given up on (see ``Store.outbox(state="parked")``).
        provisioned: pending Alfe agents sent ``provision``.
        provision_failed: pending agents whose ``provision`` could not be recorded (a
            ``StoreError`` for that agent; logged, and tried again on the next tick).
        billing: billing events accepted.
        billing_failed: agents whose billing event could not be recorded (likewise).
        reconciled: Recif reconcile passes run.
        reconcile_events: platform events those passes fed to the machine.
        reconcile_actions: Kubernetes actions those passes performed.
    """

    observed: int = 0
    timers: int = 0
    effects: int = 0
    parked: int = 0
    provisioned: int = 0
    provision_failed: int = 0
    billing: int = 0
    billing_failed: int = 0
    reconciled: int = 0
    reconcile_events: int = 0
    reconcile_actions: int = 0

    @property
    def busy(self) -> bool:
        """True when the tick changed something (so another one may find more to do).

        Failures change nothing, so they do not count: a step that fails for one agent on
        every tick must not keep ``run_until_idle`` going.
        """
        return bool(
            self.observed
            or self.timers
            or self.effects
            or self.provisioned
            or self.billing
            or self.reconcile_events
            or self.reconcile_actions
        )

    def add(self, other: TickReport) -> None:
        """Add ``other``'s counts to these."""
        for f in attrs.fields(TickReport):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def _default_machines() -> dict[str, Machine]:
    from agentfsm.models import MACHINES

    return dict(MACHINES)


class Platform:
    """A control plane: a store, a clock, the machines and the adapters, wired together.

    It builds a ``Controller``, an ``EffectRouter`` that sends each effect to its adapter, an
    ``OutboxWorker``, a ``TimerWorker``, the Recif reconcile loop and the billing step; each
    ``tick`` runs them all once. Host reports that arrive on the host's own threads wait in
    ``inbox`` until the next tick.

    Args:
        store: where agents, the audit log, the outbox and the timers live (``SQLiteStore``…).
        clock: the time for every decision (default: the system clock); a runtime
            ``ManualClock`` makes timers, requeues and the grace period testable.
        machines: machines by name (default: ``agentfsm.models.MACHINES``: ``alfe``,
            ``alfe-self-hosted``, ``recif``). Each carries the policy its agents are decided
            with (``ALFE.with_policy(...)``); Recif's ``requeue_after`` paces the reconcile loop.
        host: a ``HostAdapter``, or a function ``sink -> HostAdapter`` that builds one reporting
            to this platform's inbox (needed by adapters that take their sink when built, such
            as ``LocalProcessHost``). ``None``: host effects are parked.
        cluster: a ``SimulatedCluster`` for Recif's Kubernetes work and its reconcile loop.
            ``None``: Kubernetes effects are parked and nothing is reconciled.
        releases: a release store (``GitReleaseStore``) for the Recif release pipeline, or
            any ``EffectHandler`` for ``Emit``. ``None``: domain events are only logged.
        ledger: a billing ledger (``SQLiteLedger``…); ``None``: no metering, no suspension.
        auto_provision: send ``provision`` to Alfe agents waiting in ``pending`` (new ones, and
            ones a billing resume sent back there), as the platform does.
        worker_id: the name the workers claim items under (reuse it after a restart to
            resume a batch a crash interrupted).
        outbox: extra keyword arguments for the ``OutboxWorker`` (``max_attempts``,
            ``backoff_base``, ``lease``…).
        reconcile_loop: which loop schedules Recif reconcile passes. ``"shared"``: the store's
            ``SharedReconcileLoop``, so several platforms (replicas) on one database share
            the work: each agent is reconciled by one replica at a time, under a lease with a
            fencing token, and once per resync period by the whole fleet. ``"memory"``: a
            ``ReconcileLoop`` of this process, which reconciles every agent itself.
            ``"auto"`` (the default): shared when the store keeps leases and other processes
            can open it (a ``PostgresStore``, a ``SQLiteStore`` on a file), in memory
            otherwise (an in-memory SQLite store, any other ``Store``).
        reconcile_lease: how long the shared loop holds an agent (a pass must end within
            it; a replica that dies leaves its agents to the others after it).

    Raises:
        InvalidInput: an argument has the wrong type, or ``reconcile_loop`` is not one of
            ``"auto"``, ``"memory"``, ``"shared"``.
        StoreError: ``reconcile_loop="shared"`` on a store that keeps no leases.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        machines: Mapping[str, Machine] | None = None,
        host: HostAdapter | HostFactory | None = None,
        cluster: SimulatedCluster | None = None,
        releases: ReleaseStore | EffectHandler | None = None,
        ledger: BillingAdapter | None = None,
        auto_provision: bool = True,
        worker_id: str | None = None,
        outbox: Mapping[str, Any] | None = None,
        reconcile_loop: ReconcileLoopKind = "auto",
        reconcile_lease: timedelta = timedelta(seconds=60),
    ) -> None:
        if cluster is not None and not isinstance(cluster, SimulatedCluster):
            raise InvalidInput(f"cluster must be a SimulatedCluster, not {type(cluster).__name__}")
        if reconcile_loop not in ("auto", "memory", "shared"):
            raise InvalidInput(
                f"reconcile_loop must be 'auto', 'memory' or 'shared', not {reconcile_loop!r}"
            )
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.inbox = EventInbox()
        self.controller = Controller(
            dict(machines) if machines is not None else _default_machines(),
            store,
            self.clock,
        )
        self.host: HostAdapter | None = _build_host(host, self.inbox)
        self.cluster = cluster
        self.ledger = ledger
        self.handler: EffectRouter = build_router(
            self.controller,
            host=self.host,
            cluster=cluster,
            releases=_release_handler(releases),
        )
        self.outbox_worker = OutboxWorker(
            self.controller, self.handler, worker_id=worker_id, **dict(outbox or {})
        )
        self.timer_worker = TimerWorker(
            self.controller, worker_id=f"{self.outbox_worker.worker_id}:timers"
        )
        self.reconciler: RecifReconciler | None = None
        if cluster is not None:
            shared = reconcile_loop == "shared" or (
                reconcile_loop == "auto" and _shared_by_nature(store)
            )
            self.reconciler = RecifReconciler(
                self.controller,
                cluster,
                loop="shared" if shared else "memory",
                replica_id=f"{self.outbox_worker.worker_id}:reconcile",
                lease=reconcile_lease,
            )
        self.billing = BillingStep(self.controller, ledger) if ledger is not None else None
        self.auto_provision = auto_provision
        self._tick_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- agents --------------------------------------------------------------------------------

    def create_agent(self, agent_id: str, machine: str | Machine, data: Any) -> Snapshot:
        """Register an agent in its machine's initial status (``pending``, ``created``…).

        Args:
            agent_id: a new, unique id (host adapters want letters, digits, ``.``, ``_``, ``-``).
            machine: the machine's name (``"alfe"``, ``"recif"``) or the machine itself.
            data: the agent's record (``AlfeAgent``, ``RecifAgent``).

        Returns:
            The new snapshot (version 0).

        Raises:
            AgentExists: the id is taken.
            UnknownMachine: the platform has no such machine.
        """
        name = machine.name if isinstance(machine, Machine) else machine
        return self.controller.create(agent_id, name, data)

    def send(
        self,
        agent_id: str,
        event: Event | str,
        payload: Mapping[str, Any] | None = None,
        *,
        actor: Actor = Actor.USER,
        principal: str | None = None,
    ) -> Step | Refusal:
        """Decide an event for an agent now and record it (its effects run on the next tick).

        An ``Event``'s id is an idempotency key of its sender's (the actor and ``principal``):
        the same request again returns the first outcome; a user's key never reaches the
        platform's own events.

        Args:
            agent_id: the agent.
            event: an ``Event``, or an event name sent by ``actor`` with ``payload``.
            payload: the event's parameters when ``event`` is a name.
            actor: who sends it when ``event`` is a name (a user by default).
            principal: who sent it, as the embedder names them (an account), or ``None``.

        Returns:
            The ``Step`` (accepted) or the ``Refusal`` (why not; nothing changed).

        Raises:
            UnknownAgent: no such agent.
            InvalidInput: a payload with ``event`` given as an ``Event``, or a bad principal.
            IdempotencyKeyMismatch: the event's id was used by the same sender for a different
                request; nothing was written.
            StoreError: the store failed.
        """
        if isinstance(event, Event):
            if payload is not None:
                raise InvalidInput("give the payload inside the Event, not beside it")
        else:
            event = Event(event, actor, payload)
        outcome = self.controller.handle(agent_id, event, principal=principal)
        if (
            isinstance(outcome, Step)
            and self.reconciler is not None
            and (not self.reconciler.shared or isinstance(outcome.snapshot.data, RecifAgent))
        ):
            # A spec change: reconcile now, not in 30 s. The shared loop keeps a row per key
            # it is told about, so it hears about Recif agents only.
            self.reconciler.mark(agent_id)
        return outcome

    def get(self, agent_id: str) -> AgentRecord:
        """The agent as stored now.

        Raises:
            UnknownAgent: no such agent.
        """
        return self.controller.get(agent_id)

    def status(self, agent_id: str) -> str:
        """The agent's status now (``running``, ``Failed``…).

        Raises:
            UnknownAgent: no such agent.
        """
        return self.controller.get(agent_id).snapshot.status

    def agents(self) -> list[AgentRecord]:
        """Every stored agent, by id."""
        return self.store.agents()

    def history(self, agent_id: str) -> list[AuditRow]:
        """The agent's audit rows, oldest first (accepted and refused events alike)."""
        return self.controller.history(agent_id)

    def reconciled(self, agent_id: str) -> ReconcileResult | None:
        """The latest reconcile result of a Recif agent (phase, conditions, endpoint), if any."""
        return self.reconciler.last(agent_id) if self.reconciler is not None else None

    # -- running -------------------------------------------------------------------------------

    def tick(self) -> TickReport:
        """Run every part once: deliver host reports, fire due timers, drain the outbox,
        provision pending agents, meter and check billing, reconcile due Recif agents.

        Ticks are serialised (one at a time); ``send`` may be called from other threads.
        The provision and billing steps go agent by agent: a ``StoreError`` for one agent's
        event is logged and counted (``provision_failed``, ``billing_failed``) and the tick
        goes on with the others.

        Raises:
            StoreError: the store failed in a way worth reporting (retryable ones are left for
                the next tick where possible).
        """
        with self._tick_lock:
            report = TickReport()
            if callable(getattr(self.host, "tick", None)):
                self.host.tick()  # type: ignore[union-attr]  # a simulated host's own clock
            report.observed = self._deliver_observations()
            report.timers = self.timer_worker.drain().claimed
            done = self.outbox_worker.drain()
            report.effects, report.parked = done.claimed, done.parked
            records = self.store.agents()
            now = self.clock.now()
            if self.auto_provision:
                report.provisioned, report.provision_failed = self._provision(records)
            if self.billing is not None:
                report.billing, report.billing_failed = self.billing.run(records, now)
            if self.reconciler is not None:
                # New deployed Recif agents are enqueued, then the loop runs what is due.
                for outcome in self.reconciler.run_due(records):
                    self._count(outcome, report)
            return report

    def run_until_idle(self, max_ticks: int = 1000) -> TickReport:
        """Tick until a tick finds nothing to do (reports still to come from real processes
        are not waited for: see ``wait_for``).

        Returns:
            The sum of the ticks' reports.

        Raises:
            RuntimeError: still busy after ``max_ticks`` ticks (something keeps feeding itself).
        """
        total = TickReport()
        for _ in range(max_ticks):
            report = self.tick()
            total.add(report)
            if not report.busy:
                return total
        raise RuntimeError(f"the platform was still busy after {max_ticks} ticks: {total}")

    def wait_for(
        self, agent_id: str, *statuses: str, timeout: float = 10.0, interval: float = 0.02
    ) -> AgentRecord:
        """Tick until the agent is in one of ``statuses`` (real seconds, for real processes).

        Returns:
            The agent as stored once it got there.

        Raises:
            InvalidInput: no status given.
            TimeoutError: it did not get there in ``timeout`` seconds; the message lists the
                agent's last transitions.
        """
        if not statuses:
            raise InvalidInput("wait_for needs at least one status to wait for")
        deadline = time.monotonic() + timeout
        while True:
            self.run_until_idle()
            record = self.get(agent_id)
            if record.snapshot.status in statuses:
                return record
            if time.monotonic() >= deadline:
                recent = [
                    f"{r.event}:{r.from_status}->{r.to_status}"
                    + (f" (refused: {r.refusal.code})" if r.refusal else "")
                    for r in self.history(agent_id)[-8:]
                ]
                raise TimeoutError(
                    f"agent {agent_id} is {record.snapshot.status!r}, not "
                    f"{' or '.join(statuses)}, after {timeout} s; last events: {recent}"
                )
            time.sleep(interval)

    def start(self, interval: float = 0.1) -> None:
        """Tick in a background thread every ``interval`` seconds until ``close`` (or ``stop``).

        Raises:
            InvalidInput: already started, or closed.
        """
        if self._closed or (self._thread is not None and self._thread.is_alive()):
            raise InvalidInput("this platform is already running (or closed)")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(interval,), name="agentfsm-platform", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread ``start`` began (if any) and wait for its last tick."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def close(self) -> None:
        """Stop ticking and close the host adapter (a real host stops every agent process).

        The store, the ledger and the release store belong to the caller and stay open.
        """
        if self._closed:
            return
        self._closed = True
        self.stop()
        if self.host is not None:
            self.host.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the parts of a tick -------------------------------------------------------------------

    def _loop(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except StoreError as exc:
                if not exc.retryable:
                    log.exception("platform tick failed")
                else:
                    log.warning("platform tick: store busy: %s", exc)
            except Exception:  # the loop must survive one bad tick and say why
                log.exception("platform tick failed")
            self._stop.wait(interval)

    def _deliver_observations(self) -> int:
        items = self.inbox.take()
        for n, (agent_id, event) in enumerate(items):
            try:
                self.controller.handle(agent_id, event)
            except UnknownAgent:
                log.warning("a host reported %s for unknown agent %s", event.name, agent_id)
            except StoreError as exc:
                if not exc.retryable:
                    raise
                self.inbox.put_back(items[n:])  # try again on the next tick
                return n
        return len(items)

    def _provision(self, records: list[AgentRecord]) -> tuple[int, int]:
        sent = failed = 0
        for r in records:
            machine = self.controller.machines.get(r.machine)
            if r.snapshot.status != "pending" or machine is None:
                continue
            if "provision" not in machine.events:
                continue
            event = Event("provision", Actor.SYSTEM)
            event = attrs.evolve(
                event, id=derived_id("provision", r.agent_id, r.snapshot.version, event)
            )
            try:
                outcome = self.controller.handle(r.agent_id, event)
            except StoreError as exc:  # this agent's alone: the others are still provisioned
                failed += 1
                log.warning("provision for agent %s was not recorded: %s", r.agent_id, exc)
                continue
            if isinstance(outcome, Step):
                sent += 1
        return sent, failed

    @staticmethod
    def _count(outcome: ReconcileOutcome, report: TickReport) -> None:
        report.reconciled += 1
        report.reconcile_actions += len(outcome.result.actions)
        if outcome.event is not None and isinstance(outcome.outcome, Step):
            report.reconcile_events += 1


def _build_host(host: HostAdapter | HostFactory | None, sink: EventSink) -> HostAdapter | None:
    if host is None or isinstance(host, HostAdapter):
        return host
    if callable(host):
        built = host(sink)
        if not isinstance(built, HostAdapter):
            raise InvalidInput(f"the host factory returned {built!r}, which is not a HostAdapter")
        return built
    raise InvalidInput(
        f"host must be a HostAdapter or a function sink -> HostAdapter, not {host!r}"
    )


def _release_handler(releases: object) -> EffectHandler | None:
    if releases is None:
        return None
    if hasattr(releases, "record_release") and hasattr(releases, "record_deletion"):
        from agentfsm.releases import ReleaseEffectHandler

        return ReleaseEffectHandler(releases)  # type: ignore[arg-type]
    if callable(releases):
        handler: EffectHandler = releases
        return handler
    raise InvalidInput(
        f"releases must be a release store (GitReleaseStore) or an effect handler, not {releases!r}"
    )
