"""Reading ``agentfsm.wire``'s JSON form back into records.

Records named by ``@type`` are looked up in an explicit registry (the shipped models' records,
every effect and domain event, and the types a caller adds), never imported by name, and built
through their own ``__init__`` so their validators run: JSON from outside cannot make anything
the caller did not list.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Union

import attrs

from agentfsm._errors import InvalidInput
from agentfsm._machine import Machine
from agentfsm._values import Event, Offer, Refusal, Snapshot
from agentfsm._wire_dump import TYPE_KEY
from agentfsm._words import quote
from agentfsm.runtime._records import AgentRecord, AuditRow


@functools.cache
def _shipped() -> dict[str, type[Any]]:
    from agentfsm import effects
    from agentfsm.models import AlfeAgent, Condition, RecifAgent, RecifSpec

    found: dict[str, type[Any]] = {}
    for cls in (AlfeAgent, RecifAgent, RecifSpec, Condition):
        found[cls.__name__] = cls
    for name in effects.__all__:
        obj = getattr(effects, name)
        if isinstance(obj, type) and attrs.has(obj):
            found[obj.__name__] = obj
    return found


class _Reader:
    def __init__(self, extra: Iterable[type[Any]]) -> None:
        self.types = dict(_shipped())
        for cls in extra:
            if not (isinstance(cls, type) and attrs.has(cls)):
                raise InvalidInput(f"{cls!r} is not an attrs record class")
            self.types[cls.__name__] = cls

    def any(self, value: Any) -> Any:
        if isinstance(value, dict):
            if TYPE_KEY in value:
                return self.record(value, None)
            return {k: self.any(v) for k, v in value.items()}
        if isinstance(value, list):
            return tuple(self.any(v) for v in value)
        return value

    def record(self, value: Any, cls: type[Any] | None) -> Any:
        if not isinstance(value, dict):
            raise InvalidInput(f"a record must be a JSON object, not {quote(value)}")
        tag = value.get(TYPE_KEY)
        if cls is None or (tag is not None and tag != cls.__name__):
            found = self.types.get(tag) if isinstance(tag, str) else None
            if found is None:
                raise InvalidInput(f"unknown record type {quote(tag)}")
            if cls is not None and not issubclass(found, cls):
                raise InvalidInput(f"a {cls.__name__} was expected, not a {tag}")
            cls = found
        try:
            hints = typing.get_type_hints(cls)
        except Exception:
            hints = {}
        kwargs: dict[str, Any] = {}
        for f in attrs.fields(cls):
            if f.name in value and f.init:
                kwargs[f.alias or f.name] = self.typed(value[f.name], hints.get(f.name, Any))
        unknown = set(value) - {TYPE_KEY} - {f.name for f in attrs.fields(cls)}
        if unknown:
            raise InvalidInput(f"{cls.__name__} has no field {quote(sorted(unknown)[0])}")
        try:
            return cls(**kwargs)
        except InvalidInput:
            raise
        except Exception as exc:
            raise InvalidInput(f"not a valid {cls.__name__}: {exc}") from None

    def typed(self, value: Any, tp: Any) -> Any:
        if tp is Any or tp is object:
            return self.any(value)
        if tp is datetime:
            return _time(value)
        if tp is timedelta:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInput(f"a duration must be a number of seconds, not {quote(value)}")
            return timedelta(seconds=value)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is Union or origin is types.UnionType:
            if value is None and type(None) in args:
                return None
            for arg in args:
                if arg is type(None):
                    continue
                try:
                    return self.typed(value, arg)
                except InvalidInput:
                    continue
            raise InvalidInput(f"{quote(value)} fits none of {tp}")
        if origin in (tuple, list, set, frozenset):
            if not isinstance(value, list):
                raise InvalidInput(f"an array was expected, not {quote(value)}")
            item = args[0] if args else Any
            items = tuple(self.typed(v, item) for v in value)
            return frozenset(items) if origin in (set, frozenset) else items
        if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
            if not isinstance(value, dict):
                raise InvalidInput(f"an object was expected, not {quote(value)}")
            item = args[1] if len(args) == 2 else Any
            return {k: self.typed(v, item) for k, v in value.items()}
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            try:
                return tp(value)
            except ValueError:
                raise InvalidInput(f"{quote(value)} is not a {tp.__name__}") from None
        if isinstance(tp, type) and attrs.has(tp):
            return self.record(value, tp)
        if tp in (str, int, bool, float) and not _plain_fits(value, tp):
            raise InvalidInput(f"a {tp.__name__} was expected, not {quote(value)}")
        return value


def _plain_fits(value: Any, tp: Any) -> bool:
    if isinstance(value, bool):
        return tp is bool
    if tp is float:
        return isinstance(value, int | float)
    return isinstance(value, tp)


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidInput(f"a time must be an ISO 8601 string, not {quote(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{quote(value)} is not an ISO 8601 time") from None
    if parsed.utcoffset() is None:
        raise InvalidInput(f"the time {quote(value)} has no offset")
    return parsed


def _fields(value: Any, names: Iterable[str], what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"a {what} must be a JSON object, not {quote(value)}")
    missing = [n for n in names if n not in value]
    if missing:
        raise InvalidInput(f"a {what} needs {', '.join(missing)}")
    return value


def _str(value: Any, name: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string, not {quote(value)}")
    return value


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number, not {quote(value)}")
    return value


def load(
    record_type: type[Any],
    data: Any,
    *,
    types: Iterable[type[Any]] = (),
    machine: Machine | None = None,
) -> Any:
    """The record of ``record_type`` that ``dump`` wrote as ``data``.

    Args:
        record_type: ``AuditRow``, ``Snapshot``, ``AgentRecord``, ``Refusal``, ``Offer``,
            ``Event``, or an attrs record class.
        data: the JSON form (as ``json.loads`` returns it).
        types: attrs record classes besides the shipped ones that ``@type`` may name (your
            own machine's data record).
        machine: the machine the rows belong to, so event payload fields declared as
            ``datetime`` are read back as datetimes (without it they stay strings).

    Returns:
        The record, equal to the one dumped.

    Raises:
        InvalidInput: ``data`` is not the JSON form of such a record.
    """
    reader = _Reader(types)
    if record_type is Refusal:
        return _refusal(data)
    if record_type is Snapshot:
        return _snapshot(reader, data)
    if record_type is AuditRow:
        return _audit_row(reader, data, machine)
    if record_type is AgentRecord:
        d = _fields(data, ("agent_id", "machine", "snapshot", "created_at", "updated_at"), "record")
        return AgentRecord(
            _str(d["agent_id"], "agent_id"),
            _str(d["machine"], "machine"),
            _snapshot(reader, d["snapshot"]),
            _time(d["created_at"]),
            _time(d["updated_at"]),
            _int(d.get("machine_version", 1), "machine_version"),
        )
    if record_type is Offer:
        d = _fields(data, ("event", "label", "offered"), "offer")
        return Offer(
            _str(d["event"], "event"),
            _str(d["label"], "label"),
            bool(d["offered"]),
            None if d.get("refusal") is None else _refusal(d["refusal"]),
            tuple(_str(n, "needs") for n in d.get("needs", ())),
            tuple(_str(n, "requirements") for n in d.get("requirements", ())),
        )
    if record_type is Event:
        d = _fields(data, ("name", "actor"), "event")
        return Event(d["name"], d["actor"], reader.any(d.get("payload") or {}), d.get("id"))
    if isinstance(record_type, type) and attrs.has(record_type):
        return reader.record(data, record_type)
    raise InvalidInput(
        f"agentfsm.wire cannot read a {getattr(record_type, '__name__', record_type)}"
    )


def _refusal(data: Any) -> Refusal:
    d = _fields(data, ("code", "message", "event", "status"), "refusal")
    return Refusal(
        _str(d["code"], "code"),
        _str(d["message"], "message"),
        _str(d["event"], "event"),
        _str(d["status"], "status"),
        _str(d.get("guard"), "guard", optional=True),
    )


def _snapshot(reader: _Reader, data: Any) -> Snapshot:
    d = _fields(data, ("status", "version", "since", "data"), "snapshot")
    return Snapshot(
        _str(d["status"], "status"),
        _int(d["version"], "version"),
        _time(d["since"]),
        reader.any(d["data"]),
    )


def _audit_row(reader: _Reader, data: Any, machine: Machine | None) -> AuditRow:
    names = ("seq", "event_id", "agent_id", "kind", "event", "to_status", "version", "at")
    d = _fields(data, names, "audit row")
    payload = d.get("payload") or {}
    if not isinstance(payload, dict):
        raise InvalidInput(f"payload must be a JSON object, not {quote(payload)}")
    loaded = reader.any(payload)
    if machine is not None and d["kind"] == "event":
        try:
            fields = machine.spec.event(d["event"]).fields
        except KeyError:
            fields = ()
        for f in fields:
            if f.kind == "datetime" and isinstance(loaded.get(f.name), str):
                loaded[f.name] = _time(loaded[f.name])
            elif f.kind == "mapping" and isinstance(payload.get(f.name), dict):
                loaded[f.name] = payload[f.name]
    return AuditRow(
        _int(d["seq"], "seq"),
        _str(d["event_id"], "event_id"),
        _str(d["agent_id"], "agent_id"),
        _str(d["kind"], "kind"),
        _str(d.get("actor"), "actor", optional=True),
        _str(d["event"], "event"),
        loaded,
        _str(d.get("from_status"), "from_status", optional=True),
        _str(d["to_status"], "to_status"),
        _int(d["version"], "version"),
        None if d.get("refusal") is None else _refusal(d["refusal"]),
        _time(d["at"]),
        _str(d.get("correlation_id"), "correlation_id", optional=True),
        _str(d.get("principal"), "principal", optional=True),
        _int(d.get("machine_version", 1), "machine_version"),
        None if d.get("before") is None else _snapshot(reader, d["before"]),
    )
