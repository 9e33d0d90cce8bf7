"""The controller: load a snapshot, decide, and make the decision durable in one transaction.

Reads are optimistic: the controller decides on the snapshot it read (or the one it wrote last,
kept in a small cache), and the store's compare-and-set on the version rejects the write if
another writer got there first. Refusals take part too (the store checks the version without
changing it), so every audit row was decided against the agent as it then was, and an agent's
rows are in decision order.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import attrs

from agentfsm._actors import Actor, AnyRole
from agentfsm._effects import CancelTimer, Emit, ScheduleTimer
from agentfsm._engine import decide
from agentfsm._errors import InvalidInput
from agentfsm._machine import Machine
from agentfsm._values import Context, Event, Refusal, Snapshot, Step
from agentfsm._words import quote
from agentfsm.runtime._clock import Clock, SystemClock
from agentfsm.runtime._errors import (
    DuplicateEvent,
    IdempotencyKeyMismatch,
    MachineVersionMismatch,
    StoreError,
    UnknownMachine,
    UnknownStoredStatus,
    VersionConflict,
)
from agentfsm.runtime._records import (
    CREATE,
    DOMAIN_EVENT,
    EFFECT,
    ERASE,
    EVENT,
    AgentRecord,
    AuditRow,
    OutboxEntry,
    TimerEntry,
    Write,
    idempotency_scope,
)
from agentfsm.runtime._replay import replay_agent
from agentfsm.runtime._requests import same_request
from agentfsm.runtime._steps import Call, Pause, Steps, run_steps
from agentfsm.runtime._storable import check_deliveries
from agentfsm.runtime._store import Store
from agentfsm.runtime._telemetry import TELEMETRY

log = logging.getLogger("agentfsm.runtime")

Scrubber = Callable[[Any], Any]
"""``data -> data`` with the retained fields removed (identity kept)."""

ERASE_EVENT = "remove_retained_data"
"""The event name of the audit row that records the removal of an agent's retained data."""


class Delivery(NamedTuple):
    """One event for one agent, as ``Controller.handle_many`` takes it.

    Attributes:
        agent_id: the agent.
        event: the event (an id is assigned when it has none).
        correlation_id: stored on the audit row.
        timer_token: the token of the timer that sent the event, consumed in the same
            transaction (``TimerWorker`` sets it).
        principal: who sent the event, as the embedder names them (an account, an API
            client); part of the event id's scope, and recorded on the audit row.
    """

    agent_id: str
    event: Event
    correlation_id: str | None = None
    timer_token: str | None = None
    principal: str | None = None


@attrs.define
class ControllerStats:
    """Counters, for monitoring and tests. ``conflicts`` counts every ``VersionConflict``
    the store raised (each retried or, after ``max_retries``, raised to the caller)."""

    handled: int = 0
    conflicts: int = 0
    duplicates: int = 0
    batches_split: int = 0


