"""``agentfsm simulate``: a seeded random walk of a small fleet, with faults, as a timeline.

The walk runs on a virtual clock. At each moment the earliest of three things happens: a
report the world has due (a host came up, pods crashed…), a timer the machine set (a boot
deadline, a purge), or a user's next action. Users pick among the actions the engine offers
(``offered``) and now and then make a mistake (an action not offered, a mistyped name), so
refusals appear too; sometimes the world is disturbed instead (a credit pool runs dry, pods
fail). Every event is decided by the pure engine, and an accepted step's effects are performed
by the world, whose reports are decided in turn. The same seed prints the same timeline.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from agentfsm import _effects as fx
from agentfsm._engine import decide, offered
from agentfsm._errors import InvalidInput
from agentfsm._machine import Machine
from agentfsm._values import Actor, Context, Event, Refusal, Snapshot
from agentfsm.cli._simulate_worlds import Note, Report, World, world_for
from agentfsm.cli._story import STORY_START, Line, _wrap, format_timeline
from agentfsm.hosts import ManualClock

NAMES = ("helpdesk", "triage", "scribe", "courier", "atlas", "ledger", "sentry", "relay")
"""The names new agents get, in order (then ``helpdesk-2``…)."""

MAX_STEPS = 100_000
"""The most steps a walk may take."""

MAX_AGENTS = len(NAMES)
"""The largest fleet a walk may keep."""

_MISTAKE = 0.1  # how often a user tries something that is not offered
_WEIGHTS = {"delete": 0.1, "recreate": 0.3, "promote_canary": 0.5}  # the others weigh 1


@attrs.frozen(slots=True)
class Simulation:
    """What a walk did.

    Attributes:
        model: the machine's name.
        seed: the seed it was run with.
        fault_rate: the fault probability it was run with.
        lines: the timeline: creations, decisions and notes, in time order.
        initials: every agent's first snapshot, by name (to replay the timeline from).
        finals: every agent's last snapshot, by name.
        start: the virtual clock's first reading.
    """

    model: str
    seed: int
    fault_rate: float
    lines: tuple[Line, ...]
    initials: Mapping[str, Snapshot]
    finals: Mapping[str, Snapshot]
    start: datetime = STORY_START

    @property
    def decisions(self) -> list[Line]:
        """The lines that record a decided event (not creations, not notes)."""
        return [x for x in self.lines if x.actor is not None and x.note is None]


class _Walk:
    def __init__(
        self,
        machine: Machine,
        world: World,
        clock: ManualClock,
        rng: random.Random,
        fleet: int,
        fault_rate: float,
        seed: int,
    ) -> None:
        self.machine, self.world, self.clock, self.rng = machine, world, clock, rng
        self.fleet, self.fault_rate, self.seed = fleet, fault_rate, seed
        self.agents: dict[str, Snapshot] = {}
        self.initials: dict[str, Snapshot] = {}
        self.timers: dict[tuple[str, str], datetime] = {}
        self.inbox: deque[Report] = deque()
        self.lines: list[Line] = []
        self.created = 0
        self.decided = 0
        self.next_user = clock() + self._think()

    def _think(self) -> timedelta:
        return timedelta(seconds=self.rng.uniform(20, 600))

    def _note(self, notes: Sequence[Note]) -> None:
        for key, text in notes:
            status = self.agents[key].status
            self.lines.append(Line(self.clock(), key, "~", None, status, status, note=text))

    def create(self) -> None:
        self.created += 1
        n = self.created
        key = NAMES[(n - 1) % len(NAMES)] + (f"-{(n - 1) // len(NAMES) + 1}" if n > 8 else "")
        now = self.clock()
        snapshot = self.machine.initial(self.world.new_agent(key, n), now)
        self.agents[key] = self.initials[key] = snapshot
        self.lines.append(Line(now, key, "(created)", None, "", snapshot.status))
        self.inbox += [(key, e) for e in self.world.answers(key, snapshot)]

    def decide(self, key: str, event: Event) -> None:
        now = self.clock()
        before = self.agents[key]
        result = decide(self.machine, before, event, Context(now))
        self.decided += 1
        if isinstance(result, Refusal):
            self.lines.append(
                Line(now, key, event.name, event.actor, before.status, before.status,
                     refusal=result, payload=event.payload)
            )  # fmt: skip
            return
        after = result.snapshot
        self.agents[key] = after
        self.lines.append(
            Line(now, key, event.name, event.actor, before.status, after.status,
                 result.effects, payload=event.payload)
        )  # fmt: skip
        for effect in result.effects:
            if isinstance(effect, fx.ScheduleTimer):
                self.timers[(key, effect.event)] = effect.at
            elif isinstance(effect, fx.CancelTimer):
                self.timers.pop((key, effect.event), None)
        reports, notes = self.world.performed(key, result, now)
        self._note(notes)
        self.inbox += reports
        if after.status != before.status:
            self.inbox += [(key, e) for e in self.world.answers(key, after)]

    def user_turn(self) -> None:
        live = [k for k, s in self.agents.items() if s.status != "deleted"]
        if len(live) < self.fleet and (not live or self.rng.random() < 0.3):
            self.create()
            return
        if not live:
            return
        if self.rng.random() < self.fault_rate:
            notes = self.world.disturb(self.clock(), self.agents, self.rng)
            if notes is not None:
                self._note(notes)
                return
        key = self.rng.choice(live)
        self.inbox.append((key, self._user_event(self.agents[key])))

    def _user_event(self, snapshot: Snapshot) -> Event:
        offers = offered(self.machine, snapshot, Context(self.clock()))
        yes = [o.event for o in offers if o.offered]
        no = [o.event for o in offers if not o.offered]
        if no and (not yes or self.rng.random() < _MISTAKE):
            name = self.rng.choice(no)
        else:
            weights = [_WEIGHTS.get(e, 1.0) for e in yes]
            name = self.rng.choices(yes, weights)[0]
        return Event(name, Actor.USER, self.world.payload(name, snapshot, self.rng))

    def next_moment(self) -> None:
        """Move the clock to the earliest thing that happens next, and let it happen."""
        timer = min(self.timers.items(), key=lambda kv: (kv[1], kv[0]), default=None)
        world = self.world.next_due()
        when = self.next_user
        if timer is not None:
            when = min(when, timer[1])
        if world is not None:
            when = min(when, world)
        self.clock.set(when)
        if timer is not None and timer[1] == when:
            (key, name), _ = timer
            del self.timers[(key, name)]
            self.inbox.append((key, Event(name, Actor.TIMER)))
        elif world is not None and world == when:
            reports, notes = self.world.tick(when, self.agents)
            self._note(notes)
            self.inbox += reports
        else:
            self.user_turn()
            self.next_user = when + self._think()

    def run(self, steps: int) -> Iterator[Line]:
        """Walk until ``steps`` events are decided, yielding each line as soon as it is made."""
        sent = 0
        while True:
            while sent < len(self.lines):
                yield self.lines[sent]
                sent += 1
            if self.decided >= steps:
                return
            if self.inbox:
                key, event = self.inbox.popleft()
                self.decide(key, event)
            else:
                self.next_moment()

    def result(self) -> Simulation:
        """What the walk did so far."""
        return Simulation(
            self.machine.name, self.seed, self.fault_rate, tuple(self.lines), self.initials,
            dict(self.agents),
        )  # fmt: skip


def start_walk(
    machine: Machine, *, seed: int, steps: int, fault_rate: float = 0.1, agents: int = 2
) -> _Walk:
    """A walk of a fleet of ``agents`` agents of ``machine``, its first agents created; its
    ``run(steps)`` yields the timeline as it goes and ``result()`` is the ``Simulation``.

    Raises:
        InvalidInput: a number is out of range (see ``simulate``).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"the seed must be a whole number of at least 0, not {seed!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise InvalidInput(f"steps must be a whole number from 1 to {MAX_STEPS}, not {steps!r}")
    if not 0.0 <= fault_rate <= 1.0:
        raise InvalidInput(f"the fault rate is a probability from 0 to 1, not {fault_rate!r}")
    if isinstance(agents, bool) or not isinstance(agents, int) or not 1 <= agents <= MAX_AGENTS:
        raise InvalidInput(f"agents must be a whole number from 1 to {MAX_AGENTS}, not {agents!r}")
    rng = random.Random(seed)
    clock = ManualClock(STORY_START)
    world = world_for(machine, clock, seed, fault_rate)
    walk = _Walk(machine, world, clock, rng, agents, fault_rate, seed)
    for _ in range(agents):
        walk.create()
    return walk


