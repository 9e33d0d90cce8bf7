"""A stored Alfe fleet with agents in every status, for the migration tests and benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from agentfsm import Actor, Event
from agentfsm.migrate import DataTransform, Migration
from agentfsm.migrate.examples import ALFE_V2
from agentfsm.models import ALFE, AlfeAgent
from agentfsm.runtime import Controller, Delivery

S, U = Actor.SYSTEM, Actor.USER
_UP = [("provision", S, {}), ("host_up", S, {})]
_RUNNING = [*_UP, ("connected", S, {})]
_STOPPING = [*_RUNNING, ("stop", U, {})]

SCRIPTS: dict[str, list[tuple[str, Actor, dict[str, Any]]]] = {
    "pending": [],
    "provisioning": [("provision", S, {})],
    "waitlisted": [("capacity_unavailable", S, {})],
    "starting": _UP,
    "running": _RUNNING,
    "failing": [*_RUNNING, ("connection_lost", S, {})],
    "stopping": _STOPPING,
    "stopped": [*_STOPPING, ("shutdown_complete", S, {})],
    "rebooting": [*_RUNNING, ("restart", U, {})],
    "failed": [("provision", S, {}), ("provisioning_failed", S, {})],
    "billing_suspended": [
        ("provision", S, {}),
        ("billing_suspend", S, {"reason": "payment_issue"}),
    ],
    "deleted": [("delete", U, {})],
}
"""For each v1 status, the events that lead a new agent there."""

STATUSES = tuple(SCRIPTS)


def status_of(index: int) -> str:
    """The status agent ``index`` of a fleet is driven to."""
    return STATUSES[index % len(STATUSES)]


def build_fleet(
    controller: Controller, count: int, prefix: str = "a", batch: int = 500
) -> list[str]:
    """Create ``count`` Alfe agents and drive them round-robin into every status.

    Returns:
        The agent ids, in order.
    """
    ids = [f"{prefix}{i:06d}" for i in range(count)]
    for start in range(0, count, batch):
        chunk = ids[start : start + batch]
        controller.create_many([(a, "alfe", AlfeAgent(a, f"name-{a}")) for a in chunk])
        _drive(controller, chunk, start)
    return ids


def _drive(controller: Controller, ids: Sequence[str], offset: int) -> None:
    scripts = [SCRIPTS[status_of(offset + i)] for i in range(len(ids))]
    for step in range(max(len(s) for s in scripts)):
        deliveries = [
            Delivery(a, Event(s[step][0], s[step][1], s[step][2], id=f"{a}:{step}"))
            for a, s in zip(ids, scripts, strict=True)
            if step < len(s)
        ]
        controller.handle_many(deliveries)


def renamed(data: AlfeAgent, defaults: Any) -> AlfeAgent:
    """A data transform: every record's name gets ``-v2``."""
    return attrs.evolve(data, name=data.name + "-v2")


def raising_on(agent_id: str, error: BaseException | None = None) -> Migration:
    """Alfe v1 -> v2 renaming every record (``renamed``), raising ``error`` (a ``ValueError``
    by default) for the agent ``agent_id``."""
    failure = error if error is not None else ValueError("cannot rename this one")

    def transform(data: AlfeAgent, defaults: Any) -> AlfeAgent:
        if data.agent_id == agent_id:
            raise failure
        return renamed(data, defaults)

    return Migration(ALFE, ALFE_V2, data=DataTransform("raising", transform))
