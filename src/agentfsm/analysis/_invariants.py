"""Invariants as reusable data: a name, a sentence, and a check over one decided event.

An invariant looks at one transition the engine decided, ``(before, event, result, machine,
context)``, and returns ``None`` when it holds or a sentence saying what went wrong. The same
``Invariant`` value is checked by the model checker on every explored transition, by the property
tests on random event streams, and by the testing toolkit on a user's own machines.

The built-in invariants here hold for every machine; the models' own are declared beside them
(``_alfe_invariants``, ``_recif_invariants``) and registered under their machine's name, so
``invariants_for(machine)`` finds them. A team that extends a model registers its own the same way.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, overload

import attrs

from agentfsm._engine import decide, offered
from agentfsm._values import Actor, Context, Event, Refusal, Snapshot, Step

if TYPE_CHECKING:
    from agentfsm._machine import Machine

CheckFn = Callable[[Snapshot, Event, "Step | Refusal", "Machine", Context], "str | None"]
"""``(before, event, result, machine, context) -> None`` when the invariant holds, else why not."""


@attrs.frozen(slots=True)
class Invariant:
    """A property every decided event must keep.

    Attributes:
        name: a short stable name (``"alfe-4"``, ``"refusal-changes-nothing"``).
        description: the property in one or two sentences, for reports and docs.
        fn: the check, ``(before, event, result, machine, context) -> str | None``.
    """

    name: str
    description: str
    fn: CheckFn = attrs.field(repr=False)

    def check(
        self,
        before: Snapshot,
        event: Event,
        result: Step | Refusal,
        machine: Machine,
        context: Context,
    ) -> str | None:
        """Check one decided event.

        Args:
            before: the snapshot the event was decided against.
            event: the event.
            result: what ``decide`` returned for it.
            machine: the machine that decided it.
            context: the context it was decided in.

        Returns:
            ``None`` when the invariant holds; otherwise a sentence saying how it was broken.
        """
        return self.fn(before, event, result, machine, context)


_REGISTRY: dict[str, list[Invariant]] = {}


def register_invariants(machine_name: str, *invariants: Invariant) -> None:
    """Make ``invariants_for`` return ``invariants`` for every machine called ``machine_name``.

    Registering an invariant a second time under the same machine name replaces the first one
    with the same name, so re-importing a module does not check anything twice.

    Raises:
        TypeError: something other than an ``Invariant`` was given.
    """
    bucket = _REGISTRY.setdefault(machine_name, [])
    for inv in invariants:
        if not isinstance(inv, Invariant):
            raise TypeError(f"register_invariants takes Invariant values, not {inv!r}")
        bucket[:] = [old for old in bucket if old.name != inv.name]
        bucket.append(inv)


def invariants_for(machine: Machine) -> tuple[Invariant, ...]:
    """The invariants to check on ``machine``: the built-in ones, then its model's own.

    A model's own invariants are those registered under the machine's name (the shipped ones:
    ``alfe``, ``alfe-self-hosted``, ``recif``), so a modified copy of a shipped spec that keeps
    its name is checked against the shipped model's invariants.
    """
    return (*BUILTIN_INVARIANTS, *_REGISTRY.get(machine.name, ()))


def _normalise(fn: Callable[..., str | None]) -> CheckFn:
    """Accept checks that do not need the context: ``(before, event, result, machine)``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: assume the full form
        return fn
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    takes_context = len(positional) >= 5 or any(p.kind == p.VAR_POSITIONAL for p in positional)
    if takes_context:
        return fn
    if len(positional) != 4:
        raise TypeError(
            f"an invariant check takes (before, event, result, machine[, context]); "
            f"{getattr(fn, '__name__', fn)!r} takes {len(positional)} positional arguments"
        )

    def with_context(
        before: Snapshot, event: Event, result: Step | Refusal, machine: Machine, context: Context
    ) -> str | None:
        return fn(before, event, result, machine)

    return with_context


