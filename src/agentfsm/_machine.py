"""A machine spec joined with its implementations, validated and compiled into lookup tables.

One ``Machine`` serves every agent of its model: agents are snapshots, never machines. The
tables are keyed by event name, then by status, so the engine decides with two dict lookups.
Every refusal that does not depend on a guard is built here once, so refusing costs no
allocation on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs

from agentfsm._errors import InvalidMachine
from agentfsm._spec import (
    SAME,
    AllOf,
    AnyOf,
    EventSpec,
    FieldSpec,
    Guard,
    GuardExpr,
    GuardSpec,
    MachineSpec,
    Not,
    TransitionSpec,
)
from agentfsm._values import Actor, Context, Event, Refusal, Snapshot

GuardFn = Callable[[Snapshot, Event, Context], bool]
UpdateFn = Callable[[Any, Snapshot, Event, Context], Any]
EffectFn = Callable[[Snapshot, Snapshot, Event, Context], tuple[Any, ...]]
ChooserFn = Callable[[Snapshot, Event, Context], str]


@attrs.frozen
class Implementations:
    """The Python functions behind a spec's names. Loading a machine never evaluates code: every
    name in a spec must be found here, and an unknown name is an ``InvalidMachine`` error.

    Attributes:
        guards: ``name -> fn(snapshot, event, context) -> bool``.
        updates: ``name -> fn(data, snapshot, event, context) -> new data``.
        effects: ``name -> fn(before, after, event, context) -> tuple of effects``.
        choosers: ``name -> fn(snapshot, event, context) -> status``.
    """

    guards: Mapping[str, GuardFn] = attrs.field(factory=dict)
    updates: Mapping[str, UpdateFn] = attrs.field(factory=dict)
    effects: Mapping[str, EffectFn] = attrs.field(factory=dict)
    choosers: Mapping[str, ChooserFn] = attrs.field(factory=dict)

    def merged(self, other: Implementations) -> Implementations:
        """These implementations with ``other``'s added (``other`` wins on a clash)."""
        return Implementations(
            guards={**self.guards, **other.guards},
            updates={**self.updates, **other.updates},
            effects={**self.effects, **other.effects},
            choosers={**self.choosers, **other.choosers},
        )


# A compiled guard returns None when it passes, or the GuardSpec whose failure is the reason.
CompiledGuard = Callable[[Snapshot, Event, Context], "GuardSpec | None"]


class CompiledTransition:
    """A transition row for one source status, with its functions resolved."""

    __slots__ = ("chooser", "effects", "guard", "spec", "target", "updates")

    def __init__(
        self,
        spec: TransitionSpec,
        target: str,
        chooser: ChooserFn | None,
        guard: CompiledGuard | None,
        updates: tuple[UpdateFn, ...],
        effects: tuple[EffectFn, ...],
    ) -> None:
        self.spec = spec
        self.target = target
        self.chooser = chooser
        self.guard = guard
        self.updates = updates
        self.effects = effects


class CompiledEvent:
    """An event with its per-status transitions and its precomputed refusals."""

    __slots__ = ("actor_refusals", "actors", "by_status", "fields", "spec", "status_refusals")

    def __init__(
        self,
        spec: EventSpec,
        by_status: dict[str, tuple[CompiledTransition, ...]],
        status_refusals: dict[str, Refusal],
        actor_refusals: dict[Actor, dict[str, Refusal]],
    ) -> None:
        self.spec = spec
        self.actors = spec.actors
        self.fields = spec.fields
        self.by_status = by_status
        self.status_refusals = status_refusals
        self.actor_refusals = actor_refusals


