"""The plain-table replays and the guard-aware listings of ``core.py``, one class per peer.

Each plain-table implementation tracks agents, turns a ``PlainWalk`` into the arguments it
takes, replays them and reports the statuses it ends with, as ``core.py``'s Alfe ones do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from _plain import (
    ACTORS,
    EVENT_NAMES,
    PLAIN_TABLE,
    PlainAgent,
    PlainWalk,
    plain_fire,
    plain_machine,
)
from _walk import GUARDS, KINDS, BaselineAgent, table_rows

from agentfsm import Actor, Event, Snapshot, Step, decide
from agentfsm.models._alfe import ALFE_SPEC

PLAIN = plain_machine()
_ROLE = {a.value: a for a in Actor}


class PlainBaseline:
    name = "baseline"
    label = "hand-written baseline"

    def track(self, names: Sequence[str]) -> list[PlainAgent]:
        return [PlainAgent(n) for n in names]

    def items(self, walk: PlainWalk, agents: list[PlainAgent]) -> list[Any]:
        return [(agents[a], EVENT_NAMES[k]) for a, k in zip(walk.agent, walk.event, strict=True)]

    def run(self, agents: list[PlainAgent], items: list[Any]) -> None:
        fire = plain_fire
        for agent, ev in items:
            fire(agent, ev)

    def statuses(self, agents: list[PlainAgent]) -> list[str]:
        return [a.status for a in agents]


class PlainPrebuilt:
    name = "agentfsm"
    label = "agentfsm, prebuilt events"

    def track(self, names: Sequence[str]) -> list[Snapshot]:
        return [PLAIN.initial(None) for _ in names]

    def items(self, walk: PlainWalk, agents: list[Snapshot]) -> list[Any]:
        events = [Event(n, _ROLE[ACTORS[n]]) for n in EVENT_NAMES]
        return [(a, events[k]) for a, k in zip(walk.agent, walk.event, strict=True)]

    def run(self, agents: list[Snapshot], items: list[Any]) -> None:
        machine, step = PLAIN, Step
        for a, ev in items:
            result = decide(machine, agents[a], ev)
            if result.__class__ is step:
                agents[a] = result[0]

    def statuses(self, agents: list[Snapshot]) -> list[str]:
        return [s.status for s in agents]


class PlainNamed(PlainPrebuilt):
    """Each event built with ``Event.named`` as its step comes, from its name and actor."""

    name = "agentfsm_named"
    label = "agentfsm, Event.named per step"

    def items(self, walk: PlainWalk, agents: list[Snapshot]) -> list[Any]:
        return [
            (a, EVENT_NAMES[k], _ROLE[ACTORS[EVENT_NAMES[k]]])
            for a, k in zip(walk.agent, walk.event, strict=True)
        ]

    def run(self, agents: list[Snapshot], items: list[Any]) -> None:
        machine, step, named = PLAIN, Step, Event.named
        for a, name, actor in items:
            result = decide(machine, agents[a], named(name, actor))
            if result.__class__ is step:
                agents[a] = result[0]


class PlainByName(PlainNamed):
    """``decide(machine, snapshot, name, actor=...)``: the name handed to the engine."""

    name = "agentfsm_by_name"
    label = "agentfsm, decide by name"

    def run(self, agents: list[Snapshot], items: list[Any]) -> None:
        machine, step = PLAIN, Step
        for a, name, actor in items:
            result = decide(machine, agents[a], name, None, None, actor)
            if result.__class__ is step:
                agents[a] = result[0]


class PlainTransitions:
    name = "transitions"
    label = "transitions 0.9"

    def __init__(self) -> None:
        from transitions import Machine as TMachine

        self.machine = TMachine(
            model=None,
            states=[s.name for s in ALFE_SPEC.states],
            initial="pending",
            transitions=[
                {"trigger": e, "source": s, "dest": t} for (s, e), t in PLAIN_TABLE.items()
            ],
            auto_transitions=False,
            ignore_invalid_triggers=True,
            model_attribute="status",
        )

    def track(self, names: Sequence[str]) -> list[Any]:
        models = []
        for n in names:
            model = PlainAgentModel(n)
            self.machine.add_model(model)
            models.append(model)
        return models

    def items(self, walk: PlainWalk, agents: list[Any]) -> list[Any]:
        return [
            (agents[a].trigger, EVENT_NAMES[k]) for a, k in zip(walk.agent, walk.event, strict=True)
        ]

    def run(self, agents: list[Any], items: list[Any]) -> None:
        for trigger, ev in items:
            trigger(ev)

    def statuses(self, agents: list[Any]) -> list[str]:
        return [m.status for m in agents]


class PlainAgentModel:
    """A model object for the peers: its name (the status is the peer's to keep)."""

    def __init__(self, name: str) -> None:
        self.name = name


class PlainPythonStatemachine:
    name = "python-statemachine"
    label = "python-statemachine 3"

    def __init__(self) -> None:
        from statemachine import State, StateMachine

        states = {
            s.name: State(s.name, value=s.name, initial=(s.name == "pending"))
            for s in ALFE_SPEC.states
        }
        events: dict[str, Any] = {}
        for (s, e), t in PLAIN_TABLE.items():
            tr = states[s].to(states[t])
            events[e] = tr if e not in events else events[e] | tr
        namespace: dict[str, Any] = {**states, **events, "allow_event_without_transition": True}
        self.cls = type("PlainStateMachine", (StateMachine,), namespace)

    def track(self, names: Sequence[str]) -> list[Any]:
        return [self.cls(PlainAgentModel(n), state_field="status") for n in names]

    def items(self, walk: PlainWalk, agents: list[Any]) -> list[Any]:
        return [
            (agents[a].send, EVENT_NAMES[k]) for a, k in zip(walk.agent, walk.event, strict=True)
        ]

    def run(self, agents: list[Any], items: list[Any]) -> None:
        for send, ev in items:
            send(ev)

    def statuses(self, agents: list[Any]) -> list[str]:
        return [m.model.status for m in agents]


PLAIN_IMPLEMENTATIONS: tuple[Callable[[], Any], ...] = (
    PlainBaseline,
    PlainPrebuilt,
    PlainNamed,
    PlainByName,
    PlainTransitions,
    PlainPythonStatemachine,
)


# -- the baseline's guard-aware listing of user actions ---------------------------------------

_USER_ACTIONS = tuple(e.name for e in ALFE_SPEC.events if Actor.USER in e.actors)
_READS_INPUT = {g.name for g in ALFE_SPEC.guards if g.reads_input}
_LISTING: dict[tuple[str, str], tuple[tuple[Callable[..., bool], str], ...]] = {}
for _source, _event, _target, _guards, _updates in table_rows():
    if _event in _USER_ACTIONS:
        _LISTING[(_source, _event)] = tuple(
            (GUARDS[g], f"{_event} is refused: {g} does not hold")
            for g in _guards
            if g not in _READS_INPUT
        )
_NOT_HERE = {
    (s.name, e): f"{e} is not available while the agent is {s.name}"
    for s in ALFE_SPEC.states
    for e in _USER_ACTIONS
}
_NO_PAYLOAD: dict[str, Any] = {}
assert len(KINDS) >= len(_USER_ACTIONS)


def baseline_offered(agent: BaselineAgent, now: datetime) -> list[tuple[str, bool, str | None]]:
    """Every user action of the agent's status: (event, offered, the reason when not).

    Guards that read typed input are left for the person to satisfy, as ``offered`` does;
    every other guard of the row is evaluated. The reasons are prebuilt strings.
    """
    out = []
    status = agent.status
    for ev in _USER_ACTIONS:
        checks = _LISTING.get((status, ev))
        if checks is None:
            out.append((ev, False, _NOT_HERE[(status, ev)]))
            continue
        for check, reason in checks:
            if not check(agent, _NO_PAYLOAD, now):
                out.append((ev, False, reason))
                break
        else:
            out.append((ev, True, None))
    return out
