"""The engine: one pure function that decides an event, and the questions built on it.

``decide`` has no I/O and no clock (the time is in the ``Context``). It returns a ``Step`` (the
new snapshot and the effects to perform) or a ``Refusal`` (a code and a sentence); it never
raises for a bad event. The checks run in a fixed order so that the reason given is the most
useful one: unknown event, unknown status, actor, payload, status, then guards.
"""

from __future__ import annotations

from datetime import datetime

from agentfsm._errors import InvalidInput, TransitionRefused
from agentfsm._machine import (
    CompiledEvent,
    CompiledTransition,
    GuardFn,
    Machine,
    guard_refusal,
    payload_problems,
)
from agentfsm._spec import EventSpec, GuardSpec, guard_names
from agentfsm._values import _EMPTY, Actor, Context, Event, Offer, Refusal, Snapshot, Step

# tuple.__new__(cls, items) builds a NamedTuple without its Python-level __new__: the fast path.
_tuple_new = tuple.__new__


def decide(machine: Machine, snapshot: Snapshot, event: Event, context: Context) -> Step | Refusal:
    """Decide what ``event`` does to the agent in ``snapshot``.

    Args:
        machine: the compiled machine of the agent's model.
        snapshot: the agent as it is now.
        event: what happened, or what someone asks.
        context: the time and the policy.

    Returns:
        A ``Step`` with the new snapshot (version + 1) and the effects to perform, or a
        ``Refusal`` with a stable code and a sentence. A refusal changes nothing.
    """
    # This is the hot path: it reads the tables ``Machine`` prepared (see CompiledTransition)
    # and allocates nothing but the new snapshot and the step, besides what updates and effect
    # builders make. Every refusal it returns was built when the machine was compiled.
    try:
        compiled = machine.events.get(event.name)
        if compiled is None:
            return _unknown_event(machine, snapshot, event)
        status = snapshot.status
        if event.actor not in compiled.senders:
            refusal = compiled.actor_refusals[event.actor].get(status)
            return refusal if refusal is not None else _unknown_status(machine, snapshot, event)
        payload_ok = compiled.payload_ok
        if payload_ok is not None:
            if not payload_ok(event.payload):
                bad = _payload_refusal(machine, compiled, snapshot, event)
                if bad is not None:
                    return bad
        elif event.payload is not _EMPTY and event.payload:
            bad = _payload_refusal(machine, compiled, snapshot, event)
            if bad is not None:
                return bad
        candidates = compiled.by_status.get(status)
        if candidates is None:
            refusal = compiled.status_refusals.get(status)
            return refusal if refusal is not None else _unknown_status(machine, snapshot, event)
        first: Refusal | None = None
        for row in candidates:
            for test, spec in row.checks:
                if spec is None:  # a compiled guard expression: it names what failed
                    failed = test(snapshot, event, context)
                    if failed is None:
                        continue
                elif test(snapshot, event, context):
                    continue
                else:
                    failed = spec
                if first is None:
                    first = row.refusals.get(id(failed)) or _refusal_for(failed, compiled, status)
                break
            else:
                moves = row.moves
                if moves is None:  # only a row with a chooser leaves ``moves`` unknown
                    target = row.chooser(snapshot, event, context)  # type: ignore[misc]
                    moves = target != status or row.spec.reenter
                else:
                    target = row.target
                update = row.update
                data = (
                    snapshot.data
                    if update is None
                    else update(snapshot.data, snapshot, event, context)
                )
                after = _tuple_new(
                    Snapshot,
                    (target, snapshot.version + 1, context.now if moves else snapshot.since, data),
                )
                effect = row.effect
                if effect is None:
                    return _tuple_new(Step, (after, (), row.spec))
                effects = effect(snapshot, after, event, context)
                if effects.__class__ is not tuple:
                    effects = tuple(effects)
                return _tuple_new(Step, (after, effects, row.spec))
        assert first is not None
        return first
    except (TypeError, AttributeError) as exc:
        # Exceptions cost nothing until raised: malformed input is diagnosed only here.
        return _malformed(machine, snapshot, event, context, exc)


def _refusal_for(guard: GuardSpec, compiled: CompiledEvent, status: str) -> Refusal:
    # Only a guard function returning a GuardSpec the machine did not compile gets here.
    return guard_refusal(
        guard, status, compiled.spec.name, compiled.spec.label or compiled.spec.name
    )


def fire(machine: Machine, snapshot: Snapshot, event: Event, context: Context) -> Step:
    """Like ``decide``, for callers who prefer an exception to a ``Refusal``.

    Raises:
        TransitionRefused: the engine refused; ``.refusal`` says why.
    """
    result = decide(machine, snapshot, event, context)
    if isinstance(result, Refusal):
        raise TransitionRefused(result)
    return result


