"""The store contract: what the controller and the workers need from a database.

``SQLiteStore`` and ``PostgresStore`` implement it, and one contract test suite runs against
both. Every write method is one transaction: it happens whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from agentfsm.runtime._errors import AgentExists, DuplicateEvent, VersionConflict
from agentfsm.runtime._records import CREATE, AgentRecord, AuditRow, OutboxItem, TimerRow, Write
from agentfsm.runtime._storable import check_writes


@runtime_checkable
class Store(Protocol):
    """A durable home for agents, their audit log, the outbox and the timers.

    Every read raises ``CorruptDatabase`` (naming the table and the row) for a stored row it
    cannot read back, and finds nothing by a key that nothing could be stored under. An
    argument of the wrong type or out of range (a count that is not a whole number from 0 to
    2**63 - 1, a time that is naive or has no UTC form, a filter that is not a string) is an
    ``InvalidInput`` before anything is read or written.
    """

    def close(self) -> None:
        """Release connections. The store cannot be used afterwards."""
        ...

    def schema_version(self) -> int:
        """The schema version the database is at."""
        ...

    def load(self, agent_id: str) -> AgentRecord:
        """The stored agent.

        Raises:
            UnknownAgent: no such agent.
        """
        ...

    def load_many(self, agent_ids: Iterable[str]) -> dict[str, AgentRecord]:
        """The stored agents among ``agent_ids`` (unknown ids are left out).

        Raises:
            InvalidInput: ``agent_ids`` is one string, or not iterable.
        """
        ...

    def agents(
        self,
        *,
        machine: str | None = None,
        status: str | None = None,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[AgentRecord]:
        """The stored agents by id: every one, or those the filters keep.

        Read a large fleet page by page: ``limit`` agents at a time, each page ``after`` the
        last id of the one before. The order is the database's order of the ids (on
        PostgreSQL, its collation's), the same from page to page.

        Args:
            machine: only the agents of this machine.
            status: only the agents in this status.
            prefix: only the agents whose id starts with it.
            after: only the agents whose id comes after it.
            limit: at most this many (``None``: no bound).

        Raises:
            InvalidInput: a filter is neither a string nor ``None``, ``after`` holds a lone
                surrogate, or ``limit`` is not a whole number from 0 to 2**63 - 1.
        """
        ...

    def commit(self, writes: Sequence[Write]) -> None:
        """Apply ``writes`` in one transaction, in order.

        For each write: a ``create`` inserts the agent; an ``event`` or ``erase`` compares and
        sets the agent's version (a refusal only compares); then the audit row is appended, the
        outbox items inserted, timers set, cancelled and consumed.

        An audit row is unique on (agent, ``Write.scope``, event id): the same key for another
        agent, or from another sender, is another row.

        Raises:
            VersionConflict: an agent's version is not the expected one. Nothing was written.
            DuplicateEvent: an event id is already in the agent's log in the same scope.
                Nothing was written.
            AgentExists: a ``create`` names an existing agent. Nothing was written.
            UnknownAgent: a write names an agent that is not stored. Nothing was written.
            CodecError: a value or a text field cannot be stored. Nothing was written.
        """
        ...

    def audit_row(self, agent_id: str, scope: str, event_id: str) -> AuditRow | None:
        """The agent's audit row of ``event_id`` in ``scope`` (see ``idempotency_scope``),
        if it was recorded."""
        ...

    def history(self, agent_id: str) -> list[AuditRow]:
        """An agent's audit rows, oldest first (empty for an unknown agent)."""
        ...

    def audit_log(self, after_seq: int = 0, limit: int | None = None) -> list[AuditRow]:
        """Audit rows with ``seq > after_seq``, oldest first, at most ``limit`` of them.

        Raises:
            InvalidInput: ``after_seq`` or ``limit`` is not a whole number from 0 to 2**63 - 1
                (``limit`` may be ``None``).
        """
        ...

    def claim_outbox(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxItem]:
        """Claim up to ``limit`` due pending items for ``worker`` until ``lease_until``.

        An item is due when its ``next_attempt_at`` has come and it is unclaimed, its claim has
        lapsed, or ``worker`` itself holds it (a restarted worker resumes its own batch). Only
        an agent's oldest pending item is claimable, so an agent's effects are performed in
        order. Two workers never hold one item at once.
        """
        ...

    def finish_outbox(self, item_id: int, worker: str, now: datetime) -> bool:
        """Mark an item done. False when ``worker`` no longer holds it (nothing changed)."""
        ...

    def retry_outbox(
        self, item_id: int, worker: str, error: str, next_attempt_at: datetime, now: datetime
    ) -> bool:
        """Count a failed attempt and release the item until ``next_attempt_at``.

        Returns False (nothing changed) when ``worker`` no longer holds it.
        """
        ...

    def park_outbox(self, item_id: int, worker: str, error: str, now: datetime) -> bool:
        """Count a failed attempt and park the item, keeping ``error``.

        Returns False (nothing changed) when ``worker`` no longer holds it.
        """
        ...

    def requeue_outbox(self, item_id: int, now: datetime) -> bool:
        """Put a parked item back in the queue, due now. False when it is not parked."""
        ...

    def outbox(
        self, *, state: str | None = None, agent_id: str | None = None, limit: int | None = None
    ) -> list[OutboxItem]:
        """Outbox items, oldest first, filtered by state and agent.

        Raises:
            InvalidInput: a filter is not a string or ``None``, or ``limit`` is not a whole
                number from 0 to 2**63 - 1 or ``None``.
        """
        ...

    def prune_done(self, older_than: datetime, limit: int | None = None) -> int:
        """Delete done outbox items last changed before ``older_than``; returns how many.

        Pending and parked items are never deleted. The audit log keeps the history, and an
        event delivered again is recognised by its audit row, so a pruned item is not redone.
        ``limit`` bounds the rows deleted in one call (one transaction), so a large backlog can
        be pruned in short transactions.

        Raises:
            StoreError: ``limit`` is not a positive whole number (at most 2**63 - 1) or ``None``.
            InvalidInput: ``older_than`` is not an aware datetime with a UTC form.
        """
        ...

    def claim_timers(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[TimerRow]:
        """Claim up to ``limit`` timers due at ``now``, earliest first (see ``claim_outbox``)."""
        ...

    def consume_timer(self, token: str) -> bool:
        """Delete the timer setting ``token``; False when it is gone (fired, replaced).

        For a timer whose event was decided already: firing it again could never record it,
        so it is spent. A replaced timer has a new token and is left alone.
        """
        ...

    def timers(self, agent_id: str | None = None) -> list[TimerRow]:
        """Pending timers, earliest first, for one agent or all.

        Raises:
            InvalidInput: ``agent_id`` is not a string or ``None``.
        """
        ...


def check_batch(writes: Sequence[Write]) -> tuple[dict[str, int], set[str], list[Write]]:
    """The version each agent must have in the store before the batch, the agents whose first
    write is a refusal (their version is checked by reading it; the others' by their
    compare-and-set), and the creations.

    Raises ``DuplicateEvent`` for a key used twice in the batch (by one agent, in one scope),
    ``AgentExists`` for an agent created twice, ``VersionConflict`` when one agent's writes do
    not chain, and ``CodecError`` for text no store can hold (checked first, before any
    statement runs).
    """
    check_writes(writes)
    base: dict[str, int] = {}
    checks: set[str] = set()
    chain: dict[str, int] = {}
    creates: list[Write] = []
    keys: set[tuple[str, str, str]] = set()
    for w in writes:
        key = (w.agent_id, w.scope, w.event_id)
        if key in keys:
            raise DuplicateEvent(w.event_id, w.agent_id, w.scope)
        keys.add(key)
        if w.kind == CREATE:
            if w.agent_id in chain:
                raise AgentExists(f"the agent {w.agent_id!r} is created twice in one batch")
            creates.append(w)
            chain[w.agent_id] = w.snapshot.version
            continue
        expected = w.expected_version if w.expected_version is not None else -1
        known = chain.get(w.agent_id)
        if known is None:
            base[w.agent_id] = expected
            if w.refusal is not None:
                checks.add(w.agent_id)
        elif known != expected:
            raise VersionConflict(w.agent_id, expected)
        chain[w.agent_id] = expected if w.refusal is not None else w.snapshot.version
    return base, checks, creates
