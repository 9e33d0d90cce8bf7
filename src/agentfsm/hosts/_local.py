"""A host adapter whose hosts are real processes on this machine.

Each managed agent runs ``agentfsm.hosts._agent_program`` in its own process directory
(``base_dir/<agent>/host-<n>/``), in its own session, and connects back to a small control
server on 127.0.0.1 that this adapter runs on an ephemeral port (see ``_control_server``). The
server authenticates each connection (an HMAC over a fresh nonce with the agent's current
credential secret) and turns heartbeats into reports: the first heartbeat of a boot is
``connected``; a dropped connection or ``missed_heartbeats`` silent intervals is
``connection_lost``. This module holds the rest: process lifecycle, capacity and credentials.

Every call and every network event runs on one private event-loop thread (see ``_loop``), so
the adapter's state is touched by one thread only and needs no locks. Each change of course
(stop, reboot, pause…) starts a new epoch for the agent, and background work begun in an older
epoch reports nothing: a reboot's old process dying is not a lost connection.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from agentfsm._errors import InvalidInput
from agentfsm._values import Event
from agentfsm.hosts._control_server import ControlServer
from agentfsm.hosts._local_state import AgentRecord, HostRecord
from agentfsm.hosts._loop import LoopThread
from agentfsm.hosts._processes import ChildRegistry, kill_now, signal_group, spawn, terminate
from agentfsm.hosts._protocol import (
    EventIds,
    EventSink,
    HostObservation,
    check_agent_id,
    check_generation,
)
from agentfsm.runtime import TemporaryError

T = TypeVar("T")

_UP = frozenset({"up", "booting", "connected", "lost", "stopping"})


class LocalProcessHost:
    """A ``HostAdapter`` that runs each agent as a real OS process on this machine.

    Args:
        sink: receives reports made in the background (connected, connection_lost,
            shutdown_complete); called from the adapter's own thread.
        base_dir: where process directories go; a fresh temporary directory (removed on
            close) when ``None``.
        capacity: the most hosts each size may hold at once; sizes not listed are unlimited.
            A provision beyond it reports ``capacity_unavailable``.
        heartbeat_interval: seconds between an agent's heartbeats.
        missed_heartbeats: how many intervals of silence make a ``connection_lost``.
        stop_timeout: seconds a graceful stop waits after SIGTERM before SIGKILL.
        orphan_timeout: seconds an agent keeps trying to reach a vanished control plane.
        extra_agent_args: more arguments for the agent program (``--ignore-sigterm``…).

    Use it as a context manager, or call ``close``: every child process is killed. A
    finaliser does the same if the adapter is dropped or the interpreter exits unclosed.
    """

    def __init__(
        self,
        sink: EventSink,
        *,
        base_dir: str | os.PathLike[str] | None = None,
        capacity: Mapping[str, int] | None = None,
        heartbeat_interval: float = 1.0,
        missed_heartbeats: int = 3,
        stop_timeout: float = 5.0,
        orphan_timeout: float = 30.0,
        extra_agent_args: Sequence[str] = (),
    ) -> None:
        if heartbeat_interval <= 0 or missed_heartbeats < 1 or stop_timeout < 0:
            raise InvalidInput(
                "heartbeat_interval must be > 0, missed_heartbeats >= 1 and stop_timeout >= 0"
            )
        self._capacity = dict(capacity or {})
        for size, limit in self._capacity.items():
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise InvalidInput(f"capacity for {size!r} must be an int >= 0, not {limit!r}")
        self._own_dir = base_dir is None
        # Absolute: agent processes run inside their own directory, where a relative path
        # to their credentials would no longer resolve.
        self.base_dir = Path(
            tempfile.mkdtemp(prefix="agentfsm-hosts-") if base_dir is None else base_dir
        ).resolve()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._interval = heartbeat_interval
        self._stop_timeout = stop_timeout
        self._orphan_timeout = orphan_timeout
        self._extra = tuple(extra_agent_args)
        self._ids = EventIds("local:")
        self._children = ChildRegistry()
        self._control = ControlServer(
            sink, self._ids, self._children, heartbeat_interval * missed_heartbeats
        )
        # The adapter and its control server share the agents' records.
        self._agents = self._control.agents
        self._closed = False
        self._loop = LoopThread("agentfsm-local-hosts")
        try:
            # The loop holds only weak references to the control server, which only this
            # adapter holds, so an adapter nobody holds is collected, and its finaliser kills
            # its children.
            self.port: int = self._loop.run(self._control.start(heartbeat_interval / 2))
        except BaseException:
            self._loop.stop()
            raise
        self._finalizer = weakref.finalize(self, _shutdown, self._children, self._loop)

    # -- HostAdapter ---------------------------------------------------------------------------

    def provision(self, agent_id: str, host: int, size: str) -> Sequence[Event]:
        """Create the host's process directory now; report host_up or capacity_unavailable."""
        check_agent_id(agent_id)
        check_generation("host", host)
        if not isinstance(size, str) or not size:
            raise InvalidInput(f"size must be a non-empty string, not {size!r}")
        return self._call(lambda: self._provision(agent_id, host, size))

    def issue_credentials(self, agent_id: str, credentials: int) -> Sequence[Event]:
        """Make a fresh secret for credential generation ``credentials`` (once per generation)."""
        check_agent_id(agent_id)
        check_generation("credentials", credentials)

        def issue() -> Sequence[Event]:
            agent = self._agent(agent_id)
            agent.secrets.setdefault(credentials, secrets.token_hex(32))
            return ()

        return self._call(issue)

    def revoke_credentials(self, agent_id: str, credentials: int) -> Sequence[Event]:
        """Revoke a generation: connections using it are refused and closed."""
        check_agent_id(agent_id)
        check_generation("credentials", credentials)
        return self._call(lambda: self._revoke(agent_id, credentials))

    def boot(self, agent_id: str, host: int) -> Sequence[Event]:
        """Start the agent process; connected follows its first heartbeat."""
        return self._on_host(agent_id, host, self._boot)

    def power_on(self, agent_id: str, host: int) -> Sequence[Event]:
        """Start the stopped agent process again, with the same credentials."""
        return self._on_host(agent_id, host, self._boot)

    def power_cycle(self, agent_id: str, host: int) -> Sequence[Event]:
        """SIGKILL the agent process (if any) and start it again."""
        return self._on_host(agent_id, host, self._boot)

    def reboot(self, agent_id: str, host: int) -> Sequence[Event]:
        """Stop the agent process gracefully, then start it again with the same credentials."""
        return self._on_host(agent_id, host, self._reboot)

    def recover(self, agent_id: str, host: int) -> Sequence[Event]:
        """Restart an agent that lost its connection (a live but silent process is hung)."""

        def recover(h: HostRecord) -> Sequence[Event]:
            return self._boot(h) if h.phase == "lost" else ()

        return self._on_host(agent_id, host, recover)

    def power_off(self, agent_id: str, host: int) -> Sequence[Event]:
        """SIGTERM the agent, SIGKILL after ``stop_timeout``; then report shutdown_complete."""
        return self._on_host(agent_id, host, self._power_off)

    def pause(self, agent_id: str, host: int) -> Sequence[Event]:
        """SIGSTOP the agent's process group; nothing is reported while it is paused."""
        return self._on_host(agent_id, host, self._pause)

    def resume(self, agent_id: str, host: int) -> Sequence[Event]:
        """SIGCONT the agent; its next heartbeat is reported as connected."""
        return self._on_host(agent_id, host, self._resume)

    def stop(self, agent_id: str, host: int) -> Sequence[Event]:
        """Stop a deleted agent's process, reporting nothing; its directory is kept."""

        def stop(h: HostRecord) -> Sequence[Event]:
            self._end_process(h, graceful=True)
            h.phase = "released"
            return ()

        return self._on_host(agent_id, host, stop)

    def destroy(self, agent_id: str, host: int) -> Sequence[Event]:
        """Kill the host's process and delete its directory, reporting nothing."""

        def destroy(h: HostRecord) -> Sequence[Event]:
            self._end_process(h, graceful=False)
            h.phase = "released"
            shutil.rmtree(h.directory, ignore_errors=True)
            self._agents[agent_id].host = None
            return ()

        return self._on_host(agent_id, host, destroy)

    def remove_data(self, agent_id: str) -> Sequence[Event]:
        """Kill whatever the agent still runs and delete its directories and credentials."""
        check_agent_id(agent_id)

        def remove() -> Sequence[Event]:
            agent = self._agents.pop(agent_id, None)
            if agent is not None and agent.host is not None:
                agent.epoch += 1
                self._end_process(agent.host, graceful=False)
            shutil.rmtree(self.base_dir / agent_id, ignore_errors=True)
            return ()

        return self._call(remove)

    def observe(self, agent_id: str) -> HostObservation:
        """What this machine shows for the agent: its process, connection and last heartbeat."""
        check_agent_id(agent_id)

        def observe() -> HostObservation:
            agent = self._agents.get(agent_id)
            h = agent.host if agent is not None else None
            if h is None:
                creds = agent.usable_credentials() if agent is not None else None
                return HostObservation(agent_id, credentials=creds)
            return HostObservation(
                agent_id,
                host=h.number,
                size=h.size,
                host_up=h.phase in _UP,
                connected=h.phase == "connected",
                last_heartbeat=h.last_heartbeat,
                credentials=h.credentials,
                phase=h.phase,
            )

        return self._call(observe)

    def pid(self, agent_id: str) -> int | None:
        """The pid of the agent's process while it runs, else ``None`` (for tests and tools)."""
        check_agent_id(agent_id)

        def pid() -> int | None:
            agent = self._agents.get(agent_id)
            process = agent.host.process if agent is not None and agent.host else None
            return process.pid if process is not None and process.poll() is None else None

        return self._call(pid)

    def child_pids(self) -> list[int]:
        """Every agent process this adapter started that has not been reaped yet."""
        self._children.reap()
        return self._children.pids()

    def close(self) -> None:
        """Kill every agent process, stop the control server, and remove a temporary base dir."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._loop.run(self._control.close(), timeout=10)
        self._finalizer()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> LocalProcessHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _sink(self) -> EventSink:
        """Where background reports go; the control server makes most of them."""
        return self._control.sink

    @_sink.setter
    def _sink(self, sink: EventSink) -> None:
        self._control.sink = sink

    # -- operations, on the loop thread --------------------------------------------------------

    def _call(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise InvalidInput("this LocalProcessHost is closed")
        return self._loop.call(fn)

    def _agent(self, agent_id: str) -> AgentRecord:
        return self._agents.setdefault(agent_id, AgentRecord())

    def _on_host(
        self, agent_id: str, number: int, op: Callable[[HostRecord], Sequence[Event]]
    ) -> Sequence[Event]:
        check_agent_id(agent_id)
        check_generation("host", number)

        def run() -> Sequence[Event]:
            agent = self._agents.get(agent_id)
            h = agent.host if agent is not None else None
            if h is None or h.number != number or h.phase == "released":
                return ()  # an older host generation: nothing to do
            return op(h)

        return self._call(run)

    def _provision(self, agent_id: str, number: int, size: str) -> Sequence[Event]:
        agent = self._agent(agent_id)
        old = agent.host
        if old is not None and old.number == number and old.phase != "released":
            return ()  # provisioned already
        if old is not None:
            agent.epoch += 1
            self._end_process(old, graceful=False)  # an agent holds one host at a time
            agent.host = None
        limit = self._capacity.get(size)
        if limit is not None and self._held(size) >= limit:
            return (self._ids.event(agent_id, "capacity_unavailable", number),)
        directory = self.base_dir / agent_id / f"host-{number}"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        agent.host = HostRecord(agent_id, number, size, directory)
        return (self._ids.event(agent_id, "host_up", number),)

    def _held(self, size: str) -> int:
        return sum(
            1
            for a in self._agents.values()
            if a.host is not None and a.host.size == size and a.host.phase != "released"
        )

    def _revoke(self, agent_id: str, generation: int) -> Sequence[Event]:
        # A barrier: once this returns, nothing read from a connection made with these
        # credentials counts, not even a heartbeat already buffered on it (the control server
        # counts a heartbeat only from a connection still admitted in ``agent.connections``).
        agent = self._agent(agent_id)
        agent.revoked.add(generation)
        out: list[Event] = []
        h = agent.host
        for writer, used in list(agent.connections.items()):
            if used == generation:
                self._control.refuse(writer, "credentials revoked")
                del agent.connections[writer]
                if h is not None and h.writer is writer:
                    h.writer = None
        if h is not None and h.credentials == generation and h.phase == "connected":
            agent.epoch += 1
            h.phase = "lost"
            out.append(self._ids.event(agent_id, "connection_lost", h.number))
        return out

    def _boot(self, h: HostRecord) -> Sequence[Event]:
        agent = self._agents[h.agent_id]
        generation = agent.usable_credentials()
        if generation is None:
            raise TemporaryError(
                f"{h.agent_id} has no usable credentials yet", delay=timedelta(milliseconds=500)
            )
        agent.epoch += 1
        self._end_process(h, graceful=False)
        self._start(h, generation)
        return ()

    def _start(self, h: HostRecord, generation: int) -> None:
        agent = self._agents[h.agent_id]
        path = h.directory / "credentials"
        h.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(agent.secrets[generation] + "\n")
        h.boot_id = secrets.token_hex(8)
        h.credentials = generation
        args = [
            *("--port", str(self.port), "--agent", h.agent_id, "--host", str(h.number)),
            *("--generation", str(generation), "--credentials", str(path), "--boot", h.boot_id),
            *("--interval-ms", str(max(1, round(self._interval * 1000)))),
            *("--parent", str(os.getpid()), "--orphan-timeout", str(self._orphan_timeout)),
            *self._extra,
        ]
        h.process = spawn(args, h.directory)
        self._children.add(h.process)
        h.phase = "booting"

    def _reboot(self, h: HostRecord) -> Sequence[Event]:
        agent = self._agents[h.agent_id]
        generation = agent.usable_credentials()
        if generation is None:
            raise TemporaryError(
                f"{h.agent_id} has no usable credentials yet", delay=timedelta(milliseconds=500)
            )
        agent.epoch += 1
        epoch, process = agent.epoch, h.process
        h.phase, h.process = "booting", None
        # The old process may outlive SIGTERM for a while (slow to stop, or loaded) and
        # reconnect meanwhile: its boot must already be superseded, or its heartbeat would
        # count as the reboot's ``connected`` and its death as a lost connection.
        h.boot_id = ""
        self._control.drop_connection(h)

        async def reboot() -> None:
            if process is not None:
                await terminate(process, self._stop_timeout)
            if agent.epoch == epoch and self._agents.get(h.agent_id) is agent:
                self._start(h, generation)

        self._loop.loop.create_task(reboot())
        return ()

    def _power_off(self, h: HostRecord) -> Sequence[Event]:
        if h.phase not in _UP:
            return ()
        agent = self._agents[h.agent_id]
        agent.epoch += 1
        epoch, process = agent.epoch, h.process
        h.phase = "stopping"
        self._control.drop_connection(h)

        async def power_off() -> None:
            if process is not None:
                await terminate(process, self._stop_timeout)
            if agent.epoch == epoch and self._agents.get(h.agent_id) is agent:
                h.phase, h.process = "off", None
                self._control.report(h.agent_id, "shutdown_complete", h.number)

        self._loop.loop.create_task(power_off())
        return ()

    def _pause(self, h: HostRecord) -> Sequence[Event]:
        if h.phase in ("paused", "released"):
            return ()
        self._agents[h.agent_id].epoch += 1
        if h.process is not None:
            signal_group(h.process, signal.SIGSTOP)
        h.paused_from, h.phase = h.phase, "paused"
        return ()

    def _resume(self, h: HostRecord) -> Sequence[Event]:
        if h.phase != "paused":
            return ()
        self._agents[h.agent_id].epoch += 1
        before = h.paused_from
        alive = h.process is not None and h.process.poll() is None
        if before in ("connected", "booting", "lost"):
            if alive:
                assert h.process is not None
                signal_group(h.process, signal.SIGCONT)
                h.phase = "booting"  # its next heartbeat reports connected
                h.last_beat = time.monotonic()
            else:
                self._boot(h)
        elif before == "stopping":
            self._end_process(h, graceful=False)  # the stop finishes unobserved
            h.phase = "off"
        else:
            if alive:
                assert h.process is not None
                signal_group(h.process, signal.SIGCONT)
            h.phase = before
        return ()

    def _end_process(self, h: HostRecord, *, graceful: bool) -> None:
        """End the host's process (if any) without reporting; graceful ends in the background."""
        process, h.process = h.process, None
        self._control.drop_connection(h)
        if process is None:
            return
        signal_group(process, signal.SIGCONT)  # a paused process cannot handle SIGTERM
        if graceful:
            self._loop.loop.create_task(terminate(process, self._stop_timeout))
        else:
            kill_now(process)


def _shutdown(children: ChildRegistry, loop: LoopThread) -> None:
    """Kill every child and stop the loop; the finaliser (and ``close``) call this once."""
    children.kill_all()
    loop.stop()
