"""The engine: one pure function that decides an event, and the questions built on it.

``decide`` has no I/O and no clock (the time is in the ``Context``). It returns a ``Step`` (the
new snapshot and the effects to perform) or a ``Refusal`` (a code and a sentence); it never
raises for a bad event or a bad snapshot. The checks run in a fixed order so that the reason
given is the most useful one: unknown event, a snapshot that is not the machine's, unknown
status, actor, payload, status, then guards.

The policy in force is the machine's (``Machine.policy``) unless the ``Context`` names another;
when it does, the decision is made by ``machine.with_policy(...)``, so every sentence quotes the
durations that were applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Union

from agentfsm._errors import InvalidInput, TransitionRefused
from agentfsm._fastpath import fast_decider
from agentfsm._machine import (
    CompiledEvent,
    CompiledTransition,
    GuardFn,
    Machine,
    actor_refusal,
    guard_refusal,
    payload_problems,
    sentence,
)
from agentfsm._spec import EventSpec, GuardSpec, guard_names
from agentfsm._values import (
    _EMPTY,
    Actor,
    AnyRole,
    Context,
    Event,
    Offer,
    Policy,
    RecordT,
    Refusal,
    Role,
    Snapshot,
    Step,
)
from agentfsm._words import quote

# Module globals are found faster than builtins on the hot path.
_datetime = datetime
_str = str

# tuple.__new__(cls, items) builds a NamedTuple without its Python-level __new__: the fast path.
_tuple_new = tuple.__new__

# A context with the machine's policy filled in, built without re-running the validators: the
# time was checked when the caller's context was made, and the policy when the machine was.
_set_now = Context.__dict__["now"].__set__
_set_policy = Context.__dict__["policy"].__set__


def _in_force(context: Context, policy: Policy) -> Context:
    filled = object.__new__(Context)
    _set_now(filled, context.now)
    _set_policy(filled, policy)
    return filled


def _filled(machine: Machine, context: Context) -> Context:
    # A batch decides many events with one context: fill it in once per machine, not per event.
    given, filled = machine.filled_context  # one tuple: threads see a consistent pair
    if given is context and filled is not None:
        return filled
    filled = _in_force(context, machine.policy)
    machine.filled_context = (context, filled)
    return filled


def decide(
    machine: Machine[RecordT],
    snapshot: Snapshot[RecordT],
    event: Event | str,
    context: Context | None = None,
    # Not keyword-only, though they are meant to be passed by keyword: CPython specialises a
    # call to a function with positional defaults, not one with keyword-only arguments, and
    # this call is the hot path (measured: about 50 ns per decision).
    payload: Mapping[str, Any] | None = None,
    actor: AnyRole | str | None = None,
) -> Step[RecordT] | Refusal:
    """Decide what ``event`` does to the agent in ``snapshot``.

    Args:
        machine: the compiled machine of the agent's model.
        snapshot: the agent as it is now.
        event: what happened, or what someone asks: an ``Event``, or an event's name, with
            ``payload`` and ``actor`` beside it (``decide(m, s, "start", ctx, actor=OWNER)``
            is ``decide(m, s, Event.named("start", OWNER), ctx)``).
        context: the time, and optionally a policy overriding the machine's. It may be
            omitted for a machine built with ``timed=False``.
        payload: with an event name only: the event's parameters (default: none).
        actor: with an event name only: who sends it (default: ``Actor.USER``).

    Returns:
        A ``Step`` with the new snapshot (version + 1) and the effects to perform, or a
        ``Refusal`` with a stable code and a sentence. A refusal changes nothing. Besides the
        model's own codes: ``unknown_event``, ``unknown_status``, ``actor_not_allowed``,
        ``invalid_payload``, ``not_allowed_from_status``, ``invalid_snapshot`` (the snapshot's
        data is not the machine's record type, or its version or ``since`` is malformed) and
        ``time_out_of_range`` (a time the decision computes, such as now plus a timeout,
        falls outside the years 1 to 9999).

    Raises:
        InvalidInput: an argument is not a ``Machine``, ``Snapshot``, ``Event`` (or event
            name) or ``Context``, ``payload``/``actor`` come with an ``Event``, or the context
            is missing for a timed machine: a programming error, not a bad event.
    """
    # This is the hot path. The usual case is answered by the (event, status) pair's
    # straight-line decider (see _fastpath), which allocates nothing but the new snapshot and
    # the step, besides what updates and effect builders make; anything else by the generic
    # path below it, which gives the same answers and words every unusual one.
    ev: Event = event  # type: ignore[assignment]
    if event.__class__ is _str:
        ev = Event.named(event, Actor.USER if actor is None else actor, payload)
    elif payload is not None or actor is not None:
        raise InvalidInput("decide takes payload and actor only with an event name")
    # No context: the machine's clockless one; None for a timed machine (see _malformed).
    ctx: Context = context or machine.no_clock  # type: ignore[assignment]
    try:
        # Only an exact Snapshot with a plain str status takes the straight-line decider (it
        # reads the fields by position); a subclass or a look-alike gets the generic path.
        if snapshot.__class__ is Snapshot:
            status = snapshot[0]
            if status.__class__ is _str:
                if ctx.policy is machine.policy:
                    try:
                        fast = machine.fast[ev.name][status]
                    except KeyError:  # not made yet, or an unknown event or status
                        fast = _fast_decider(machine, ev.name, status)
                    if fast is not None:
                        result = fast(snapshot, ev, ctx)
                        if result is not None:
                            return result  # type: ignore[no-any-return]
                else:
                    result = _decide_fast_in_force(machine, snapshot, ev, ctx, status)
                    if result is not None:
                        return result
        return _decide_generic(machine, snapshot, ev, ctx)
    except (TypeError, AttributeError) as exc:
        # Exceptions cost nothing until raised: malformed input is diagnosed only here.
        return _malformed(machine, snapshot, ev, ctx, exc)
    except OverflowError:
        # Only time arithmetic overflows here (now + a timeout near datetime.max, or a policy
        # duration too long to add): the decision has no representable outcome.
        return _out_of_range(machine, snapshot, ev, ctx)
    except ValueError as exc:
        return _bad_offset(machine, snapshot, ev, exc)


def _fast_decider(machine: Machine, name: str, status: str) -> Any:
    """The straight-line decider of (``name``, ``status``), made and kept on first use;
    ``None`` for an event or a status the machine does not have (the generic path says so)."""
    deciders = machine.fast.get(name)
    if deciders is None or status not in machine.states:
        return None
    made = deciders[status] = fast_decider(machine, machine.events[name], status)
    return made


def _decide_fast_in_force(
    machine: Machine, snapshot: Snapshot, ev: Event, ctx: Context, status: str
) -> Step | Refusal | None:
    # A context without a policy (the machine's applies) or with another one: the decider
    # of the machine in force, given the context with the policy filled in.
    policy = ctx.policy
    if policy is None:
        ctx = _filled(machine, ctx)
    else:
        machine = machine.with_policy(policy)
    fast = machine.fast.get(ev.name, _NO_DECIDERS).get(status)
    if fast is None:
        fast = _fast_decider(machine, ev.name, status)
        if fast is None:
            return None
    result: Step | Refusal | None = fast(snapshot, ev, ctx)
    return result


_NO_DECIDERS: dict[str, Any] = {}


def decide_reference(
    machine: Machine[RecordT], snapshot: Snapshot[RecordT], event: Event, context: Context | None
) -> Step[RecordT] | Refusal:
    """``decide`` by the generic path alone: the semantics the straight-line deciders keep.

    The tests compare the two on long walks; nothing else needs it.
    """
    ctx: Context = context or machine.no_clock  # type: ignore[assignment]
    try:
        return _decide_generic(machine, snapshot, event, ctx)
    except (TypeError, AttributeError) as exc:
        return _malformed(machine, snapshot, event, ctx, exc)
    except OverflowError:
        return _out_of_range(machine, snapshot, event, ctx)
    except ValueError as exc:
        return _bad_offset(machine, snapshot, event, exc)


def _decide_generic(
    machine: Machine[RecordT], snapshot: Snapshot[RecordT], ev: Event, ctx: Context
) -> Step[RecordT] | Refusal:
    # The generic path: it reads the tables ``Machine`` prepared (see CompiledTransition).
    # Every refusal it returns that does not depend on the input was built at compile time.
    compiled = machine.events.get(ev.name)
    if compiled is None:
        return _unknown_event(machine, snapshot, ev)
    policy = ctx.policy
    if policy is not machine.policy:
        if policy is None:
            ctx = _filled(machine, ctx)
        else:
            machine = machine.with_policy(policy)
            compiled = machine.events[ev.name]
    # The snapshot is the caller's: a quick look for a foreign record, a version that is
    # not an int or a ``since`` that is not an aware datetime (``None`` is fine for an
    # untimed machine); only a suspect one gets the full diagnosis.
    record = machine.record
    since = snapshot.since
    if (
        (record is not None and snapshot.data.__class__ is not record)
        or snapshot.version.__class__ is not int
        or (
            since.tzinfo is None
            if since.__class__ is _datetime
            else since is not machine.unset_since
        )
    ):
        bad = _bad_snapshot(machine, snapshot, ev)
        if bad is not None:
            return bad
    status = snapshot.status
    if status.__class__ is not _str and not isinstance(status, str):
        # Not even a string: no status of the machine's, and looking it up would hash it
        # (a caller's object may fail to hash; a tuple holding one does).
        return _unknown_status(machine, snapshot, ev)
    if ev.actor not in compiled.senders:
        return _actor_refused(machine, compiled, snapshot, ev)
    payload_ok = compiled.payload_ok
    if payload_ok is not None:
        if not payload_ok(ev.payload):
            bad = _payload_refusal(machine, compiled, snapshot, ev)
            if bad is not None:
                return bad
    elif ev.payload is not _EMPTY and ev.payload:
        bad = _payload_refusal(machine, compiled, snapshot, ev)
        if bad is not None:
            return bad
    candidates = compiled.by_status.get(status)
    if candidates is None:
        refusal = compiled.status_refusals.get(status)
        return refusal if refusal is not None else _unknown_status(machine, snapshot, ev)
    first: Refusal | None = None
    for row in candidates:
        for test, spec in row.checks:
            if spec is None:  # a compiled guard expression: it names what failed
                failed = test(snapshot, ev, ctx)
                if failed is None:
                    continue
            elif test(snapshot, ev, ctx):
                continue
            else:
                failed = spec
            if first is None:
                first = row.refusals.get(id(failed)) or _refusal_for(
                    machine, failed, compiled, status
                )
            break
        else:
            moves = row.moves
            if moves is None:  # only a row with a chooser leaves ``moves`` unknown
                target = row.chooser(snapshot, ev, ctx)  # type: ignore[misc]
                moves = target != status or row.spec.reenter
            else:
                target = row.target
            update = row.update
            data = snapshot.data if update is None else update(snapshot.data, snapshot, ev, ctx)
            after = _tuple_new(
                Snapshot,
                (target, snapshot.version + 1, ctx.now if moves else snapshot.since, data),
            )
            effect = row.effect
            if effect is None:
                return _tuple_new(Step, (after, (), row.spec))
            effects = effect(snapshot, after, ev, ctx)
            if effects.__class__ is not tuple:
                effects = tuple(effects)
            return _tuple_new(Step, (after, effects, row.spec))
    assert first is not None
    return first


def _actor_refused(
    machine: Machine, compiled: CompiledEvent, snapshot: Snapshot, event: Event
) -> Refusal:
    status = snapshot.status
    by_status = compiled.actor_refusals.get(event.actor)
    refusal = by_status.get(status) if by_status is not None else None
    if refusal is not None:
        return refusal
    if not isinstance(status, str) or status not in machine.states:
        return _unknown_status(machine, snapshot, event)
    # A role the machine does not know at all: refused the same way, built on demand.
    return actor_refusal(compiled.spec, compiled.spec.label or event.name, event.actor, status)


def _refusal_for(
    machine: Machine, guard: GuardSpec, compiled: CompiledEvent, status: str
) -> Refusal:
    # Only a guard function returning a GuardSpec the machine did not compile gets here.
    label = compiled.spec.label or compiled.spec.name
    return guard_refusal(guard, status, compiled.spec.name, label, machine.policy)


def fire(
    machine: Machine[RecordT],
    snapshot: Snapshot[RecordT],
    event: Event | str,
    context: Context | None = None,
    *,
    payload: Mapping[str, Any] | None = None,
    actor: AnyRole | str | None = None,
) -> Step[RecordT]:
    """Like ``decide``, for callers who prefer an exception to a ``Refusal``.

    Raises:
        TransitionRefused: the engine refused; ``.refusal`` says why.
        InvalidInput: an argument is not of its type (see ``decide``).
    """
    result = decide(machine, snapshot, event, context, payload=payload, actor=actor)
    if isinstance(result, Refusal):
        raise TransitionRefused(result)
    return result


def offered(
    machine: Machine[RecordT],
    snapshot: Snapshot[RecordT],
    context: Context | None = None,
    *,
    actor: AnyRole | Iterable[AnyRole] = Actor.USER,
) -> tuple[Offer, ...]:
    """Which actions ``actor`` is offered on this agent now, and for each one not offered, why.

    ``actor`` is one role, or every role a principal holds (``{OWNER, ADMIN}``): an action is
    listed when any of them may send it, and decided as sent in the first of them (in the
    event's own order of roles) that may. ``context`` may be omitted for a machine built with
    ``timed=False``.

    Guards that read input a person types (like Recreate's confirmation) are not evaluated:
    the action is offered, and the offer lists the input it ``needs`` and what that input must
    satisfy. Every other guard is evaluated as ``decide`` would.

    The policy in force is the one ``decide`` would apply: the context's when it has one,
    otherwise the machine's, so an offer and a decision never disagree.

    Returns:
        One ``Offer`` per event ``actor`` may send, in the machine's order.

    Raises:
        InvalidInput: an argument is not of its type, the snapshot's status is not one of the
            machine's, its data is not the machine's record, its ``since`` is not an aware
            datetime, or a time the guards compute is out of range.
    """
    if not isinstance(machine, Machine):
        raise InvalidInput(f"offered needs a Machine, not {type(machine).__name__}")
    if not isinstance(snapshot, Snapshot):
        raise InvalidInput(f"offered needs a Snapshot, not {type(snapshot).__name__}")
    if context is None and machine.no_clock is not None:
        context = machine.no_clock
    if not isinstance(context, Context):
        raise InvalidInput(f"offered needs a Context, not {type(context).__name__}")
    held = _held_roles(actor)
    policy = context.policy
    if policy is None:
        context = _filled(machine, context)
    elif policy is not machine.policy:
        machine = machine.with_policy(policy)
    status = snapshot.status
    if not _known_status(machine, status):
        raise InvalidInput(_unknown_status_text(machine, status))
    problem = snapshot_problem(machine, snapshot)
    if problem is not None:
        raise InvalidInput(
            f"offered was given a snapshot that is not one of this model's: {problem}"
        )
    prepared = machine.offer_plans
    if prepared is None:
        prepared = machine.offer_plans = (_plan_offers(machine), {})
    plans, listings = prepared
    # What to list for these roles in this status, worked out once: the offers that depend
    # on no guard, and for the others the plan, rows and probe to evaluate them with.
    # A shipped actor is keyed by identity (its members live as long as the module; an enum
    # hashes in Python), any other set of roles by equality, as ``in`` compares them.
    key: object = id(actor) if actor.__class__ is Actor else held
    by_status = listings.get(key)
    if by_status is None:
        by_status = {}
        if len(listings) < _LISTINGS_KEPT:
            listings[key] = by_status
    listing = by_status.get(status)
    if listing is None:
        listing = by_status[status] = _listing(plans, held, status)
    if listing[0] is not None:  # no guard to evaluate: the answer itself was kept
        return listing[0]  # type: ignore[no-any-return]
    out: list[Offer] = []
    try:
        for item in listing[1]:
            if item.__class__ is Offer:
                out.append(item)
            else:
                plan, rows, probe = item
                out.append(_offer(plan, rows, snapshot, probe, context))
    except OverflowError as exc:
        raise InvalidInput(
            f"a time the {machine.name} guards compute from now ({context.now.isoformat()}) "
            "is out of range"
        ) from exc
    return tuple(out)


# Role sets whose listings a machine keeps (a caller passing ever new sets must not grow it).
_LISTINGS_KEPT = 256

_ListItem = Union[Offer, tuple["_OfferPlan", tuple["_RowPlan", ...], Event]]


def _listing(
    plans: tuple[_OfferPlan, ...], held: tuple[AnyRole, ...], status: str
) -> tuple[tuple[Offer, ...] | None, tuple[_ListItem, ...]]:
    """(the offers when none depends on a guard, else None; what to list, in order)."""
    out: list[_ListItem] = []
    for plan in plans:
        sender = next((a for a in plan.senders if a in held), None)
        if sender is None:
            continue
        entry = plan.by_status[status]
        out.append(entry if entry.__class__ is Offer else (plan, entry, plan.probes[sender]))  # type: ignore[arg-type]
    fixed = tuple(i for i in out if i.__class__ is Offer)
    return (fixed if len(fixed) == len(out) else None), tuple(out)


def _held_roles(actor: object) -> tuple[AnyRole, ...]:
    if isinstance(actor, Actor | Role):
        return (actor,)
    if isinstance(actor, Iterable) and not isinstance(actor, str | bytes):
        held = tuple(actor)
        if held and all(isinstance(a, Actor | Role) for a in held):
            return held
    raise InvalidInput(
        f"offered needs a role (Actor or Role) or the roles a principal holds, not {quote(actor)}"
    )


def snapshot_problem(machine: Machine, snapshot: Snapshot) -> str | None:
    """Why ``snapshot`` cannot be an agent of ``machine`` (its status aside), or ``None``."""
    problem = machine.record_problem(snapshot.data)
    if problem is not None:
        return problem
    version = snapshot.version
    if isinstance(version, bool) or not isinstance(version, int):
        return f"its version is {quote(version)}, not a whole number"
    since = snapshot.since
    if since is None and not machine.timed:
        return None  # an untimed machine records no time
    if not isinstance(since, datetime):
        return f"its since is {quote(since)}, not a timezone-aware datetime"
    try:
        offset = since.utcoffset()
    except Exception:  # a hostile tzinfo: the snapshot is unusable either way
        offset = None
    if offset is None:
        return f"its since is {quote(since)}, not a timezone-aware datetime"
    return None


def _bad_snapshot(machine: Machine, snapshot: Snapshot, event: Event) -> Refusal | None:
    problem = snapshot_problem(machine, snapshot)
    if problem is None:  # a subclass of the record, or an int subclass version: fine
        return None
    version = snapshot.version
    if (
        not isinstance(snapshot.since, datetime)
        and machine.record_problem(snapshot.data) is None
        and isinstance(version, int)
        and not isinstance(version, bool)
    ):
        # Only ``since`` is wrong, and it is not even a datetime: an unknown status is the
        # better reason, as it always was for such a snapshot.
        status = snapshot.status
        if not isinstance(status, str) or status not in machine.states:
            return _unknown_status(machine, snapshot, event)
    return _snapshot_refusal(machine, snapshot, event, problem)


def _bad_offset(machine: object, snapshot: object, event: Event, exc: ValueError) -> Refusal:
    # The quick look at ``since`` only asks whether it has a time zone: one whose offset is
    # out of range raises ValueError once a rule reads the time. That snapshot is refused like
    # any malformed one, a look-alike of a Snapshot (which the generic path decides) too; any
    # other ValueError is a bug in a rule, and is raised again.
    if isinstance(machine, Machine):
        problem = snapshot_problem(machine, snapshot)  # type: ignore[arg-type]
        if problem is not None:
            return _snapshot_refusal(machine, snapshot, event, problem)  # type: ignore[arg-type]
    raise exc


def _snapshot_refusal(machine: Machine, snapshot: Snapshot, event: Event, problem: str) -> Refusal:
    compiled = machine.events.get(event.name)
    label = (compiled.spec.label or event.name) if compiled is not None else event.name
    return Refusal(
        code="invalid_snapshot",
        message=f"{label} was refused: the agent's snapshot is not one of the {machine.name} "
        f"model's: {problem}.",
        event=event.name,
        status=_status_word(snapshot.status),
    )


def _out_of_range(machine: Machine, snapshot: Snapshot, event: Event, context: Context) -> Refusal:
    compiled = machine.events.get(event.name)
    label = (compiled.spec.label or event.name) if compiled is not None else event.name
    return Refusal(
        code="time_out_of_range",
        message=f"{label} was refused: a time it needs, computed from now "
        f"({context.now.isoformat()}) and the policy's durations, falls outside the years "
        "1 to 9999 that a date can hold.",
        event=event.name,
        status=_status_word(snapshot.status),
    )


def _status_word(status: object) -> str:
    # Refusal.status is a str; a malformed snapshot's status is shown, bounded, instead.
    return status if isinstance(status, str) else quote(status)


# What ``offered`` needs to know about one row: the row, the offer to return when it reads
# typed input and its other guards hold (None when it reads none), those other guards, and the
# "not offered" offer for each guard spec that can fail (keyed by the spec's id).
_RowPlan = tuple[
    CompiledTransition, "Offer | None", tuple[tuple[GuardFn, GuardSpec], ...], dict[int, Offer]
]


class _OfferPlan:
    """One event's offers, prepared once per machine: every offer that does not depend on a
    guard is built here, so ``offered`` evaluates guards and allocates almost nothing."""

    __slots__ = ("by_status", "event", "label", "offer", "policy", "probes", "senders")

    def __init__(self, machine: Machine, ev: EventSpec) -> None:
        compiled = machine.events[ev.name]
        self.event = ev.name
        self.label = label = ev.label or ev.name
        self.policy = machine.policy
        self.senders = tuple(ev.actors)
        # Guards see an event with no payload: input a person types is not known yet.
        self.probes = {a: Event(ev.name, a) for a in ev.actors}
        self.offer = Offer(ev.name, label, True)
        guard_specs = {g.name: g for g in machine.spec.guards}
        guard_fns = machine.implementations.guards
        self.by_status: dict[str, Offer | tuple[_RowPlan, ...]] = {}
        for status in machine.spec.state_names:
            rows = compiled.by_status.get(status)
            if rows is None:
                self.by_status[status] = Offer(
                    ev.name, label, False, compiled.status_refusals[status]
                )
                continue
            plans: list[_RowPlan] = []
            for row in rows:
                names = guard_names(row.spec.guard)
                typed = [guard_specs[n] for n in names if guard_specs[n].reads_input]
                others = tuple(
                    (guard_fns[n], guard_specs[n]) for n in names if not guard_specs[n].reads_input
                )
                typed_offer = None
                if typed:
                    typed_offer = Offer(
                        ev.name,
                        label,
                        True,
                        needs=tuple(f.name for f in ev.fields if f.required),
                        requirements=tuple(
                            sentence(g.message, status, ev.name, label, machine.policy)
                            for g in typed
                        ),
                    )
                refused = {key: Offer(ev.name, label, False, r) for key, r in row.refusals.items()}
                plans.append((row, typed_offer, others, refused))
            # A first row with nothing to evaluate is the answer whatever the agent holds.
            row, typed_offer, others, _ = plans[0]
            if typed_offer is None and row.guard is None:
                self.by_status[status] = self.offer
            elif typed_offer is not None and not others:
                self.by_status[status] = typed_offer
            else:
                self.by_status[status] = tuple(plans)


def _plan_offers(machine: Machine) -> tuple[_OfferPlan, ...]:
    return tuple(_OfferPlan(machine, ev) for ev in machine.spec.events)


def _offer(
    plan: _OfferPlan,
    rows: tuple[_RowPlan, ...],
    snapshot: Snapshot,
    probe: Event,
    context: Context,
) -> Offer:
    first: Offer | None = None
    for row, typed_offer, others, refused in rows:
        failed: GuardSpec | None
        if typed_offer is None:
            failed = None if row.guard is None else row.guard(snapshot, probe, context)
            if failed is None:
                return plan.offer
        else:
            # Input-reading guards are left for the person to satisfy; the others must hold.
            failed = next((g for fn, g in others if not fn(snapshot, probe, context)), None)
            if failed is None:
                return typed_offer
        if first is None:
            first = refused.get(id(failed)) or Offer(
                plan.event,
                plan.label,
                False,
                guard_refusal(failed, snapshot.status, plan.event, plan.label, plan.policy),
            )
    assert first is not None
    return first


def _payload_refusal(
    machine: Machine, compiled: CompiledEvent, snapshot: Snapshot, event: Event
) -> Refusal | None:
    if snapshot.status not in machine.states:  # an unknown status is the better reason
        return _unknown_status(machine, snapshot, event)
    problems = payload_problems(compiled.fields, event.payload)
    if not problems:
        return None
    label = compiled.spec.label or event.name
    if len(problems) > _SHOWN_PROBLEMS:  # a payload of a million fields: say so, briefly
        more = len(problems) - _SHOWN_PROBLEMS
        problems = [*problems[:_SHOWN_PROBLEMS], f"and {more} more"]
    return Refusal(
        code="invalid_payload",
        message=f"{label} was sent with a bad payload: {'; '.join(problems)}.",
        event=event.name,
        status=snapshot.status,
    )


_SHOWN_PROBLEMS = 5


def _unknown_event(machine: Machine, snapshot: Snapshot, event: Event) -> Refusal:
    known = ", ".join(e.name for e in machine.spec.events)
    return Refusal(
        code="unknown_event",
        message=f"The {machine.name} model has no event {quote(event.name)}; "
        f"its events are {known}.",
        event=event.name,
        status=_status_word(snapshot.status),
    )


def _unknown_status_text(machine: Machine, status: object) -> str:
    known = ", ".join(machine.spec.state_names)
    return f"The {machine.name} model has no status {quote(status)}; its statuses are {known}."


def _unknown_status(machine: Machine, snapshot: Snapshot, event: Event) -> Refusal:
    compiled = machine.events.get(event.name)
    label = (compiled.spec.label or event.name) if compiled is not None else event.name
    return Refusal(
        code="unknown_status",
        message=f"{label} was refused: {_unknown_status_text(machine, snapshot.status)}",
        event=event.name,
        status=_status_word(snapshot.status),
    )


def _known_status(machine: Machine, status: object) -> bool:
    """Whether ``status`` is one of the machine's statuses: false for a status that cannot
    even be looked up (a ``str`` subclass whose hash or ``==`` raises)."""
    try:
        return isinstance(status, str) and status in machine.states
    except Exception:
        return False


def _malformed(
    machine: Machine, snapshot: object, event: object, context: object, exc: Exception
) -> Refusal:
    """Turn a TypeError/AttributeError caused by malformed input into a clear answer.

    A malformed snapshot is refused (the caller's data is at fault, not the request); a
    malformed event or context is the caller's programming error and raises ``InvalidInput``.
    Anything else is a bug in a guard, update or effect function, and is re-raised.
    """
    if not isinstance(machine, Machine):
        raise InvalidInput(f"decide needs a Machine, not {type(machine).__name__}") from exc
    if not isinstance(event, Event):
        raise InvalidInput(f"decide needs an Event, not {type(event).__name__}") from exc
    if context is None:
        raise InvalidInput(
            f"decide needs a Context for the {machine.name} machine: its rules read the time "
            "(build it with timed=False if they never do)"
        ) from exc
    if not isinstance(context, Context):
        raise InvalidInput(f"decide needs a Context, not {type(context).__name__}") from exc
    if not isinstance(snapshot, Snapshot):
        raise InvalidInput(f"decide needs a Snapshot, not {type(snapshot).__name__}") from exc
    # The generic path's order: a record or a version that is not the machine's outranks an
    # unknown status, as it does when nothing raises.
    bad = _bad_snapshot(machine, snapshot, event)
    if bad is not None:
        return bad
    if not _known_status(machine, snapshot.status):
        return _unknown_status(machine, snapshot, event)
    if context.now is None:  # the machine's own clockless context, and a rule read the time
        raise InvalidInput(
            f"a rule of the {machine.name} machine read the time, but it was built with "
            "timed=False and given no Context: pass one, or build it timed"
        ) from exc
    raise exc
