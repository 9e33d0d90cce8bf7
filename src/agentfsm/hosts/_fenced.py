"""``FencedHost``: any host adapter, refusing work whose fencing token is out of date.

Wrap an adapter shared by several replicas' outbox workers: each call that changes an agent's
host first asks a ``FenceGuard`` to admit the token of the work being performed
(``current_fence()``), so a worker whose claim lapsed while it was paused cannot redo, or undo,
what the newer claim's worker did. Observing and closing are never fenced.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentfsm._values import Event
from agentfsm.hosts._protocol import HostAdapter, HostObservation
from agentfsm.runtime import FenceGuard
from agentfsm.runtime._fencing import admit_current


class FencedHost:
    """A ``HostAdapter`` that admits each call's fencing token through ``guard`` first.

    Args:
        adapter: the adapter doing the work.
        guard: keeps the largest token applied per agent (a ``FenceBook`` in the process that
            owns the hosts, or any ``FenceGuard`` shared with the other replicas).

    Every work call raises ``StaleFence`` (a ``PermanentError``), changing nothing, when the
    agent has already seen work with a newer token; work without a token is passed through.
    """

    def __init__(self, adapter: HostAdapter, guard: FenceGuard) -> None:
        self.adapter = adapter
        self.guard = guard

    def _admit(self, agent_id: str) -> HostAdapter:
        admit_current(self.guard, agent_id)
        return self.adapter

    def provision(self, agent_id: str, host: int, size: str) -> Sequence[Event]:
        """See ``HostAdapter.provision``; fenced."""
        return self._admit(agent_id).provision(agent_id, host, size)

    def issue_credentials(self, agent_id: str, credentials: int) -> Sequence[Event]:
        """See ``HostAdapter.issue_credentials``; fenced."""
        return self._admit(agent_id).issue_credentials(agent_id, credentials)

    def revoke_credentials(self, agent_id: str, credentials: int) -> Sequence[Event]:
        """See ``HostAdapter.revoke_credentials``; fenced."""
        return self._admit(agent_id).revoke_credentials(agent_id, credentials)

    def boot(self, agent_id: str, host: int) -> Sequence[Event]:
        """See ``HostAdapter.boot``; fenced."""
        return self._admit(agent_id).boot(agent_id, host)

    def power_on(self, agent_id: str, host: int) -> Sequence[Event]:
        """See ``HostAdapter.power_on``; fenced."""
        return self._admit(agent_id).power_on(agent_id, host)

    def power_off(self, agent_id: str, host: int) -> Sequence[Event]:
        """See ``HostAdapter.power_off``; fenced."""
        return self._admit(agent_id).power_off(agent_id, host)

    def power_cycle(self, agent_id: str, host: int) -> Sequence[Event]:
        """See ``HostAdapter.power_cycle``; fenced."""
        return self._admit(agent_id).power_cycle(agent_id, host)

    def reboot(self, agent_id: str, host: int) -> Sequence[Event]:
        """See ``HostAdapter.reboot``; fenced."""
        return self._admit(agent_id).reboot(agent_id, host)

    def recover(self, agent_id: str, host: int) -> Sequence[Event]:
        """See ``HostAdapter.recover``; fenced."""
        return self._admit(agent_id).recover(agent_id, host)

    def pause(self, agent_id: str, host: int) -> Sequence[Event]:
        """See ``HostAdapter.pause``; fenced."""
        return self._admit(agent_id).pause(agent_id, host)

    def resume(self, agent_id: str, host: int) -> Sequence[Event]:
        """See ``HostAdapter.resume``; fenced."""
        return self._admit(agent_id).resume(agent_id, host)

    def stop(self, agent_id: str, host: int) -> Sequence[Event]:
        """See ``HostAdapter.stop``; fenced."""
        return self._admit(agent_id).stop(agent_id, host)

    def destroy(self, agent_id: str, host: int) -> Sequence[Event]:
        """See ``HostAdapter.destroy``; fenced."""
        return self._admit(agent_id).destroy(agent_id, host)

    def remove_data(self, agent_id: str) -> Sequence[Event]:
        """See ``HostAdapter.remove_data``; fenced."""
        return self._admit(agent_id).remove_data(agent_id)

    def observe(self, agent_id: str) -> HostObservation:
        """See ``HostAdapter.observe`` (a read: never fenced)."""
        return self.adapter.observe(agent_id)

    def close(self) -> None:
        """Close the wrapped adapter."""
        self.adapter.close()
