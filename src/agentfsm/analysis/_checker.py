"""The model checker: explore a machine's finite abstraction and check every invariant on it.

Exploration is breadth-first from the initial snapshot. From every snapshot it sends every event,
by every actor, with each of the profile's payloads (and an invalid one), and for each guard that
reads the clock or typed input it tries both outcomes: an oracle stands in for the guard's
function. Snapshots are merged by the profile's abstraction, which keeps exploration finite.
Because exploration is breadth-first, the first failure found for an invariant comes with a
shortest path of events from the initial snapshot.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import attrs

from agentfsm._engine import decide
from agentfsm._machine import GuardFn, Implementations, Machine, field_problem
from agentfsm._spec import EventSpec, guard_names
from agentfsm._validate import structural_problems
from agentfsm._values import AnyRole, Context, Event, Refusal, Snapshot, Step
from agentfsm.analysis._invariants import Invariant, invariants_for
from agentfsm.analysis._profiles import START, CheckProfile, profile_for

DEFAULT_MAX_STATES = 100_000


@attrs.frozen(slots=True)
class PathStep:
    """One event of a counterexample.

    Attributes:
        event: the event's name.
        actor: who sent it.
        payload: what it carried.
        guards: the outcome the oracle chose for each guard it decided, in order.
        outcome: what the engine did: ``"pending -> provisioning"`` or ``"refused (code)"``.
    """

    event: str
    actor: AnyRole
    payload: Mapping[str, Any]
    guards: tuple[tuple[str, bool], ...]
    outcome: str

    def format(self) -> str:
        """One line: ``stop by user {} [stuck=True]: running -> stopping``."""
        payload = ", ".join(f"{k}={v!r}" for k, v in self.payload.items())
        guards = ", ".join(f"{name}={value}" for name, value in self.guards)
        parts = [f"{self.event} by {self.actor.label}"]
        if payload:
            parts.append(f"({payload})")
        if guards:
            parts.append(f"[{guards}]")
        return " ".join(parts) + f": {self.outcome}"


@attrs.frozen(slots=True)
class Failure:
    """An invariant that does not hold, and the shortest path found that breaks it.

    Attributes:
        invariant: the invariant's name.
        message: what went wrong on the last event of ``path``.
        path: the events from the initial snapshot; the last one breaks the invariant.
    """

    invariant: str
    message: str
    path: tuple[PathStep, ...]


@attrs.frozen(slots=True)
class CheckReport:
    """What ``check`` found for one machine.

    Attributes:
        machine: the machine's name.
        states_explored: abstract snapshots explored.
        transitions_explored: events decided (accepted or refused).
        invariants: the names of the invariants checked.
        failures: one per invariant that failed, with a shortest counterexample.
        problems: structural problems of the spec (see ``validate``), and exploration limits hit.
    """

    machine: str
    states_explored: int
    transitions_explored: int
    invariants: tuple[str, ...]
    failures: tuple[Failure, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the spec is sound and every invariant held on every explored transition."""
        return not self.failures and not self.problems

    def format(self) -> str:
        """The report for people: a summary line, then each problem and counterexample."""
        explored = (
            f"{self.states_explored:,} states, {self.transitions_explored:,} transitions explored"
        )
        if self.ok:
            return f"{self.machine}: ok: {len(self.invariants)} invariants hold ({explored})"
        lines = [
            f"{self.machine}: FAILED: {len(self.problems)} structural problem(s), "
            f"{len(self.failures)} invariant(s) broken ({explored})"
        ]
        lines += [f"  problem: {p}" for p in self.problems]
        for failure in self.failures:
            lines.append(f"  invariant {failure.invariant} broken: {failure.message}")
            lines.append(f"    counterexample ({len(failure.path)} events):")
            lines += [f"      {i}. {s.format()}" for i, s in enumerate(failure.path, 1)]
        return "\n".join(lines)


class _Oracle:
    """Stands in for the forced guards: the checker sets their outcomes before each decision.

    A guard with no forced outcome runs its real function, so ``offered()`` (which looks at
    every event) still works on the oracle machine.
    """

    __slots__ = ("forced",)

    def __init__(self) -> None:
        self.forced: dict[str, bool] = {}

    def stand_in(self, name: str, real: GuardFn) -> GuardFn:
        forced = self.forced

        def guard(s: Snapshot, e: Event, c: Context) -> bool:
            value = forced.get(name)
            return real(s, e, c) if value is None else value

        return guard


def _oracle_machine(machine: Machine, exact: frozenset[str]) -> tuple[Machine, _Oracle]:
    oracle = _Oracle()
    real = machine.implementations.guards
    guards = {name: fn if name in exact else oracle.stand_in(name, fn) for name, fn in real.items()}
    impl = machine.implementations.merged(Implementations(guards=guards))
    copy = Machine(machine.spec, impl, validate=False, record=machine.record, policy=machine.policy)
    return copy, oracle