def _key(agent_id: str, scope: str, event_id: str, index: int) -> str:
    # Fixed length whatever the event id, so chains of fed-back events do not grow ids. The
    # agent and the scope are in it because an event id is only unique within them: two
    # senders' "X" must not derive the same timer token or outbox key. The separator cannot
    # occur in a scope's actor code, and the lengths keep the parts apart.
    # surrogatepass: an id no store can hold must reach the store's check (a CodecError),
    # not fail here with a UnicodeEncodeError.
    text = f"{len(agent_id)}:{agent_id}:{len(scope)}:{scope}:{event_id}:{index}"
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def write_for(d: Delivery, record: AgentRecord, result: Step | Refusal, ctx: Context) -> Write:
    """The write plan of one decision: the snapshot's compare-and-set, the audit row, the
    outbox items and the timer changes, as one ``Write`` (pure: no I/O)."""
    event = d.event
    event_id = event.id
    assert event_id is not None
    actor = _code(event.actor)
    before = record.snapshot
    if isinstance(result, Refusal):
        return Write(
            d.agent_id, event_id, EVENT, actor, event.name, event.payload,
            before.version, before, before.status, result, ctx.now, d.correlation_id,
            consume_timer=d.timer_token, principal=d.principal,
            machine_version=record.machine_version,
        )  # fmt: skip
    if not result.effects:
        return Write(
            d.agent_id, event_id, EVENT, actor, event.name, event.payload,
            before.version, result.snapshot, before.status, None, ctx.now, d.correlation_id,
            consume_timer=d.timer_token, principal=d.principal,
            machine_version=record.machine_version, before=before,
        )  # fmt: skip
    outbox: list[OutboxEntry] = []
    timers: dict[str, TimerEntry | None] = {}
    scope = idempotency_scope(EVENT, actor, d.principal)
    for i, effect in enumerate(result.effects):
        key = _key(d.agent_id, scope, event_id, i)
        if isinstance(effect, ScheduleTimer):
            timers[effect.event] = TimerEntry(effect.event, effect.at, key)
        elif isinstance(effect, CancelTimer):
            timers[effect.event] = None
        elif isinstance(effect, Emit):
            outbox.append(OutboxEntry(DOMAIN_EVENT, effect.event, key))
        else:
            outbox.append(OutboxEntry(EFFECT, effect, key))
    return Write(
        d.agent_id, event_id, EVENT, actor, event.name, event.payload,
        before.version, result.snapshot, before.status, None, ctx.now, d.correlation_id,
        tuple(outbox), tuple(t for t in timers.values() if t is not None),
        tuple(e for e, t in timers.items() if t is None), d.timer_token,
        principal=d.principal, machine_version=record.machine_version, before=before,
    )  # fmt: skip


def _code(actor: AnyRole) -> str:
    """The actor's stored code: ``actor.value``, read without ``Enum``'s descriptor for the
    shipped actors (the hot path reads it for every event)."""
    return actor._value_ if isinstance(actor, Actor) else actor.value


def _check_principal(principal: object) -> None:
    if principal is not None and (not isinstance(principal, str) or not principal):
        raise InvalidInput(
            f"a principal must be a non-empty string or None, not {quote(principal)}"
        )


def _check_delivery(agent_id: object, event: object) -> None:
    # Checked before the agent id is looked up anywhere: a list or a dict is not hashable,
    # and a cache or a store must not be the one to say so with a TypeError.
    if not isinstance(agent_id, str):
        raise InvalidInput(f"an agent id must be a string, not {quote(agent_id)}")
    if not isinstance(event, Event):
        raise InvalidInput(f"an event must be an Event, not {quote(event)}")


def default_scrub(data: Any) -> Any:
    """Reset every field of an attrs record that has a default, except the deletion timestamps.

    Fields without a default are the record's identity (``agent_id`` and ``name``, a Recif
    ``slug``) and stay; so do ``deleted_at``, ``purge_at`` and ``purged_at``, which say when
    the agent was deleted and purged. Anything that is not an attrs record is dropped (``None``).
    """
    if not attrs.has(type(data)):
        return None
    keep = {"deleted_at", "purge_at", "purged_at"}
    changes: dict[str, Any] = {}
    for f in attrs.fields(type(data)):
        if not f.init or f.name in keep or f.default is attrs.NOTHING:
            continue
        default: Any = f.default
        # attrs stores factory defaults as Factory objects; the others are the value itself.
        # A takes_self factory is given the record being scrubbed (its identity is all it keeps).
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            value = default.factory(data) if default.takes_self else default.factory()
        else:
            value = default
        changes[f.alias or f.name] = value
    return attrs.evolve(data, **changes)


