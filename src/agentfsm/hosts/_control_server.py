"""The loopback control server that ``LocalProcessHost``'s agent processes connect back to.

It listens on an ephemeral port of 127.0.0.1 and authenticates each connection: it sends a
fresh nonce, and the agent answers with an HMAC over it keyed by its current credential secret.
It then turns heartbeats into reports: the first heartbeat of a boot is ``connected``; a dropped
connection or ``missed_heartbeats`` silent intervals is ``connection_lost``. It lives apart from
the adapter so that the adapter holds process lifecycle, capacity and credentials, and this
module holds the network side.

Everything here runs on the adapter's one event-loop thread. The loop's tasks hold only a weak
reference to the server, and only the adapter holds the server, so an adapter nobody holds is
still collected (and its finaliser kills its children) while connections are open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import weakref
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from agentfsm.hosts._agent_program import PROTOCOL, encode, proof
from agentfsm.hosts._local_state import AgentRecord, HostRecord
from agentfsm.hosts._processes import ChildRegistry
from agentfsm.hosts._protocol import EventIds, EventSink


class ControlServer:
    """Accepts agent connections, checks their credentials, and watches their heartbeats.

    Args:
        sink: receives the reports made here (connected, connection_lost) and those the
            adapter makes through ``report``.
        ids: makes the events' ids; shared with the adapter.
        children: the adapter's child processes, reaped on each heartbeat check.
        miss_after: seconds of silence after which a connected agent has lost its connection.
    """

    def __init__(
        self, sink: EventSink, ids: EventIds, children: ChildRegistry, miss_after: float
    ) -> None:
        self.sink = sink
        self.agents: dict[str, AgentRecord] = {}
        self._ids = ids
        self._children = children
        self._miss_after = miss_after
        self._server: asyncio.Server | None = None
        self._monitor: asyncio.Task[None] | None = None

    async def start(self, check_every: float) -> int:
        """Listen on an ephemeral loopback port and start the heartbeat monitor.

        Args:
            check_every: seconds between checks for agents that went silent.

        Returns:
            The port agents connect to.
        """
        me = weakref.ref(self)
        self._server = await asyncio.start_server(
            _weak_serve(me), "127.0.0.1", 0, limit=4096, backlog=1024
        )
        port: int = self._server.sockets[0].getsockname()[1]
        self._monitor = asyncio.get_running_loop().create_task(_watch(me, check_every))
        return port

    async def close(self) -> None:
        """Stop listening, close every connection, and end every other task on the loop."""
        if self._server is not None:
            self._server.close()
        for agent in self.agents.values():
            for writer in list(agent.connections):
                writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2.0)
        await _cancel_others()

    def refuse(self, writer: asyncio.StreamWriter, reason: str) -> None:
        """Tell the agent why its connection is refused, and close it."""
        with contextlib.suppress(Exception):
            writer.write(encode({"type": "refused", "reason": reason}))
        writer.close()

    def drop_connection(self, h: HostRecord) -> None:
        """Close the host's live connection, if any, reporting nothing."""
        if h.writer is not None:
            self.agents[h.agent_id].connections.pop(h.writer, None)
            h.writer.close()
            h.writer = None

    def report(self, agent_id: str, name: str, host: int) -> None:
        """Send a report to the sink; a failing sink is logged, never raised."""
        event = self._ids.event(agent_id, name, host)
        try:
            self.sink(agent_id, event)
        except Exception:  # a broken sink must not stop the control server
            logging.getLogger(__name__).exception("the event sink failed on %s", event)

    def _lose(self, h: HostRecord) -> None:
        self.agents[h.agent_id].epoch += 1
        h.phase = "lost"
        self.drop_connection(h)
        self.report(h.agent_id, "connection_lost", h.number)

    def _authenticate(self, hello: dict[str, Any], nonce: str) -> tuple[str, HostRecord | None]:
        """Check a hello; return why it is refused (``""`` if not) and the agent's host."""
        agent_id, generation, boot = hello.get("agent"), hello.get("generation"), hello.get("boot")
        agent = self.agents.get(agent_id) if isinstance(agent_id, str) else None
        if agent is None or not isinstance(generation, int) or not isinstance(boot, str):
            return "unknown agent", None
        secret = agent.secrets.get(generation)
        if secret is None:
            return "unknown credentials", None
        if generation in agent.revoked:
            return "credentials revoked", None
        expected = proof(secret, nonce, agent_id, generation, boot)  # type: ignore[arg-type]
        if not secrets.compare_digest(expected, str(hello.get("proof", ""))):
            return "bad proof of credentials", None
        h = agent.host
        if h is None or h.number != hello.get("host") or not h.boot_id or h.boot_id != boot:
            return "superseded: this process is not the agent's current boot", None
        return "", h

    def _admit(self, line: bytes, nonce: str, writer: asyncio.StreamWriter) -> HostRecord | None:
        """Authenticate a hello; bind the connection to the agent's host, or refuse it."""
        hello = json.loads(line or b"{}")
        reason, h = self._authenticate(hello if isinstance(hello, dict) else {}, nonce)
        if h is None:
            self.refuse(writer, reason)
            return None
        if h.writer is not None:
            self.drop_connection(h)  # a reconnect replaces the old connection
        h.writer = writer
        self.agents[h.agent_id].connections[writer] = hello["generation"]
        return h

    def _disconnected(self, h: HostRecord, writer: asyncio.StreamWriter) -> None:
        """The connection ended; if it was the agent's live one, the agent lost it."""
        if h.writer is writer:
            agent = self.agents.get(h.agent_id)
            if agent is not None:
                agent.connections.pop(writer, None)
            h.writer = None
            if h.phase == "connected" and agent is not None and agent.host is h:
                self._lose(h)

    def _heartbeat(self, h: HostRecord, writer: asyncio.StreamWriter) -> None:
        agent = self.agents.get(h.agent_id)
        if agent is None or writer not in agent.connections or h.writer is not writer:
            return  # revoked or replaced since it was read: it speaks for nobody now
        h.last_beat = time.monotonic()
        h.last_heartbeat = datetime.now(UTC)
        if h.phase in ("booting", "lost"):
            h.phase = "connected"
            self.report(h.agent_id, "connected", h.number)

    def _check(self) -> None:
        """A connected agent silent for too long has lost its connection; reap exited children."""
        now = time.monotonic()
        for agent in list(self.agents.values()):
            h = agent.host
            if h is not None and h.phase == "connected" and now - h.last_beat > self._miss_after:
                self._lose(h)
        self._children.reap()


