"""What a host adapter is: the calls a runtime makes, and what it observes of an agent's host.

A host adapter does the work an Alfe effect describes (provision a host, boot the agent, shut
it down…) and reports what it saw as platform (``S``) events. Reports known when a call returns
are its return value; reports that come later (a host that comes up, a connection that is
lost) go to the ``EventSink`` the caller gave the adapter. Host and credential numbers are the
generation numbers of ``AlfeAgent``: the adapter maps them to real hosts and real secrets.
"""

from __future__ import annotations

import itertools
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from agentfsm._errors import InvalidInput
from agentfsm._values import Actor, Event

EventSink = Callable[[str, Event], None]
"""Receives ``(agent_id, event)`` for every report an adapter makes after a call returned.

An adapter may call it from a background thread: it must be thread-safe and quick (queue the
event; do not decide it inline while holding a lock the adapter might need).
"""

REPORTS = (
    "host_up",
    "capacity_unavailable",
    "provisioning_failed",
    "connected",
    "connection_lost",
    "shutdown_complete",
)
"""The platform events a host adapter reports."""

_AGENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_agent_id(agent_id: object) -> str:
    """Return ``agent_id`` if it is safe to use as a file name and a wire token.

    Raises:
        InvalidInput: it is not 1–128 letters, digits, ``.``, ``_`` or ``-`` starting with a
            letter or digit.
    """
    if not isinstance(agent_id, str) or not _AGENT_ID.fullmatch(agent_id):
        raise InvalidInput(
            f"agent id {agent_id!r} is not usable by a host adapter: use 1-128 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return agent_id


def check_generation(what: str, value: object) -> int:
    """Return ``value`` if it is a generation number (an int of at least 1).

    Raises:
        InvalidInput: it is not.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{what} must be a generation number of at least 1, not {value!r}")
    return value


@attrs.frozen(slots=True)
class HostObservation:
    """What an adapter sees of one agent's host right now.

    Attributes:
        agent_id: the agent.
        host: the host generation the agent holds, or ``None`` if it holds none.
        size: that host's size, or ``None``.
        host_up: the host exists and is powered on (booting, serving, or shutting down).
        connected: the agent is connected and heartbeating; true only while the adapter's last
            report for it was ``connected``.
        last_heartbeat: when the agent last proved it was alive, or ``None``.
        credentials: the credential generation the agent boots with, or ``None``.
        phase: the adapter's own word for where the host is (``booting``, ``paused``…), for
            people; not a status of any machine.
    """

    agent_id: str
    host: int | None = None
    size: str | None = None
    host_up: bool = False
    connected: bool = False
    last_heartbeat: datetime | None = None
    credentials: int | None = None
    phase: str = "none"


@runtime_checkable
class HostAdapter(Protocol):
    """The work the Alfe model asks of a host, one call per kind of host effect.

    Every call returns the reports it already knows (often none); later reports go to the
    adapter's sink. A call for a host generation the agent no longer holds changes nothing.
    Calls may raise ``TemporaryError`` (retry later) or ``PermanentError`` (never succeeds).
    """

    def provision(self, agent_id: str, host: int, size: str) -> Sequence[Event]:
        """Create host generation ``host`` of ``size``; report host_up, capacity_unavailable
        or provisioning_failed. The agent's older hosts, if any, are released."""
        ...

    def issue_credentials(self, agent_id: str, credentials: int) -> Sequence[Event]:
        """Issue credential generation ``credentials``; the agent boots with the newest one."""
        ...

    def revoke_credentials(self, agent_id: str, credentials: int) -> Sequence[Event]:
        """Revoke a credential generation; an agent presenting it is refused."""
        ...

    def boot(self, agent_id: str, host: int) -> Sequence[Event]:
        """Boot the agent on its host; report connected once it connects."""
        ...

    def power_on(self, agent_id: str, host: int) -> Sequence[Event]:
        """Power a stopped host on and boot the agent; report connected."""
        ...

    def power_off(self, agent_id: str, host: int) -> Sequence[Event]:
        """Shut the agent down gracefully; report shutdown_complete once the host is off."""
        ...

    def power_cycle(self, agent_id: str, host: int) -> Sequence[Event]:
        """Cut the power and boot again (recovers a stuck host); report connected."""
        ...

    def reboot(self, agent_id: str, host: int) -> Sequence[Event]:
        """Restart the agent, same identity and credentials; report connected."""
        ...

    def recover(self, agent_id: str, host: int) -> Sequence[Event]:
        """Try to reconnect an agent that lost its connection; report connected if it does."""
        ...

    def pause(self, agent_id: str, host: int) -> Sequence[Event]:
        """Freeze the host (billing suspended); nothing is reported while paused."""
        ...

    def resume(self, agent_id: str, host: int) -> Sequence[Event]:
        """Unfreeze a paused host; an agent that was up reconnects and is reported connected."""
        ...

    def stop(self, agent_id: str, host: int) -> Sequence[Event]:
        """Stop the host of a deleted agent, reporting nothing; its data is kept."""
        ...

    def destroy(self, agent_id: str, host: int) -> Sequence[Event]:
        """Destroy host generation ``host`` and its data for good (Recreate), reporting nothing."""
        ...

    def remove_data(self, agent_id: str) -> Sequence[Event]:
        """Remove everything kept for a deleted agent (its hosts' data and its credentials)."""
        ...

    def observe(self, agent_id: str) -> HostObservation:
        """What the adapter sees of the agent's host now."""
        ...

    def close(self) -> None:
        """Release everything the adapter holds; for a real host, stop every agent it runs."""
        ...


class EventIds:
    """Makes unique, readable ids for reported events (``agent/h2/connected/17``)."""

    def __init__(self, prefix: str = "") -> None:
        # A per-instance nonce: a restarted control plane numbers its reports from 1 again,
        # and a repeated id would be dropped as a duplicate delivery.
        self._prefix = f"{prefix}{uuid.uuid4().hex[:8]}:"
        self._count = itertools.count(1)
        self._lock = threading.Lock()

    def event(self, agent_id: str, name: str, host: int | None) -> Event:
        """A platform event ``name`` for the agent, with a fresh id."""
        with self._lock:
            n = next(self._count)
        return Event(name, Actor.SYSTEM, None, f"{self._prefix}{agent_id}/h{host or 0}/{name}/{n}")
