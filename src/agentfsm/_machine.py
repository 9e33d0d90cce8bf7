"""A machine spec joined with its implementations, validated and compiled into lookup tables.

One ``Machine`` serves every agent of its model: agents are snapshots, never machines. The
tables are keyed by event name, then by status, so the engine decides with two dict lookups.
Every refusal that does not depend on a guard is built here once, so refusing costs no
allocation on the hot path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Generic, overload

import attrs

from agentfsm._errors import InvalidInput, InvalidMachine
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
    guard_names,
)
from agentfsm._values import (
    DEFAULT_POLICY,
    AnyRole,
    Context,
    Event,
    Policy,
    RecordT,
    Refusal,
    Snapshot,
)
from agentfsm._words import duration_words, quote

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
    """A transition row for one source status, with its functions resolved.

    ``guard``, ``updates`` and ``effects`` are the row as written (other modules read them).
    ``checks``, ``update``, ``effect`` and ``refusals`` are the same row prepared for
    ``decide``'s hot path, so that accepting an event costs as few Python calls as possible:

    - ``checks``: ``(fn, spec)`` pairs that must all pass, in order. A plain guard (or an
      ``AllOf`` of plain guards) is its functions themselves, called directly; ``spec`` is what
      failed. Any other expression is one compiled guard with ``spec`` ``None``: it returns
      the ``GuardSpec`` that failed, or ``None``.
    - ``update`` / ``effect``: the updates and effect builders folded into one callable each
      (or ``None``), so a row with one builder costs one call.
    - ``moves``: the row leaves its source status (``since`` restarts); ``None`` with a chooser.
    - ``refusals``: the refusal for each guard that can fail here, built once, keyed by the
      ``id`` of its ``GuardSpec`` (guard specs are shared and live as long as the machine).
    """

    __slots__ = (
        "checks",
        "chooser",
        "effect",
        "effects",
        "guard",
        "moves",
        "refusals",
        "spec",
        "target",
        "update",
        "updates",
    )

    def __init__(
        self,
        spec: TransitionSpec,
        target: str,
        chooser: ChooserFn | None,
        guard: CompiledGuard | None,
        updates: tuple[UpdateFn, ...],
        effects: tuple[EffectFn, ...],
        checks: tuple[tuple[Callable[..., Any], GuardSpec | None], ...] = (),
        refusals: dict[int, Refusal] | None = None,
        source: str | None = None,
    ) -> None:
        self.spec = spec
        self.target = target
        self.chooser = chooser
        self.guard = guard
        self.updates = updates
        self.effects = effects
        self.checks = checks
        self.refusals = refusals or {}
        self.update = _fold_updates(updates)
        self.effect = _fold_effects(effects)
        self.moves = (
            None if chooser is not None or source is None else target != source or spec.reenter
        )


def _fold_updates(updates: tuple[UpdateFn, ...]) -> UpdateFn | None:
    if not updates:
        return None
    if len(updates) == 1:
        return updates[0]

    def chained(data: Any, s: Snapshot, e: Event, c: Context) -> Any:
        for update in updates:
            data = update(data, s, e, c)
        return data

    return chained


def _fold_effects(builders: tuple[EffectFn, ...]) -> EffectFn | None:
    if not builders:
        return None
    if len(builders) == 1:
        return builders[0]
    if len(builders) == 2:
        first, second = builders

        # tuple() of a tuple is the tuple itself; it turns a builder's list into one, as decide
        # does for a lone builder, instead of failing on tuple + list.
        def both(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[Any, ...]:
            return tuple(first(b, a, e, c)) + tuple(second(b, a, e, c))

        return both

    def every(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[Any, ...]:
        out: tuple[Any, ...] = ()
        for build in builders:
            out += tuple(build(b, a, e, c))
        return out

    return every


_Check = tuple[Callable[..., Any], "GuardSpec | None"]


def _plain_checks(
    expr: GuardExpr, specs: Mapping[str, GuardSpec], fns: Mapping[str, GuardFn]
) -> tuple[_Check, ...] | None:
    """A guard or an AllOf of guards as (fn, spec) pairs; ``None`` for other expressions."""
    if isinstance(expr, Guard):
        return ((fns[expr.name], specs[expr.name]),)
    if isinstance(expr, AllOf):
        out: list[_Check] = []
        for item in expr.items:
            inner = _plain_checks(item, specs, fns)
            if inner is None:
                return None
            out += inner
        return tuple(out)
    return None


class CompiledEvent:
    """An event with its per-status transitions and its precomputed refusals.

    ``senders`` holds the same actors as ``actors`` as a tuple: ``Actor`` hashes in Python,
    and a tuple finds the sender by identity without hashing it. ``payload_ok`` is a quick
    check of a payload against the declared fields (``None`` when there are none): true means
    it is certainly fine; false sends ``decide`` to the full check, which words the refusal.
    """

    __slots__ = (
        "actor_refusals",
        "actors",
        "by_status",
        "fields",
        "payload_ok",
        "senders",
        "spec",
        "status_refusals",
    )

    def __init__(
        self,
        spec: EventSpec,
        by_status: dict[str, tuple[CompiledTransition, ...]],
        status_refusals: dict[str, Refusal],
        actor_refusals: dict[AnyRole, dict[str, Refusal]],
    ) -> None:
        self.spec = spec
        self.actors = spec.actors
        self.senders = tuple(spec.actors)
        self.fields = spec.fields
        self.payload_ok = _payload_checker(spec.fields)
        self.by_status = by_status
        self.status_refusals = status_refusals
        self.actor_refusals = actor_refusals


_MISSING = object()
_EXACT_TYPES: dict[str, type] = {"str": str, "int": int, "bool": bool}


def _payload_checker(fields: tuple[FieldSpec, ...]) -> Callable[[Mapping[str, Any]], bool] | None:
    if not fields:
        return None
    # (name, required, exact type or None, spec): an exact type match (int excludes bool) is
    # surely fine; anything else is judged by field_problem.
    plan = tuple((f.name, f.required, _EXACT_TYPES.get(f.kind), f) for f in fields)

    def ok(payload: Mapping[str, Any]) -> bool:
        present = 0
        for name, required, exact, f in plan:
            value = payload.get(name, _MISSING)
            if value is _MISSING:
                if required:
                    return False
                continue
            if value.__class__ is not exact and field_problem(f, value) is not None:
                return False
            present += 1
        return present == len(payload)  # otherwise an unexpected field

    return ok


POLICY_FIELDS = tuple(f.name for f in attrs.fields(Policy))
"""The names a refusal sentence may use as placeholders for the policy's durations."""


