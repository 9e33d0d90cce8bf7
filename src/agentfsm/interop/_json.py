"""A machine as a JSON document (pydantic, with a published JSON Schema), and back.

Loading never evaluates code: guards, updates, effects and choosers are names, resolved against
the ``Implementations`` the caller passes; an unknown name is an ``InvalidMachine`` error.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Union

from agentfsm._actors import _ROLES
from agentfsm._errors import InvalidInput, MissingExtra
from agentfsm._machine import Implementations, Machine
from agentfsm._spec import (
    ActionSpec,
    AllOf,
    AnyOf,
    ChooserSpec,
    EventSpec,
    FieldSpec,
    Guard,
    GuardExpr,
    GuardSpec,
    MachineSpec,
    Not,
    StateSpec,
    TransitionSpec,
)
from agentfsm._values import Actor, AnyRole, Role

try:
    from pydantic import BaseModel, ConfigDict, Field, ValidationError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtra("The JSON export", "interop", "pydantic") from exc

FORMAT_VERSION = 1


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StateDoc(_Doc):
    """A status."""

    name: str
    description: str = ""
    terminal: bool = False
    phase: str | None = None


class FieldDoc(_Doc):
    """A payload field of an event."""

    name: str
    kind: Literal["str", "int", "bool", "datetime", "mapping"] = "str"
    required: bool = True
    description: str = ""


class RoleDoc(_Doc):
    """A machine's own role (the shipped U, S and T need none)."""

    code: str
    label: str = ""
    person: bool = True


class EventDoc(_Doc):
    """An event, with the roles allowed to send it: U, S, T, or the codes of the machine's own
    roles."""

    name: str
    actors: list[str]
    label: str = ""
    description: str = ""
    fields: list[FieldDoc] = Field(default_factory=list)


class GuardDoc(_Doc):
    """A named guard and its refusal."""

    name: str
    code: str
    message: str
    description: str = ""
    reads_input: bool = False


class GuardRef(_Doc):
    """A reference to a named guard."""

    guard: str


class AllOfDoc(_Doc):
    """Every item must pass."""

    all_of: list[GuardNode]


class AnyOfDoc(_Doc):
    """Some item must pass."""

    any_of: list[GuardNode]


class NotDoc(_Doc):
    """The item must fail."""

    not_: GuardNode = Field(alias="not")


GuardNode = Union[GuardRef, AllOfDoc, AnyOfDoc, NotDoc]


class ChooserDoc(_Doc):
    """A named target chooser and the statuses it may return."""

    name: str
    targets: list[str]
    description: str = ""


class ActionDoc(_Doc):
    """A named update or effect."""

    name: str
    description: str = ""


class TransitionDoc(_Doc):
    """One row of the transition table."""

    event: str
    sources: list[str]
    target: str = "="
    chooser: str | None = None
    guard: GuardNode | None = None
    updates: list[str] = Field(default_factory=list)
    effects: list[str] = Field(default_factory=list)
    note: str = ""
    reenter: bool = False


class MachineDocument(_Doc):
    """A whole machine definition, as exchanged in JSON."""

    format: Literal["agentfsm.machine"] = "agentfsm.machine"
    version: int = FORMAT_VERSION
    name: str
    machine_version: int = Field(default=1, ge=1)
    description: str = ""
    initial: str
    roles: list[RoleDoc] = Field(default_factory=list)
    states: list[StateDoc]
    events: list[EventDoc]
    guards: list[GuardDoc] = Field(default_factory=list)
    choosers: list[ChooserDoc] = Field(default_factory=list)
    updates: list[ActionDoc] = Field(default_factory=list)
    effects: list[ActionDoc] = Field(default_factory=list)
    transitions: list[TransitionDoc]
    explanations: list[tuple[str, str, str]] = Field(default_factory=list)
    strict: bool = False


for _model in (AllOfDoc, AnyOfDoc, NotDoc, TransitionDoc, MachineDocument):
    _model.model_rebuild()


def _guard_doc(expr: GuardExpr) -> GuardNode:
    if isinstance(expr, Guard):
        return GuardRef(guard=expr.name)
    if isinstance(expr, Not):
        return NotDoc.model_validate({"not": _guard_doc(expr.item)})
    items = [_guard_doc(i) for i in expr.items]
    return AllOfDoc(all_of=items) if isinstance(expr, AllOf) else AnyOfDoc(any_of=items)


def _guard_expr(node: GuardNode) -> GuardExpr:
    if isinstance(node, GuardRef):
        return Guard(node.guard)
    if isinstance(node, NotDoc):
        return Not(_guard_expr(node.not_))
    if isinstance(node, AllOfDoc):
        return AllOf(tuple(_guard_expr(i) for i in node.all_of))
    return AnyOf(tuple(_guard_expr(i) for i in node.any_of))