def _compile_guard(
    expr: GuardExpr, specs: Mapping[str, GuardSpec], fns: Mapping[str, GuardFn]
) -> CompiledGuard:
    if isinstance(expr, Guard):
        fn, spec = fns[expr.name], specs[expr.name]

        def leaf(s: Snapshot, e: Event, c: Context) -> GuardSpec | None:
            return None if fn(s, e, c) else spec

        return leaf
    if isinstance(expr, Not):
        inner = _compile_guard(expr.item, specs, fns)
        names = list(_leaf_names(expr.item))
        negated = GuardSpec(
            name=f"not {names[0]}" if len(names) == 1 else "not (...)",
            code="guard_failed",
            message="{label} is not allowed because "
            + " and ".join(specs[n].description or n for n in names)
            + ".",
        )

        def neg(s: Snapshot, e: Event, c: Context) -> GuardSpec | None:
            return negated if inner(s, e, c) is None else None

        return neg
    parts = tuple(_compile_guard(item, specs, fns) for item in expr.items)
    if isinstance(expr, AllOf):

        def all_of(s: Snapshot, e: Event, c: Context) -> GuardSpec | None:
            for part in parts:
                failed = part(s, e, c)
                if failed is not None:
                    return failed
            return None

        return all_of
    assert isinstance(expr, AnyOf)

    def any_of(s: Snapshot, e: Event, c: Context) -> GuardSpec | None:
        first: GuardSpec | None = None
        for part in parts:
            failed = part(s, e, c)
            if failed is None:
                return None
            first = first or failed
        return first

    return any_of


def _leaf_names(expr: GuardExpr) -> list[str]:
    from agentfsm._spec import guard_names

    return list(guard_names(expr))


class Machine:
    """A validated, compiled machine: the engine's input. Build it once and share it.

    Args:
        spec: the machine as data.
        implementations: the functions behind the spec's guard, update, effect and chooser names.
        validate: run the structural checks of ``agentfsm.analysis.validate`` (default) and
            raise ``InvalidMachine`` listing every problem found.

    Raises:
        InvalidMachine: a name is unknown, or (with ``validate``) a structural rule is broken.
    """

    __slots__ = ("__weakref__", "_explanations", "events", "implementations", "spec", "states")

    def __init__(
        self, spec: MachineSpec, implementations: Implementations, *, validate: bool = True
    ) -> None:
        self.spec = spec
        self.implementations = implementations
        problems = _resolve_names(spec, implementations)
        if problems:
            raise InvalidMachine(spec.name, problems)
        if validate:
            from agentfsm._validate import structural_problems

            problems = structural_problems(spec)
            if problems:
                raise InvalidMachine(spec.name, problems)
        self.states: frozenset[str] = frozenset(spec.state_names)
        self._explanations = _explanation_lookup(spec)
        self.events: dict[str, CompiledEvent] = _compile_events(spec, implementations, self)

    @property
    def name(self) -> str:
        """The machine's name."""
        return self.spec.name

    def __repr__(self) -> str:
        return (
            f"<Machine {self.spec.name!r}: {len(self.states)} statuses, {len(self.events)} events>"
        )

    def explain(self, status: str, event: str) -> str | None:
        """The spec's sentence for why ``event`` is not available in ``status``, if it has one."""
        for key in ((status, event), (status, "*"), ("*", event)):
            if key in self._explanations:
                return self._explanations[key]
        return None

    def initial(self, data: Any, now: datetime | Context) -> Snapshot:
        """A new agent's snapshot: the initial status, version 0, ``since`` = now.

        Args:
            data: the model's record for this agent (for example ``AlfeAgent(...)``).
            now: an aware datetime, or a ``Context``.
        """
        when = now.now if isinstance(now, Context) else Context(now=now).now
        return Snapshot(self.spec.initial, 0, when, data)