def sentence(template: str, status: str, event: str, label: str, policy: Policy) -> str:
    """A spec sentence with its placeholders filled in.

    ``{status}``, ``{event}`` and ``{label}`` are the refused action's; every ``Policy`` field
    (``{stuck_after}``, ``{grace_period}``…) is that duration in words, from the policy in
    force, so a sentence never quotes a duration other than the one the guard applied.
    """
    words = {name: duration_words(getattr(policy, name)) for name in POLICY_FIELDS}
    return template.format(status=status, event=event, label=label, **words)


def _compile_guard(
    expr: GuardExpr,
    specs: Mapping[str, GuardSpec],
    fns: Mapping[str, GuardFn],
    made: list[GuardSpec] | None = None,
) -> CompiledGuard:
    """Compile ``expr``; every ``GuardSpec`` it creates for a negation is appended to ``made``."""
    if isinstance(expr, Guard):
        fn, spec = fns[expr.name], specs[expr.name]

        def leaf(s: Snapshot, e: Event, c: Context) -> GuardSpec | None:
            return None if fn(s, e, c) else spec

        return leaf
    if isinstance(expr, Not):
        inner = _compile_guard(expr.item, specs, fns, made)
        names = list(_leaf_names(expr.item))
        negated = GuardSpec(
            name=f"not {names[0]}" if len(names) == 1 else "not (...)",
            code="guard_failed",
            message="{label} is not allowed because "
            + " and ".join(specs[n].description or n for n in names)
            + ".",
        )
        if made is not None:
            made.append(negated)

        def neg(s: Snapshot, e: Event, c: Context) -> GuardSpec | None:
            return negated if inner(s, e, c) is None else None

        return neg
    parts = tuple(_compile_guard(item, specs, fns, made) for item in expr.items)
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
    return list(guard_names(expr))


