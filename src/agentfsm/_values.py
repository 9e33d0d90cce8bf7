"""The values the engine reads and returns: events, context, snapshots, steps, offers.

Actors and roles live in ``_actors`` and the refusal in ``_refusal``; both are re-exported here,
where the rest of agentfsm has always found them.

Snapshots and steps are ``NamedTuple``s rather than attrs classes on purpose: the engine builds
one of each per accepted event, and building a tuple is about four times cheaper than running a
frozen attrs ``__init__`` (measured: 0.18 µs against 0.85 µs for four fields). They are just as
immutable. Everything built less often (events, contexts, refusals, offers) is a frozen attrs class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple, TypeVar

import attrs

from agentfsm._actors import _ROLES, Actor, AnyRole, Role, _to_actor, is_role_code, role_named
from agentfsm._errors import InvalidInput
from agentfsm._refusal import Refusal
from agentfsm._spec import TransitionSpec
from agentfsm._words import quote

__all__ = [
    "DEFAULT_POLICY",
    "MAX_EVENT_ID_LENGTH",
    "Actor",
    "AnyRole",
    "Context",
    "Event",
    "Offer",
    "Policy",
    "RecordT",
    "Refusal",
    "Role",
    "Snapshot",
    "Step",
    "is_role_code",
    "policy_in_force",
    "replacer",
    "role_named",
]

if TYPE_CHECKING:
    # A default makes a bare ``Snapshot`` mean ``Snapshot[Any]``, as it did before records were
    # generic; the type checker's own copy of typing_extensions has it, so nothing is installed.
    from typing_extensions import TypeVar as _DefaultingTypeVar

    RecordT = _DefaultingTypeVar("RecordT", default=Any)
else:
    RecordT = TypeVar("RecordT")


_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _to_payload(value: object) -> Mapping[str, Any]:
    if value is None:
        return _EMPTY
    if value.__class__ is dict:  # the usual case, checked without the Mapping ABC
        if not value:
            return _EMPTY
        for key in value:
            if key.__class__ is not str:
                break
        else:
            return MappingProxyType(value.copy())
    if not isinstance(value, Mapping):
        raise InvalidInput(f"an event payload must be a mapping, not {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise InvalidInput(f"payload keys must be strings, not {quote(key)}")
    return MappingProxyType(dict(value)) if value else _EMPTY


def _check_name(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{attribute.name} must be a non-empty string, not {quote(value)}")


MAX_EVENT_ID_LENGTH = 1024
"""The longest event id (an idempotency key) ``Event`` accepts, in characters."""


def _to_event_id(value: object) -> str | None:
    # An id is a key the stores keep as UTF-8 text and compare exactly: a lone surrogate has
    # no UTF-8 form, and a str subclass may compare or hash unlike its text, so the key kept
    # is a plain str copy.
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"an event id must be a non-empty string or None, not {quote(value)}")
    if len(value) > MAX_EVENT_ID_LENGTH:
        raise InvalidInput(
            f"an event id must be at most {MAX_EVENT_ID_LENGTH} characters, not {len(value)}"
        )
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(
                f"the event id {quote(value)} holds a lone surrogate at position {exc.start}, "
                "which no store can keep"
            ) from None
    return str.__str__(value)


@attrs.frozen(slots=True)
class Event:
    """Something that happened to one agent, or that someone asks of it.

    Attributes:
        name: the event's name in the machine (``"start"``, ``"pods_ready"``…).
        actor: who sends it; a platform event sent by a user is refused.
        payload: the event's parameters (``{"confirmation": "my-agent"}``), checked against
            the event's declared fields before any guard runs.
        id: an idempotency key: a non-empty string of at most 1,024 characters with no lone
            surrogate, or ``None`` (the runtime assigns one).

    Raises:
        InvalidInput: a name that is not a non-empty string, an unknown actor, a payload that
            is not a mapping with string keys, or an id that is not a valid key.

    Events are values: one ``Event`` may be decided against any number of snapshots.
    """

    name: str = attrs.field(validator=_check_name)
    actor: AnyRole = attrs.field(default=Actor.USER, converter=_to_actor)
    payload: Mapping[str, Any] = attrs.field(factory=dict, converter=_to_payload)
    id: str | None = attrs.field(default=None, converter=_to_event_id)

    @classmethod
    def named(
        cls, name: str, actor: object = Actor.USER, payload: Mapping[str, Any] | None = None
    ) -> Event:
        """The event ``name`` from ``actor``: equal to ``Event(name, actor, payload)``, cheaper.

        Events arrive by name (from a request, a queue); building one is on that path. An
        event without a payload is a value shared by every caller, made once and kept, so
        asking again costs a dictionary lookup; with a payload, the payload is checked as
        ``Event`` checks it, and nothing else is re-validated. No id is made: the runtime
        assigns one when it needs it.

        Args:
            name: the event's name.
            actor: a role, or its code (default: ``Actor.USER``).
            payload: the event's parameters, or ``None`` for none.

        Raises:
            InvalidInput: the name is not a non-empty string, the actor is unknown, or the
                payload is not a mapping with string keys.
        """
        if payload is None:
            try:
                # Most names are sent by one role: the first event kept for the name answers
                # when its actor is this very role, without hashing the role's id.
                event = _FIRST_NAMED[name]
                if event.actor is actor:
                    return event
                return _NAMED[id(actor)][name]
            except (KeyError, TypeError):  # not made yet, or a name that is not even hashable
                return _intern(name, actor)
        event = object.__new__(cls)
        _set_name(event, _checked_name(name))
        _set_actor(event, _to_actor(actor))
        _set_payload(event, _to_payload(payload))
        _set_id(event, None)
        return event


_set_name = Event.__dict__["name"].__set__
_set_actor = Event.__dict__["actor"].__set__
_set_payload = Event.__dict__["payload"].__set__
_set_id = Event.__dict__["id"].__set__

# Payload-less events by name, per actor (keyed by the actor's id: roles live as long as the
# registry holding them, and an int hashes faster than an enum member). Bounded, so a caller
# sending arbitrary names cannot grow it without end.
_NAMED: dict[int, dict[str, Event]] = {}
_NAMED_LIMIT = 4096
# The first payload-less event kept for each name, whatever its actor (bounded alike).
_FIRST_NAMED: dict[str, Event] = {}


def _checked_name(name: object) -> str:
    if name.__class__ is not str or not name:
        raise InvalidInput(f"name must be a non-empty string, not {quote(name)}")
    return name


def _intern(name: object, actor: object) -> Event:
    role = _to_actor(actor)
    if role.__class__ is Role:
        role = _ROLES.get(role.code, role)
    event = Event(_checked_name(name), role)
    # Only a role that lives for good is a key: the shipped actors and the registered roles.
    if role.__class__ is Actor or _ROLES.get(role.code) is role:
        by_name = _NAMED.setdefault(id(role), {})
        if len(by_name) < _NAMED_LIMIT:
            by_name[event.name] = event
            if len(_FIRST_NAMED) < _NAMED_LIMIT:
                _FIRST_NAMED.setdefault(event.name, event)
    return event


def _check_aware(instance: object, attribute: attrs.Attribute[datetime], value: object) -> None:
    if not isinstance(value, datetime):
        raise InvalidInput(f"{attribute.name} must be a datetime, not {type(value).__name__}")
    try:
        offset = value.utcoffset()
    except Exception as exc:  # a caller's tzinfo may fail, or give an offset out of range
        raise InvalidInput(f"{attribute.name} has a time zone that gives no valid offset") from exc
    if offset is None:
        raise InvalidInput(
            f"{attribute.name} must be timezone-aware (for example datetime.now(timezone.utc)); "
            f"got the naive datetime {value.isoformat()}"
        )


def _check_positive(instance: object, attribute: attrs.Attribute[timedelta], value: object) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidInput(f"{attribute.name} must be a positive timedelta, not {quote(value)}")


@attrs.frozen(slots=True)
class Policy:
    """The durations the lifecycle rules depend on. Every default is our choice; see the docs.

    Attributes:
        stuck_after: how long an agent must sit in ``starting``, ``stopping`` or ``rebooting``
            before Start may recover it by power-cycling.
        boot_timeout: how long a boot or reboot may take before the agent counts as failing.
        recovery_timeout: how long recovery may try before a failing agent is failed.
        grace_period: how long a deleted agent's data is kept before it is purged.
        capacity_retry_base: the first wait before retrying a waitlisted agent; it doubles.
        capacity_retry_max: the longest wait between capacity retries.
        requeue_after: how often a reconciler looks at an agent again (Recif: 30 s).
    """

    stuck_after: timedelta = attrs.field(default=timedelta(minutes=10), validator=_check_positive)
    boot_timeout: timedelta = attrs.field(default=timedelta(minutes=5), validator=_check_positive)
    recovery_timeout: timedelta = attrs.field(
        default=timedelta(minutes=15), validator=_check_positive
    )
    grace_period: timedelta = attrs.field(default=timedelta(days=30), validator=_check_positive)
    capacity_retry_base: timedelta = attrs.field(
        default=timedelta(seconds=30), validator=_check_positive
    )
    capacity_retry_max: timedelta = attrs.field(
        default=timedelta(minutes=30), validator=_check_positive
    )
    requeue_after: timedelta = attrs.field(default=timedelta(seconds=30), validator=_check_positive)


DEFAULT_POLICY = Policy()
"""The policy a ``Context`` uses unless given one: every duration at its documented default."""


def _check_policy(
    instance: object, attribute: attrs.Attribute[Policy | None], value: object
) -> None:
    if value is not None and not isinstance(value, Policy):
        raise InvalidInput(f"policy must be a Policy or None, not {quote(value)}")


@attrs.frozen(slots=True)
class Context:
    """What the engine may know beyond the snapshot and the event: the time, and the policy.

    The engine has no clock of its own; ``now`` must be timezone-aware.

    Attributes:
        now: the time of the decision (timezone-aware).
        policy: ``None`` (the default) means the machine's own policy (``Machine.policy``),
            so ``decide``, ``offered`` and a ``Controller`` built on the same machine give the
            same answer. A ``Policy`` given here overrides the machine's for this one call.
            Guards, updates and effect builders always receive a context whose policy is set:
            the one in force.
    """

    now: datetime = attrs.field(validator=_check_aware)
    policy: Policy | None = attrs.field(default=None, validator=_check_policy)


def policy_in_force(context: Context) -> Policy:
    """The policy a guard, update or effect builder must read from the context it is given.

    ``decide`` and ``offered`` always pass functions a context with the policy filled in (the
    machine's, or the caller's override); this only narrows the type.

    Raises:
        InvalidInput: the context has no policy, so it was not passed by ``decide``/``offered``.
    """
    policy = context.policy
    if policy is None:
        raise InvalidInput(
            "this Context has no policy: decide and offered fill it in from the machine; "
            "call the function through them, or give the Context a Policy"
        )
    return policy


class Snapshot(NamedTuple, Generic[RecordT]):
    """One agent, as the engine sees it: everything a decision needs, nothing more.

    Generic in the record: ``ALFE.initial(AlfeAgent(...), now)`` is a ``Snapshot[AlfeAgent]``,
    so ``snapshot.data.credentials`` is an ``int`` to a type checker. The parameter costs
    nothing at run time; a bare ``Snapshot`` is ``Snapshot[Any]``.

    Attributes:
        status: the machine state the agent is in.
        version: incremented by every accepted event; stores compare-and-set on it.
        since: when the agent entered ``status`` (an aware datetime).
        data: the model's own record (``AlfeAgent``, ``RecifAgent``…), immutable.
    """

    status: str
    version: int
    since: datetime
    data: RecordT


class Step(NamedTuple, Generic[RecordT]):
    """An accepted event: the new snapshot and the effects to perform, not yet performed.

    ``decide`` on a ``Snapshot[AlfeAgent]`` gives a ``Step[AlfeAgent]``: its ``snapshot`` keeps
    the record type. ``accepted`` is typed ``Literal[True]`` (``Refusal.accepted`` is
    ``Literal[False]``), so ``if result.accepted:`` narrows a ``Step | Refusal`` for mypy.

    Attributes:
        snapshot: the agent after the event (version + 1).
        effects: the effect records to perform, in order (not yet performed).
        transition: the row of the machine's table that applied.
    """

    snapshot: Snapshot[RecordT]
    effects: tuple[Any, ...]
    transition: TransitionSpec

    @property
    def accepted(self) -> Literal[True]:
        """Always true; lets callers test ``result.accepted`` on a ``Step | Refusal``."""
        return True


@attrs.frozen(slots=True)
class Offer:
    """Whether one user action is offered to an agent now, and if not, why.

    Attributes:
        event: the action's event name (``"recreate"``).
        label: the action's name for people (``"Recreate"``).
        offered: true when the action would be accepted now, given any input it needs.
        refusal: why it is not offered (``None`` when offered).
        needs: the payload fields a person must supply (``("confirmation",)``).
        requirements: sentences saying what that input must satisfy.
    """

    event: str
    label: str
    offered: bool
    refusal: Refusal | None = None
    needs: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()


_R = TypeVar("_R")


def replacer(cls: type[_R], *names: str) -> Callable[..., _R]:
    """A function ``(record, *values) -> record`` that copies an attrs record, replacing ``names``.

    Data updates run on the engine's hot path, and ``attrs.evolve`` re-runs the whole
    ``__init__`` with keyword arguments (several µs for a record of a dozen fields). The copy
    made here fills the new instance's slots directly: the result is equal to what
    ``attrs.evolve(record, **dict(zip(names, values)))`` returns. It skips validation, so only
    fields without a validator or converter may be replaced (the others are copied, already
    valid); asking for any other field is an error when the replacer is made, not later.

    Args:
        cls: a slotted attrs class without ``__attrs_post_init__``.
        names: the fields to replace, in the order their new values will be passed.

    Raises:
        TypeError: ``cls`` does not qualify, or a name is not a plain field of it.
    """
    kind: type[_R] = cls  # attrs.has() narrows ``cls``; instances are built from ``kind``
    if not attrs.has(cls):
        raise TypeError(f"{cls.__name__} is not an attrs class")
    fields = {f.name: f for f in attrs.fields(cls)}
    slots = {n for n in getattr(cls, "__slots__", ()) if n != "__weakref__"}
    if slots != set(fields) or hasattr(cls, "__attrs_post_init__"):
        raise TypeError(f"{cls.__name__} must be a slotted attrs class without post-init")
    for name in names:
        f = fields.get(name)
        if f is None or f.validator is not None or f.converter is not None:
            raise TypeError(f"{cls.__name__}.{name} is not a field that can be set unchecked")
    # The copy is generated as straight-line code: one slot store per field, no loop. A frozen
    # class refuses attribute stores, so the stores go through each slot's descriptor, unless
    # the class has a writable twin (see _writable_twin): then they are plain attribute
    # stores on the twin, which CPython makes several times cheaper, and the finished copy
    # becomes an instance of ``cls`` itself.
    args = ", ".join(["record", *[f"_{n}" for n in names]])
    twin = _writable_twin(cls)
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": kind, "_twin": twin}
    lines = [f"def replace({args}):"]
    if twin is not None:
        lines.append("    new = _new(_twin)")
        for n in fields:
            lines.append(f"    new.{n} = {f'_{n}' if n in names else f'record.{n}'}")
        lines.append("    new.__class__ = _cls")
    else:
        lines.append("    new = _new(_cls)")
        for n in fields:
            lines.append(f"    _set_{n}(new, {f'_{n}' if n in names else f'record.{n}'})")
        scope.update({f"_set_{n}": cls.__dict__[n].__set__ for n in fields})
    lines.append("    return new")
    exec("\n".join(lines), scope)
    made: Callable[..., _R] = scope["replace"]
    return made


def _writable_twin(cls: type) -> type | None:
    """A plain class with ``cls``'s slots, whose instances may become ``cls`` instances.

    CPython lets an object's ``__class__`` change between two classes whose instances have
    the same layout: same base, same slots, no ``__dict__`` (and, as it checks them, no
    ``__weakref__`` slot either). The twin has no frozen ``__setattr__``, so filling its slots
    is ordinary attribute stores; it is never seen outside the copy. ``None`` when ``cls``'s
    layout does not allow the change (then the copy sets each slot through its descriptor).
    """
    slots = cls.__dict__.get("__slots__")
    if not isinstance(slots, tuple) or cls.__bases__ != (object,) or "__weakref__" in slots:
        return None
    twin = type(cls.__name__, (object,), {"__slots__": slots, "__module__": cls.__module__})
    probe: object = object.__new__(twin)
    try:
        probe.__class__ = cls
    except TypeError:
        return None
    return twin
