"""The parts a machine is defined from in ``agentfsm.define``: guards, updates and effects, each
defined once, next to the function behind it.

A decorated guard carries its name, its refusal code and sentence and its function together;
``&``, ``|`` and ``~`` combine guards into the engine's ``AllOf``, ``AnyOf`` and ``Not`` while
keeping the definitions at hand, so a row may name its guards by the Python objects themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import CodeType
from typing import Any, overload

from agentfsm._errors import InvalidInput
from agentfsm._spec import AllOf, AnyOf, Guard, GuardExpr, GuardSpec, Not
from agentfsm._words import quote, readable

GuardFunction = Callable[..., bool]


def code_reads(fn: Callable[..., Any], names: frozenset[str]) -> bool:
    """True when ``fn``'s code (or a function, lambda or comprehension inside it) names an
    attribute or global in ``names``: how a guard is seen to read ``payload`` or ``now``."""
    code = getattr(fn, "__code__", None)
    if code is None:
        call = vars(type(fn)).get("__call__")  # a callable object: look at its __call__
        code = getattr(call, "__code__", None)
    return code is not None and any(names.intersection(c.co_names) for c in _codes(code))


def _codes(code: CodeType) -> Iterator[CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _codes(const)


class Condition:
    """A guard expression built from defined guards with ``&``, ``|`` and ``~``."""

    __slots__ = ()

    def expr(self) -> GuardExpr:
        """The engine's guard expression for this condition."""
        raise NotImplementedError

    def defined(self) -> tuple[GuardDef, ...]:
        """The guard definitions this condition refers to."""
        raise NotImplementedError

    def __and__(self, other: Condition) -> Condition:
        return _Combined(AllOf, (self, _condition(other)))

    def __or__(self, other: Condition) -> Condition:
        return _Combined(AnyOf, (self, _condition(other)))

    def __invert__(self) -> Condition:
        return _Negated(self)


def _condition(value: object) -> Condition:
    if not isinstance(value, Condition):
        raise InvalidInput(f"only guards combine with &, | and ~, not {quote(value)}")
    return value


class _Combined(Condition):
    __slots__ = ("items", "kind")

    def __init__(self, kind: type[AllOf] | type[AnyOf], items: tuple[Condition, ...]) -> None:
        self.kind = kind
        self.items = items

    def expr(self) -> GuardExpr:
        return self.kind(tuple(i.expr() for i in self.items))

    def defined(self) -> tuple[GuardDef, ...]:
        return tuple(d for i in self.items for d in i.defined())


class _Negated(Condition):
    __slots__ = ("item",)

    def __init__(self, item: Condition) -> None:
        self.item = item

    def expr(self) -> GuardExpr:
        return Not(self.item.expr())

    def defined(self) -> tuple[GuardDef, ...]:
        return self.item.defined()


class GuardDef(Condition):
    """A guard, defined once: its function, its name and the refusal it gives when it fails.

    Made by the ``guard`` decorator; call it as the function it wraps.

    Attributes:
        fn: ``fn(snapshot, event, context) -> bool``.
        spec: the ``GuardSpec`` the machine gets (name, code, sentence, description and
            whether it reads typed input).
    """

    __slots__ = ("fn", "spec")

    def __init__(self, fn: GuardFunction, spec: GuardSpec) -> None:
        self.fn = fn
        self.spec = spec

    @property
    def name(self) -> str:
        """The guard's name (the function's, unless given)."""
        return self.spec.name

    def __call__(self, *args: Any) -> bool:
        return self.fn(*args)

    def expr(self) -> GuardExpr:
        """The engine's reference to this guard, ``Guard(name)``."""
        return Guard(self.spec.name)

    def defined(self) -> tuple[GuardDef, ...]:
        """This guard alone."""
        return (self,)

    def __repr__(self) -> str:
        return f"<guard {self.spec.name!r}: {self.spec.code}>"


_PAYLOAD = frozenset({"payload"})


@overload
def guard(
    fn: GuardFunction,
    /,
    *,
    code: str | None = None,
    sentence: str | None = None,
    name: str | None = None,
    description: str | None = None,
    reads_input: bool | None = None,
) -> GuardDef: ...


@overload
def guard(
    *,
    code: str | None = None,
    sentence: str | None = None,
    name: str | None = None,
    description: str | None = None,
    reads_input: bool | None = None,
) -> Callable[[GuardFunction], GuardDef]: ...