class Decisions:
    """What ``Controller`` and ``AsyncController`` share: everything but the I/O.

    Each operation is a generator of store requests (see ``_steps``): load, decide, build the
    write, commit it, retry a version conflict, recognise a duplicate and answer with its
    recorded outcome. ``Controller`` runs them with blocking calls, ``AsyncController`` with
    ``await``; the two classes hold no logic of their own.

    Args:
        machines: one machine, machines by name (an agent's row names its machine), or a
            sequence of machines, which may hold several versions of one machine (each agent
            is decided by the version its row records; new agents get the highest).
        store: where agents, the audit log, the outbox and the timers live.
        clock: the time source for every decision (default: the system clock).
        max_retries: how many times ``handle`` re-reads and decides again after a version
            conflict before raising it.
        cache_size: how many agents' last written snapshots to keep, so a process that is the
            only writer of an agent does not re-read it; 0 turns the cache off.
        scrubbers: per machine name, how ``erase`` removes retained data (default:
            ``default_scrub``).
    """

    def __init__(
        self,
        machines: Machine | Mapping[str, Machine] | Sequence[Machine],
        store: Any,
        clock: Clock | None = None,
        *,
        max_retries: int = 8,
        cache_size: int = 10_000,
        scrubbers: Mapping[str, Scrubber] | None = None,
    ) -> None:
        given = _machine_list(machines)
        if not given:
            raise InvalidInput(f"a {type(self).__name__} needs at least one machine")
        # ``machines`` keeps one machine per name (the highest version given), as before;
        # ``_versions`` is what decides: an agent only ever meets the version it records.
        self._versions: dict[tuple[str, int], Machine] = {}
        for m in given:
            if (m.name, m.version) in self._versions:
                raise InvalidInput(f"the machine {m.name!r} version {m.version} is given twice")
            self._versions[(m.name, m.version)] = m
        self.machines: dict[str, Machine] = {}
        for m in sorted(given, key=lambda m: m.version):
            self.machines[m.name] = m
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.max_retries = max_retries
        self.stats = ControllerStats()
        # Oldest first: evicting from the front of a plain dict again and again gets slower
        # and slower (iteration skips the deleted slots); an OrderedDict pops it at once.
        self._cache: OrderedDict[str, AgentRecord] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()
        self._scrubbers = dict(scrubbers or {})
        self._rng = random.Random()

    # -- reading ----------------------------------------------------------------------------

    def _machine(self, name: str) -> Machine:
        machine = self.machines.get(name)
        if machine is None:
            raise UnknownMachine(
                f"a stored agent uses the machine {name!r}, which this controller was not "
                f"given (it has {', '.join(sorted(self.machines))})"
            )
        return machine

    def _checked(self, record: AgentRecord) -> tuple[AgentRecord, Machine]:
        self._machine(record.machine)  # UnknownMachine first: the name is not known at all
        machine = self._versions.get((record.machine, record.machine_version))
        if machine is None:
            given = sorted(v for n, v in self._versions if n == record.machine)
            raise MachineVersionMismatch(
                record.agent_id, record.machine, record.machine_version, tuple(given)
            )
        if record.snapshot.status not in machine.states:
            raise UnknownStoredStatus(
                record.agent_id, machine.name, record.snapshot.status, machine.spec.state_names
            )
        return record, machine

    def _get_steps(self, agent_id: str) -> Steps[AgentRecord]:
        record = yield Call("load", (agent_id,))
        return self._checked(record)[0]

    def _current(self, agent_id: str, fresh: bool) -> Steps[tuple[AgentRecord, Machine]]:
        if not fresh:
            cached = self._cache.get(agent_id)
            if cached is not None:
                return cached, self._versions[(cached.machine, cached.machine_version)]
        record = yield Call("load", (agent_id,))
        return self._checked(record)

    def _remember(self, record: AgentRecord) -> None:
        if not self._cache_size:
            return
        agent_id = record.agent_id
        with self._cache_lock:
            cache = self._cache
            if agent_id not in cache and len(cache) >= self._cache_size:
                cache.popitem(last=False)  # the lock is held: the cache is not empty
            cache[agent_id] = record

    def _remember_all(self, records: Iterable[AgentRecord]) -> None:
        if not self._cache_size:
            return
        with self._cache_lock:
            cache = self._cache
            limit = self._cache_size
            for record in records:
                if record.agent_id not in cache and len(cache) >= limit:
                    cache.popitem(last=False)  # the lock is held: the cache is not empty
                cache[record.agent_id] = record

    def _forget(self, agent_id: str) -> None:
        with self._cache_lock:
            self._cache.pop(agent_id, None)

    # -- creating ---------------------------------------------------------------------------

    def _create_steps(
        self, agents: Sequence[tuple[str, str, Any]], correlation_id: str | None
    ) -> Steps[list[Snapshot]]:
        now = self.clock.now()
        writes: list[Write] = []
        for agent_id, machine_name, data in agents:
            if not isinstance(agent_id, str) or not agent_id:
                raise InvalidInput(f"an agent id must be a non-empty string, not {quote(agent_id)}")
            if not isinstance(machine_name, str):
                raise InvalidInput(f"a machine name must be a string, not {quote(machine_name)}")
            machine = self._machine(machine_name)
            snap = machine.initial(data, now)
            writes.append(
                Write(agent_id, f"create:{agent_id}", CREATE, None, machine_name, {"data": data},
                      None, snap, None, None, now, correlation_id, machine=machine_name,
                      machine_version=machine.version)
            )  # fmt: skip
        yield Call("commit", (writes,))
        self._remember_all(
            AgentRecord(w.agent_id, w.event, w.snapshot, now, now, w.machine_version)
            for w in writes
        )
        return [w.snapshot for w in writes]

    # -- handling ---------------------------------------------------------------------------

    def _write_for(
        self, d: Delivery, record: AgentRecord, result: Step | Refusal, ctx: Context
    ) -> Write:
        return write_for(d, record, result, ctx)

    def _handle_steps(self, delivery: Delivery) -> Steps[Step | Refusal]:
        _check_delivery(delivery.agent_id, delivery.event)
        _check_principal(delivery.principal)
        if delivery.event.id is None:
            delivery = _with_id(delivery)
        agent_id, event = delivery.agent_id, delivery.event
        span = TELEMETRY.span(
            "agentfsm.handle",
            {"agentfsm.agent": agent_id, "agentfsm.event": event.name,
             "agentfsm.actor": _code(event.actor)},
        )  # fmt: skip
        # One generator for the whole of it (not one per part): this is the hot path, and
        # each generator frame costs every event a resumption.
        try:
            fresh = False
            for attempt in range(self.max_retries + 1):
                cached = None if fresh else self._cache.get(agent_id)
                if cached is not None:  # the usual case, without a generator for it
                    record = cached
                    machine = self._versions[(cached.machine, cached.machine_version)]
                else:
                    record, machine = yield from self._current(agent_id, True)
                # Each machine carries its policy: decide applies it, as offered does.
                ctx = Context(self.clock.now(), machine.policy)
                result = decide(machine, record.snapshot, event, ctx)
                write = write_for(delivery, record, result, ctx)
                if write.outbox:  # the effects' spans will link to this decision's
                    write = write._replace(trace_context=TELEMETRY.context_of(span))
                try:
                    yield Call("commit", ((write,),))
                except VersionConflict:
                    self.stats.conflicts += 1
                    TELEMETRY.conflicts.add(1, {"agentfsm.machine": record.machine})
                    self._forget(agent_id)
                    fresh = True
                    if attempt == self.max_retries:
                        raise
                    if attempt:
                        yield Pause(self._pause(attempt))
                    continue
                except DuplicateEvent:
                    self._forget(agent_id)
                    span.set_attribute("agentfsm.duplicate", True)
                    return (yield from self._recorded(delivery, write.scope))
                except StoreError:
                    self._forget(agent_id)
                    raise
                self.stats.handled += 1
                _observe(span, record, event, result, ctx)
                if isinstance(result, Step):
                    self._remember(
                        AgentRecord(agent_id, record.machine, result.snapshot,
                                    record.created_at, ctx.now, record.machine_version)
                    )  # fmt: skip
                return result
            raise AssertionError("unreachable")  # pragma: no cover
        except Exception as exc:
            TELEMETRY.failed(span, exc)
            raise
        finally:
            span.end()

    def _pause(self, attempt: int) -> float:
        # Retrying at once under contention tends to collide again; a short random pause
        # spreads the writers out. The first retry is immediate.
        return self._rng.uniform(0, 0.002 * min(2**attempt, 32))

    def _handle_many_steps(self, deliveries: Sequence[Delivery]) -> Steps[list[Step | Refusal]]:
        for d in deliveries:
            _check_delivery(d.agent_id, d.event)
            _check_principal(d.principal)
        items = [d if d.event.id is not None else _with_id(d) for d in deliveries]
        cache = self._cache
        missing = [d.agent_id for d in items if d.agent_id not in cache]
        loaded = (yield Call("load_many", (missing,))) if missing else {}
        current: dict[str, AgentRecord] = {}
        ctx = Context(self.clock.now())  # each machine's own policy applies
        now = ctx.now
        machines = self._versions
        writes: list[Write] = []
        results: list[Step | Refusal] = []
        decided: list[tuple[AgentRecord, Step | Refusal]] = []
        try:
            for d in items:
                agent_id = d.agent_id
                record = current.get(agent_id) or cache.get(agent_id)
                if record is None:
                    found = loaded.get(agent_id)
                    if found is None:
                        raise _Split
                    record = self._checked(found)[0]
                machine = machines[(record.machine, record.machine_version)]
                result = decide(machine, record.snapshot, d.event, ctx)
                writes.append(write_for(d, record, result, ctx))
                results.append(result)
                decided.append((record, result))
                if isinstance(result, Step):
                    current[agent_id] = AgentRecord(
                        agent_id,
                        record.machine,
                        result.snapshot,
                        record.created_at,
                        now,
                        record.machine_version,
                    )
            yield Call("commit", (writes,))
        except (_Split, VersionConflict, DuplicateEvent) as exc:
            if isinstance(exc, VersionConflict):
                self.stats.conflicts += 1
                TELEMETRY.conflicts.add(1, {})
            self.stats.batches_split += 1
            for d in items:
                self._forget(d.agent_id)
            check_deliveries(items, getattr(self.store, "codec", None))  # refused whole
            one_by_one: list[Step | Refusal] = []
            for d in items:
                one_by_one.append((yield from self._handle_steps(d)))
            return one_by_one
        self.stats.handled += len(items)
        self._remember_all(current.values())
        for d, (record, result) in zip(items, decided, strict=True):
            _observe(None, record, d.event, result, ctx)
        return results

    def _recorded(self, d: Delivery, scope: str) -> Steps[Step | Refusal]:
        agent_id, event = d.agent_id, d.event
        assert event.id is not None
        if d.timer_token is not None:
            # The timer's key is decided already: firing it again could never record it, so
            # the timer is spent (left pending, the worker would claim it again and again).
            yield Call("consume_timer", (d.timer_token,))
        row = yield Call("audit_row", (agent_id, scope, event.id))
        if row is None:  # pragma: no cover - the store just said it exists
            raise StoreError(f"event {event.id!r} was reported recorded but cannot be read")
        if row.kind != EVENT or not same_request(row.event, row.payload, event.name, event.payload):
            recorded = Event(row.event, row.actor or event.actor, row.payload, row.event_id)
            raise IdempotencyKeyMismatch(agent_id, scope, event.id, recorded, event)
        self.stats.duplicates += 1
        if row.refusal is not None:
            return row.refusal  # type: ignore[no-any-return]
        # Rebuild the recorded step exactly: decide the recorded event again, at its recorded
        # time, on the snapshot it was decided on. The row carries that snapshot (schema 6
        # on); for an older row it is found by replaying the agent's log up to the row.
        name = (yield Call("load", (agent_id,))).machine
        machine = self._versions.get((name, row.machine_version))
        if machine is None:
            given = sorted(v for n, v in self._versions if n == name)
            raise MachineVersionMismatch(agent_id, name, row.machine_version, tuple(given))
        before = row.before
        if before is None:
            rows = yield Call("history", (agent_id,))
            same = [m for (n, _), m in self._versions.items() if n == name]
            before = replay_agent(same, [r for r in rows if r.seq < row.seq])
        recorded = Event(row.event, row.actor or "U", row.payload, row.event_id)
        return decide(machine, before, recorded, Context(row.at))

    # -- retained data ----------------------------------------------------------------------

    def _erase_steps(self, agent_id: str, event_id: str) -> Steps[Snapshot]:
        for attempt in range(self.max_retries + 1):
            record, machine = self._checked((yield Call("load", (agent_id,))))
            scrub = self._scrubbers.get(machine.name, default_scrub)
            before = record.snapshot
            data = scrub(before.data)
            after = before._replace(version=before.version + 1, data=data)
            now = self.clock.now()
            write = Write(
                agent_id, event_id, ERASE, None, ERASE_EVENT, {"data": data}, before.version,
                after, before.status, None, now, machine_version=record.machine_version,
            )  # fmt: skip
            try:
                yield Call("commit", ((write,),))
            except VersionConflict:
                self.stats.conflicts += 1
                if attempt == self.max_retries:
                    raise
                continue
            except DuplicateEvent:
                self._forget(agent_id)
                return (yield Call("load", (agent_id,))).snapshot  # type: ignore[no-any-return]
            self._forget(agent_id)
            return after
        raise AssertionError("unreachable")  # pragma: no cover


