"""Representative agents, one per status, for questions asked of a status rather than an agent.

"Which actions does ``stopped`` offer?" needs a snapshot to ask ``offered`` about. These are
ordinary agents in each status: an Alfe agent that has been provisioned once (host and
credentials 1; a suspended one remembers ``running``), a Recif agent with its default spec and
no canary. The time is fixed so the generated pages never change by themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from agentfsm._errors import InvalidInput
from agentfsm._machine import Machine
from agentfsm._values import DEFAULT_POLICY, Context, Policy, Snapshot
from agentfsm.models import AlfeAgent, RecifAgent

SAMPLE_TIME = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
"""When every sample agent entered its status."""

SAMPLE_NAME = "demo-agent"
"""The sample agent's name (Alfe) or slug (Recif)."""

DataFor = Callable[[str], Any]
"""Builds a model's record (``Snapshot.data``) for an agent in the given status."""


def alfe_data(status: str) -> AlfeAgent:
    """A representative Alfe agent's record in ``status``."""
    base = AlfeAgent("agent-1", SAMPLE_NAME, credentials=1, host=1)
    if status == "pending":  # not provisioned yet: no host, no credentials
        return AlfeAgent("agent-1", SAMPLE_NAME)
    if status == "waitlisted":
        return attrs.evolve(base, capacity_attempts=1)
    if status == "billing_suspended":
        return attrs.evolve(base, remembered="running", suspend_reason="credits_exhausted")
    if status == "deleted":
        purge_at = SAMPLE_TIME + DEFAULT_POLICY.grace_period
        return attrs.evolve(base, deleted_at=SAMPLE_TIME, purge_at=purge_at)
    return base


def recif_data(status: str) -> RecifAgent:
    """A representative Recif agent's record in ``status`` (default spec, no canary)."""
    if status == "Running":
        return RecifAgent(SAMPLE_NAME, ready_replicas=1, endpoint=f"http://{SAMPLE_NAME}:8000")
    if status == "deleted":
        return RecifAgent(SAMPLE_NAME, deleted_at=SAMPLE_TIME)
    return RecifAgent(SAMPLE_NAME)


_BY_MACHINE: dict[str, DataFor] = {
    "alfe": alfe_data,
    "alfe-self-hosted": alfe_data,
    "recif": recif_data,
}


def sample_snapshot(
    machine: Machine, status: str, data_for: DataFor | None = None, version: int = 1
) -> Snapshot:
    """A snapshot of a representative agent of ``machine`` that entered ``status`` at
    ``SAMPLE_TIME``.

    Args:
        machine: the compiled machine.
        status: one of its statuses.
        data_for: builds the agent's record; needed for machines other than the shipped ones.

    Raises:
        InvalidInput: ``status`` is not one of the machine's, or the machine is not a shipped
            one and no ``data_for`` was given.
    """
    if status not in machine.states:
        known = ", ".join(machine.spec.state_names)
        raise InvalidInput(f"the {machine.name} model has no status {status!r}; use one of {known}")
    build = data_for or _BY_MACHINE.get(machine.name)
    if build is None:
        raise InvalidInput(
            f"no sample agent is known for the machine {machine.name!r}: pass data_for=, "
            "a function from a status to the agent's record"
        )
    return Snapshot(status, version, SAMPLE_TIME, build(status))


def sample_context(waited: timedelta = timedelta(0), policy: Policy | None = None) -> Context:
    """The context ``waited`` after a sample agent entered its status; without a policy, the
    machine it is used with applies its own."""
    return Context(SAMPLE_TIME + waited, policy)
