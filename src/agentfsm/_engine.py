"""The engine: one pure function that decides an event, and the questions built on it.

``decide`` has no I/O and no clock (the time is in the ``Context``). It returns a ``Step`` (the
new snapshot and the effects to perform) or a ``Refusal`` (a code and a sentence); it never
raises for a bad event. The checks run in a fixed order so that the reason given is the most
useful one: unknown event, unknown status, actor, payload, status, then guards.
"""

from __future__ import annotations

from agentfsm._errors import InvalidInput, TransitionRefused
from agentfsm._machine import CompiledEvent, Machine, field_problem
from agentfsm._spec import EventSpec, GuardSpec, guard_names
from agentfsm._values import Actor, Context, Event, Offer, Refusal, Snapshot, Step

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
    compiled = machine.events.get(event.name)
    if compiled is None:
        return _unknown_event(machine, snapshot, event)
    status = snapshot.status
    if event.actor not in compiled.actors:
        by_status = compiled.actor_refusals[event.actor]
        refusal = by_status.get(status)
        return refusal if refusal is not None else _unknown_status(machine, snapshot, event)
    if compiled.fields or event.payload:
        bad = _payload_refusal(compiled, snapshot, event)
        if bad is not None:
            return bad
    candidates = compiled.by_status.get(status)
    if candidates is None:
        refusal = compiled.status_refusals.get(status)
        return refusal if refusal is not None else _unknown_status(machine, snapshot, event)
    reason = None
    for row in candidates:
        if row.guard is not None:
            failed = row.guard(snapshot, event, context)
            if failed is not None:
                reason = reason or failed
                continue
        target = row.chooser(snapshot, event, context) if row.chooser is not None else row.target
        data = snapshot.data
        for update in row.updates:
            data = update(data, snapshot, event, context)
        since = snapshot.since if target == status else context.now
        after = _tuple_new(Snapshot, (target, snapshot.version + 1, since, data))
        effects: tuple[object, ...] = ()
        for build in row.effects:
            effects += build(snapshot, after, event, context)
        return _tuple_new(Step, (after, effects, row.spec))
    assert reason is not None
    label = compiled.spec.label or event.name
    return Refusal(
        code=reason.code,
        message=reason.message.format(status=status, event=event.name, label=label),
        event=event.name,
        status=status,
        guard=reason.name,
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
    if snapshot.status not in machine.states:
        raise InvalidInput(_unknown_status_text(machine, snapshot.status))
    return tuple(
        _offer(machine, snapshot, context, ev, actor)
        for ev in machine.spec.events
        if actor in ev.actors
    )


def _offer(
    machine: Machine, snapshot: Snapshot, context: Context, ev: EventSpec, actor: Actor
) -> Offer:
    compiled = machine.events[ev.name]
    label = ev.label or ev.name
    candidates = compiled.by_status.get(snapshot.status)
    if candidates is None:
        return Offer(ev.name, label, False, compiled.status_refusals[snapshot.status])
    guard_specs = {g.name: g for g in machine.spec.guards}
    guard_fns = machine.implementations.guards
    probe = Event(ev.name, actor)
    first_refusal: Refusal | None = None
    for row in candidates:
        names = guard_names(row.spec.guard)
        typed = [guard_specs[n] for n in names if guard_specs[n].reads_input]
        if not typed:
            failed = None if row.guard is None else row.guard(snapshot, probe, context)
            if failed is None:
                return Offer(ev.name, label, True)
        else:
            # Input-reading guards are left for the person to satisfy; the others must hold.
            others = [guard_specs[n] for n in names if not guard_specs[n].reads_input]
            failed = next(
                (g for g in others if not guard_fns[g.name](snapshot, probe, context)), None
            )
            if failed is None:
                return Offer(
                    ev.name,
                    label,
                    True,
                    needs=tuple(f.name for f in ev.fields if f.required),
                    requirements=tuple(
                        g.message.format(status=snapshot.status, event=ev.name, label=label)
                        for g in typed
                    ),
                )
        first_refusal = first_refusal or _guard_refusal(failed, snapshot, ev.name, label)
    return Offer(ev.name, label, False, first_refusal)


def _guard_refusal(guard: GuardSpec, snapshot: Snapshot, event: str, label: str) -> Refusal:
    return Refusal(
        code=guard.code,
        message=guard.message.format(status=snapshot.status, event=event, label=label),
        event=event,
        status=snapshot.status,
        guard=guard.name,
    )


def _payload_refusal(compiled: CompiledEvent, snapshot: Snapshot, event: Event) -> Refusal | None:
    known = {f.name for f in compiled.fields}
    problems = [f"unexpected field {k!r}" for k in event.payload if k not in known]
    for f in compiled.fields:
        if f.name not in event.payload:
            if f.required:
                problems.append(f"{f.name} is required")
            continue
        problem = field_problem(f, event.payload[f.name])
        if problem:
            problems.append(problem)
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
    return Refusal(
        code="unknown_status",
        message=_unknown_status_text(machine, snapshot.status),
        event=event.name,
        status=str(snapshot.status),
    )
