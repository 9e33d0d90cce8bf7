"""The definition API behind ``agentfsm.define``: tables in, a ``MachineSpec`` and its
``Implementations`` out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Union

import attrs

from agentfsm._actors import _to_actor
from agentfsm._define_parts import (
    ActionDef,
    Condition,
    GuardDef,
    code_reads,
)
from agentfsm._errors import InvalidInput
from agentfsm._machine import Implementations, Machine
from agentfsm._spec import (
    FIELD_KINDS,
    SAME,
    ActionSpec,
    AllOf,
    AnyOf,
    EventSpec,
    FieldSpec,
    Guard,
    GuardExpr,
    MachineSpec,
    Not,
    StateSpec,
    TransitionSpec,
)
from agentfsm._values import DEFAULT_POLICY, Actor, AnyRole, Policy, Role
from agentfsm._words import quote, readable

GuardLike = Union[Condition, str, GuardExpr, Sequence["GuardLike"], None]
"""What a row's guard may be: a defined guard (or ``&``/``|``/``~`` of them), a guard's name,
an engine expression (``Guard``, ``AllOf``…), a list of those (all must hold), or ``None``."""

ActionLike = Union[ActionDef, str]
"""A row's update or effect: a decorated function, or its name."""

_KINDS: dict[object, str] = {str: "str", int: "int", bool: "bool", datetime: "datetime"}
_KINDS.update({dict: "mapping", Mapping: "mapping"})


