"""The rows a store reads and writes, as plain immutable values.

These are ``NamedTuple``s (like ``Snapshot``) because the controller builds several per event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from agentfsm._values import Refusal, Snapshot

EFFECT = "effect"
"""Outbox kind: an effect record for an adapter to perform."""
DOMAIN_EVENT = "domain_event"
"""Outbox kind: a domain event (``AgentDeployed``…) to publish."""

# Each constant on its own line, so that each carries its own docstring.
PENDING = "pending"
"""Outbox state: waiting to be performed, or to be retried."""
DONE = "done"
"""Outbox state: performed."""
PARKED = "parked"
"""Outbox state: given up on (see ``OutboxItem.last_error``); ``requeue_outbox`` tries it again."""

CREATE = "create"
"""Audit kind: the agent was registered (``Controller.create``)."""
EVENT = "event"
"""Audit kind: an event was decided, accepted or refused."""
ERASE = "erase"
"""Audit kind: the agent's retained data was removed."""
MIGRATE = "migrate"
"""Audit kind: the agent was moved to another version of its machine (``agentfsm.migrate``)."""


def idempotency_scope(kind: str, actor: str | None, principal: str | None = None) -> str:
    """The namespace an audit row's key lives in: one per agent, sender and kind of row.

    An event's key is scoped to who sent it: its actor's code (``"U"``, ``"S"``, ``"T"``),
    followed by ``/`` and the principal when the embedder named one (``"U/alice"``). Rows the
    runtime writes itself have the kind as their scope (``"create"``, ``"erase"``). Actor codes
    are one letter, so no principal can make one scope look like another, and no user key can
    reach the platform's (``S``) or the timers' (``T``).

    Args:
        kind: the row's kind (``EVENT``, ``CREATE`` or ``ERASE``).
        actor: the actor's code, for an ``EVENT`` row.
        principal: who sent the event, as the embedder names them, or ``None``.

    Returns:
        The scope, as stored beside the key.
    """
    if kind != EVENT or actor is None:
        return kind
    return actor if principal is None else f"{actor}/{principal}"


class AgentRecord(NamedTuple):
    """One stored agent.

    Attributes:
        agent_id: its id.
        machine: the name of its machine.
        snapshot: status, version, since and data, as the engine sees them.
        created_at: when it was registered.
        updated_at: when its row last changed.
        machine_version: the version of its machine that decided it (1 for rows written
            before machines had versions).
    """

    agent_id: str
    machine: str
    snapshot: Snapshot
    created_at: datetime
    updated_at: datetime
    machine_version: int = 1


class OutboxEntry(NamedTuple):
    """An outbox item to write: an effect or a domain event, with its idempotency key."""

    kind: str
    payload: Any
    key: str


class TimerEntry(NamedTuple):
    """A timer to set: send ``event`` (a timer event) to the agent at ``due_at``.

    ``token`` names this setting of the timer (see ``TimerRow``).
    """

    event: str
    due_at: datetime
    token: str


