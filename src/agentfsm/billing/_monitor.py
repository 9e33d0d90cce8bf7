"""``BillingMonitor``: turns the ledger's standing into ``billing_suspend``/``billing_resume``.

The monitor is level-triggered: each ``check`` compares the standing now with the statuses the
agents are in now, and asks for what is missing. While standing is bad, every managed agent not
yet suspended (and not deleted) gets ``billing_suspend`` with the reason; once it is good, every
suspended agent gets ``billing_resume``, and the Alfe machine's resume table decides where each
one returns. Running the check twice asks twice, which is harmless: the machine refuses the
second suspend of a suspended agent and changes nothing.

Usage is metered per agent-hour while an agent is billable: while it holds a host that is not
paused (*ours*): provisioning, starting, running, rebooting, failing and stopping.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs

from agentfsm._errors import InvalidInput
from agentfsm._values import Actor, Event, Snapshot
from agentfsm.billing._ledger import BillingAdapter, Standing
from agentfsm.billing._money import check_text, check_time, shown
from agentfsm.models import MANAGED_STATUSES

BILLABLE_STATUSES = frozenset(
    {"provisioning", "starting", "running", "rebooting", "failing", "stopping"}
)
"""The managed statuses in which an agent holds a running (unpaused) host and is charged."""

_SELF_HOSTED_STATUSES = frozenset({"pending", "active", "deleted"})
_NOT_SUSPENDABLE = frozenset({"deleted", "billing_suspended"})


@attrs.frozen
class ManagedAgent:
    """What the monitor needs of one managed agent.

    Attributes:
        agent_id: the agent's id.
        status: its Alfe status now.
        size: its size (the price table's key).
    """

    agent_id: str
    status: str
    size: str

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> ManagedAgent:
        """Read an Alfe managed agent's snapshot (its data is an ``AlfeAgent``).

        Raises:
            InvalidInput: the snapshot's data has no ``agent_id`` and ``size`` (it is not an
                Alfe agent's record).
        """
        data: Any = snapshot.data
        try:
            return cls(data.agent_id, snapshot.status, data.size)
        except AttributeError:
            raise InvalidInput(
                f"a {type(data).__name__} is not an Alfe agent's record: it has no agent_id "
                "and size to bill"
            ) from None


@attrs.frozen
class BillingEvent:
    """An event for one agent's machine: ``billing_suspend`` or ``billing_resume``."""

    agent_id: str
    event: Event


class BillingMonitor:
    """Meters usage into a ledger and asks agents to suspend or resume from its standing.

    Args:
        ledger: the account's ledger (``InMemoryLedger``, ``SQLiteLedger``…).
    """

    def __init__(self, ledger: BillingAdapter) -> None:
        self._ledger = ledger

    @property
    def ledger(self) -> BillingAdapter:
        """The ledger this monitor reads and charges."""
        return self._ledger

    def meter(self, agents: Iterable[ManagedAgent], at: datetime) -> int:
        """Charge the hour containing ``at`` for every billable agent (once per agent-hour).

        Returns:
            The total charged now, in minor units.

        Raises:
            UnknownSize: an agent's size has no price.
            InvalidInput: an agent's status is not an Alfe status, its id is not one, or ``at``
                is not an aware time. Nothing is charged then, not even the agents before it.
        """
        agents = list(agents)
        # Every agent is checked before any is charged, so a bad one charges nobody.
        check_time(at, "the usage time")
        for agent in agents:
            _check_status(agent)
            if agent.status in BILLABLE_STATUSES:
                check_text(agent.agent_id, "an agent id")
                self._ledger.prices.price(agent.size)
        total = 0
        for agent in agents:
            if agent.status in BILLABLE_STATUSES:
                total += self._ledger.record_usage(agent.agent_id, agent.size, at)
        return total

    def check(self, agents: Iterable[ManagedAgent]) -> list[BillingEvent]:
        """The billing events the agents need now, given the ledger's standing.

        Returns:
            ``billing_suspend`` (payload ``{"reason": …}``) for each managed agent that is
            neither suspended nor deleted while standing is bad; ``billing_resume`` (payload
            ``{"standing": "good"}``) for each suspended agent once standing is good. Sent by
            the platform (``Actor.SYSTEM``).

        Raises:
            InvalidInput: an agent's status is not an Alfe status.
        """
        return self.events_for(self._ledger.standing(), agents)

    @staticmethod
    def events_for(standing: Standing, agents: Iterable[ManagedAgent]) -> list[BillingEvent]:
        """What ``check`` returns for a given standing (pure: no ledger read)."""
        out: list[BillingEvent] = []
        for agent in agents:
            _check_status(agent)
            if agent.status not in MANAGED_STATUSES:
                continue  # a self-hosted agent: billing does not apply
            if standing.reason is not None and agent.status not in _NOT_SUSPENDABLE:
                event = Event("billing_suspend", Actor.SYSTEM, {"reason": standing.reason})
                out.append(BillingEvent(agent.agent_id, event))
            elif standing.good and agent.status == "billing_suspended":
                event = Event("billing_resume", Actor.SYSTEM, {"standing": "good"})
                out.append(BillingEvent(agent.agent_id, event))
        return out


def _check_status(agent: ManagedAgent) -> None:
    status = agent.status
    if not isinstance(status, str) or (
        status not in MANAGED_STATUSES and status not in _SELF_HOSTED_STATUSES
    ):
        raise InvalidInput(
            f"agent {shown(agent.agent_id)} has the status {shown(status)}, which is not an Alfe "
            f"status; expected one of {', '.join(MANAGED_STATUSES)}"
        )
