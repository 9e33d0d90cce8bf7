"""Where ``agentfsm demo`` keeps its files, so ``agentfsm history`` finds them by default.

Everything lives in one folder (``./.agentfsm-demo/`` unless told otherwise): the SQLite
database of agents and their audit log, the billing ledger, the Git release repository, and the
local-process host's working directories.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_DEMO_DIR = Path(".agentfsm-demo")
"""The demo's folder, relative to the current directory."""

DB_FILE = "agentfsm.db"
"""The SQLite store (agents, audit log, outbox, timers) inside the demo's folder."""

LEDGER_FILE = "billing.db"
"""The SQLite billing ledger inside the demo's folder."""

RELEASES_DIR = "recif-state"
"""The Git release repository inside the demo's folder."""

HOSTS_DIR = "hosts"
"""The local-process host's working directories inside the demo's folder."""


def demo_db(directory: Path | None = None) -> Path:
    """The demo's database file in ``directory`` (default: ``DEFAULT_DEMO_DIR``)."""
    return (directory if directory is not None else DEFAULT_DEMO_DIR) / DB_FILE
