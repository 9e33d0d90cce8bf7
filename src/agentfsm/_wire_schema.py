"""JSON Schemas (draft 2020-12) of the JSON form ``agentfsm.wire.dump`` writes.

An attrs record's schema is read from its annotations, so a record added to a model gets its
schema without anything written by hand; the runtime's fixed records are spelled out here.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Union

import attrs

from agentfsm._errors import InvalidInput
from agentfsm._values import Event, Offer, Refusal, Snapshot, Step
from agentfsm._wire_dump import TYPE_KEY
from agentfsm.runtime._records import AgentRecord, AuditRow, OutboxItem, TimerRow

DIALECT = "https://json-schema.org/draft/2020-12/schema"

_STR: dict[str, Any] = {"type": "string"}
_INT: dict[str, Any] = {"type": "integer"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
_ANY: dict[str, Any] = {}
_MAP: dict[str, Any] = {"type": "object"}


def _nullable(s: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [s, {"type": "null"}]}


_RECORD: dict[str, Any] = {
    "type": "object",
    "required": [TYPE_KEY],
    "properties": {TYPE_KEY: _STR},
    "description": "an attrs record: its fields, and its class name under @type",
}


def _obj(props: dict[str, Any], title: str, description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": title,
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }
    if description:
        out["description"] = description
    return out


def _refusal() -> dict[str, Any]:
    return _obj(
        {
            "accepted": {"const": False},
            "code": _STR,
            "message": _STR,
            "event": _STR,
            "status": _STR,
            "guard": _nullable(_STR),
        },
        "Refusal",
        "an event the engine will not apply, and why; a refusal changes nothing",
    )


def _snapshot(data: dict[str, Any]) -> dict[str, Any]:
    return _obj(
        {"status": _STR, "version": _INT, "since": _TIME, "data": data},
        "Snapshot",
        "one agent: its status, version, when it entered the status, and its record",
    )


def _audit_row(defs: dict[str, Any]) -> dict[str, Any]:
    return _obj(
        {
            "seq": _INT,
            "event_id": _STR,
            "agent_id": _STR,
            "kind": {"enum": ["create", "event", "erase", "migrate"]},
            "actor": _nullable(_STR),
            "event": _STR,
            "payload": _MAP,
            "from_status": _nullable(_STR),
            "to_status": _STR,
            "version": _INT,
            "refusal": _nullable(_ref(defs, "Refusal", _refusal())),
            "at": _TIME,
            "correlation_id": _nullable(_STR),
            "principal": _nullable(_STR),
            "machine_version": _INT,
            # The snapshot an accepted event was decided on (schema 6 on), else null.
            "before": _nullable(_ref(defs, "Snapshot", _snapshot(_ANY))),
        },
        "AuditRow",
        "one row of an agent's audit log",
    )


def _ref(defs: dict[str, Any], name: str, body: dict[str, Any]) -> dict[str, Any]:
    defs.setdefault(name, body)
    return {"$ref": f"#/$defs/{name}"}


def schema(record_type: type[Any], *, data: type[Any] | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``dump``'s output for records of ``record_type``.

    Args:
        record_type: a public record type (``Snapshot``, ``Step``, ``Refusal``, ``Offer``,
            ``Event``, ``AuditRow``, ``AgentRecord``, ``OutboxItem``, ``TimerRow``) or any
            attrs record class (an agent's data, an effect, a domain event).
        data: for ``Snapshot``, ``Step`` and ``AgentRecord``: the data record's class, so the
            schema describes it too (default: any record).

    Returns:
        A JSON Schema as a JSON-ready ``dict``, with ``$schema`` and, where records nest,
        ``$defs``.

    Raises:
        InvalidInput: ``record_type`` is not a record ``dump`` knows.
    """
    defs: dict[str, Any] = {}
    data_schema = _RECORD if data is None else _ref(defs, data.__name__, _attrs_body(data, defs))
    body: dict[str, Any]
    if record_type is Snapshot:
        body = _snapshot(data_schema)
    elif record_type is Step:
        body = _obj(
            {
                "accepted": {"const": True},
                "snapshot": _ref(defs, "Snapshot", _snapshot(data_schema)),
                "effects": {"type": "array", "items": _RECORD},
                "transition": _obj(
                    {
                        "event": _STR,
                        "sources": {"type": "array", "items": _STR},
                        "target": _STR,
                        "chooser": _nullable(_STR),
                        "guard": _nullable(_STR),
                        "note": _STR,
                    },
                    "Transition",
                ),
            },
            "Step",
            "an accepted event: the agent after it and the effects to perform",
        )
    elif record_type is Refusal:
        body = _refusal()
    elif record_type is Offer:
        body = _obj(
            {
                "event": _STR,
                "label": _STR,
                "offered": _BOOL,
                "refusal": _nullable(_ref(defs, "Refusal", _refusal())),
                "needs": {"type": "array", "items": _STR},
                "requirements": {"type": "array", "items": _STR},
            },
            "Offer",
            "whether one action is offered now, and if not, why",
        )
    elif record_type is Event:
        body = _obj(
            {"name": _STR, "actor": _STR, "payload": _MAP, "id": _nullable(_STR)},
            "Event",
        )
    elif record_type is AuditRow:
        body = _audit_row(defs)
    elif record_type is AgentRecord:
        body = _obj(
            {
                "agent_id": _STR,
                "machine": _STR,
                "snapshot": _ref(defs, "Snapshot", _snapshot(data_schema)),
                "created_at": _TIME,
                "updated_at": _TIME,
                "machine_version": _INT,
            },
            "AgentRecord",
        )
    elif record_type is OutboxItem:
        body = _obj(
            {
                "id": _INT,
                "agent_id": _STR,
                "kind": {"enum": ["effect", "domain_event"]},
                "payload": _RECORD,
                "key": _STR,
                "state": {"enum": ["pending", "done", "parked"]},
                "attempts": _INT,
                "next_attempt_at": _TIME,
                "last_error": _nullable(_STR),
                "claimed_by": _nullable(_STR),
                "claimed_until": _nullable(_TIME),
                "trace_context": _nullable(_STR),
            },
            "OutboxItem",
        )
    elif record_type is TimerRow:
        body = _obj(
            {
                "agent_id": _STR,
                "event": _STR,
                "due_at": _TIME,
                "token": _STR,
                "claimed_by": _nullable(_STR),
                "claimed_until": _nullable(_TIME),
            },
            "TimerRow",
        )
    elif isinstance(record_type, type) and attrs.has(record_type):
        body = _attrs_body(record_type, defs)
    else:
        raise InvalidInput(f"{record_type!r} is not a record agentfsm.wire knows")
    out: dict[str, Any] = {"$schema": DIALECT, **body}
    if defs:
        out["$defs"] = defs
    return out