def guard(
    fn: GuardFunction | None = None,
    /,
    *,
    code: str | None = None,
    sentence: str | None = None,
    name: str | None = None,
    description: str | None = None,
    reads_input: bool | None = None,
) -> GuardDef | Callable[[GuardFunction], GuardDef]:
    """Define a guard where its function is: ``@guard(code=..., sentence=...)`` over
    ``def has_quota(snapshot, event, context) -> bool``.

    Args:
        fn: the function, when the decorator is used bare (``@guard``) or ``guard`` is called
            on it (``guard(lambda s, e, c: ..., name="fits", code=...)``).
        code: the refusal code when it fails (default: ``"<name>_failed"``).
        sentence: the refusal sentence; ``{label}``, ``{status}``, ``{event}`` and the
            policy's durations (``{grace_period}``…) are filled in (default: "<Label> is not
            allowed: <the description>.").
        name: how rows and documents refer to it (default: the function's name).
        description: what it checks, for docs and diagrams (default: the docstring's first
            line, or the name in words).
        reads_input: whether it reads payload a person types, so ``offered`` lists the input
            the action needs instead of evaluating the guard. The default (``None``) infers it:
            a guard whose code reads ``payload`` reads input.

    Returns:
        A ``GuardDef`` (or a decorator making one); rows may use it directly, combined with
        ``&``, ``|`` and ``~``.

    Raises:
        InvalidInput: ``fn`` is not callable, or a value is not a string.
    """

    def make(f: GuardFunction) -> GuardDef:
        named = _defined_name("guard", "a guard", f, name)
        about = description if description is not None else _first_line(f) or readable(named)
        for what, value in (("code", code), ("sentence", sentence), ("description", about)):
            if value is not None and not isinstance(value, str):
                raise InvalidInput(f"a guard's {what} must be a string, not {quote(value)}")
        reads = code_reads(f, _PAYLOAD) if reads_input is None else bool(reads_input)
        spec = GuardSpec(
            name=named,
            code=code or f"{named}_failed",
            message=sentence or "{label} is not allowed: " + _lower_first(about) + ".",
            description=about,
            reads_input=reads,
        )
        return GuardDef(f, spec)

    return make(fn) if fn is not None else make


def _defined_name(decorator: str, what: str, f: object, name: str | None) -> str:
    # What every decorator here checks first: it wraps a function, named by an identifier.
    if not callable(f):
        raise InvalidInput(f"@{decorator} decorates a function, not {quote(f)}")
    named = name or getattr(f, "__name__", "")
    if not isinstance(named, str) or not named.isidentifier():
        raise InvalidInput(f"{what} needs a name that is an identifier, not {quote(named)}")
    return named


def _first_line(fn: Callable[..., Any]) -> str:
    doc = getattr(fn, "__doc__", None) or ""
    return doc.strip().split("\n", 1)[0].strip().rstrip(".")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


class ActionDef:
    """A data update or an effect builder, defined once: its function, name and description.

    Made by the ``update`` and ``effect`` decorators; call it as the function it wraps.

    Attributes:
        fn: an update is ``fn(data, snapshot, event, context) -> new data``; an effect builder
            is ``fn(before, after, event, context) -> tuple of effects``.
        kind: ``"update"`` or ``"effect"``.
        name: how rows and documents refer to it.
        description: what it does.
    """

    __slots__ = ("description", "fn", "kind", "name")

    def __init__(self, fn: Callable[..., Any], kind: str, name: str, description: str) -> None:
        self.fn = fn
        self.kind = kind
        self.name = name
        self.description = description

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name!r}>"


ActionFunction = Callable[..., Any]


def _action(kind: str, fn: ActionFunction | None, name: str | None) -> Any:
    def make(f: ActionFunction) -> ActionDef:
        named = _defined_name(kind, f"an {kind}", f, name)
        return ActionDef(f, kind, named, _first_line(f))

    return make(fn) if fn is not None else make


@overload
def update(fn: ActionFunction, /, *, name: str | None = None) -> ActionDef: ...


@overload
def update(*, name: str | None = None) -> Callable[[ActionFunction], ActionDef]: ...


def update(
    fn: ActionFunction | None = None, /, *, name: str | None = None
) -> ActionDef | Callable[[ActionFunction], ActionDef]:
    """Define a data update: ``@update`` over ``def mark_done(data, snapshot, event, context)``
    returning the record's new value. Its docstring's first line describes it.

    Args:
        fn: the function, when the decorator is used bare.
        name: how rows and documents refer to it (default: the function's name).

    Returns:
        An ``ActionDef`` (or a decorator making one) that rows may list in their actions.

    Raises:
        InvalidInput: ``fn`` is not callable, or the name is not an identifier.
    """
    made: ActionDef | Callable[[ActionFunction], ActionDef] = _action("update", fn, name)
    return made


@overload
def effect(fn: ActionFunction, /, *, name: str | None = None) -> ActionDef: ...


@overload
def effect(*, name: str | None = None) -> Callable[[ActionFunction], ActionDef]: ...


def effect(
    fn: ActionFunction | None = None, /, *, name: str | None = None
) -> ActionDef | Callable[[ActionFunction], ActionDef]:
    """Define an effect builder: ``@effect`` over ``def notify(before, after, event, context)``
    returning a tuple of effect records. Its docstring's first line describes it.

    Args:
        fn: the function, when the decorator is used bare.
        name: how rows and documents refer to it (default: the function's name).

    Returns:
        An ``ActionDef`` (or a decorator making one) that rows may list in their actions.

    Raises:
        InvalidInput: ``fn`` is not callable, or the name is not an identifier.
    """
    made: ActionDef | Callable[[ActionFunction], ActionDef] = _action("effect", fn, name)
    return made
