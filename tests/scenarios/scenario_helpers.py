"""Helpers shared by the scenario tests: the git command line, audit-log views, process checks."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from agentfsm.platform import Platform
from agentfsm.runtime import EVENT, AuditRow

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)


def run_git(repo: Path, *args: str) -> str:
    """Run the ``git`` command line on ``repo`` and return its output (fails the test on error)."""
    done = subprocess.run(
        ["git", "--git-dir", str(repo), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)} failed: {done.stderr}"
    return done.stdout


def moves(rows: list[AuditRow]) -> list[tuple[str, str | None, str]]:
    """The accepted rows as ``(event, from, to)``, oldest first (creation and erase included)."""
    return [(r.event, r.from_status, r.to_status) for r in rows if r.accepted]


def refusals(rows: list[AuditRow]) -> list[tuple[str, str]]:
    """The refused rows as ``(event, code)``."""
    return [(r.event, r.refusal.code) for r in rows if r.kind == EVENT and r.refusal is not None]


def wait_until(
    platform: Platform, check: Callable[[], bool], what: str, timeout: float = 10.0
) -> None:
    """Tick the platform until ``check()`` holds (real seconds: real processes report late)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        platform.run_until_idle()
        time.sleep(0.01)


def recorded(platform: Platform, agent_id: str, event: str) -> int:
    """How many times ``event`` was accepted for the agent."""
    return sum(1 for r in platform.history(agent_id) if r.accepted and r.event == event)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def process_state(pid: int) -> str:
    """The one-letter state of a process (``S`` sleeping, ``T`` stopped…), ``"gone"`` if none."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # gone, even mid-read
        return "gone"


def agent_processes(marker: str) -> list[int]:
    """Every live process whose command line mentions ``marker`` (a directory of the test)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline and alive(int(entry.name)):
            found.append(int(entry.name))
    return found
