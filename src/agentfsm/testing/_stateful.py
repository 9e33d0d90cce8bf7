"""A hypothesis rule-based state machine built from any machine definition.

One rule per event, whose precondition is that the table lets the event leave the current
status; one rule that sends anything at all (any actor, ill-typed payloads, unknown names) and
checks that a refusal changed nothing; one rule that moves the clock. After every decided event
every invariant is checked on that transition. A failure names the invariant and prints the
events so far as a list you can paste into ``replay``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agentfsm._engine import decide
from agentfsm._machine import Machine
from agentfsm._values import Actor, Context, Event, RecordT, Refusal, Snapshot, Step
from agentfsm.analysis import Invariant, invariants_for
from agentfsm.testing._strategies import START, Hint, event_named, events

Timed = tuple[int, str, str, dict[str, Any]]
"""One replayable step: (minutes since start, event name, actor code, payload)."""


def replay(
    machine: Machine[RecordT],
    data: RecordT,
    steps: Iterable[Timed],
    *,
    start: datetime = START,
) -> list[Step[RecordT] | Refusal]:
    """Decide a recorded list of steps again, from the initial snapshot; returns every result."""
    snapshot = machine.initial(data, start)
    results: list[Step[RecordT] | Refusal] = []
    for minutes, name, actor, payload in steps:
        result = decide(
            machine,
            snapshot,
            Event(name, actor, payload),
            Context(start + timedelta(minutes=minutes)),
        )
        results.append(result)
        if isinstance(result, Step):
            snapshot = result.snapshot
    return results


class LifecycleMachine(RuleBasedStateMachine):
    """The base class of generated lifecycle tests; see ``lifecycle_test``."""

    machine: Machine
    data: Any
    checks: tuple[Invariant, ...]
    hints: Mapping[str, Hint] | None
    start: datetime

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: Snapshot = self.machine.initial(self.data, self.start)
        self.now = self.start
        self.accepted = 0
        self.steps: list[Timed] = []
        self.visited = {self.snapshot.status}

    def decide_and_check(self, event: Event) -> Step | Refusal:
        """Decide ``event`` now, check every invariant on it, and move on if it was accepted."""
        before, ctx = self.snapshot, Context(self.now)
        minutes = int((self.now - self.start) / timedelta(minutes=1))
        self.steps.append((minutes, event.name, event.actor.value, dict(event.payload)))
        result = decide(self.machine, before, event, ctx)
        for inv in self.checks:
            problem = inv.check(before, event, result, self.machine, ctx)
            if problem is not None:
                raise AssertionError(
                    f"invariant {inv.name!r} broken: {problem}\n"
                    f"replay with agentfsm.testing.replay(machine, data, {self.steps!r})"
                )
        if isinstance(result, Step):
            self.snapshot = result.snapshot
            self.accepted += 1
            self.visited.add(result.snapshot.status)
        else:
            assert self.snapshot is before, "a refusal must leave the snapshot untouched"
        note(f"{event.name} by {event.actor.label}: {getattr(result, 'code', 'accepted')}")
        return result

    @rule(minutes=st.integers(0, 90))
    def advance_clock(self, minutes: int) -> None:
        """Time passes."""
        self.now += timedelta(minutes=minutes)

    @rule(data=st.data())
    def send_anything(self, data: st.DataObject) -> None:
        """Any event, any actor, any payload: accepted or refused, never an exception."""
        self.decide_and_check(data.draw(events(self.machine, self.snapshot, valid=False)))

    @rule(data=st.data())
    def explore(self, data: st.DataObject) -> None:
        """Send an event the table allows that may lead to a status this run has not seen.

        Uniformly chosen rules reach deep statuses rarely (every status can be deleted, and
        deletion absorbs); this rule steers a run toward statuses it has not visited yet.
        """
        spec = self.machine.spec
        choosers = {c.name: c for c in spec.choosers}
        terminal = {s.name for s in spec.states if s.terminal}
        fresh: dict[str, bool] = {}  # event -> leads only to terminal statuses
        for name, compiled in self.machine.events.items():
            for row in compiled.by_status.get(self.snapshot.status, ()):
                new = set(row.spec.targets_from(self.snapshot.status, choosers)) - self.visited
                if new:
                    fresh[name] = fresh.get(name, True) and new <= terminal
        # Terminal statuses absorb the rest of a run, so they come last.
        live = sorted(name for name, only_terminal in fresh.items() if not only_terminal)
        fresh_names = live or sorted(fresh)
        if not fresh_names:
            return
        name = data.draw(st.sampled_from(fresh_names))
        self.decide_and_check(data.draw(event_named(self.machine, self.snapshot, name, self.hints)))

    @rule(data=st.data())
    def send_a_platform_event_as_a_user(self, data: st.DataObject) -> None:
        """A user may never send a platform or timer event."""
        names = [e.name for e in self.machine.spec.events if Actor.USER not in e.actors]
        if not names:
            return
        result = self.decide_and_check(Event(data.draw(st.sampled_from(names)), Actor.USER))
        assert isinstance(result, Refusal)
        assert result.code == "actor_not_allowed"

    @invariant()
    def status_is_known(self) -> None:
        """The agent is always in one of the machine's statuses."""
        assert self.snapshot.status in self.machine.states

    @invariant()
    def version_counts_accepted_events(self) -> None:
        """The version is exactly the number of accepted events."""
        assert self.snapshot.version == self.accepted