def offered(
    machine: Machine, snapshot: Snapshot, context: Context, *, actor: Actor = Actor.USER
) -> tuple[Offer, ...]:
    """Which actions ``actor`` is offered on this agent now, and for each one not offered, why.

    Guards that read input a person types (like Recreate's confirmation) are not evaluated:
    the action is offered, and the offer lists the input it ``needs`` and what that input must
    satisfy. Every other guard is evaluated as ``decide`` would.

    Returns:
        One ``Offer`` per event ``actor`` may send, in the machine's order.

    Raises:
        InvalidInput: the snapshot's status is not one of the machine's.
    """
    status = snapshot.status
    if status not in machine.states:
        raise InvalidInput(_unknown_status_text(machine, status))
    plans = machine.offer_plans
    if plans is None:
        plans = machine.offer_plans = _plan_offers(machine)
    out: list[Offer] = []
    for plan in plans:
        if actor not in plan.senders:
            continue
        entry = plan.by_status[status]
        if entry.__class__ is Offer:
            out.append(entry)
        else:
            out.append(_offer(plan, entry, snapshot, plan.probes[actor], context))
    return tuple(out)


# What ``offered`` needs to know about one row: the row, the offer to return when it reads
# typed input and its other guards hold (None when it reads none), those other guards, and the
# "not offered" offer for each guard spec that can fail (keyed by the spec's id).
_RowPlan = tuple[
    CompiledTransition, "Offer | None", tuple[tuple[GuardFn, GuardSpec], ...], dict[int, Offer]
]


class _OfferPlan:
    """One event's offers, prepared once per machine: every offer that does not depend on a
    guard is built here, so ``offered`` evaluates guards and allocates almost nothing."""

    __slots__ = ("by_status", "event", "label", "offer", "probes", "senders")

    def __init__(self, machine: Machine, ev: EventSpec) -> None:
        compiled = machine.events[ev.name]
        self.event = ev.name
        self.label = label = ev.label or ev.name
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
                            g.message.format(status=status, event=ev.name, label=label)
                            for g in typed
                        ),
                    )
                refused = {key: Offer(ev.name, label, False, r) for key, r in row.refusals.items()}
                plans.append((row, typed_offer, others, refused))
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
                _guard_refusal(failed, snapshot, plan.event, plan.label),
            )
    assert first is not None
    return first


def _guard_refusal(guard: GuardSpec, snapshot: Snapshot, event: str, label: str) -> Refusal:
    return Refusal(
        code=guard.code,
        message=guard.message.format(status=snapshot.status, event=event, label=label),
        event=event,
        status=snapshot.status,
        guard=guard.name,
    )


def _payload_refusal(
    machine: Machine, compiled: CompiledEvent, snapshot: Snapshot, event: Event
) -> Refusal | None:
    if snapshot.status not in machine.states:  # an unknown status is the better reason
        return _unknown_status(machine, snapshot, event)
    problems = payload_problems(compiled.fields, event.payload)
    if not problems:
        return None
    label = compiled.spec.label or event.name
    return Refusal(
        code="invalid_payload",
        message=f"{label} was sent with a bad payload: {'; '.join(problems)}.",
        event=event.name,
        status=snapshot.status,
    )


def _unknown_event(machine: Machine, snapshot: Snapshot, event: Event) -> Refusal:
    known = ", ".join(e.name for e in machine.spec.events)
    return Refusal(
        code="unknown_event",
        message=f"The {machine.name} model has no event {event.name!r}; its events are {known}.",
        event=event.name,
        status=str(snapshot.status),
    )


def _unknown_status_text(machine: Machine, status: object) -> str:
    known = ", ".join(machine.spec.state_names)
    return f"The {machine.name} model has no status {status!r}; its statuses are {known}."


def _unknown_status(machine: Machine, snapshot: Snapshot, event: Event) -> Refusal:
    compiled = machine.events.get(event.name)
    label = (compiled.spec.label or event.name) if compiled is not None else event.name
    return Refusal(
        code="unknown_status",
        message=f"{label} was refused: {_unknown_status_text(machine, snapshot.status)}",
        event=event.name,
        status=str(snapshot.status),
    )


def _malformed(
    machine: Machine, snapshot: object, event: object, context: object, exc: Exception
) -> Refusal:
    """Turn a TypeError/AttributeError caused by malformed input into a clear answer.

    A malformed snapshot is refused (the caller's data is at fault, not the request); a
    malformed event or context is the caller's programming error and raises ``InvalidInput``.
    Anything else is a bug in a guard, update or effect function, and is re-raised.
    """
    if not isinstance(event, Event):
        raise InvalidInput(f"decide needs an Event, not {type(event).__name__}") from exc
    if not isinstance(context, Context):
        raise InvalidInput(f"decide needs a Context, not {type(context).__name__}") from exc
    if not isinstance(snapshot, Snapshot):
        raise InvalidInput(f"decide needs a Snapshot, not {type(snapshot).__name__}") from exc
    status = snapshot.status
    if not isinstance(status, str) or status not in machine.states:
        return _unknown_status(machine, snapshot, event)
    since = snapshot.since
    if not isinstance(since, datetime) or since.utcoffset() is None:
        compiled = machine.events.get(event.name)
        label = (compiled.spec.label or event.name) if compiled is not None else event.name
        return Refusal(
            code="invalid_snapshot",
            message=f"{label} was refused: the agent's snapshot has since={since!r}, "
            "which is not a timezone-aware datetime.",
            event=event.name,
            status=status,
        )
    raise exc
