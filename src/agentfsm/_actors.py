"""Who may send an event: the three shipped ``Actor`` members and a machine's own ``Role``s.

A role is known by its stored code, so this module also keeps the registry of every role made,
from which a stored code is read back (``role_named``).
"""

from __future__ import annotations

import abc
import enum
import re
from typing import Any, Union

from agentfsm._errors import InvalidInput
from agentfsm._words import quote


class Role(metaclass=abc.ABCMeta):
    """Someone who may send events to a machine: a role of the platform it runs on.

    The three shipped roles are the members of ``Actor`` (``Actor.USER``, ``Actor.SYSTEM``,
    ``Actor.TIMER``), which are roles too; a machine may add its own (``Role("owner")``,
    ``Role("billing", person=False)``). A role is known by its ``code`` (what the runtime
    stores), so a code names one role only: making a second, different role with a code in
    use is an error. An event's actor may be given as a role or as its code.

    Args:
        code: the stored code (``"owner"``); a short word of letters, digits, ``_`` or ``-``.
        label: a word for people (default: the code in words, ``"billing service"``).
        person: true (the default) when a person acts in this role, through a dashboard or
            an API call; the actions a person may send are the ones ``offered`` lists.

    Raises:
        InvalidInput: the code is malformed, is one of the shipped ``Actor`` codes or names,
            or names another role already.
    """

    __slots__ = ("code", "label", "person")

    code: str
    label: str
    person: bool

    def __init__(self, code: str, label: str = "", *, person: bool = True) -> None:
        if not isinstance(code, str) or not _ROLE_CODE.fullmatch(code):
            raise InvalidInput(
                f"a role code must be a short word of letters, digits, _ or -, not {quote(code)}"
            )
        if _shipped_actor(code) is not None:
            raise InvalidInput(f"the role code {quote(code)} is a shipped Actor's: use Actor")
        if not isinstance(label, str):
            raise InvalidInput(f"a role's label must be a string, not {quote(label)}")
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "label", label or code.replace("_", " ").replace("-", " "))
        object.__setattr__(self, "person", bool(person))
        known = _ROLES.setdefault(code, self)
        if known is not self and (known.label, known.person) != (self.label, self.person):
            raise InvalidInput(
                f"the role code {quote(code)} is already the role {known!r}: a code names one role"
            )

    @property
    def value(self) -> str:
        """The stored code, as ``Actor.USER.value`` is ``"U"``."""
        return self.code

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"a Role is immutable; {name} cannot be set")

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if other.__class__ is not Role:
            return NotImplemented
        return (self.code, self.label, self.person) == (
            other.code,
            other.label,
            other.person,
        )

    def __hash__(self) -> int:
        return hash(self.code)

    def __repr__(self) -> str:
        person = "" if self.person else ", person=False"
        return f"Role({self.code!r}, {self.label!r}{person})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_role, (self.code, self.label, self.person))


def _role(code: str, label: str, person: bool) -> Role:
    return Role(code, label, person=person)


_ROLE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")


def is_role_code(value: object) -> bool:
    """Whether ``value`` could be a role's stored code: a shipped actor's, or a ``Role``'s."""
    return isinstance(value, str) and _ROLE_CODE.fullmatch(value) is not None


_ROLES: dict[str, Role] = {}


class Actor(enum.Enum):
    """The three shipped roles: who sends an event to the shipped models.

    ``USER`` is a person acting through a dashboard or an API call, ``SYSTEM`` is the platform
    reporting what it observed (only the control plane may send these), ``TIMER`` is a timer
    the runtime scheduled durably. Every member is a ``Role`` (``isinstance(Actor.USER, Role)``)
    with a ``code``, a ``label`` and ``person``; a machine may add roles of its own.
    """

    USER = "U"
    SYSTEM = "S"
    TIMER = "T"

    @property
    def label(self) -> str:
        """A word for people: ``user``, ``platform`` or ``timer``."""
        return _ACTOR_LABELS[self]

    @property
    def code(self) -> str:
        """The stored code: ``U``, ``S`` or ``T`` (the member's value)."""
        return str(self.value)

    @property
    def person(self) -> bool:
        """True for ``USER`` only: a person sends user actions."""
        return self is Actor.USER


Role.register(Actor)

_ACTOR_LABELS = {Actor.USER: "user", Actor.SYSTEM: "platform", Actor.TIMER: "timer"}

AnyRole = Union[Actor, Role]
"""A shipped ``Actor`` or a machine's own ``Role``: what ``Event.actor`` holds."""


def _shipped_actor(value: str) -> Actor | None:
    for actor in Actor:
        if value in (actor.value, actor.name, actor.name.lower(), _ACTOR_LABELS[actor]):
            return actor
    return None


def _to_actor(value: object) -> AnyRole:
    if value.__class__ is Actor or value.__class__ is Role:
        return value
    # Only a str is compared: a caller's object could define an __eq__ that raises.
    if isinstance(value, str):
        found = _shipped_actor(value) or _ROLES.get(value)
        if found is not None:
            return found
    raise InvalidInput(
        f"unknown actor {quote(value)}: use Actor.USER, Actor.SYSTEM, Actor.TIMER, "
        "or a Role (or its code)"
    )


def role_named(code: str) -> AnyRole:
    """The role whose code (or, for a shipped ``Actor``, name or label) is ``code``.

    Raises:
        InvalidInput: no role has that code.
    """
    return _to_actor(code)
