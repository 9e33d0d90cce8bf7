"""A small, synchronous stand-in for the runtime: it drives Alfe agents through ``decide`` and
performs their host effects with a ``HostEffectHandler``; timers are kept in a dict."""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime, timedelta

from agentfsm import Actor, Context, Event, Refusal, Snapshot, decide
from agentfsm.effects import CancelTimer, Emit, ScheduleTimer
from agentfsm.hosts import Clock, HostAdapter, HostEffectHandler, ManualClock, SimulatedHost
from agentfsm.models import ALFE, AlfeAgent


class AlfeDriver:
    """Agents, their timers, and every host report that the machine refused."""

    def __init__(self, clock: Clock, host: HostAdapter) -> None:
        self.clock = clock
        self.host = host
        self.handler = HostEffectHandler(host)
        self.agents: dict[str, Snapshot] = {}
        self.timers: dict[tuple[str, str], datetime] = {}
        self.inbox: deque[tuple[str, Event]] = deque()
        self.refused_reports: list[tuple[str, Refusal]] = []
        self.history: list[str] = []

    # the sink given to the host
    def sink(self, agent_id: str, event: Event) -> None:
        self.inbox.append((agent_id, event))

    def add(self, agent_id: str, size: str = "small") -> None:
        data = AlfeAgent(agent_id, agent_id, size)
        self.agents[agent_id] = Snapshot("pending", 0, self.clock(), data)
        self._provision_pending()

    def send(self, agent_id: str, event: Event) -> Refusal | None:
        """Decide ``event`` and perform its effects; return the refusal if refused."""
        snap = self.agents[agent_id]
        result = decide(ALFE, snap, event, Context(self.clock()))
        after = result.code if isinstance(result, Refusal) else result.snapshot.status
        self.history.append(f"{self.clock():%d %H:%M:%S} {agent_id} {event.name}: {after}")
        if isinstance(result, Refusal):
            return result
        self.agents[agent_id] = result.snapshot
        for i, effect in enumerate(result.effects):
            if isinstance(effect, ScheduleTimer):
                self.timers[(agent_id, effect.event)] = effect.at
            elif isinstance(effect, CancelTimer):
                self.timers.pop((agent_id, effect.event), None)
            elif not isinstance(effect, Emit):
                key = f"{agent_id}:{result.snapshot.version}:{i}"
                for report in self.handler(agent_id, effect, key):
                    self.inbox.append((agent_id, report))
        return None

    def drain(self) -> None:
        """Decide every queued host report, in order; record the refused ones."""
        while self.inbox:
            agent_id, event = self.inbox.popleft()
            refusal = self.send(agent_id, event)
            if refusal is not None:
                self.refused_reports.append((agent_id, refusal))
        self._provision_pending()

    def _provision_pending(self) -> None:
        for agent_id, snap in list(self.agents.items()):
            if snap.status == "pending":
                self.send(agent_id, Event("provision", Actor.SYSTEM))
                self.drain()

    def run_until(self, until: datetime) -> None:
        """Let time pass up to ``until``: host reports first, then timers, in time order."""
        assert isinstance(self.host, SimulatedHost)
        assert isinstance(self.clock, ManualClock)
        while True:
            pending = (self.host.next_due(), *self.timers.values())
            due = [t for t in pending if t is not None and t <= until]
            self.clock.set(max(min(due, default=until), self.clock()))
            self.host.tick()
            self.drain()
            now = self.clock()
            for (agent_id, name), at in sorted(self.timers.items(), key=lambda kv: kv[1]):
                if at <= now and self.timers.get((agent_id, name)) == at:
                    del self.timers[(agent_id, name)]
                    self.send(agent_id, Event(name, Actor.TIMER))
                    self.drain()
            if not due:
                return

    def run_for(self, dt: timedelta) -> None:
        self.run_until(self.clock() + dt)

    def status(self, agent_id: str) -> str:
        return self.agents[agent_id].status

    def pump_until(self, agent_id: str, status: str, timeout: float = 10.0) -> None:
        """Real time: decide reports as they arrive until the agent reaches ``status``."""
        deadline = time.monotonic() + timeout
        while self.status(agent_id) != status:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{agent_id} is {self.status(agent_id)}, not {status}:\n"
                    + "\n".join(self.history)
                )
            self.drain()
            time.sleep(0.005)