def _first_paragraph(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "")
    return " ".join(text.split("\n\n", 1)[0].split())


@overload
def invariant(fn: Callable[..., str | None], /) -> Invariant: ...


@overload
def invariant(
    name: str | None = None,
    /,
    *,
    description: str | None = None,
    machines: Iterable[str] = (),
) -> Callable[[Callable[..., str | None]], Invariant]: ...


def invariant(
    name_or_fn: str | Callable[..., str | None] | None = None,
    /,
    *,
    description: str | None = None,
    machines: Iterable[str] = (),
) -> Invariant | Callable[[Callable[..., str | None]], Invariant]:
    """Declare an invariant with one decorated function.

    The function takes ``(before, event, result, machine)`` or ``(before, event, result,
    machine, context)`` and returns ``None`` when the property holds, or a sentence saying how
    it was broken. The decorated name becomes an ``Invariant``::

        @invariant("no-surprise-stop", machines=["alfe"])
        def no_surprise_stop(before, event, result, machine):
            \"\"\"The platform never stops a running agent.\"\"\"
            ...

    Args:
        name_or_fn: the invariant's name (default: the function's name), or the function itself
            when used bare as ``@invariant``.
        description: the property in words (default: the docstring's first paragraph).
        machines: machine names to register the invariant under (see ``invariants_for``).

    Returns:
        The ``Invariant`` (or, with arguments, a decorator that makes one).

    Raises:
        TypeError: the function does not take four or five positional arguments.
    """
    machine_names = tuple(machines)

    def make(fn: Callable[..., str | None], name: str | None) -> Invariant:
        inv = Invariant(
            name=name or fn.__name__.replace("_", "-"),
            description=description or _first_paragraph(fn.__doc__) or fn.__name__,
            fn=_normalise(fn),
        )
        for machine_name in machine_names:
            register_invariants(machine_name, inv)
        return inv

    if callable(name_or_fn):
        return make(name_or_fn, None)
    return lambda fn: make(fn, name_or_fn)


# ---------------------------------------------------------------------------------------------
# Helpers for writing checks


def after_of(result: Step | Refusal) -> Snapshot | None:
    """The snapshot a step leads to, or ``None`` for a refusal."""
    return result.snapshot if isinstance(result, Step) else None


def emitted(result: Step | Refusal) -> tuple[Any, ...]:
    """The domain events a step publishes (the payloads of its ``Emit`` effects)."""
    if not isinstance(result, Step):
        return ()
    from agentfsm._effects import Emit

    return tuple(e.event for e in result.effects if isinstance(e, Emit))


# ---------------------------------------------------------------------------------------------
# Built-in invariants: they hold for every machine