class Machine(Generic[RecordT]):
    """A validated, compiled machine: the engine's input. Build it once and share it.

    Generic in its agents' record: built with ``record=AlfeAgent`` it is a
    ``Machine[AlfeAgent]`` (``agentfsm.models.ALFE`` is one, ``RECIF`` a
    ``Machine[RecifAgent]``), and ``initial``, ``decide`` and ``offered`` carry that type to
    the snapshots and steps they give. Without ``record`` it is a ``Machine[Any]``.

    Args:
        spec: the machine as data.
        implementations: the functions behind the spec's guard, update, effect and chooser names.
        validate: run the structural checks of ``agentfsm.analysis.validate`` (default) and
            raise ``InvalidMachine`` listing every problem found.
        record: the class of the agents' data (``AlfeAgent``, ``RecifAgent``); a snapshot
            holding anything else is refused with ``invalid_snapshot``, and ``initial`` raises
            for it. ``None`` accepts any data.
        policy: the durations the rules use. Everything that decides for this machine reads
            this one policy (``decide``, ``offered``, the ``Controller``), so they agree; a
            ``Context`` may still override it for one call.
        strict: require every user action to be handled or explained in every status
            (``None``, the default: the spec's own ``strict``). Every other structural check
            runs either way.
        timed: whether the machine's rules read the time (the default). A machine built with
            ``timed=False`` needs no clock: ``decide`` and ``offered`` may be called without a
            ``Context``, ``initial`` without ``now``, and its snapshots may have ``since=None``
            (no time was recorded). With a ``Context``, the time is recorded as usual.

    Raises:
        InvalidMachine: a name is unknown, or (with ``validate``) a structural rule is broken.
        InvalidInput: ``record`` is not a class, or ``policy`` not a ``Policy``.

    Attributes:
        spec: the machine as data, as given.
        implementations: the functions behind its names, as given.
        record: the agents' record class, or ``None``.
        policy: the durations its rules use.
        states: every status name.
        events: the compiled events by name: the tables ``decide`` reads (internal).
    """

    __slots__ = (
        "__weakref__",
        "_explanations",
        "_last",
        "_root",
        "_variants",
        "events",
        "fast",
        "filled_context",
        "implementations",
        "no_clock",
        "offer_plans",
        "policy",
        "record",
        "roles",
        "spec",
        "states",
        "strict",
        "timed",
        "unset_since",
    )

    @overload
    def __init__(
        self: Machine[Any],
        spec: MachineSpec,
        implementations: Implementations,
        *,
        validate: bool = True,
        record: None = None,
        policy: Policy = DEFAULT_POLICY,
        strict: bool | None = None,
        timed: bool = True,
    ) -> None: ...

    @overload
    def __init__(
        self,
        spec: MachineSpec,
        implementations: Implementations,
        *,
        validate: bool = True,
        record: type[RecordT] | None,
        policy: Policy = DEFAULT_POLICY,
        strict: bool | None = None,
        timed: bool = True,
    ) -> None: ...

    def __init__(
        self,
        spec: MachineSpec,
        implementations: Implementations,
        *,
        validate: bool = True,
        record: type[RecordT] | None = None,
        policy: Policy = DEFAULT_POLICY,
        strict: bool | None = None,
        timed: bool = True,
    ) -> None:
        if record is not None and not isinstance(record, type):
            raise InvalidInput(f"record must be a class, not {quote(record)}")
        if not isinstance(policy, Policy):
            raise InvalidInput(f"policy must be a Policy, not {quote(policy)}")
        self.spec = spec
        self.implementations = implementations
        self.record = record
        self.policy = policy
        self.strict: bool = spec.strict if strict is None else bool(strict)
        self.timed = bool(timed)
        self.roles: tuple[AnyRole, ...] = spec.roles
        # What ``decide`` uses without a Context (None when the rules need the time), and the
        # ``since`` a snapshot may carry without one (a value no snapshot holds when timed).
        self.no_clock: Context | None = None if self.timed else _clockless(policy)
        self.unset_since: object = _NEVER if self.timed else None
        # The same machine under other policies (see with_policy), shared by all of them.
        self._variants: dict[Policy, Machine[RecordT]] = {policy: self}
        self._root = self  # the machine as built; with_policy's variants point back to it
        # The variant asked for last, found by identity: hashing a Policy costs a microsecond,
        # and a caller overriding the policy usually passes the same object every time.
        self._last: tuple[Policy, Machine[RecordT]] = (policy, self)
        problems = _resolve_names(spec, implementations)
        if problems:
            raise InvalidMachine(spec.name, problems)
        if validate:
            from agentfsm._validate import structural_problems

            problems = structural_problems(spec, strict=self.strict)
            if problems:
                raise InvalidMachine(spec.name, problems)
        self.states: frozenset[str] = frozenset(spec.state_names)
        self._explanations = _explanation_lookup(spec)
        self.events: dict[str, CompiledEvent] = _compile_events(spec, implementations, self)
        # Straight-line deciders by event, then status, generated on first use (_fastpath).
        self.fast: dict[str, dict[str, Any]] = {name: {} for name in self.events}
        # Prepared by ``offered`` on first use (see _engine); None until then.
        self.offer_plans: Any = None
        # The last context without a policy that ``decide`` filled in with this one (_engine).
        self.filled_context: tuple[Context | None, Context | None] = (None, None)

    @property
    def name(self) -> str:
        """The machine's name."""
        return self.spec.name

    @property
    def version(self) -> int:
        """The machine's version (``MachineSpec.version``)."""
        return self.spec.version

    def __repr__(self) -> str:
        return (
            f"<Machine {self.spec.name!r}: {len(self.states)} statuses, {len(self.events)} events>"
        )

    def with_policy(self, policy: Policy) -> Machine[RecordT]:
        """This machine with another policy: the same spec, implementations and record.

        Refusal sentences quote the policy's durations, so the variant is compiled once per
        policy and kept; asking again for an equal policy returns the same machine.

        Raises:
            InvalidInput: ``policy`` is not a ``Policy``.
        """
        last = self._last
        if last[0] is policy:
            return last[1]
        variant: Machine[RecordT] | None = (
            self._variants.get(policy) if isinstance(policy, Policy) else None
        )
        if variant is not None:
            self._last = (policy, variant)
            return variant
        if not isinstance(policy, Policy):
            raise InvalidInput(f"policy must be a Policy, not {quote(policy)}")
        variants = self._variants
        root = self._root
        if len(variants) >= 64:  # a caller cycling through policies must not grow this forever
            for key in [k for k in variants if k != root.policy][:32]:
                del variants[key]
        made: Machine[RecordT] = Machine(
            self.spec,
            self.implementations,
            validate=False,
            record=self.record,
            policy=policy,
            strict=self.strict,
            timed=self.timed,
        )
        made._variants = variants
        made._root = root
        variants[policy] = made
        self._last = (policy, made)
        return made

    def record_problem(self, data: object) -> str | None:
        """Why ``data`` cannot be an agent's record in this machine, or ``None`` when it can."""
        record = self.record
        if record is None or isinstance(data, record):
            return None
        return (
            f"the {self.name} model's agents hold {record.__name__} records, "
            f"not {type(data).__name__[:40]}"
        )

    def explain(self, status: str, event: str) -> str | None:
        """The spec's sentence for why ``event`` is not available in ``status``, if it has one."""
        for key in ((status, event), (status, "*"), ("*", event)):
            if key in self._explanations:
                return self._explanations[key]
        return None

    def initial(
        self, data: RecordT | None = None, now: datetime | Context | None = None
    ) -> Snapshot[RecordT]:
        """A new agent's snapshot: the initial status, version 0, ``since`` = now.

        Args:
            data: the model's record for this agent (for example ``AlfeAgent(...)``).
            now: an aware datetime, or a ``Context``. A machine built with ``timed=False``
                may be given none: its snapshot's ``since`` is then ``None``.

        Raises:
            InvalidInput: ``data`` is not the machine's record type, or ``now`` is not an
                aware datetime (or is missing, for a timed machine).
        """
        problem = self.record_problem(data)
        if problem is not None:
            raise InvalidInput(f"a new agent's data is refused: {problem}")
        if now is None and not self.timed:
            return Snapshot(self.spec.initial, 0, None, data)  # type: ignore[arg-type]
        when = now.now if isinstance(now, Context) else Context(now=now).now  # type: ignore[arg-type]
        # record_problem has checked the data against the record type (None only where the
        # machine declares no record).
        return Snapshot(self.spec.initial, 0, when, data)  # type: ignore[arg-type]