class Write(NamedTuple):
    """Everything one decision writes, in one transaction (built by the controller).

    Attributes:
        agent_id: the agent.
        event_id: the event's idempotency key, unique within the agent and ``scope``.
        kind: ``"create"``, ``"event"`` or ``"erase"``.
        actor: the actor's code (``"U"``, ``"S"``, ``"T"``), or ``None`` for runtime rows.
        event: the event's name (for ``create``, the machine's name).
        payload: the event's payload (for ``create`` and ``erase``: ``{"data": ...}``).
        expected_version: the version read (compare-and-set); ``None`` for ``create``.
        snapshot: the agent after the decision (unchanged for a refusal).
        from_status: the status before (``None`` for ``create``).
        refusal: why the event was refused, or ``None`` when it was accepted.
        at: the decision's time (the context's ``now``).
        correlation_id: ties the row to a request or a chain of events.
        outbox: effects and domain events to perform.
        timers: timers to set, each replacing the agent's earlier timer of that event.
        cancels: timer events to cancel.
        consume_timer: the token of the timer this event fired, deleted in the same transaction.
        machine: the machine's name (for ``create``).
        principal: who sent the event, as the embedder names them (part of the key's scope).
        machine_version: the version of the machine that decided it (stored on the audit row,
            and on the agent for ``create``).
        trace_context: the decision's trace context (a W3C ``traceparent``), stored on its
            outbox items so the spans of the effects link to the decision's.
        before: for an accepted event, the snapshot it was decided on, stored on the audit
            row so that the event delivered again is answered from that row alone.
    """

    agent_id: str
    event_id: str
    kind: str
    actor: str | None
    event: str
    payload: Mapping[str, Any]
    expected_version: int | None
    snapshot: Snapshot
    from_status: str | None
    refusal: Refusal | None
    at: datetime
    correlation_id: str | None = None
    outbox: tuple[OutboxEntry, ...] = ()
    timers: tuple[TimerEntry, ...] = ()
    cancels: tuple[str, ...] = ()
    consume_timer: str | None = None
    machine: str | None = None
    principal: str | None = None
    machine_version: int = 1
    trace_context: str | None = None
    before: Snapshot | None = None

    @property
    def scope(self) -> str:
        """The namespace of ``event_id``: the row is unique on (agent, scope, event id)."""
        return idempotency_scope(self.kind, self.actor, self.principal)


class AuditRow(NamedTuple):
    """One row of the audit log: what ``GET /agents/{id}/events`` returns.

    Attributes:
        seq: its position in the log (increasing; an agent's rows are in decision order).
        event_id: the event's idempotency key, unique within the agent and ``scope``.
        agent_id: the agent.
        kind: ``"create"``, ``"event"`` or ``"erase"``.
        actor: who sent the event (``"U"``, ``"S"``, ``"T"``), or ``None`` for runtime rows.
        event: the event's name.
        payload: the event's payload.
        from_status: the status before, ``None`` for ``create``.
        to_status: the status after (the same as before for a refusal).
        version: the agent's version after the row.
        refusal: why the event was refused, or ``None``.
        at: when it was decided.
        correlation_id: the correlation id given, if any.
        principal: who sent the event, as the embedder named them, if it did.
        machine_version: the version of the machine that decided the row.
        before: for an accepted event, the snapshot it was decided on (deciding the event on
            it at ``at`` gives the recorded step again); ``None`` for refusals, the runtime's
            own rows, and events recorded before schema version 6.
    """

    seq: int
    event_id: str
    agent_id: str
    kind: str
    actor: str | None
    event: str
    payload: Mapping[str, Any]
    from_status: str | None
    to_status: str
    version: int
    refusal: Refusal | None
    at: datetime
    correlation_id: str | None
    principal: str | None = None
    machine_version: int = 1
    before: Snapshot | None = None

    @property
    def scope(self) -> str:
        """The namespace of ``event_id`` (see ``idempotency_scope``)."""
        return idempotency_scope(self.kind, self.actor, self.principal)

    @property
    def accepted(self) -> bool:
        """True unless the row records a refusal."""
        return self.refusal is None


class OutboxItem(NamedTuple):
    """One stored outbox item.

    Attributes:
        id: its id (increasing in the order written).
        agent_id: the agent it concerns.
        kind: ``"effect"`` or ``"domain_event"``.
        payload: the effect record or domain event.
        key: the idempotency key handed to the handler (stable across retries).
        state: ``"pending"``, ``"done"`` or ``"parked"``.
        attempts: how many attempts failed so far.
        next_attempt_at: when it is due.
        last_error: the last failure's message, if any.
        claimed_by: the worker holding it, if any.
        claimed_until: when that worker's claim lapses.
        trace_context: the trace context of the decision that wrote it, if it was traced.
    """

    id: int
    agent_id: str
    kind: str
    payload: Any
    key: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    claimed_by: str | None
    claimed_until: datetime | None
    trace_context: str | None = None


class TimerRow(NamedTuple):
    """One pending timer: send ``event`` to ``agent_id`` at ``due_at``.

    ``token`` identifies this setting of the timer: a replacement gets a new token, so a worker
    firing an old setting cannot delete the new one.
    """

    agent_id: str
    event: str
    due_at: datetime
    token: str
    claimed_by: str | None
    claimed_until: datetime | None