def _payload_fits(event: EventSpec, payload: Mapping[str, Any]) -> bool:
    known = {f.name for f in event.fields}
    if any(k not in known for k in payload):
        return False
    for f in event.fields:
        if f.name in payload:
            if field_problem(f, payload[f.name]) is not None:
                return False
        elif f.required:
            return False
    return True


def _forced_guards(machine: Machine, status: str, event: str, exact: frozenset[str]) -> list[str]:
    names: list[str] = []
    for row in machine.events[event].by_status.get(status, ()):
        for name in guard_names(row.spec.guard):
            if name not in exact and name not in names:
                names.append(name)
    return names


def _outcome(before: Snapshot, result: Step | Refusal) -> str:
    if isinstance(result, Step):
        return f"{before.status} -> {result.snapshot.status}"
    return f"refused ({result.code})"


# A path is kept as a linked list (parent, step) so that only failures pay for building tuples.
_Node = tuple["_Node | None", PathStep] | None


def _path(node: _Node) -> tuple[PathStep, ...]:
    steps: list[PathStep] = []
    while node is not None:
        node, step = node
        steps.append(step)
    return tuple(reversed(steps))


def check(
    machine: Machine,
    invariants: Iterable[Invariant] | None = None,
    *,
    profile: CheckProfile | None = None,
    max_states: int = DEFAULT_MAX_STATES,
) -> CheckReport:
    """Explore ``machine`` exhaustively and check every invariant on every transition.

    Args:
        machine: the machine to check.
        invariants: what to check (default: ``invariants_for(machine)``).
        profile: how to abstract the model (default: the one registered under the machine's
            name, or the generic one).
        max_states: stop exploring after this many abstract states and report it as a problem
            (an abstraction that does not make the model finite).

    Returns:
        A ``CheckReport``; ``report.ok`` is true when nothing failed. For each invariant that
        failed, the report holds the first failure found, with a shortest path of events.
    """
    checked = tuple(invariants_for(machine) if invariants is None else invariants)
    profile = profile or profile_for(machine)
    problems = list(structural_problems(machine.spec, strict=machine.strict))
    oracle_machine, oracle = _oracle_machine(machine, profile.exact_guards)
    spec = machine.spec
    cases = [
        (ev, actor, payload, _payload_fits(ev, payload))
        for ev in spec.events
        for actor in machine.roles
        for payload in profile.payloads_for(ev)
    ]
    key = profile.abstraction
    first = machine.initial(profile.initial_data, START)
    visited: set[Hashable] = {key(first)}
    queue: deque[tuple[Snapshot, int, _Node]] = deque([(first, 0, None)])
    failures: dict[str, Failure] = {}
    transitions = 0
    truncated = False

    def fail(name: str, message: str, node: _Node, step: PathStep) -> None:
        if name not in failures:  # breadth-first: the first one found is a shortest one
            failures[name] = Failure(name, message, _path((node, step)))

    while queue and not truncated:
        before, depth, node = queue.popleft()
        context = Context(now=START + profile.tick * (depth + 1))
        for ev, actor, payload, fits in cases:
            event = Event(ev.name, actor, payload)
            forced = (
                _forced_guards(machine, before.status, ev.name, profile.exact_guards)
                if fits and actor in ev.actors
                else []
            )
            for values in itertools.product((True, False), repeat=len(forced)):
                oracle.forced.clear()
                oracle.forced.update(zip(forced, values, strict=True))
                transitions += 1
                guards = tuple(zip(forced, values, strict=True))
                try:
                    result = decide(oracle_machine, before, event, context)
                except Exception as exc:  # the engine promises never to raise for an event
                    step = PathStep(ev.name, actor, payload, guards, f"raised {exc!r}")
                    fail("decide-never-raises", f"decide raised {exc!r}", node, step)
                    continue
                step = PathStep(ev.name, actor, payload, guards, _outcome(before, result))
                for inv in checked:
                    if inv.name in failures:
                        continue
                    try:
                        message = inv.check(before, event, result, oracle_machine, context)
                    except Exception as exc:
                        message = f"the check raised {exc!r}"
                    if message is not None:
                        fail(inv.name, message, node, step)
                if isinstance(result, Step):
                    k = key(result.snapshot)
                    if k in visited:
                        continue
                    if len(visited) >= max_states:
                        truncated = True
                        continue
                    visited.add(k)
                    queue.append((result.snapshot, depth + 1, (node, step)))
    if truncated:
        problems.append(
            f"exploration stopped after {max_states:,} states: the abstraction does not make "
            "the model finite; register a CheckProfile with a coarser abstraction"
        )
    oracle.forced.clear()
    order = {inv.name: i for i, inv in enumerate(checked)}
    return CheckReport(
        machine=machine.name,
        states_explored=len(visited),
        transitions_explored=transitions,
        invariants=tuple(inv.name for inv in checked),
        failures=tuple(sorted(failures.values(), key=lambda f: order.get(f.invariant, -1))),
        problems=tuple(problems),
    )