_NEVER = object()


def _clockless(policy: Policy) -> Context:
    # A context with no time, for machines whose rules never read it; built past the validator
    # that requires an aware ``now``, so it exists only here.
    context = object.__new__(Context)
    Context.__dict__["now"].__set__(context, None)
    Context.__dict__["policy"].__set__(context, policy)
    return context


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


def _names_action(sentence: str, event: EventSpec) -> bool:
    """True when ``sentence`` names the action, by its label or its event name, as a word."""
    names = {event.name, event.label or event.name}
    return any(re.search(rf"\b{re.escape(n)}\b", sentence, re.IGNORECASE) for n in names)


def _fmt(template: str, status: str, event: EventSpec, policy: Policy) -> str:
    return sentence(template, status, event.name, event.label or event.name, policy)


def _compile_events(
    spec: MachineSpec, impl: Implementations, machine: Machine
) -> dict[str, CompiledEvent]:
    guard_specs = {g.name: g for g in spec.guards}
    compiled: dict[str, CompiledEvent] = {}
    for ev in spec.events:
        label = ev.label or ev.name
        rows: dict[str, list[CompiledTransition]] = {}
        for row in spec.transitions:
            if row.event != ev.name:
                continue
            made: list[GuardSpec] = []
            guard = (
                None
                if row.guard is None
                else _compile_guard(row.guard, guard_specs, impl.guards, made)
            )
            checks: tuple[_Check, ...] = ()
            if row.guard is not None and guard is not None:
                checks = _plain_checks(row.guard, guard_specs, impl.guards) or ((guard, None),)
            can_fail = [guard_specs[n] for n in guard_names(row.guard)] + made
            for source in row.sources:
                rows.setdefault(source, []).append(
                    CompiledTransition(
                        spec=row,
                        target=source if row.target == SAME else row.target,
                        chooser=impl.choosers[row.chooser] if row.chooser else None,
                        guard=guard,
                        updates=tuple(impl.updates[u] for u in row.updates),
                        effects=tuple(impl.effects[e] for e in row.effects),
                        checks=checks,
                        refusals={
                            id(g): guard_refusal(g, source, ev.name, label, machine.policy)
                            for g in can_fail
                        },
                        source=source,
                    )
                )
        status_refusals: dict[str, Refusal] = {}
        for state in spec.states:
            if state.name in rows:
                continue
            explained = machine.explain(state.name, ev.name)
            if explained is None:
                reason = f"{label} is not available while the agent is {state.name}."
            else:
                # Explanations may be shared by many actions (wildcards): name the action.
                reason = _fmt(explained, state.name, ev, machine.policy)
                if not _names_action(reason, ev):
                    reason = f"{label} is not available: {reason}"
            status_refusals[state.name] = Refusal(
                code="not_allowed_from_status", message=reason, event=ev.name, status=state.name
            )
        actor_refusals: dict[AnyRole, dict[str, Refusal]] = {}
        for actor in machine.roles:
            if actor in ev.actors:
                continue
            actor_refusals[actor] = {
                state.name: actor_refusal(ev, label, actor, state.name) for state in spec.states
            }
        compiled[ev.name] = CompiledEvent(
            spec=ev,
            by_status={k: tuple(v) for k, v in rows.items()},
            status_refusals=status_refusals,
            actor_refusals=actor_refusals,
        )
    return compiled