def _attrs_body(cls: type[Any], defs: dict[str, Any]) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation only a type checker can resolve: describe it loosely
        hints = {}
    props: dict[str, Any] = {TYPE_KEY: {"const": cls.__name__}}
    for f in attrs.fields(cls):
        props[f.name] = _of(hints.get(f.name, Any), defs)
    doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    return _obj(props, cls.__name__, doc)


def field_schema(annotation: Any) -> dict[str, Any]:
    """The schema of one annotated value (with any nested records inlined as ``$defs``)."""
    defs: dict[str, Any] = {}
    out = _of(annotation, defs)
    if defs:
        out = {**out, "$defs": defs}
    return out


def _of(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if tp is Any or tp is object:
        return _ANY
    if tp is type(None):
        return {"type": "null"}
    if tp is bool:
        return _BOOL
    if tp is int:
        return _INT
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return _STR
    if tp is datetime:
        return _TIME
    if tp is timedelta:
        return {"type": "number", "description": "seconds"}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        return {"anyOf": [_of(a, defs) for a in args]}
    if origin in (tuple, list, set, frozenset):
        item = args[0] if args and (origin is not tuple or args[-1] is Ellipsis) else Any
        if origin is tuple and args and args[-1] is not Ellipsis:
            return {"type": "array", "prefixItems": [_of(a, defs) for a in args]}
        return {"type": "array", "items": _of(item, defs)}
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        value = args[1] if len(args) == 2 else Any
        return {"type": "object", "additionalProperties": _of(value, defs)}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if isinstance(tp, type) and attrs.has(tp):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # a placeholder first: records may refer to themselves
            defs[tp.__name__] = _attrs_body(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    return _ANY
