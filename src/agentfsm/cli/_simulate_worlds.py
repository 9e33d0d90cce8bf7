"""The worlds ``agentfsm simulate`` walks in: what answers an agent's effects, and what goes wrong.

A world stands for everything outside the machine: for Alfe a ``SimulatedHost`` (seeded, with
random host faults) and a billing system whose credit pool runs dry now and then; for Recif a
simulated cluster that the pure ``reconcile`` drives with ``apply_actions``, where injected
pod faults strike and are later fixed; for a model with neither, the platform just answers the
statuses that wait for it. The walk (``agentfsm.cli._simulate``) decides every event with the
pure engine; a world only performs effects, reports what it saw, and disturbs.

Every choice comes from the ``random.Random`` the walk passes in, and nothing iterates a set or
reads the wall clock, so a seed replays exactly.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from agentfsm._machine import Machine
from agentfsm._values import Actor, Event, Snapshot, Step
from agentfsm.hosts import (
    HOST_EFFECTS,
    HostEffectHandler,
    ManualClock,
    PermanentError,
    SimulatedHost,
    TemporaryError,
    random_faults,
)
from agentfsm.models import BILLING_REASONS, AlfeAgent, RecifAgent, RecifSpec
from agentfsm.recif import DesiredSpec, Fault, ObservedState, apply_actions, phase_event, reconcile

Report = tuple[str, Event]
"""An event for an agent, from the world: ``(agent key, event)``."""

Note = tuple[str, str]
"""Something that happened in the world and is worth a timeline row: ``(agent key, text)``."""


class World(Protocol):
    """What the walk needs from the outside of a machine."""

    machine: Machine

    def new_agent(self, key: str, number: int) -> Any:
        """The record (``Snapshot.data``) of a new agent called ``key``, the ``number``-th."""
        ...

    def performed(self, key: str, step: Step, now: datetime) -> tuple[list[Report], list[Note]]:
        """Perform an accepted step's effects (timers aside); the reports known at once."""
        ...

    def answers(self, key: str, snapshot: Snapshot) -> list[Event]:
        """Events the platform sends at once to an agent that just entered its status."""
        ...

    def next_due(self) -> datetime | None:
        """When the world next has something to report, if ever."""
        ...

    def tick(
        self, now: datetime, agents: Mapping[str, Snapshot]
    ) -> tuple[list[Report], list[Note]]:
        """Everything due by ``now``: reports for agents, and notes."""
        ...

    def disturb(
        self, now: datetime, agents: Mapping[str, Snapshot], rng: random.Random
    ) -> list[Note] | None:
        """Inject a fault into a live agent; ``None`` when there is nothing to disturb."""
        ...

    def payload(self, event: str, snapshot: Snapshot, rng: random.Random) -> dict[str, Any]:
        """What a user types with ``event`` (sometimes wrong, so guards are seen refusing)."""
        ...


def _typo(name: str, rng: random.Random) -> str:
    i = rng.randrange(len(name))
    return name[:i] + name[i + 1 :] if len(name) > 1 else name + "x"


def _seconds(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=rng.uniform(low, high))