def actor_refusal(event: EventSpec, label: str, actor: AnyRole, status: str) -> Refusal:
    """The refusal of ``event`` sent by ``actor``, a role that may not send it."""
    allowed = ", ".join(sorted(a.label for a in event.actors))
    return Refusal(
        code="actor_not_allowed",
        message=f"{label} can only be sent by the {allowed}, not by {_a(actor.label)}.",
        event=event.name,
        status=status,
    )


def _a(noun: str) -> str:
    # "an owner", "an operator", but "a user" (the shipped sentences say so).
    return f"{'an' if noun[:1].lower() in 'aeio' else 'a'} {noun}"


def guard_refusal(guard: GuardSpec, status: str, event: str, label: str, policy: Policy) -> Refusal:
    """The refusal a failing ``guard`` gives for ``event`` in ``status`` under ``policy``."""
    return Refusal(
        code=guard.code,
        message=sentence(guard.message, status, event, label, policy),
        event=event,
        status=status,
        guard=guard.name,
    )


def payload_problems(fields: tuple[FieldSpec, ...], payload: Mapping[str, object]) -> list[str]:
    """Every way ``payload`` does not fit the declared ``fields`` (empty when it fits)."""
    known = {f.name for f in fields}
    problems = [f"unexpected field {quote(k)}" for k in payload if k not in known]
    for f in fields:
        if f.name not in payload:
            if f.required:
                problems.append(f"{f.name} is required")
            continue
        problem = field_problem(f, payload[f.name])
        if problem:
            problems.append(problem)
    return problems


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
    return f"{field.name} must be {want}, not {quote(value)}"