def simulate(
    machine: Machine, *, seed: int, steps: int, fault_rate: float = 0.1, agents: int = 2
) -> Simulation:
    """Walk a fleet of ``agents`` agents of ``machine`` through ``steps`` decided events.

    Args:
        machine: a shipped machine (``alfe``, ``alfe-self-hosted``, ``recif``).
        seed: seeds every choice; the same arguments give the same simulation.
        steps: how many events to decide (each platform report, timer and user action).
        fault_rate: the probability, in [0, 1], that an occasion goes wrong.
        agents: how many live agents the fleet keeps (a deleted one is replaced).

    Returns:
        The ``Simulation``.

    Raises:
        InvalidInput: a number is out of range.
    """
    walk = start_walk(machine, seed=seed, steps=steps, fault_rate=fault_rate, agents=agents)
    for _ in walk.run(steps):
        pass
    return walk.result()


def timeline_widths(machine: Machine) -> tuple[int, int, int, int]:
    """Column widths that fit every row a walk of ``machine`` can print, known before it runs
    (so the timeline can be printed as it is made): time, agent, event (actor), from -> to."""
    spec = machine.spec
    time = len("+9d 00:00:00")  # a walk past its tenth day pushes its rows one column on
    agent = max(len(n) for n in NAMES) + len("-99")
    codes = [r.code for r in machine.roles] or ["U"]
    event = max(len(e.name) for e in spec.events) + len(" ()") + max(len(c) for c in codes)
    moves = [f"-> {s}" for s in spec.state_names]
    moves += [f"{s} (stays)" for s in spec.state_names]
    choosers = {c.name: c for c in spec.choosers}
    for row in spec.transitions:
        for source in row.sources:
            moves += [f"{source} -> {t}" for t in row.targets_from(source, choosers)]
    return (time, agent, max(event, len("(created)")), max(len(m) for m in moves))


