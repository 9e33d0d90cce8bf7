"""``AsyncController``: the controller for asyncio programs.

It is ``Controller``'s logic (``Decisions``: the write plan, the retries, duplicates and key
mismatches) run by the asyncio driver on an ``AsyncStore``; no decision is made here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentfsm._values import Event, Refusal, Snapshot, Step
from agentfsm.runtime._async_store import AsyncStore
from agentfsm.runtime._controller import Decisions, Delivery
from agentfsm.runtime._records import AgentRecord, AuditRow
from agentfsm.runtime._steps import run_steps_async


class AsyncController(Decisions):
    """``Controller`` for asyncio: the same arguments, methods, outcomes and errors, awaited.

    Args:
        machines: one machine, machines by name, or a sequence of machines (several
            versions of one machine may be given, as to ``Controller``).
        store: an ``AsyncSQLiteStore`` or ``AsyncPostgresStore`` (opened).
        clock: the time source for every decision (default: the system clock).
        max_retries: re-reads after a version conflict before raising it.
        cache_size: how many agents' last written snapshots to keep (0: none).
        scrubbers: per machine name, how ``erase`` removes retained data.
    """

    store: AsyncStore

    async def get(self, agent_id: str) -> AgentRecord:
        """The agent as stored now (see ``Controller.get``).

        Raises:
            UnknownAgent, UnknownMachine, UnknownStoredStatus, MachineVersionMismatch: as
                ``Controller.get``.
        """
        return await run_steps_async(self._get_steps(agent_id), self.store)

    async def history(self, agent_id: str) -> list[AuditRow]:
        """The agent's audit rows, oldest first."""
        return await self.store.history(agent_id)

    async def create(
        self, agent_id: str, machine: str, data: Any, *, correlation_id: str | None = None
    ) -> Snapshot:
        """Register a new agent in its machine's initial status (see ``Controller.create``).

        Raises:
            InvalidInput, UnknownMachine, AgentExists: as ``Controller.create``.
        """
        created = await self.create_many([(agent_id, machine, data)], correlation_id=correlation_id)
        return created[0]

    async def create_many(
        self, agents: Sequence[tuple[str, str, Any]], *, correlation_id: str | None = None
    ) -> list[Snapshot]:
        """Register several agents in one transaction (see ``Controller.create_many``).

        Raises:
            InvalidInput: as for ``create``; none of the agents is created.
            UnknownMachine: a machine was not given to this controller.
            AgentExists: an id is taken; none of the agents is created.
        """
        return await run_steps_async(self._create_steps(agents, correlation_id), self.store)

    async def handle(
        self,
        agent_id: str,
        event: Event,
        *,
        correlation_id: str | None = None,
        timer_token: str | None = None,
        principal: str | None = None,
    ) -> Step | Refusal:
        """Decide ``event`` for the agent and record the outcome durably (see
        ``Controller.handle``: one transaction, idempotent by the event's scoped id).

        Cancelled at any ``await``, the event is recorded whole or not at all; handling it
        again under the same id then records it once.

        Returns:
            The ``Step`` (accepted) or the ``Refusal``.

        Raises:
            InvalidInput, UnknownAgent, VersionConflict, IdempotencyKeyMismatch,
                UnknownStoredStatus, UnknownMachine, MachineVersionMismatch, StoreError: as
                ``Controller.handle``.
        """
        delivery = Delivery(agent_id, event, correlation_id, timer_token, principal)
        return await run_steps_async(self._handle_steps(delivery), self.store)

    async def handle_many(self, deliveries: Sequence[Delivery]) -> list[Step | Refusal]:
        """Decide several events and record them in one transaction (see
        ``Controller.handle_many``).

        Returns:
            One outcome per delivery, in order.

        Raises:
            InvalidInput, StoreError: as ``Controller.handle_many``.
        """
        return await run_steps_async(self._handle_many_steps(deliveries), self.store)

    async def erase(self, agent_id: str, *, event_id: str) -> Snapshot:
        """Remove the agent's retained data (see ``Controller.erase``).

        Raises:
            UnknownAgent, VersionConflict: as ``Controller.erase``.
        """
        return await run_steps_async(self._erase_steps(agent_id, event_id), self.store)
