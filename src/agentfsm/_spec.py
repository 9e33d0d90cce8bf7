"""Machine definitions as plain, frozen data.

A ``MachineSpec`` names its states, its events (with the actors allowed to send them and the
payload fields they carry), its guards (by name, with the refusal code and sentence each one
gives), and its transitions. Nothing here is callable: the Python functions behind the names
live in an ``Implementations`` record, and ``Machine`` (in ``_machine``) joins the two,
validates them and compiles a lookup table. Renderers, the model checker and the JSON export
read this data directly.
"""

from __future__ import annotations

from typing import Union

import attrs

from agentfsm._actors import Actor, AnyRole

SAME = "="
"""A transition target meaning "stay in the source status" (an internal transition)."""


@attrs.frozen(slots=True)
class StateSpec:
    """A status an agent can be in.

    Attributes:
        name: the status name (``"running"``).
        description: what it means, for people.
        terminal: true when no event may leave it (``deleted``).
        phase: the externally published phase, where a model maps states onto phases (Recif).
    """

    name: str
    description: str = ""
    terminal: bool = False
    phase: str | None = None


FIELD_KINDS = ("str", "int", "bool", "datetime", "mapping")


@attrs.frozen(slots=True)
class FieldSpec:
    """A payload field an event carries.

    Attributes:
        name: the key in ``Event.payload``.
        kind: one of ``str``, ``int``, ``bool``, ``datetime`` (aware), ``mapping``.
        required: refuse the event when it is missing.
        description: what it is, for people and docs.
    """

    name: str
    kind: str = "str"
    required: bool = True
    description: str = ""


@attrs.frozen(slots=True)
class EventSpec:
    """An event a machine understands.

    Attributes:
        name: the event name (``"recreate"``).
        actors: the roles that may send it (``Actor`` members or the machine's own ``Role``s);
            anyone else is refused with ``actor_not_allowed``.
        label: the action's name for people (``"Recreate"``).
        description: what it does.
        fields: the payload fields it carries.
    """

    name: str
    actors: frozenset[AnyRole]
    label: str = ""
    description: str = ""
    fields: tuple[FieldSpec, ...] = ()

    @property
    def is_user_action(self) -> bool:
        """True when a person may send it (``Actor.USER``, or a ``Role`` with ``person``): it is
        a dashboard control."""
        return any(actor.person for actor in self.actors)


@attrs.frozen(slots=True)
class GuardSpec:
    """A named condition, and what a refusal says when it does not hold.

    Attributes:
        name: how transitions refer to it.
        code: the refusal code when it fails (``"confirmation_mismatch"``).
        message: the refusal sentence; ``{status}``, ``{event}`` and ``{label}`` are filled in.
        description: what it checks, for docs and diagrams.
        reads_input: true when it reads payload a person types (so "offered actions" reports it
            as a requirement instead of evaluating it).
    """

    name: str
    code: str
    message: str
    description: str = ""
    reads_input: bool = False


@attrs.frozen(slots=True)
class Guard:
    """A reference to a guard by name (a leaf of a guard expression)."""

    name: str


@attrs.frozen(slots=True)
class AllOf:
    """Passes when every item passes; the first failing item is the reason."""

    items: tuple[GuardExpr, ...]


@attrs.frozen(slots=True)
class AnyOf:
    """Passes when any item passes; when none does, the first item is the reason."""

    items: tuple[GuardExpr, ...]


@attrs.frozen(slots=True)
class Not:
    """Passes when its item fails."""

    item: GuardExpr


GuardExpr = Union[Guard, AllOf, AnyOf, Not]


def guard_names(expr: GuardExpr | None) -> tuple[str, ...]:
    """The names of the guards an expression refers to, in order, each once."""
    names: list[str] = []

    def walk(e: GuardExpr) -> None:
        if isinstance(e, Guard):
            if e.name not in names:
                names.append(e.name)
        elif isinstance(e, Not):
            walk(e.item)
        else:
            for item in e.items:
                walk(item)

    if expr is not None:
        walk(expr)
    return tuple(names)


def evaluate_guard_expr(expr: GuardExpr, outcome: dict[str, bool]) -> bool:
    """Evaluate an expression given the outcome of each named guard (used by the analysis)."""
    if isinstance(expr, Guard):
        return outcome[expr.name]
    if isinstance(expr, Not):
        return not evaluate_guard_expr(expr.item, outcome)
    if isinstance(expr, AllOf):
        return all(evaluate_guard_expr(i, outcome) for i in expr.items)
    return any(evaluate_guard_expr(i, outcome) for i in expr.items)