class _Scheduled:
    """A small time-ordered queue of ``(due, key, item)``; ties keep insertion order."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, int, str, Any]] = []
        self._n = 0

    def add(self, due: datetime, key: str, item: Any) -> None:
        self._n += 1
        heapq.heappush(self._heap, (due, self._n, key, item))

    def next_due(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime) -> list[tuple[str, Any]]:
        out = []
        while self._heap and self._heap[0][0] <= now:
            _, _, key, item = heapq.heappop(self._heap)
            out.append((key, item))
        return out


def _earliest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


class PlainWorld:
    """A machine with no adapter: the platform answers each status that waits for it.

    Used for ``alfe-self-hosted``: a pending agent is reported set up at once.
    """

    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    def new_agent(self, key: str, number: int) -> Any:
        return AlfeAgent(f"agt-{number:03d}", key)

    def performed(self, key: str, step: Step, now: datetime) -> tuple[list[Report], list[Note]]:
        return [], []

    def answers(self, key: str, snapshot: Snapshot) -> list[Event]:
        if snapshot.status == "pending":
            return [Event("setup_complete", Actor.SYSTEM)]
        return []

    def next_due(self) -> datetime | None:
        return None

    def tick(
        self, now: datetime, agents: Mapping[str, Snapshot]
    ) -> tuple[list[Report], list[Note]]:
        return [], []

    def disturb(
        self, now: datetime, agents: Mapping[str, Snapshot], rng: random.Random
    ) -> list[Note] | None:
        return None

    def payload(self, event: str, snapshot: Snapshot, rng: random.Random) -> dict[str, Any]:
        return _confirmation(event, snapshot, rng)


def _confirmation(event: str, snapshot: Snapshot, rng: random.Random) -> dict[str, Any]:
    if event != "recreate":
        return {}
    name = snapshot.data.name
    out: dict[str, Any] = {"confirmation": _typo(name, rng) if rng.random() < 0.25 else name}
    if rng.random() < 0.2:
        out["size"] = "large"
    return out


class AlfeWorld:
    """Alfe managed agents on a ``SimulatedHost`` with random faults, and a billing system.

    Args:
        machine: the Alfe machine.
        clock: the walk's clock (the host reads it).
        seed: seeds the host's delays and its random faults.
        fault_rate: the probability the host spoils an occasion (a provision, a boot, a
            connection…).
    """

    def __init__(self, machine: Machine, clock: ManualClock, seed: int, fault_rate: float) -> None:
        self.machine = machine
        faults = [random_faults(fault_rate, seed + 1)] if fault_rate > 0 else []
        self.host = SimulatedHost(clock, seed=seed, faults=faults)
        self._handler = HostEffectHandler(self.host)
        self._later = _Scheduled()  # effects to retry, and billing's own news
        self._keys = 0

    def new_agent(self, key: str, number: int) -> Any:
        return AlfeAgent(f"agt-{number:03d}", key)

    def performed(self, key: str, step: Step, now: datetime) -> tuple[list[Report], list[Note]]:
        reports: list[Report] = []
        notes: list[Note] = []
        for effect in step.effects:
            if type(effect) in HOST_EFFECTS:
                self._perform(key, effect, now, reports, notes)
        return reports, notes

    def _perform(
        self, key: str, effect: object, now: datetime, reports: list[Report], notes: list[Note]
    ) -> None:
        self._keys += 1
        try:
            events = self._handler(key, effect, f"{key}:{self._keys}")
        except TemporaryError as error:
            self._later.add(now + (error.delay or timedelta(seconds=5)), key, effect)
            notes.append((key, f"retry later: {error}"))
            return
        except PermanentError as error:
            notes.append((key, f"gave up: {error}"))
            return
        reports += [(key, e) for e in events]

    def answers(self, key: str, snapshot: Snapshot) -> list[Event]:
        # The control plane provisions every agent waiting for a host.
        return [Event("provision", Actor.SYSTEM)] if snapshot.status == "pending" else []

    def next_due(self) -> datetime | None:
        return _earliest(self.host.next_due(), self._later.next_due())

    def tick(
        self, now: datetime, agents: Mapping[str, Snapshot]
    ) -> tuple[list[Report], list[Note]]:
        reports: list[Report] = list(self.host.tick())
        notes: list[Note] = []
        for key, item in self._later.pop_due(now):
            if isinstance(item, Event):
                reports.append((key, item))
            else:
                self._perform(key, item, now, reports, notes)
        return reports, notes

    def disturb(
        self, now: datetime, agents: Mapping[str, Snapshot], rng: random.Random
    ) -> list[Note] | None:
        """The credit pool runs dry: suspend one agent now, top up (resume it) later."""
        live = [k for k, s in agents.items() if s.status not in ("deleted", "billing_suspended")]
        if not live:
            return None
        key = rng.choice(live)
        reason = rng.choice(BILLING_REASONS)
        self._later.add(now, key, Event("billing_suspend", Actor.SYSTEM, {"reason": reason}))
        back = now + _seconds(rng, 120, 2400)
        self._later.add(back, key, Event("billing_resume", Actor.SYSTEM, {"standing": "good"}))
        return [(key, f"billing: {reason} until {back:%H:%M:%S}")]

    def payload(self, event: str, snapshot: Snapshot, rng: random.Random) -> dict[str, Any]:
        return _confirmation(event, snapshot, rng)


_FAULTS = (
    ("CrashLoopBackOff", "its config crashes the pods"),
    ("ImagePullBackOff", "the image cannot be pulled"),
    ("CreateContainerConfigError", "the env Secret is missing"),
)
_STRATEGIES = ("simple", "react", "plan-and-execute")


class RecifWorld:
    """Recif agents on a simulated cluster that the pure reconcile drives, with pod faults.

    After every accepted step of a deployed agent the operator reconciles it a few seconds
    later: ``reconcile``, ``apply_actions`` (with the agent's faults), reconcile again, and the
    phase change, if any, becomes ``pods_ready`` or ``pods_unhealthy`` (``phase_event``).
    """

    def __init__(self, machine: Machine, rng: random.Random) -> None:
        self.machine = machine
        self._rng = rng
        self.observed: dict[str, ObservedState] = {}
        self.faults: dict[str, list[Fault]] = {}
        self._reconciles = _Scheduled()
        self._fixes = _Scheduled()

    def new_agent(self, key: str, number: int) -> Any:
        return RecifAgent(key, RecifSpec(image="corail:1"))

    def performed(self, key: str, step: Step, now: datetime) -> tuple[list[Report], list[Note]]:
        if step.snapshot.status != "created":
            self._reconciles.add(now + _seconds(self._rng, 2, 25), key, None)
        return [], []

    def answers(self, key: str, snapshot: Snapshot) -> list[Event]:
        return []

    def next_due(self) -> datetime | None:
        return _earliest(self._reconciles.next_due(), self._fixes.next_due())

    def tick(
        self, now: datetime, agents: Mapping[str, Snapshot]
    ) -> tuple[list[Report], list[Note]]:
        notes: list[Note] = []
        for key, fault in self._fixes.pop_due(now):
            if fault in self.faults.get(key, []):
                self.faults[key].remove(fault)
                notes.append((key, f"fixed: no more {fault.reason}"))
                self._reconciles.add(now, key, None)
        reports: list[Report] = []
        done: list[str] = []
        for key, _ in self._reconciles.pop_due(now):
            if key in done:
                continue  # one look at the whole picture serves every wake-up
            done.append(key)
            event = self._reconcile(key, agents[key], now)
            if event is not None:
                reports.append((key, event))
        return reports, notes

    def _reconcile(self, key: str, snapshot: Snapshot, now: datetime) -> Event | None:
        if snapshot.status == "created":
            return None
        desired = DesiredSpec.from_snapshot(snapshot)
        observed = self.observed.get(key, ObservedState())
        first = reconcile(desired, observed, now=now)
        observed = apply_actions(observed, first.actions, faults=self.faults.get(key, ()))
        self.observed[key] = observed
        return phase_event(snapshot.status, reconcile(desired, observed, now=now))

    def disturb(
        self, now: datetime, agents: Mapping[str, Snapshot], rng: random.Random
    ) -> list[Note] | None:
        """Make a deployed agent's pods fail; the cause is fixed some minutes later."""
        live = [k for k, s in agents.items() if s.status in ("Pending", "Running", "Failed")]
        if not live:
            return None
        key = rng.choice(live)
        reason, why = rng.choice(_FAULTS)
        spec = agents[key].data.spec
        if reason == "CrashLoopBackOff":
            fault = Fault(reason, config=spec.config)
        elif reason == "ImagePullBackOff":
            fault = Fault(reason, image=spec.image)
        else:
            fault = Fault(reason, secret=spec.env_secrets[0])
        self.faults.setdefault(key, []).append(fault)
        self._reconciles.add(now + _seconds(rng, 5, 30), key, None)
        fix = now + _seconds(rng, 120, 1800)
        self._fixes.add(fix, key, fault)
        return [(key, f"fault: {why} ({reason}) until {fix:%H:%M:%S}")]

    def payload(self, event: str, snapshot: Snapshot, rng: random.Random) -> dict[str, Any]:
        data: RecifAgent = snapshot.data
        if event == "scale":
            return {"replicas": rng.randint(0, 12)}  # 0, 11 and 12 are refused by the guard
        if event == "update_config":
            if rng.random() < 0.3:
                return {"image": f"corail:{data.generation + 1}"}
            return {"config": {"strategy": rng.choice(_STRATEGIES)}}
        if event == "start_canary":
            return {"image": f"corail:{data.generation + 1}-rc"}
        return {}


def world_for(machine: Machine, clock: ManualClock, seed: int, fault_rate: float) -> World:
    """The world a machine is simulated in (by its name: ``alfe``, ``recif``, or plain)."""
    if machine.name == "alfe":
        return AlfeWorld(machine, clock, seed, fault_rate)
    if machine.name == "recif":
        return RecifWorld(machine, random.Random(seed + 2))
    return PlainWorld(machine)