@invariant("decide-returns-a-verdict")
def _verdict(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """Every event is either accepted (a Step) or refused with a code and a sentence that name
    the event and the status it was refused in; nothing is silently ignored."""
    if isinstance(result, Step):
        return None
    if not isinstance(result, Refusal):
        return f"decide returned {result!r}, neither a Step nor a Refusal"
    if not result.code or not result.message.strip():
        return f"the refusal of {event.name!r} has no code or no sentence: {result!r}"
    if result.event != event.name or result.status != before.status:
        return (
            f"the refusal of {event.name!r} in {before.status!r} names "
            f"event {result.event!r} and status {result.status!r}"
        )
    return None


@invariant("refusal-changes-nothing")
def _refusal_changes_nothing(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine, context: Context
) -> str | None:
    """A refused event changes nothing: a refusal carries no snapshot and no effects, and
    deciding the same event again on the same snapshot gives the same refusal (no guard or
    cache kept anything from the first attempt)."""
    if not isinstance(result, Refusal):
        return None
    again = decide(machine, before, event, context)
    if again != result:
        return (
            f"deciding {event.name!r} again in {before.status!r} gave {again!r} "
            f"instead of the same refusal {result.code!r}"
        )
    return None


@invariant("step-is-well-formed")
def _well_formed_step(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine, context: Context
) -> str | None:
    """An accepted event leads to one of the machine's statuses, increments the version by one,
    and restarts the status clock exactly when the status changes or the row re-enters it."""
    if not isinstance(result, Step):
        return None
    after = result.snapshot
    if after.status not in machine.states:
        return f"{event.name!r} led to {after.status!r}, which is not a status of {machine.name}"
    if after.version != before.version + 1:
        return f"{event.name!r} moved the version from {before.version} to {after.version}"
    if after.status != before.status and after.since != context.now:
        return f"{event.name!r} changed the status but left since at {after.since.isoformat()}"
    reenters = result.transition.reenter
    if after.status == before.status and reenters and after.since != context.now:
        return f"{event.name!r} re-entered {after.status!r} but did not restart its clock"
    if after.status == before.status and not reenters and after.since != before.since:
        return f"{event.name!r} kept the status {after.status!r} but restarted its clock"
    return None


@invariant("only-listed-actors")
def _only_listed_actors(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """Only the actors an event lists may send it: anyone else (a user sending a platform or
    timer event, say) is refused with ``actor_not_allowed``."""
    compiled = machine.events.get(event.name)
    if compiled is None or event.actor in compiled.actors:
        return None
    if isinstance(result, Refusal) and result.code == "actor_not_allowed":
        return None
    got = "accepted" if isinstance(result, Step) else f"refused with {result.code!r}"
    return (
        f"{event.name!r} sent by a {event.actor.label} was {got}; "
        "expected the refusal actor_not_allowed"
    )


@invariant("terminal-states-absorb")
def _terminal_absorbs(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """No event leaves a terminal status (it may still change the agent's data)."""
    if not isinstance(result, Step) or before.status not in machine.states:
        return None
    if machine.spec.state(before.status).terminal and result.snapshot.status != before.status:
        return (
            f"{event.name!r} led out of the terminal status {before.status!r} "
            f"to {result.snapshot.status!r}"
        )
    return None


@invariant("offered-agrees-with-decide")
def _offered_agrees(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine, context: Context
) -> str | None:
    """For a user action, ``offered`` and ``decide`` agree: an action that is accepted is
    offered, and one refused because of the status, or because of a guard that reads no typed
    input, is not offered."""
    compiled = machine.events.get(event.name)
    if compiled is None or event.actor is not Actor.USER or Actor.USER not in compiled.actors:
        return None
    if before.status not in machine.states:
        return None
    offer = next(o for o in offered(machine, before, context) if o.event == event.name)
    if isinstance(result, Step):
        if not offer.offered:
            why = offer.refusal.code if offer.refusal else "no reason"
            return (
                f"{event.name!r} was accepted in {before.status!r} "
                f"but offered() does not offer it ({why})"
            )
        return None
    if offer.offered and result.code == "not_allowed_from_status":
        return f"{event.name!r} is not allowed in {before.status!r} but offered() offers it"
    if offer.offered and result.guard is not None and not _input_guarded(machine, before, event):
        return (
            f"{event.name!r} was refused in {before.status!r} by the guard {result.guard!r}, "
            "which reads no typed input, but offered() offers it"
        )
    return None


def _input_guarded(machine: Machine, before: Snapshot, event: Event) -> bool:
    """True when a row for this (status, event) has a guard that reads typed input."""
    from agentfsm._spec import guard_names

    reads_input = {g.name for g in machine.spec.guards if g.reads_input}
    rows = machine.events[event.name].by_status.get(before.status, ())
    return any(reads_input.intersection(guard_names(row.spec.guard)) for row in rows)


BUILTIN_INVARIANTS: tuple[Invariant, ...] = (
    _verdict,
    _refusal_changes_nothing,
    _well_formed_step,
    _only_listed_actors,
    _terminal_absorbs,
    _offered_agrees,
)
"""The invariants every machine keeps, whatever its model."""
