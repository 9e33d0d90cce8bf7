"""Stores for the fuzz tests, and a comparable dump of everything a store holds."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from agentfsm.models import AlfeAgent, RecifAgent
from agentfsm.runtime import PostgresStore, SQLiteStore, Store, ThrowawayPostgres

from ._tally import observe

STORE_KINDS = ("sqlite", "postgres")


def open_store(kind: str, tmp_path: Path, server: ThrowawayPostgres | None) -> Store:
    """A fresh store: a SQLite file in ``tmp_path``, or a new schema on the throwaway server."""
    if kind == "sqlite":
        return SQLiteStore(tmp_path / f"agents-{uuid.uuid4().hex[:8]}.db")
    assert server is not None
    return PostgresStore(server.dsn, schema=f"f_{uuid.uuid4().hex[:12]}", max_size=2)


def dump(store: Store) -> tuple[Any, ...] | BaseException:
    """Agents, audit log, outbox and timers, read back in full (or the error reading them)."""
    name = type(store).__name__
    return observe(
        f"{name}.read",
        (),
        lambda: (
            tuple(store.agents()),
            tuple(store.audit_log()),
            tuple(store.outbox()),
            tuple(store.timers()),
        ),
    )


def record_for(machine: str, agent_id: str) -> Any:
    return RecifAgent("support-agent") if machine == "recif" else AlfeAgent(agent_id, "Agent")


def new_agent_id() -> str:
    return f"a-{uuid.uuid4().hex[:10]}"