def _resolve_names(spec: MachineSpec, impl: Implementations) -> list[str]:
    problems: list[str] = []
    guard_specs = {g.name for g in spec.guards}
    for kind, declared, available in (
        ("guard", guard_specs, impl.guards),
        ("update", {u.name for u in spec.updates}, impl.updates),
        ("effect", {e.name for e in spec.effects}, impl.effects),
        ("chooser", {c.name for c in spec.choosers}, impl.choosers),
    ):
        for name in sorted(declared):
            if name not in available:
                problems.append(
                    f"{kind} {name!r} is declared but has no implementation: "
                    f"register a function for it in Implementations.{kind}s"
                )
    from agentfsm._spec import guard_names

    for row in spec.transitions:
        where = f"transition {row.event!r} from {', '.join(row.sources)}"
        for g in guard_names(row.guard):
            if g not in guard_specs:
                problems.append(f"{where} uses the undeclared guard {g!r}: add a GuardSpec")
        for u in row.updates:
            if u not in {x.name for x in spec.updates}:
                problems.append(f"{where} uses the undeclared update {u!r}: add an ActionSpec")
        for e in row.effects:
            if e not in {x.name for x in spec.effects}:
                problems.append(f"{where} uses the undeclared effect {e!r}: add an ActionSpec")
        if row.chooser is not None and row.chooser not in {c.name for c in spec.choosers}:
            problems.append(f"{where} uses the undeclared chooser {row.chooser!r}")
    return problems


def _explanation_lookup(spec: MachineSpec) -> dict[tuple[str, str], str]:
    return {(status, event): text for status, event, text in spec.explanations}


def _fmt(template: str, status: str, event: EventSpec) -> str:
    return template.format(status=status, event=event.name, label=event.label or event.name)


def _compile_events(
    spec: MachineSpec, impl: Implementations, machine: Machine
) -> dict[str, CompiledEvent]:
    guard_specs = {g.name: g for g in spec.guards}
    compiled: dict[str, CompiledEvent] = {}
    for ev in spec.events:
        rows: dict[str, list[CompiledTransition]] = {}
        for row in spec.transitions:
            if row.event != ev.name:
                continue
            guard = (
                None if row.guard is None else _compile_guard(row.guard, guard_specs, impl.guards)
            )
            for source in row.sources:
                rows.setdefault(source, []).append(
                    CompiledTransition(
                        spec=row,
                        target=source if row.target == SAME else row.target,
                        chooser=impl.choosers[row.chooser] if row.chooser else None,
                        guard=guard,
                        updates=tuple(impl.updates[u] for u in row.updates),
                        effects=tuple(impl.effects[e] for e in row.effects),
                    )
                )
        label = ev.label or ev.name
        status_refusals: dict[str, Refusal] = {}
        for state in spec.states:
            if state.name in rows:
                continue
            reason = machine.explain(state.name, ev.name) or (
                f"{label} is not available while the agent is {state.name}."
            )
            status_refusals[state.name] = Refusal(
                code="not_allowed_from_status", message=reason, event=ev.name, status=state.name
            )
        actor_refusals: dict[Actor, dict[str, Refusal]] = {}
        allowed = ", ".join(sorted(a.label for a in ev.actors))
        for actor in Actor:
            if actor in ev.actors:
                continue
            actor_refusals[actor] = {
                state.name: Refusal(
                    code="actor_not_allowed",
                    message=(f"{label} can only be sent by the {allowed}, not by a {actor.label}."),
                    event=ev.name,
                    status=state.name,
                )
                for state in spec.states
            }
        compiled[ev.name] = CompiledEvent(
            spec=ev,
            by_status={k: tuple(v) for k, v in rows.items()},
            status_refusals=status_refusals,
            actor_refusals=actor_refusals,
        )
    return compiled


def field_problem(field: FieldSpec, value: object) -> str | None:
    """Why ``value`` does not fit ``field``, or ``None`` when it does."""
    kind = field.kind
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        want = "a whole number"
    elif kind == "str":
        ok = isinstance(value, str)
        want = "a string"
    elif kind == "bool":
        ok = isinstance(value, bool)
        want = "true or false"
    elif kind == "datetime":
        ok = isinstance(value, datetime) and value.utcoffset() is not None
        want = "a timezone-aware datetime"
    else:
        ok = isinstance(value, Mapping)
        want = "a mapping"
    if ok:
        return None
    return f"{field.name} must be {want}, not {value!r}"
