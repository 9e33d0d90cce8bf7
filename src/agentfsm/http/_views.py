"""What ``GET /agents/{id}`` answers, and the opaque cursors of the paged lists."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from agentfsm import wire
from agentfsm._engine import offered
from agentfsm._errors import InvalidInput
from agentfsm._machine import Machine
from agentfsm._values import Context
from agentfsm.http._auth import Caller
from agentfsm.http._problems import Problem
from agentfsm.runtime._records import AgentRecord


def agent_view(
    machine: Machine, record: AgentRecord, caller: Caller, now: datetime
) -> dict[str, Any]:
    """The agent as the API shows it: status, phase, conditions, version, since, data, and
    every action offered to ``caller`` (offered, needs input, or refused and why)."""
    snap = record.snapshot
    try:
        phase = machine.spec.state(snap.status).phase
    except KeyError:
        phase = None
    try:
        offers = offered(machine, snap, Context(now), actor=caller.roles)
    except InvalidInput:
        offers = ()  # a snapshot the engine will not judge offers nothing
    return {
        "agent_id": record.agent_id,
        "machine": record.machine,
        "machine_version": record.machine_version,
        "status": snap.status,
        "phase": phase,
        "conditions": wire.dump(getattr(snap.data, "conditions", ())),
        "version": snap.version,
        "since": wire.dump(snap.since),
        "created_at": wire.dump(record.created_at),
        "updated_at": wire.dump(record.updated_at),
        "data": wire.dump(snap.data),
        "offered": [wire.dump(o) for o in offers],
    }


def next_cursor(position: str) -> str:
    """The opaque cursor for the page after ``position``."""
    return base64.urlsafe_b64encode(position.encode("utf-8", "surrogatepass")).decode("ascii")


def cursor_after(cursor: str | None) -> str | None:
    """The position a cursor from ``next_cursor`` stands for (None: from the start).

    Raises:
        Problem: ``invalid-request`` for a cursor this API did not give out.
    """
    if cursor is None:
        return None
    try:
        return base64.b64decode(cursor.encode("ascii"), b"-_", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise Problem("invalid-request", "not a cursor of this list", {"field": "cursor"}) from None