def event(
    name: str,
    by: AnyRole | str | Iterable[AnyRole | str] = Actor.USER,
    *,
    label: str = "",
    fields: Mapping[str, object] | Sequence[FieldSpec] = (),
    description: str = "",
) -> EventSpec:
    """An event of the machine, and who may send it.

    Args:
        name: the event's name (``"resize"``).
        by: the role, or roles, that may send it (``Actor.USER`` by default: a user action),
            as roles or their codes.
        label: its name for people (default: the name in words, ``"Resize"``).
        fields: its payload fields, ``{"gpus": int, "note": "str?"}``: each a type (``str``,
            ``int``, ``bool``, ``datetime``, ``dict``) or a kind's name, a trailing ``?``
            making it optional; or ``FieldSpec`` values.
        description: what it does.

    Returns:
        The ``EventSpec``.

    Raises:
        InvalidInput: a role is unknown, or a field's kind is not one of the engine's.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"an event needs a non-empty name, not {quote(name)}")
    roles = (by,) if isinstance(by, Actor | Role | str) else tuple(by)
    return EventSpec(
        name=name,
        actors=frozenset(_to_actor(r) for r in roles),
        label=label or readable(name),
        description=description,
        fields=_fields(name, fields),
    )


def _fields(
    event_name: str, fields: Mapping[str, object] | Sequence[FieldSpec]
) -> tuple[FieldSpec, ...]:
    if not isinstance(fields, Mapping):
        return tuple(fields)
    out = []
    for field_name, kind in fields.items():
        if isinstance(kind, FieldSpec):
            out.append(kind)
            continue
        required = True
        if isinstance(kind, str) and kind.endswith("?"):
            kind, required = kind[:-1], False
        word = kind if isinstance(kind, str) else _KINDS.get(kind)
        if word not in FIELD_KINDS:
            raise InvalidInput(
                f"field {field_name!r} of event {event_name!r} has the kind {quote(kind)}: use "
                f"str, int, bool, datetime or dict (or {', '.join(FIELD_KINDS)})"
            )
        out.append(FieldSpec(field_name, str(word), required))
    return tuple(out)


@attrs.frozen
class RowDef:
    """One row of the table, with what a plain tuple cannot say (see ``row``)."""

    sources: str | Sequence[str]
    event: str
    target: str = SAME
    guard: GuardLike = None
    actions: ActionLike | Sequence[ActionLike] = ()
    note: str = ""
    reenter: bool = False


def row(
    sources: str | Sequence[str],
    event: str,
    target: str = SAME,
    guard: GuardLike = None,
    actions: ActionLike | Sequence[ActionLike] = (),
    *,
    note: str = "",
    reenter: bool = False,
) -> RowDef:
    """A row with a note or ``reenter``; otherwise a tuple says the same.

    Args:
        sources: the status, or statuses, it leaves from; ``"*"`` is every status that is
            not terminal.
        event: the event that fires it.
        target: the status it enters (``SAME``, ``"="``: stay).
        guard: what must hold (see ``GuardLike``).
        actions: its updates and effect builders, in order (decorated functions or names).
        note: why the row is there.
        reenter: staying counts as entering the status again (``since`` restarts).

    Returns:
        The row, for ``define_machine(rows=[...])``.
    """
    return RowDef(sources, event, target, guard, actions, note, reenter)


Row = Union[RowDef, TransitionSpec, tuple[Any, ...]]
"""A row: ``(sources, event, target)``, optionally followed by a guard and actions; a ``row()``;
or a ``TransitionSpec``."""


class _Parts:
    """The guards and actions a definition has seen, by name, each defined once."""

    def __init__(self, guards: Iterable[GuardDef], actions: Iterable[ActionDef]) -> None:
        self.guards: dict[str, GuardDef] = {}
        self.actions: dict[str, ActionDef] = {}
        for g in guards:
            self.add_guard(g)
        for a in actions:
            self.add_action(a)

    def add_guard(self, g: GuardDef) -> None:
        if not isinstance(g, GuardDef):
            raise InvalidInput(f"guards= takes @guard functions, not {quote(g)}")
        known = self.guards.setdefault(g.name, g)
        if known is not g and known.spec != g.spec:
            raise InvalidInput(f"two different guards are called {g.name!r}: rename one")

    def add_action(self, a: ActionDef) -> None:
        if not isinstance(a, ActionDef):
            raise InvalidInput(f"actions= takes @update or @effect functions, not {quote(a)}")
        known = self.actions.setdefault(a.name, a)
        if known is not a and (known.fn, known.kind) != (a.fn, a.kind):
            raise InvalidInput(f"two different updates or effects are called {a.name!r}")

    def expr(self, value: GuardLike, where: str) -> GuardExpr | None:
        if value is None:
            return None
        if isinstance(value, Condition):
            for g in value.defined():
                self.add_guard(g)
            return value.expr()
        if isinstance(value, str):
            return Guard(value)
        if isinstance(value, Guard | AllOf | AnyOf | Not):
            return value
        if isinstance(value, Sequence) and value:
            items = tuple(self.expr(v, where) for v in value)
            if any(i is None for i in items):
                raise InvalidInput(f"{where}: a list of guards holds None")
            return items[0] if len(items) == 1 else AllOf(items)  # type: ignore[arg-type]
        raise InvalidInput(f"{where}: {quote(value)} is not a guard, a guard's name or a list")

    def split(self, value: object, where: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        items = (value,) if isinstance(value, ActionDef | str) else tuple(value)  # type: ignore[arg-type]
        updates: list[str] = []
        effects: list[str] = []
        for item in items:
            if isinstance(item, ActionDef):
                self.add_action(item)
                found: ActionDef | None = item
            else:
                found = self.actions.get(item) if isinstance(item, str) else None
            if found is None:
                raise InvalidInput(
                    f"{where}: {quote(item)} is not an @update or @effect function, nor the "
                    "name of one given in actions="
                )
            (updates if found.kind == "update" else effects).append(found.name)
        return tuple(updates), tuple(effects)


def _statuses(
    statuses: Sequence[str | StateSpec], terminal: Iterable[str]
) -> tuple[StateSpec, ...]:
    ends = set(terminal)
    out = []
    for s in statuses:
        if isinstance(s, StateSpec):
            out.append(attrs.evolve(s, terminal=True) if s.name in ends else s)
        elif isinstance(s, str):
            out.append(StateSpec(s, terminal=s in ends))
        else:
            raise InvalidInput(f"a status is a name or a StateSpec, not {quote(s)}")
    missing = ends - {s.name for s in out}
    if missing:
        raise InvalidInput(f"terminal= names statuses that are not listed: {sorted(missing)}")
    return tuple(out)


def _row(value: Row, parts: _Parts, states: tuple[StateSpec, ...]) -> TransitionSpec:
    if isinstance(value, TransitionSpec):
        return value
    if isinstance(value, tuple):
        if not 3 <= len(value) <= 5:
            raise InvalidInput(
                f"a row is (sources, event, target[, guard[, actions]]), not {quote(value)}"
            )
        value = RowDef(*value)
    if not isinstance(value, RowDef):
        raise InvalidInput(f"a row is a tuple, a row() or a TransitionSpec, not {quote(value)}")
    sources = (value.sources,) if isinstance(value.sources, str) else tuple(value.sources)
    if sources == ("*",):
        sources = tuple(s.name for s in states if not s.terminal)
    where = f"the row {value.event!r} from {', '.join(map(str, sources))}"
    updates, effects = parts.split(value.actions, where)
    return TransitionSpec(
        event=value.event,
        sources=sources,
        target=value.target,
        guard=parts.expr(value.guard, where),
        updates=updates,
        effects=effects,
        note=value.note,
        reenter=value.reenter,
    )


def define_spec(
    name: str,
    *,
    statuses: Sequence[str | StateSpec],
    events: Sequence[EventSpec | str],
    rows: Sequence[Row],
    initial: str | None = None,
    terminal: Iterable[str] = (),
    guards: Iterable[GuardDef] = (),
    actions: Iterable[ActionDef] = (),
    explanations: Iterable[tuple[str, str, str]] = (),
    description: str = "",
    strict: bool = False,
) -> tuple[MachineSpec, Implementations]:
    """The ``MachineSpec`` and ``Implementations`` a table defines (see ``define_machine``).

    Returns:
        The spec and its implementations, not yet validated: ``Machine(spec, impl)`` does it.

    Raises:
        InvalidInput: a part is malformed (a row of the wrong shape, an action that is not
            defined, two different guards of one name…); the message names it.
    """
    states = _statuses(statuses, terminal)
    if not states:
        raise InvalidInput(f"machine {name!r} needs at least one status")
    parts = _Parts(guards, actions)
    transitions = tuple(_row(r, parts, states) for r in rows)
    declared = tuple(e if isinstance(e, EventSpec) else event(e) for e in events)
    spec = MachineSpec(
        name=name,
        description=description,
        initial=initial or states[0].name,
        states=states,
        events=declared,
        transitions=transitions,
        guards=tuple(g.spec for g in parts.guards.values()),
        updates=tuple(
            ActionSpec(a.name, a.description) for a in parts.actions.values() if a.kind == "update"
        ),
        effects=tuple(
            ActionSpec(a.name, a.description) for a in parts.actions.values() if a.kind == "effect"
        ),
        explanations=tuple(explanations),
        strict=strict,
    )
    impl = Implementations(
        guards={g.name: g.fn for g in parts.guards.values()},
        updates={a.name: a.fn for a in parts.actions.values() if a.kind == "update"},
        effects={a.name: a.fn for a in parts.actions.values() if a.kind == "effect"},
    )
    return spec, impl


_CLOCK_WORDS = frozenset({"now", "since"})


def reads_time(spec: MachineSpec, impl: Implementations) -> bool:
    """True when the machine's rules need a clock: a timer sends one of its events, or a
    guard, update or effect reads ``now`` or ``since`` (what ``timed=None`` infers)."""
    if any(Actor.TIMER in e.actors for e in spec.events):
        return True
    functions: list[Callable[..., Any]] = [
        *impl.guards.values(),
        *impl.updates.values(),
        *impl.effects.values(),
        *impl.choosers.values(),
    ]
    return any(code_reads(fn, _CLOCK_WORDS) for fn in functions)


def define_machine(
    name: str,
    *,
    statuses: Sequence[str | StateSpec],
    events: Sequence[EventSpec | str],
    rows: Sequence[Row],
    initial: str | None = None,
    terminal: Iterable[str] = (),
    guards: Iterable[GuardDef] = (),
    actions: Iterable[ActionDef] = (),
    explanations: Iterable[tuple[str, str, str]] = (),
    description: str = "",
    record: type[Any] | None = None,
    policy: Policy = DEFAULT_POLICY,
    strict: bool = False,
    timed: bool | None = None,
) -> Machine:
    """A validated, compiled machine from its table.

    Args:
        name: the machine's name (invariants and check profiles are registered under it).
        statuses: its statuses, as names or ``StateSpec`` values; the first is the initial
            one unless ``initial`` names another.
        events: its events (``event(...)``; a bare name is a user action).
        rows: its transitions: ``(sources, event, target)``, optionally followed by a guard
            (see ``GuardLike``) and actions (updates and effect builders, in order);
            ``row(...)`` adds a note or ``reenter``.
        initial: the initial status (default: the first).
        terminal: the statuses no event may leave.
        guards: guards that rows name by string (a guard used as an object needs no listing).
        actions: updates and effects that rows name by string.
        explanations: ``(status, event, sentence)`` for pairs refused on purpose, with a
            sentence better than the standard one; ``"*"`` matches any status or event.
        description: one paragraph for people.
        record: the class of the agents' data (``None``: any).
        policy: the durations the rules read.
        strict: require every (status, user action) pair to be handled or explained.
        timed: whether the rules need a clock (default: inferred, see ``reads_time``).

    Returns:
        The ``Machine``.

    Raises:
        InvalidInput: a part is malformed.
        InvalidMachine: the machine breaks a structural rule, or names something undefined.
    """
    spec, impl = define_spec(
        name,
        statuses=statuses,
        events=events,
        rows=rows,
        initial=initial,
        terminal=terminal,
        guards=guards,
        actions=actions,
        explanations=explanations,
        description=description,
        strict=strict,
    )
    if timed is None:
        timed = reads_time(spec, impl)
    return Machine(spec, impl, record=record, policy=policy, timed=timed)


def load_machine(
    document: str | bytes | Mapping[str, Any],
    functions: Iterable[GuardDef | ActionDef] = (),
    *,
    record: type[Any] | None = None,
    policy: Policy = DEFAULT_POLICY,
    timed: bool | None = None,
) -> Machine:
    """A machine from a JSON or YAML document, its names resolved against ``functions``.

    The document is the one ``agentfsm.interop.to_json`` writes, with conveniences for hand
    writing: a guard, source list or action list may be a single name, a list of guards means
    all of them, ``actors`` defaults to ``[U]``, an empty label is the name in words, and a
    guard, update or effect found among ``functions`` needs no entry of its own (its code,
    sentence and description come from its decorator). Loading never evaluates code.

    Args:
        document: JSON or YAML text (YAML needs the ``yaml`` extra), or the parsed mapping.
        functions: the ``@guard``, ``@update`` and ``@effect`` functions the names resolve to.
        record: the class of the agents' data.
        policy: the durations the rules read.
        timed: whether the rules need a clock (default: inferred, see ``reads_time``).

    Returns:
        The ``Machine``.

    Raises:
        InvalidInput: the text is neither JSON nor YAML, or not a machine document.
        InvalidMachine: a name has no function, or the machine breaks a structural rule.
        MissingExtra: YAML text without the ``yaml`` extra, or JSON without pydantic.
    """
    from agentfsm._define_load import load

    spec, impl = load(document, functions)
    if timed is None:
        timed = reads_time(spec, impl)
    return Machine(spec, impl, record=record, policy=policy, timed=timed)