def render_guard_expr(expr: GuardExpr | None) -> str:
    """A compact text form: ``stuck and not deleted``; empty for no guard."""
    if expr is None:
        return ""
    if isinstance(expr, Guard):
        return expr.name
    if isinstance(expr, Not):
        return f"not {render_guard_expr(expr.item)}"
    joiner = " and " if isinstance(expr, AllOf) else " or "
    return "(" + joiner.join(render_guard_expr(i) for i in expr.items) + ")"


@attrs.frozen(slots=True)
class ChooserSpec:
    """A named function that picks a transition's target from the snapshot (history-like).

    Attributes:
        name: how transitions refer to it.
        targets: every status it may return (the analysis needs them).
        description: how it chooses.
    """

    name: str
    targets: tuple[str, ...]
    description: str = ""


@attrs.frozen(slots=True)
class ActionSpec:
    """A named effect builder or data update, documented once and referred to by name."""

    name: str
    description: str = ""


def _tuple_of_str(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)  # type: ignore[arg-type]


@attrs.frozen(slots=True)
class TransitionSpec:
    """One row of a transition table.

    Attributes:
        event: the event that fires it.
        sources: the statuses it leaves from.
        target: the status it enters; ``SAME`` for "stay"; ignored when ``chooser`` is set.
        chooser: the name of a ``ChooserSpec`` that picks the target at run time.
        guard: a guard expression that must hold, or ``None``.
        updates: names of data updates applied to the agent's record, in order.
        effects: names of effect builders whose effects the step returns, in order.
        note: why the row is there, especially where it is our choice.
        reenter: when the row leads back to its source status, count it as entering the status
            again (``since`` restarts), as a power-cycle does; otherwise staying keeps ``since``.
    """

    event: str
    sources: tuple[str, ...] = attrs.field(converter=_tuple_of_str)
    target: str = SAME
    chooser: str | None = None
    guard: GuardExpr | None = None
    updates: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    effects: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    note: str = ""
    reenter: bool = False

    def targets_from(self, source: str, choosers: dict[str, ChooserSpec]) -> tuple[str, ...]:
        """Every status this row may lead to from ``source``."""
        if self.chooser is not None:
            return choosers[self.chooser].targets
        return (source,) if self.target == SAME else (self.target,)


@attrs.frozen(slots=True)
class MachineSpec:
    """A whole machine, as data. Build a runnable ``Machine`` from it with its implementations.

    Attributes:
        name: the machine's name (``"alfe"``).
        description: one paragraph for people.
        initial: the status every agent starts in.
        states, events, guards, choosers, updates, effects, transitions: the parts above.
        explanations: for (status, event) pairs that are refused on purpose, the sentence that
            says why (shown by "offered actions" and used in refusals).
        version: the machine's version (1 for the shipped models). A machine's identity is its
            name and version: a stored agent records the version that decided it, and moving
            agents to another version is a migration (``agentfsm.migrate``).
        strict: when true, validation also requires every user action in every status to be
            handled or explained. When false (the default), a pair neither handled nor explained
            gets the engine's standard refusal, ``not_allowed_from_status`` with the sentence
            "<Label> is not available while the agent is <status>."; every other check runs
            either way. The shipped models are strict.
    """

    name: str
    initial: str
    states: tuple[StateSpec, ...]
    events: tuple[EventSpec, ...]
    transitions: tuple[TransitionSpec, ...]
    guards: tuple[GuardSpec, ...] = ()
    choosers: tuple[ChooserSpec, ...] = ()
    updates: tuple[ActionSpec, ...] = ()
    effects: tuple[ActionSpec, ...] = ()
    description: str = ""
    explanations: tuple[tuple[str, str, str], ...] = ()
    version: int = 1
    strict: bool = False

    def state(self, name: str) -> StateSpec:
        """The state called ``name``; ``KeyError`` names the machine's states when unknown."""
        for s in self.states:
            if s.name == name:
                return s
        raise KeyError(f"machine {self.name!r} has no status {name!r}")

    def event(self, name: str) -> EventSpec:
        """The event called ``name``."""
        for e in self.events:
            if e.name == name:
                return e
        raise KeyError(f"machine {self.name!r} has no event {name!r}")

    @property
    def state_names(self) -> tuple[str, ...]:
        """The status names, in definition order."""
        return tuple(s.name for s in self.states)

    @property
    def roles(self) -> tuple[AnyRole, ...]:
        """Every role that may send events: the three ``Actor`` members, then the machine's own
        roles in the order its events name them."""
        own: dict[AnyRole, None] = {}
        for ev in self.events:
            for actor in sorted(ev.actors, key=lambda a: a.code):
                if actor.__class__ is not Actor:
                    own[actor] = None
        return (*Actor, *own)

    @property
    def user_actions(self) -> tuple[EventSpec, ...]:
        """The events a user may send: the dashboard's controls."""
        return tuple(e for e in self.events if e.is_user_action)