class Controller(Decisions):
    """Handles events for stored agents: decide, then write everything in one transaction.

    Args:
        machines: one machine, machines by name (an agent's row names its machine), or a
            sequence of machines, which may hold several versions of one machine (each agent
            is decided by the version its row records; new agents get the highest).
        store: where agents, the audit log, the outbox and the timers live.
        clock: the time source for every decision (default: the system clock).
        max_retries: how many times ``handle`` re-reads and decides again after a version
            conflict before raising it.
        cache_size: how many agents' last written snapshots to keep, so a process that is the
            only writer of an agent does not re-read it; 0 turns the cache off.
        scrubbers: per machine name, how ``erase`` removes retained data (default:
            ``default_scrub``).
    """

    store: Store

    def get(self, agent_id: str) -> AgentRecord:
        """The agent as stored now (always read from the store).

        Raises:
            UnknownAgent: no such agent.
            UnknownMachine: its machine was not given to this controller.
            UnknownStoredStatus: its stored status is not one of its machine's.
            MachineVersionMismatch: it was decided by a version of its machine this
                controller was not given.
        """
        return run_steps(self._get_steps(agent_id), self.store)

    def history(self, agent_id: str) -> list[AuditRow]:
        """The agent's audit rows, oldest first (``GET /agents/{id}/events``)."""
        return self.store.history(agent_id)

    def create(
        self, agent_id: str, machine: str, data: Any, *, correlation_id: str | None = None
    ) -> Snapshot:
        """Register a new agent in its machine's initial status (version 0).

        The creation is the agent's first audit row, with its data, so the log alone
        replays to its current snapshot.

        Raises:
            InvalidInput: ``agent_id`` is not a non-empty string, ``machine`` is not a string,
                or ``data`` is not the machine's record.
            UnknownMachine: ``machine`` was not given to this controller.
            AgentExists: the id is taken.
        """
        return self.create_many([(agent_id, machine, data)], correlation_id=correlation_id)[0]

    def create_many(
        self, agents: Sequence[tuple[str, str, Any]], *, correlation_id: str | None = None
    ) -> list[Snapshot]:
        """Register several agents ``(agent_id, machine, data)`` in one transaction.

        Raises:
            InvalidInput: as for ``create``; none of the agents is created.
            UnknownMachine: a machine was not given to this controller.
            AgentExists: an id is taken; none of the agents is created.
        """
        return run_steps(self._create_steps(agents, correlation_id), self.store)

    def handle(
        self,
        agent_id: str,
        event: Event,
        *,
        correlation_id: str | None = None,
        timer_token: str | None = None,
        principal: str | None = None,
    ) -> Step | Refusal:
        """Decide ``event`` for the agent and record the outcome durably.

        In one transaction: the new snapshot (compare-and-set on the version read), the audit
        row, the outbox items (effects and domain events) and the timer changes. A refusal is
        recorded in the audit log and changes nothing else.

        The event's id is an idempotency key scoped to its sender: the agent, the actor and
        the principal (see ``idempotency_scope``). The same request again under the same key
        returns the outcome recorded the first time and writes nothing; another sender's key
        of the same text is another key, so no user can take a platform or timer event's id.

        Args:
            agent_id: the agent.
            event: the event; an id is assigned (a random UUID) when it has none.
            correlation_id: stored on the audit row.
            timer_token: for ``TimerWorker``: the timer that fired, consumed with the write
                (and consumed too when its event was decided already).
            principal: who sent the event, as the embedder names them (an account, an API
                client), or ``None``; part of the key's scope and recorded on the audit row.

        Returns:
            The ``Step`` (accepted) or the ``Refusal``.

        Raises:
            InvalidInput: ``agent_id`` is not a string, ``event`` is not an ``Event``, or
                ``principal`` is not a non-empty string or ``None``.
            UnknownAgent: no such agent.
            VersionConflict: other writers kept changing the agent for ``max_retries``
                attempts; retryable.
            IdempotencyKeyMismatch: the key was used in its scope for a different request
                (event name or payload); nothing was written.
            UnknownStoredStatus, UnknownMachine: the stored agent does not fit the machines.
            MachineVersionMismatch: the agent was decided by another version of its machine
                than those given (migrate it first); nothing was written.
            StoreError: the store failed (``retryable`` says whether to try again).
        """
        delivery = Delivery(agent_id, event, correlation_id, timer_token, principal)
        return run_steps(self._handle_steps(delivery), self.store)

    def handle_many(self, deliveries: Sequence[Delivery]) -> list[Step | Refusal]:
        """Decide several events and record them in one transaction (much faster per event).

        Events for the same agent are decided in order, each on the previous one's result.
        If the batch cannot be written whole (a version conflict, an event id delivered again,
        an unknown agent), it is handled one event at a time with ``handle``'s retries; the
        deliveries before one that fails then stay recorded. A delivery that cannot be stored
        (``CodecError``) refuses the whole batch first.

        Returns:
            One outcome per delivery, in order.

        Raises:
            InvalidInput: a delivery's agent id is not a string, its event not an ``Event``, or
                its principal not a non-empty string or ``None``.
            StoreError: the errors of ``handle`` (``VersionConflict``, ``UnknownAgent``,
                ``IdempotencyKeyMismatch``…), from the first delivery that fails one at a time.
        """
        return run_steps(self._handle_many_steps(deliveries), self.store)

    def erase(self, agent_id: str, *, event_id: str) -> Snapshot:
        """Remove the agent's retained data (identity kept) and record that in the audit log.

        The data is replaced by its scrubbed form (see ``default_scrub``) with a version
        bump; the audit log is kept whole. Idempotent by ``event_id``, a key of the agent's
        own (its scope is ``"erase"``: no event's key can take it).

        Returns:
            The snapshot after the removal (or the current one, when ``event_id`` was done).

        Raises:
            UnknownAgent: no such agent.
            VersionConflict: other writers kept changing the agent; retryable.
        """
        return run_steps(self._erase_steps(agent_id, event_id), self.store)


