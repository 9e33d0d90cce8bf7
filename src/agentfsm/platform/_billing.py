"""The billing step: meter billable agent-hours and turn the ledger's standing into events.

``BillingMonitor`` is level-triggered (it asks for what is missing given the standing now), so
the step simply runs it on every tick. Each event's id names the agent's version and the
request (see ``derived_id``), so asking twice at one version records once, and a refused ask
is not logged again and again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

import attrs

from agentfsm._values import Step
from agentfsm.billing import BILLABLE_STATUSES, BillingAdapter, BillingMonitor, ManagedAgent
from agentfsm.platform._keys import derived_id
from agentfsm.runtime import AgentRecord, Controller, StoreError

log = logging.getLogger("agentfsm.platform")


class BillingRun(NamedTuple):
    """What one billing pass did: events accepted, and agents whose event could not be
    recorded (logged; asked again on the next pass)."""

    accepted: int
    failed: int


class BillingStep:
    """Meters usage into a ledger and feeds ``billing_suspend``/``billing_resume`` to agents.

    Only agents whose machine has a ``billing_suspend`` event take part (Alfe managed agents);
    the others are left alone.

    Args:
        controller: records the billing events (and gives the machines).
        ledger: the account's credit pool.
    """

    def __init__(self, controller: Controller, ledger: BillingAdapter) -> None:
        self._controller = controller
        self.monitor = BillingMonitor(ledger)
        self._billed = {
            name
            for name, machine in controller.machines.items()
            if any(e.name == "billing_suspend" for e in machine.spec.events)
        }
        # agent -> the hour last charged by this process; the ledger is idempotent per
        # agent-hour anyway, this only spares it a write per agent on every tick.
        self._charged: dict[str, datetime] = {}

    def run(self, records: Iterable[AgentRecord], now: datetime) -> BillingRun:
        """Charge this hour for billable agents, then send the events the standing calls for.

        One agent's event that cannot be recorded (a ``StoreError``: its key taken by another
        request, its row gone, the store failing for it) is logged and counted, and the other
        agents' events are still sent: one agent must not hold back another's suspension.

        Returns:
            How many billing events were accepted, and how many agents' failed.

        Raises:
            UnknownSize: an agent's size has no price in the ledger's table.
        """
        managed = [r for r in records if r.machine in self._billed]
        hour = now.replace(minute=0, second=0, microsecond=0)
        due = [
            ManagedAgent(r.agent_id, r.snapshot.status, r.snapshot.data.size)
            for r in managed
            if r.snapshot.status in BILLABLE_STATUSES and self._charged.get(r.agent_id) != hour
        ]
        if due:
            self.monitor.meter(due, now)
            for agent in due:
                self._charged[agent.agent_id] = hour
        versions = {r.agent_id: r.snapshot.version for r in managed}
        asks = self.monitor.check(
            ManagedAgent(r.agent_id, r.snapshot.status, r.snapshot.data.size) for r in managed
        )
        accepted = failed = 0
        for ask in asks:
            key = derived_id("billing", ask.agent_id, versions[ask.agent_id], ask.event)
            event = attrs.evolve(ask.event, id=key)
            try:
                outcome = self._controller.handle(ask.agent_id, event)
            except StoreError as exc:
                failed += 1
                log.warning(
                    "billing: %s for agent %s was not recorded: %s", event.name, ask.agent_id, exc
                )
                continue
            if isinstance(outcome, Step):
                accepted += 1
        return BillingRun(accepted, failed)
