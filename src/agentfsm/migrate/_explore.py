"""Breadth-first exploration of a machine's abstraction, keeping the pending timers.

The model checker (``agentfsm.analysis.check``) merges snapshots by the profile's abstraction;
a migration also has to know which timers an agent may have pending in each of them, so here
the explored state is the abstraction *and* the set of pending timer events. A timer is pending
from the effect that schedules it until one that cancels it, or until its event is delivered.
Breadth-first order makes the path kept for each state a shortest one.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Hashable, Iterator, Mapping
from typing import Any, NamedTuple

import attrs

from agentfsm._effects import CancelTimer, ScheduleTimer
from agentfsm._engine import decide
from agentfsm._machine import Machine
from agentfsm._spec import EventSpec
from agentfsm._values import Actor, Context, Event, Refusal, Snapshot, Step
from agentfsm.analysis._checker import (
    PathStep,
    _forced_guards,
    _Node,
    _Oracle,
    _oracle_machine,
    _outcome,
    _path,
    _payload_fits,
)
from agentfsm.analysis._profiles import START, CheckProfile

Case = tuple[EventSpec, Actor, Mapping[str, Any], bool]

__all__ = [
    "Case",
    "Decided",
    "Emitted",
    "Explored",
    "Reached",
    "cases_for",
    "decisions",
    "explore",
    "forced_outcomes",
]


@attrs.frozen(slots=True)
class Reached:
    """One explored state: a concrete representative, its pending timers, how it was reached."""

    snapshot: Snapshot
    timers: frozenset[str]
    depth: int
    node: _Node = attrs.field(eq=False)

    def path(self) -> tuple[PathStep, ...]:
        """The shortest path of events found from the initial snapshot."""
        return _path(self.node)


@attrs.define(slots=True)
class Emitted:
    """An effect record type the machine's steps return (for the outbox rules' check).

    Attributes:
        type: the record's class.
        first: the first state (in breadth-first order) reached by a step returning one.
        examples: a few of the distinct records returned.
    """

    type: type[Any]
    first: Reached
    examples: list[Any]


_EXAMPLES = 8  # enough distinct records to try a remap on, few enough to stay quick


@attrs.frozen(slots=True)
class Explored:
    """Every state reached, in breadth-first order, and whether exploration was cut short.

    ``effects`` holds, by record type name, the effects the explored steps return (timer
    requests aside: they are not outbox items).
    """

    states: dict[Hashable, Reached]
    truncated: bool
    effects: dict[str, Emitted] = attrs.field(factory=dict)


def cases_for(machine: Machine, profile: CheckProfile) -> list[Case]:
    """Every (event, actor, payload, payload fits) the exploration sends."""
    return [
        (ev, actor, payload, _payload_fits(ev, payload))
        for ev in machine.spec.events
        for actor in Actor
        for payload in profile.payloads_for(ev)
    ]


def forced_outcomes(
    machine: Machine, status: str, case: Case, profile: CheckProfile
) -> tuple[list[str], list[tuple[bool, ...]]]:
    """The guards the oracle decides for ``case`` in ``status``, and every outcome to try."""
    ev, actor, _payload, fits = case
    forced = (
        _forced_guards(machine, status, ev.name, profile.exact_guards)
        if fits and actor in ev.actors
        else []
    )
    return forced, list(itertools.product((True, False), repeat=len(forced)))


class Decided(NamedTuple):
    """One decision tried from a snapshot: what ``decide`` returned, or what it raised."""

    case: Case
    event: Event
    guards: tuple[tuple[str, bool], ...]
    result: Step | Refusal | None
    error: Exception | None


def decisions(
    machine: Machine,
    oracle_machine: Machine,
    oracle: _Oracle,
    snapshot: Snapshot,
    cases: list[Case],
    context: Context,
    profile: CheckProfile,
) -> Iterator[Decided]:
    """Decide every case from ``snapshot`` under every outcome of the guards the oracle forces.

    The oracle holds each outcome while its ``Decided`` is being looked at, so a check that
    decides again (an invariant) sees the same guards.
    """
    for case in cases:
        ev, actor, payload, _fits = case
        event = Event(ev.name, actor, payload)
        forced, outcomes = forced_outcomes(machine, snapshot.status, case, profile)
        for values in outcomes:
            guards = tuple(zip(forced, values, strict=True))
            oracle.forced.clear()
            oracle.forced.update(guards)
            try:
                result = decide(oracle_machine, snapshot, event, context)
            except Exception as exc:
                yield Decided(case, event, guards, None, exc)
                continue
            yield Decided(case, event, guards, result, None)


def _timers_after(timers: frozenset[str], event: Event, step: Step) -> frozenset[str]:
    pending = set(timers)
    if event.actor is Actor.TIMER:
        pending.discard(event.name)  # delivered: the timer is consumed
    for effect in step.effects:
        if isinstance(effect, ScheduleTimer):
            pending.add(effect.event)
        elif isinstance(effect, CancelTimer):
            pending.discard(effect.event)
    return frozenset(pending)


def explore(machine: Machine, profile: CheckProfile, max_states: int) -> Explored:
    """Explore ``machine`` from the profile's first agent (see the module's docstring)."""
    oracle_machine, oracle = _oracle_machine(machine, profile.exact_guards)
    key = profile.abstraction
    first = machine.initial(profile.initial_data, START)
    start = Reached(first, frozenset(), 0, None)
    states: dict[Hashable, Reached] = {(key(first), start.timers): start}
    queue: deque[Reached] = deque([start])
    cases = cases_for(machine, profile)
    truncated = False
    effects: dict[str, Emitted] = {}
    while queue and not truncated:
        here = queue.popleft()
        before = here.snapshot
        context = Context(now=START + profile.tick * (here.depth + 1))
        tried = decisions(machine, oracle_machine, oracle, before, cases, context, profile)
        for case, event, guards, result, _error in tried:
            # An error is the model checker's to report; nothing to explore from it.
            if not isinstance(result, Step):
                continue
            timers = _timers_after(here.timers, event, result)
            k = (key(result.snapshot), timers)
            if k not in states:
                if len(states) >= max_states:
                    truncated = True
                    break
                ev, actor, payload, _fits = case
                step = PathStep(ev.name, actor, payload, guards, _outcome(before, result))
                reached = Reached(result.snapshot, timers, here.depth + 1, (here.node, step))
                states[k] = reached
                queue.append(reached)
            if result.effects:
                _note_effects(effects, result.effects, states[k])
    oracle.forced.clear()
    return Explored(states, truncated, effects)


def _note_effects(effects: dict[str, Emitted], returned: Any, at: Reached) -> None:
    for effect in returned:
        if isinstance(effect, (ScheduleTimer, CancelTimer)):
            continue
        name = type(effect).__name__
        seen = effects.get(name)
        if seen is None:
            effects[name] = Emitted(type(effect), at, [effect])
        elif len(seen.examples) < _EXAMPLES and effect not in seen.examples:
            seen.examples.append(effect)
