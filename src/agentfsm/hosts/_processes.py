"""Starting and ending agent processes: each in its own session, so signals reach all of it.

``ChildRegistry`` holds every live child outside any adapter object, so that a finaliser can
kill them all even when the adapter that started them is gone: no agent process outlives the
control plane that started it, however that control plane ends (close, garbage, interpreter
exit; and the agent program itself asks the kernel to die with its parent).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path


class ChildRegistry:
    """The live agent processes of one adapter, by pid (thread-safe)."""

    def __init__(self) -> None:
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def add(self, process: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._children[process.pid] = process

    def reap(self) -> None:
        """Forget children that have exited (collecting their exit status)."""
        with self._lock:
            for pid, process in list(self._children.items()):
                if process.poll() is not None:
                    del self._children[pid]

    def pids(self) -> list[int]:
        with self._lock:
            return list(self._children)

    def kill_all(self) -> None:
        """SIGKILL every child's process group and wait for each to exit."""
        with self._lock:
            children = list(self._children.values())
            self._children.clear()
        for process in children:
            signal_group(process, signal.SIGKILL)
        for process in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Send ``signum`` to the process group of a child that has not been reaped yet."""
    if process.poll() is not None:
        return  # reaped: its pid may already belong to someone else
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)  # start_new_session made the child its group's leader


AGENT_PROGRAM = Path(__file__).with_name("_agent_program.py")
"""The agent program's file. It is run as a script rather than with ``-m``: it needs only the
standard library, and importing ``agentfsm.hosts`` first would cost every boot about 0.4 s."""

AGENT_COMMAND = (sys.executable, "-I", str(AGENT_PROGRAM))
"""The command that starts an agent (``-I``: no environment, no user site, no script folder on
the path, so nothing beside the file can shadow a standard module)."""


def spawn(args: Sequence[str], directory: Path) -> subprocess.Popen[bytes]:
    """Start the agent program with ``args…`` in ``directory``, in a new session.

    Its output goes to ``agent.log`` in ``directory``.
    """
    command = [*AGENT_COMMAND, *args]
    with open(directory / "agent.log", "ab") as log:
        return subprocess.Popen(
            command,
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


async def terminate(process: subprocess.Popen[bytes], timeout: float) -> bool:
    """SIGTERM the child's group, wait up to ``timeout`` s, then SIGKILL; wait for its exit.

    Returns:
        True if it exited on SIGTERM, False if it had to be killed.
    """
    signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    graceful = process.poll() is not None
    if not graceful:
        signal_group(process, signal.SIGKILL)
    while process.poll() is None:
        await asyncio.sleep(0.005)
    return graceful


def kill_now(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's group and wait (briefly) for it to exit."""
    signal_group(process, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
