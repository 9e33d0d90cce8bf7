"""The plain table: Alfe's twelve statuses and eighteen events, with no guards and no data.

The second workload of ``core.py``: the same shape of table as Alfe (every row of
``ALFE_SPEC``, a billing resume always returning to ``starting``), but nothing to check and
nothing to copy, so what is measured is the engine's own cost per event. Two rows have an
effect (a constant one), every other row none. The machine is defined with
``agentfsm.define``, as a user would, and needs no clock.

The walk picks, at each step, an agent and an event: nine times in ten one its status handles
(deletions rare, so agents stay alive), once in ten any other event, which the status may
refuse.
"""

from __future__ import annotations

import random
from array import array
from typing import Any

from _walk import KINDS, table_rows

from agentfsm import Machine
from agentfsm._effects import CancelTimer
from agentfsm.define import define_machine, effect, event
from agentfsm.models._alfe import ALFE_SPEC

_NOTICE = (CancelTimer("boot_timeout"),)


@effect
def notice(before: Any, after: Any, ev: Any, context: Any) -> tuple[object, ...]:
    """A constant effect: the same tuple every time, as a cached effect is."""
    return _NOTICE


EFFECT_EVENTS = ("connected", "delete")
"""The events whose rows emit ``notice``."""


def plain_rows() -> list[tuple[str, str, str]]:
    """(source, event, target) for every row: Alfe's table without guards or data."""
    rows = []
    for source, ev, target, _guards, _updates in table_rows():
        rows.append((source, ev, "starting" if target is None else target))
    return rows


def plain_machine() -> Machine:
    """The plain table as a machine defined with ``agentfsm.define``."""
    events = [event(e.name, by=next(iter(e.actors))) for e in ALFE_SPEC.events]
    rows = [
        (s, e, t, None, (notice,)) if e in EFFECT_EVENTS else (s, e, t) for s, e, t in plain_rows()
    ]
    return define_machine(
        "plain",
        statuses=[s.name for s in ALFE_SPEC.states],
        terminal=["deleted"],
        events=events,
        rows=rows,
        timed=False,
    )


PLAIN_TABLE = {(s, e): t for s, e, t in plain_rows()}
"""The baseline's table: (status, event) -> target."""

EVENT_NAMES = tuple(dict.fromkeys(name for name, _, _ in KINDS))
ACTORS = {name: actor for name, actor, _ in KINDS}


class PlainAgent:
    """What the baseline tracks per agent on the plain table: its status."""

    __slots__ = ("name", "status")

    def __init__(self, name: str) -> None:
        self.name = name
        self.status = "pending"


def plain_fire(agent: PlainAgent, ev: str) -> bool:
    """Apply ``ev`` to ``agent`` if its status handles it."""
    target = PLAIN_TABLE.get((agent.status, ev))
    if target is None:
        return False
    agent.status = target
    return True


class PlainWalk:
    """A seeded walk over the plain table (see the module's docstring).

    Attributes:
        names: each agent's name.
        agent, event: per step, the agent's index and the event's index in ``EVENT_NAMES``.
        statuses: each agent's status at the end.
    """

    def __init__(self, events: int, agents: int, seed: int = 2026) -> None:
        rng = random.Random(seed)
        self.names = [f"agent-{i:06d}" for i in range(agents)]
        handled: dict[str, list[int]] = {}
        weights: dict[str, list[float]] = {}
        for i, name in enumerate(EVENT_NAMES):
            for status in {s for s, e in PLAIN_TABLE if e == name}:
                handled.setdefault(status, []).append(i)
                weights.setdefault(status, []).append(0.002 if name == "delete" else 1.0)
        recs = [PlainAgent(n) for n in self.names]
        self.agent = array("i")
        self.event = array("i")
        every = [i for i, n in enumerate(EVENT_NAMES) if n != "delete"]
        for _ in range(events):
            a = rng.randrange(agents)
            status = recs[a].status
            if rng.random() < 0.1 or status not in handled:
                k = rng.choice(every)
            else:
                k = rng.choices(handled[status], weights=weights[status])[0]
            plain_fire(recs[a], EVENT_NAMES[k])
            self.agent.append(a)
            self.event.append(k)
        self.statuses = [r.status for r in recs]

    def __len__(self) -> int:
        return len(self.agent)