def _observe(
    span: Any, record: AgentRecord, event: Event, result: Step | Refusal, ctx: Context
) -> None:
    """Record a committed decision on its span (if any) and in the metrics."""
    before = record.snapshot
    machine = record.machine
    if isinstance(result, Refusal):
        code = result.code
        if span is not None and span.is_recording():
            span.set_attributes(
                {"agentfsm.machine": machine, "agentfsm.from": before.status,
                 "agentfsm.to": before.status, "agentfsm.accepted": False,
                 "agentfsm.refusal_code": code}
            )  # fmt: skip
        TELEMETRY.refusals.add(
            1, {"agentfsm.machine": machine, "agentfsm.event": event.name,
                "agentfsm.refusal_code": code}
        )  # fmt: skip
        return
    after = result.snapshot.status
    if span is not None and span.is_recording():  # else the attributes are dropped
        span.set_attributes(
            {"agentfsm.machine": machine, "agentfsm.from": before.status, "agentfsm.to": after,
             "agentfsm.accepted": True}
        )  # fmt: skip
    TELEMETRY.transitions.add(
        1, {"agentfsm.machine": machine, "agentfsm.event": event.name,
            "agentfsm.from": before.status, "agentfsm.to": after}
    )  # fmt: skip
    if after != before.status:
        TELEMETRY.time_in_status.record(
            max((ctx.now - before.since).total_seconds(), 0.0),
            {"agentfsm.machine": machine, "agentfsm.status": before.status},
        )


def _machine_list(machines: Machine | Mapping[str, Machine] | Sequence[Machine]) -> list[Machine]:
    if isinstance(machines, Machine):
        return [machines]
    if isinstance(machines, Mapping):
        return list(machines.values())
    return list(machines)


def _with_id(d: Delivery) -> Delivery:
    return d._replace(event=attrs.evolve(d.event, id=uuid.uuid4().hex))


class _Split(Exception):
    """A batch cannot be decided whole (an agent is missing from the store)."""