def to_document(spec: MachineSpec | Machine) -> MachineDocument:
    """The JSON document of a machine (its spec; implementations are never exported)."""
    s = spec.spec if isinstance(spec, Machine) else spec
    return MachineDocument(
        name=s.name,
        machine_version=s.version,
        description=s.description,
        initial=s.initial,
        roles=[
            RoleDoc(code=r.code, label=r.label, person=r.person)
            for r in s.roles
            if r.__class__ is not Actor
        ],
        states=[StateDoc(**_fields(st)) for st in s.states],
        events=[
            EventDoc(
                name=e.name,
                actors=sorted(a.value for a in e.actors),
                label=e.label,
                description=e.description,
                fields=[FieldDoc(**_fields(f)) for f in e.fields],
            )
            for e in s.events
        ],
        guards=[GuardDoc(**_fields(g)) for g in s.guards],
        choosers=[
            ChooserDoc(name=c.name, targets=list(c.targets), description=c.description)
            for c in s.choosers
        ],
        updates=[ActionDoc(**_fields(u)) for u in s.updates],
        effects=[ActionDoc(**_fields(e)) for e in s.effects],
        transitions=[
            TransitionDoc(
                event=t.event,
                sources=list(t.sources),
                target=t.target,
                chooser=t.chooser,
                guard=None if t.guard is None else _guard_doc(t.guard),
                updates=list(t.updates),
                effects=list(t.effects),
                note=t.note,
                reenter=t.reenter,
            )
            for t in s.transitions
        ],
        explanations=[tuple(x) for x in s.explanations],  # type: ignore[misc]
        strict=s.strict,
    )


def _fields(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__slots__ if name != "__weakref__"}


def to_json(spec: MachineSpec | Machine, *, indent: int | None = 2) -> str:
    """The machine as JSON text."""
    return to_document(spec).model_dump_json(indent=indent, by_alias=True)


def spec_from_json(text: str | bytes) -> MachineSpec:
    """Parse a JSON machine document into a ``MachineSpec`` (no code is evaluated).

    Raises:
        InvalidInput: the text is not JSON, or not a machine document; the message says where.
    """
    try:
        doc = MachineDocument.model_validate_json(text)
    except ValidationError as exc:
        raise InvalidInput(f"not a valid agentfsm machine document: {exc}") from None
    except json.JSONDecodeError as exc:  # pragma: no cover - pydantic reports these itself
        raise InvalidInput(f"not JSON: {exc}") from None
    return spec_from_document(doc)


def _roles(doc: MachineDocument) -> dict[str, AnyRole]:
    roles: dict[str, AnyRole] = {a.value: a for a in Actor}
    for r in doc.roles:
        known = _ROLES.get(r.code)
        # A role already made by the program is the same role when it says the same.
        roles[r.code] = known if known is not None else Role(r.code, r.label, person=r.person)
        if known is not None and (known.label, known.person) != (r.label or known.label, r.person):
            raise InvalidInput(f"the document's role {r.code!r} differs from the role {known!r}")
    return roles


def spec_from_document(doc: MachineDocument) -> MachineSpec:
    """The ``MachineSpec`` of a parsed machine document (no code is evaluated).

    Raises:
        InvalidInput: an event names a role that is neither shipped nor declared in the
            document's ``roles``.
    """
    roles = _roles(doc)

    def role(code: str, event: str) -> AnyRole:
        found = roles.get(code)
        if found is None:
            raise InvalidInput(
                f"event {event!r} names the role {code!r}: declare it under roles, or use U, S, T"
            )
        return found

    return MachineSpec(
        name=doc.name,
        version=doc.machine_version,
        description=doc.description,
        initial=doc.initial,
        states=tuple(StateSpec(**st.model_dump()) for st in doc.states),
        events=tuple(
            EventSpec(
                name=e.name,
                actors=frozenset(role(a, e.name) for a in e.actors),
                label=e.label,
                description=e.description,
                fields=tuple(FieldSpec(**f.model_dump()) for f in e.fields),
            )
            for e in doc.events
        ),
        guards=tuple(GuardSpec(**g.model_dump()) for g in doc.guards),
        choosers=tuple(ChooserSpec(c.name, tuple(c.targets), c.description) for c in doc.choosers),
        updates=tuple(ActionSpec(**u.model_dump()) for u in doc.updates),
        effects=tuple(ActionSpec(**e.model_dump()) for e in doc.effects),
        transitions=tuple(
            TransitionSpec(
                event=t.event,
                sources=tuple(t.sources),
                target=t.target,
                chooser=t.chooser,
                guard=None if t.guard is None else _guard_expr(t.guard),
                updates=tuple(t.updates),
                effects=tuple(t.effects),
                note=t.note,
                reenter=t.reenter,
            )
            for t in doc.transitions
        ),
        explanations=tuple(tuple(x) for x in doc.explanations),  # type: ignore[misc]
        strict=doc.strict,
    )


def machine_from_json(text: str | bytes, implementations: Implementations) -> Machine:
    """Load a machine from JSON, resolving every name against ``implementations``.

    Raises:
        InvalidInput: the document is malformed.
        InvalidMachine: a name has no implementation, or the machine breaks a structural rule.
    """
    return Machine(spec_from_json(text), implementations)


def machine_json_schema() -> dict[str, Any]:
    """The JSON Schema of machine documents."""
    return MachineDocument.model_json_schema(by_alias=True)
