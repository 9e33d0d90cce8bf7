"""The store contract for asyncio: ``Store``'s methods as coroutines, plus waiting for work.

``AsyncSQLiteStore`` and ``AsyncPostgresStore`` implement it; the store contract suite runs
against them as against the sync stores. Each write is one transaction, cancelled or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from agentfsm.runtime._records import AgentRecord, AuditRow, OutboxItem, TimerRow, Write


@runtime_checkable
class AsyncStore(Protocol):
    """``Store`` awaited: the same methods, meanings and errors, as coroutines."""

    codec: object

    async def close(self) -> None:
        """Release connections."""
        ...

    async def schema_version(self) -> int:
        """See ``Store.schema_version``."""
        ...

    async def load(self, agent_id: str) -> AgentRecord:
        """See ``Store.load``."""
        ...

    async def load_many(self, agent_ids: Iterable[str]) -> dict[str, AgentRecord]:
        """See ``Store.load_many``."""
        ...

    async def agents(
        self,
        *,
        machine: str | None = None,
        status: str | None = None,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[AgentRecord]:
        """See ``Store.agents``."""
        ...

    async def commit(self, writes: Sequence[Write]) -> None:
        """See ``Store.commit``."""
        ...

    async def audit_row(self, agent_id: str, scope: str, event_id: str) -> AuditRow | None:
        """See ``Store.audit_row``."""
        ...

    async def history(self, agent_id: str) -> list[AuditRow]:
        """See ``Store.history``."""
        ...

    async def audit_log(self, after_seq: int = 0, limit: int | None = None) -> list[AuditRow]:
        """See ``Store.audit_log``."""
        ...

    async def claim_outbox(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxItem]:
        """See ``Store.claim_outbox``."""
        ...

    async def finish_outbox(self, item_id: int, worker: str, now: datetime) -> bool:
        """See ``Store.finish_outbox``."""
        ...

    async def retry_outbox(
        self, item_id: int, worker: str, error: str, next_attempt_at: datetime, now: datetime
    ) -> bool:
        """See ``Store.retry_outbox``."""
        ...

    async def park_outbox(self, item_id: int, worker: str, error: str, now: datetime) -> bool:
        """See ``Store.park_outbox``."""
        ...

    async def requeue_outbox(self, item_id: int, now: datetime) -> bool:
        """See ``Store.requeue_outbox``."""
        ...

    async def outbox(
        self, *, state: str | None = None, agent_id: str | None = None, limit: int | None = None
    ) -> list[OutboxItem]:
        """See ``Store.outbox``."""
        ...

    async def prune_done(self, older_than: datetime, limit: int | None = None) -> int:
        """See ``Store.prune_done``."""
        ...

    async def claim_timers(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[TimerRow]:
        """See ``Store.claim_timers``."""
        ...

    async def consume_timer(self, token: str) -> bool:
        """See ``Store.consume_timer``."""
        ...

    async def timers(self, agent_id: str | None = None) -> list[TimerRow]:
        """See ``Store.timers``."""
        ...

    def work_seen(self) -> int:
        """A mark for ``wait_for_work``: work announced after it wakes the waiter."""
        ...

    async def wait_for_work(self, seen: int, timeout: float) -> bool:
        """Wait for work announced after ``seen``, at most ``timeout`` seconds; whether any
        was."""
        ...
