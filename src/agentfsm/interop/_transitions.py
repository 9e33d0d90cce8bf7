"""Export a machine to the ``transitions`` library, for teams that already use it.

The exported ``transitions.Machine`` uses the same functions as the agentfsm machine: every guard
becomes a condition, every data update and effect becomes an ``after`` callback that records on
the model. Things ``transitions`` has no notion of are expressed as conditions too: the actor
allowed to send an event, the payload's declared fields, and a chooser's target (one transition
per possible target). Refusals become ``False``: ``transitions`` does not say why.
"""

from __future__ import annotations

from typing import Any

from agentfsm._errors import MissingExtra
from agentfsm._machine import CompiledTransition, Machine, payload_problems
from agentfsm._values import Context, Event, Policy, Snapshot

try:
    import transitions
    from transitions.extensions import GraphMachine
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtra("Export to transitions", "interop", "transitions") from exc


class TransitionsModel:
    """The model object an exported machine drives.

    Attributes:
        snapshot: the agent's snapshot, kept up to date by the exported callbacks.
        context: the context the guards see; set it before each trigger. Without a policy,
            the machine's applies, as in ``decide``.
        effects: every effect recorded by accepted events, in order.
        state: the ``transitions`` state attribute (always ``snapshot.status``).
    """

    def __init__(self, snapshot: Snapshot, context: Context) -> None:
        self.snapshot = snapshot
        self.context = context
        self.effects: list[object] = []
        self.state = snapshot.status


def to_transitions(machine: Machine, *, graph: bool = False) -> transitions.Machine:
    """Build a ``transitions.Machine`` (or a mermaid ``GraphMachine``) equivalent to ``machine``.

    Add models with ``exported.add_model(TransitionsModel(snapshot, context),
    initial=snapshot.status)`` and drive them with ``send(exported, model, event)``.
    """
    cls = GraphMachine if graph else transitions.Machine
    extra: dict[str, Any] = {"graph_engine": "mermaid", "title": machine.name} if graph else {}
    exported = cls(
        model=None,
        states=list(machine.spec.state_names),
        initial=machine.spec.initial,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=True,
        **extra,
    )
    policy = machine.policy
    for compiled_event in machine.events.values():
        actors = compiled_event.actors
        fields = compiled_event.fields

        def allowed(ed: Any, actors: frozenset[object] = actors) -> bool:
            return ed.kwargs["event"].actor in actors

        def payload_ok(ed: Any, fields: tuple[Any, ...] = fields) -> bool:
            return not payload_problems(fields, ed.kwargs["event"].payload)

        for source, rows in compiled_event.by_status.items():
            for row in rows:
                for target in _targets(machine, row):
                    exported.add_transition(
                        trigger=compiled_event.spec.name,
                        source=source,
                        dest=target,
                        conditions=[allowed, payload_ok, *_conditions(row, target, policy)],
                        after=[_apply(row, policy)],
                    )
    return exported


def _targets(machine: Machine, row: CompiledTransition) -> tuple[str, ...]:
    if row.spec.chooser is None:
        return (row.target,)
    return next(c.targets for c in machine.spec.choosers if c.name == row.spec.chooser)


def _context(model: TransitionsModel, policy: Policy) -> Context:
    # As in decide: a context without a policy means the machine's.
    context = model.context
    return context if context.policy is not None else Context(context.now, policy)


def _conditions(row: CompiledTransition, target: str, policy: Policy) -> list[Any]:
    conditions: list[Any] = []
    guard, chooser = row.guard, row.chooser
    if guard is not None:

        def guard_holds(ed: Any) -> bool:
            model = ed.model
            return guard(model.snapshot, ed.kwargs["event"], _context(model, policy)) is None

        conditions.append(guard_holds)
    if chooser is not None:

        def chooses_this(ed: Any) -> bool:
            model = ed.model
            return chooser(model.snapshot, ed.kwargs["event"], _context(model, policy)) == target

        conditions.append(chooses_this)
    return conditions


def _apply(row: CompiledTransition, policy: Policy) -> Any:
    def after(ed: Any) -> None:
        model: TransitionsModel = ed.model
        before, event, ctx = model.snapshot, ed.kwargs["event"], _context(model, policy)
        data = before.data
        for update in row.updates:
            data = update(data, before, event, ctx)
        status = model.state
        since = before.since if status == before.status else ctx.now
        after_snapshot = Snapshot(status, before.version + 1, since, data)
        for build in row.effects:
            model.effects.extend(build(before, after_snapshot, event, ctx))
        model.snapshot = after_snapshot

    return after


def send(exported: transitions.Machine, model: TransitionsModel, event: Event) -> bool:
    """Trigger ``event`` on ``model``; true when a transition ran (an unknown event is false)."""
    if event.name not in exported.events:
        return False
    return bool(model.trigger(event.name, event=event))  # type: ignore[attr-defined]