def _weak_serve(
    ref: weakref.ReferenceType[ControlServer],
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _connection(ref, reader, writer)

    return serve


async def _connection(
    ref: weakref.ReferenceType[ControlServer],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """One agent connection: challenge, hello, then heartbeats until it ends.

    It holds the server only between awaits, so a live connection does not keep an
    abandoned adapter (and its children) alive.
    """
    nonce = secrets.token_hex(16)
    h: HostRecord | None = None
    try:
        writer.write(encode({"type": "challenge", "nonce": nonce, "protocol": PROTOCOL}))
        line = await asyncio.wait_for(reader.readline(), timeout=5.0)
        server = ref()
        h = server._admit(line, nonce, writer) if server is not None else None
        del server
        if h is None:
            return
        boot = h.boot_id
        while line := await reader.readline():
            server = ref()
            if server is None or h.writer is not writer or h.boot_id != boot:
                break
            if json.loads(line).get("type") == "heartbeat":
                server._heartbeat(h, writer)
            del server
    except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError):
        pass
    finally:
        server = ref()
        if server is not None and h is not None:
            server._disconnected(h, writer)
        del server
        writer.close()


async def _watch(ref: weakref.ReferenceType[ControlServer], every: float) -> None:
    """The heartbeat monitor; it ends when the server (and so the adapter) is gone."""
    while True:
        await asyncio.sleep(every)
        server = ref()
        if server is None:
            return
        server._check()
        del server


async def _cancel_others() -> None:
    """Cancel every other task on this loop (monitor, stops in progress) and let them finish."""
    me = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not me]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