def heading(model: str, seed: int, steps: int, fault_rate: float) -> list[str]:
    """The lines that open a printed walk."""
    head = (
        f"agentfsm simulate {model} --seed {seed} --steps {steps} "
        f"--faults {fault_rate:g}: a random walk on a virtual clock, decided by the pure "
        "engine. Actors: U user, S platform, T timer; '~' marks something the world did."
    )
    return _wrap(head, 118)


def summary(sim: Simulation, machine: Machine) -> list[str]:
    """The closing lines: agents, statuses visited (and not), accepted and refused counts."""
    decisions = sim.decisions
    entered = {x.after for x in sim.lines if x.refusal is None and x.note is None}
    visited = [s for s in machine.spec.state_names if s in entered]
    missed = [s for s in machine.spec.state_names if s not in entered]
    refused = Counter(x.refusal.code for x in decisions if x.refusal is not None)
    accepted = sum(1 for x in decisions if x.refusal is None)
    by_code = ", ".join(f"{code} x{n}" for code, n in sorted(refused.items()))
    notes = sum(1 for x in sim.lines if x.note is not None)
    gone = sum(1 for s in sim.finals.values() if s.status == "deleted")
    live = ", ".join(f"{k} {s.status}" for k, s in sim.finals.items() if s.status != "deleted")
    out = [
        f"agents: {len(sim.finals)} created, {gone} deleted; live now: {live or '-'}",
        f"statuses visited: {', '.join(visited)}",
        f"never visited: {', '.join(missed) or '-'}",
        f"events decided: {len(decisions)}: {accepted} accepted, "
        f"{sum(refused.values())} refused" + (f" ({by_code})" if by_code else ""),
        f"world notes (faults, fixes, retries): {notes}",
    ]
    return out


def format_simulation(sim: Simulation, machine: Machine) -> str:
    """The whole printout: a heading, the timeline, and the summary."""
    head = heading(sim.model, sim.seed, len(sim.decisions), sim.fault_rate)
    timeline = format_timeline(
        sim.lines, sim.start, by_agent=False, seconds=True, widths=timeline_widths(machine)
    )
    closing = [part for text in summary(sim, machine) for part in _wrap(text, 118)]
    return "\n".join([*head, "", timeline.rstrip("\n"), "", *closing]) + "\n"


def run_simulation(machine: Machine, seed: int, steps: int, fault_rate: float, agents: int) -> str:
    """``simulate`` then ``format_simulation``; ``InvalidInput`` for an out-of-range number."""
    sim = simulate(machine, seed=seed, steps=steps, fault_rate=fault_rate, agents=agents)
    return format_simulation(sim, machine)
