"""Records to their JSON form (see ``agentfsm.wire`` for the rules)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from agentfsm._errors import InvalidInput
from agentfsm._spec import TransitionSpec, render_guard_expr
from agentfsm._values import Actor, Event, Offer, Refusal, Role, Snapshot, Step
from agentfsm._words import quote
from agentfsm.runtime._records import AgentRecord, AuditRow, OutboxItem, TimerRow

TYPE_KEY = "@type"
"""The key naming an attrs record's class in its JSON form (``"@type": "StopHost"``)."""

_ROWS: tuple[type[Any], ...] = (AuditRow, AgentRecord, OutboxItem, TimerRow)


def dump(record: object) -> Any:
    """The JSON form of ``record`` (see the module docstring for the rules).

    Args:
        record: a public record (``Snapshot``, ``Step``, ``Refusal``, ``Offer``, ``Event``,
            ``AuditRow``…), an attrs record, or a plain value, mapping or sequence of them.

    Returns:
        Plain JSON values: ``json.dumps(dump(record))`` always succeeds.

    Raises:
        InvalidInput: ``record`` holds something with no JSON form (a function, bytes, a
            naive datetime, a mapping with a key that is not a string, a float that is not
            finite).
    """
    return _dump(record)


def _dump(value: Any) -> Any:
    cls = value.__class__
    if cls is str or cls is int or cls is bool or value is None:
        return value
    if cls is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidInput(f"the float {value!r} has no JSON form")
        return value
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise InvalidInput(f"the naive datetime {value.isoformat()} has no JSON form")
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Actor | Role):
        return value.code
    if isinstance(value, Snapshot):
        return _snapshot(value)
    if isinstance(value, Step):
        return {
            "accepted": True,
            "snapshot": _snapshot(value.snapshot),
            "effects": [_dump(e) for e in value.effects],
            "transition": _transition(value.transition),
        }
    if isinstance(value, Refusal):
        return _refusal(value)
    if isinstance(value, Offer):
        return {
            "event": value.event,
            "label": value.label,
            "offered": value.offered,
            "refusal": None if value.refusal is None else _refusal(value.refusal),
            "needs": list(value.needs),
            "requirements": list(value.requirements),
        }
    if isinstance(value, Event):
        return {
            "name": value.name,
            "actor": value.actor.code,
            "payload": _mapping(value.payload),
            "id": value.id,
        }
    if isinstance(value, _ROWS):
        return {name: _dump(getattr(value, name)) for name in value._fields}
    if isinstance(value, enum.Enum):
        return _dump(value.value)
    if attrs.has(cls):
        out: dict[str, Any] = {TYPE_KEY: cls.__name__}
        for f in attrs.fields(cls):
            out[f.name] = _dump(getattr(value, f.name))
        return out
    if isinstance(value, Mapping):
        return _mapping(value)
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | bytearray):
        return [_dump(v) for v in value]
    raise InvalidInput(f"{quote(value)} ({cls.__name__}) has no JSON form")


def _mapping(value: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidInput(f"a mapping key must be a string to have a JSON form: {quote(key)}")
        out[key] = _dump(item)
    return out


def _snapshot(value: Snapshot) -> dict[str, Any]:
    return {
        "status": value.status,
        "version": value.version,
        "since": _dump(value.since),
        "data": _dump(value.data),
    }


def _refusal(value: Refusal) -> dict[str, Any]:
    return {
        "accepted": False,
        "code": value.code,
        "message": value.message,
        "event": value.event,
        "status": value.status,
        "guard": value.guard,
    }


def _transition(value: TransitionSpec) -> dict[str, Any]:
    return {
        "event": value.event,
        "sources": list(value.sources),
        "target": value.target,
        "chooser": value.chooser,
        "guard": render_guard_expr(value.guard) or None,
        "note": value.note,
    }