ABSORBING_AFTER = 6
"""Accepted steps a run takes before events that only lead into terminal statuses are sent."""


def _leads_only_to_terminal(machine: Machine, event_name: str) -> bool:
    spec = machine.spec
    choosers = {c.name: c for c in spec.choosers}
    terminal = {s.name for s in spec.states if s.terminal}
    targets = {
        t
        for row in spec.transitions
        if row.event == event_name
        for src in row.sources
        if src not in terminal
        for t in row.targets_from(src, choosers)
    }
    return bool(targets) and targets <= terminal


def _event_rule(machine: Machine, event_name: str) -> Any:
    # Terminal statuses absorb the rest of a run: an event that only leads into one (delete)
    # waits until the run has gone somewhere, or most runs would end a step or two in.
    patience = ABSORBING_AFTER if _leads_only_to_terminal(machine, event_name) else 0

    def enabled(self: LifecycleMachine) -> bool:
        if self.accepted < patience:
            return False
        return self.snapshot.status in self.machine.events[event_name].by_status

    def send(self: LifecycleMachine, data: st.DataObject) -> None:
        strategy = event_named(self.machine, self.snapshot, event_name, self.hints)
        self.decide_and_check(data.draw(strategy))

    send.__name__ = f"send_{event_name}"
    send.__doc__ = f"Send {event_name!r} where the table allows it; guards decide."
    return rule(data=st.data())(precondition(enabled)(send))


def lifecycle_test(
    machine: Machine,
    data: Any,
    *,
    invariants: Iterable[Invariant] = (),
    hints: Mapping[str, Hint] | None = None,
    start: datetime = START,
) -> type[LifecycleMachine]:
    """A ``RuleBasedStateMachine`` class that property-tests ``machine``.

    Args:
        machine: the machine under test.
        data: the initial data record of the agent (for example ``AlfeAgent(...)``).
        invariants: extra invariants, checked with the built-in ones and the model's own
            (``invariants_for(machine)``).
        hints: payload hints by field name (see ``agentfsm.testing.DEFAULT_HINTS``).
        start: the clock's start.

    Returns:
        A test class; expose ``.TestCase`` to pytest: ``TestMine = lifecycle_test(...).TestCase``.
    """
    checks = (*invariants_for(machine), *invariants)
    namespace: dict[str, Any] = {
        "machine": machine,
        "data": data,
        "checks": checks,
        "hints": hints,
        "start": start,
    }
    for ev in machine.spec.events:
        namespace[f"send_{ev.name}"] = _event_rule(machine, ev.name)
    name = "".join(part.capitalize() for part in machine.name.replace("-", "_").split("_"))
    return type(f"{name}Lifecycle", (LifecycleMachine,), namespace)
