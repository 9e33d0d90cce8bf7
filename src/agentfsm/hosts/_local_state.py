"""What ``LocalProcessHost`` knows about each agent and its host, shared with its control server.

The adapter (process lifecycle, capacity, credentials) and the control server (connections and
heartbeats) read and change the same records, always on the adapter's one loop thread; keeping
the records apart from both lets each module import them without importing the other.
"""

from __future__ import annotations

import asyncio
import subprocess
from datetime import datetime
from pathlib import Path

import attrs


@attrs.define(eq=False)
class HostRecord:
    """One host generation of one agent: a process directory and, when powered, a process."""

    agent_id: str
    number: int
    size: str
    directory: Path
    phase: str = "up"
    paused_from: str = ""
    process: subprocess.Popen[bytes] | None = None
    boot_id: str = ""
    credentials: int | None = None
    last_beat: float = 0.0
    last_heartbeat: datetime | None = None
    writer: asyncio.StreamWriter | None = None


@attrs.define(eq=False)
class AgentRecord:
    """One agent: its current host, its epoch, its credential secrets and live connections."""

    host: HostRecord | None = None
    epoch: int = 0
    secrets: dict[int, str] = attrs.field(factory=dict)
    revoked: set[int] = attrs.field(factory=set)
    connections: dict[asyncio.StreamWriter, int] = attrs.field(factory=dict)

    def usable_credentials(self) -> int | None:
        good = [g for g in self.secrets if g not in self.revoked]
        return max(good) if good else None
