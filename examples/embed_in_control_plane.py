"""Embedding agentfsm in your own control plane: decisions and effects, without our runtime.

Your control plane keeps the snapshots (here a dict), asks the engine to decide, stores the new
snapshot, and performs the effects its own way. The engine never does I/O, so this loop is the
whole integration.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agentfsm import Actor, Context, Event, Refusal, Snapshot, decide
from agentfsm.effects import IssueCredentials, ProvisionHost, ScheduleTimer
from agentfsm.models import ALFE, AlfeAgent


class TinyControlPlane:
    """Snapshots in a dict, timers in a list, host work printed: enough to show the shape."""

    def __init__(self) -> None:
        self.agents: dict[str, Snapshot] = {}
        self.timers: list[tuple[datetime, str, str]] = []
        self.log: list[str] = []

    def create(self, agent_id: str, name: str, now: datetime) -> None:
        self.agents[agent_id] = ALFE.initial(AlfeAgent(agent_id, name), now)

    def send(self, agent_id: str, event: Event, now: datetime) -> Refusal | None:
        result = decide(ALFE, self.agents[agent_id], event, Context(now))
        if isinstance(result, Refusal):
            self.log.append(f"{agent_id}: {event.name} refused ({result.code}): {result.message}")
            return result
        before = self.agents[agent_id].status
        self.agents[agent_id] = result.snapshot  # in a real store: compare-and-set on version
        self.log.append(f"{agent_id}: {event.name}: {before} -> {result.snapshot.status}")
        for effect in result.effects:
            self.perform(agent_id, effect)
        return None

    def perform(self, agent_id: str, effect: object) -> None:
        match effect:
            case ProvisionHost(size=size, host=host):
                self.log.append(f"  provision host #{host} ({size})")
            case IssueCredentials(credentials=generation):
                self.log.append(f"  issue credentials #{generation}")
            case ScheduleTimer(event=timer, at=at):
                self.timers.append((at, agent_id, timer))
                self.log.append(f"  timer {timer} at {at:%H:%M}")
            case _:
                self.log.append(f"  {type(effect).__name__}")

    def fire_due_timers(self, now: datetime) -> None:
        due = sorted(t for t in self.timers if t[0] <= now)
        self.timers = [t for t in self.timers if t[0] > now]
        for _, agent_id, timer in due:
            self.send(agent_id, Event(timer, Actor.TIMER), now)


def main() -> None:
    t0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
    plane = TinyControlPlane()
    plane.create("ag_1", "support-agent", t0)
    for name in ("provision", "host_up"):
        plane.send("ag_1", Event(name, Actor.SYSTEM), t0)
    # The agent never connects: the boot timer fires after five minutes and it is failing.
    plane.fire_due_timers(t0 + timedelta(minutes=6))
    assert plane.agents["ag_1"].status == "failing"
    # A person presses Start on a failing agent: it is power-cycled, no waiting needed.
    assert plane.send("ag_1", Event("start", Actor.USER), t0 + timedelta(minutes=7)) is None
    plane.send("ag_1", Event("connected", Actor.SYSTEM), t0 + timedelta(minutes=8))
    assert plane.agents["ag_1"].status == "running"
    print("\n".join(plane.log))


if __name__ == "__main__":
    main()
