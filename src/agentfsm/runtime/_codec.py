"""JSON for stored records: attrs records with a type tag, resolved through an explicit registry.

Stored JSON never names a Python import path: a tag is looked up in the codec's registry, and
an unknown tag is a ``CodecError``, so a database cannot make the runtime import or build
anything it was not told about. The encoding:

- ``None``, booleans, numbers and strings are themselves;
- tuples and lists become JSON arrays (read back as tuples: stored records are immutable);
- mappings with string keys become JSON objects (wrapped as ``{"@map": {...}}`` when a key
  starts with ``@``, so it cannot be mistaken for a tag);
- an aware ``datetime`` becomes ``{"@dt": "2026-04-03T10:00:00+02:00"}`` (ISO 8601, offset
  kept); a ``timedelta`` becomes ``{"@td": microseconds}``;
- a registered attrs record becomes ``{"@type": "AlfeAgent", "field": value, ...}`` and is
  rebuilt through its own ``__init__``, so its validators run on the way back in.

Whatever cannot be written or read this way is a ``CodecError``, never the error of the layer
that noticed: an int too long for Python to print (over 4,300 digits), nesting deeper than the
interpreter can follow, a circular structure, text that no store can hold (see ``_storable``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import operator
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

import attrs

from agentfsm._values import Refusal
from agentfsm.runtime import _codec_fast
from agentfsm.runtime._errors import CodecError
from agentfsm.runtime._storable import text_problem

_TIMEDELTA_US = timedelta(microseconds=1)
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)
_MEMO_SIZE = 4096
_PLAIN = frozenset({str, int, bool, type(None)})
_quote: Callable[[str], str] = json.encoder.encode_basestring
# What the standard library raises for values JSON cannot carry: ValueError for an int over
# the digit limit or a circular structure, RecursionError for deep nesting.
_UNWRITABLE = (ValueError, RecursionError, OverflowError)
# And for stored JSON that does not fit the encoding (``{"@td": "x"}``, an "@map" of a list…).
_UNREADABLE = (TypeError, ValueError, RecursionError, OverflowError, AttributeError)

# JSON text of the plain scalars, written without building an intermediate object: this is
# exactly what the standard encoder writes for them (ensure_ascii off).
_SCALAR_JSON: dict[type[Any], Callable[[Any], str]] = {
    str: _quote,
    int: int.__repr__,
    bool: lambda b: "true" if b else "false",
    type(None): lambda _: "null",
}


def _tuples(items: list[Any]) -> tuple[Any, ...]:
    """A JSON array as a tuple, nested arrays included (stored records are immutable)."""
    return tuple(_tuples(v) if type(v) is list else v for v in items)


@functools.lru_cache(maxsize=4096)
def _iso_cached(value: datetime, offset: timedelta | None) -> str:
    return value.isoformat()


def _iso(value: datetime) -> str:
    # The offset is part of the key: datetimes at one instant with different offsets are
    # equal (and hash alike), but must keep their own offset in the text.
    return _iso_cached(value, value.utcoffset())


class Codec:
    """Turns stored values into JSON and back.

    Args:
        types: the attrs classes it may write and read; each is tagged with its class name.

    Raises:
        CodecError: a class is not an attrs class, or two classes share a name.
    """

    def __init__(self, types: Iterable[type[Any]] = ()) -> None:
        self._by_tag: dict[str, type[Any]] = {}
        self._by_type: dict[type[Any], tuple[str, tuple[tuple[str, str], ...]]] = {}
        self._getters: dict[type[Any], tuple[str, tuple[str, ...], Callable[[Any], Any]]] = {}
        self._aliases: dict[type[Any], dict[str, str]] = {}  # stored field name -> init name
        # Per record type whose stored names are its init names: those names. A stored record
        # of plain values then goes to the class as it is, without a lookup per field.
        self._same_names: dict[type[Any], frozenset[str]] = {}
        # Per record type: the text before its fields, the ``"name":`` text of each field, and
        # the getter; ``dumps`` writes a record's JSON from these directly.
        self._writers: dict[type[Any], tuple[str, tuple[str, ...], Callable[[Any], Any]]] = {}
        # Stored records are frozen, and an agent's data usually passes unchanged through many
        # events: remembering the JSON of the last few records (by identity, holding a
        # reference so an id is never reused while remembered) skips most re-encoding. An
        # OrderedDict, because evicting the oldest entry of a plain dict again and again makes
        # finding the next oldest slower and slower (iteration skips the deleted slots).
        self._memo: OrderedDict[int, tuple[Any, str]] = OrderedDict()
        # A subclass that refines ``encode`` or ``decode`` gets them called on every value:
        # the direct paths below would go around them.
        self._direct = type(self).encode is Codec.encode
        self._hooked = type(self).decode is Codec.decode
        # With msgspec installed (the ``fast`` extra), records, payloads and stored text go
        # through it; the text is the same (see ``_codec_fast``).
        self._fast = _codec_fast.FastJSON(_iso) if _codec_fast.AVAILABLE else None
        # One decoder for every ``loads``: ``json.loads(text, object_hook=...)`` builds a new
        # one per call, which costs a fifth of decoding a small record.
        self._decoder = json.JSONDecoder(object_hook=self._hook)
        for cls in types:
            self._add(cls)

    def _add(self, cls: type[Any]) -> None:
        if not attrs.has(cls):
            raise CodecError(f"{cls!r} is not an attrs class; only attrs records can be stored")
        tag = cls.__name__
        known = self._by_tag.get(tag)
        if known is not None and known is not cls:
            raise CodecError(
                f"two stored types share the tag {tag!r} ({known!r} and {cls!r}); rename one"
            )
        self._by_tag[tag] = cls
        fields = tuple((f.name, f.alias or f.name) for f in attrs.fields(cls) if f.init)
        self._by_type[cls] = (tag, fields)
        self._aliases[cls] = dict(fields)
        if all(name == alias for name, alias in fields):
            self._same_names[cls] = frozenset(name for name, _alias in fields)
        names = tuple(name for name, _alias in fields)
        # attrgetter fetches every field in one C call; a 1-field getter returns a bare value.
        getter = operator.attrgetter(*names) if len(names) > 1 else _one_field(names)
        self._getters[cls] = (tag, names, getter)
        if self._direct:
            keys = tuple(f"{_quote(name)}:" for name in names)
            self._writers[cls] = ('{"@type":' + _quote(tag), keys, getter)
            if self._fast is not None:
                self._fast.add(cls, tag, names, getter)

    def with_types(self, *types: type[Any]) -> Codec:
        """A new codec that also knows ``types`` (this one is left unchanged)."""
        new = Codec(self._by_tag.values())
        for cls in types:
            new._add(cls)
        return new

    @property
    def tags(self) -> frozenset[str]:
        """The tags this codec can read."""
        return frozenset(self._by_tag)

    # -- encoding --------------------------------------------------------------------------

    def encode(self, value: Any) -> Any:
        """``value`` as JSON-able data (dicts, lists, strings, numbers, booleans, ``None``).

        Raises:
            CodecError: ``value`` holds an unregistered type, a naive datetime or a non-string
                mapping key.
        """
        kind = type(value)
        if kind in _PLAIN:
            return value
        entry = self._getters.get(kind)
        if entry is not None:
            tag, names, getter = entry
            values = getter(value)
            out: dict[str, Any] = {"@type": tag, **dict(zip(names, values, strict=True))}
            if not _PLAIN.issuperset(map(type, values)):
                for name, item in zip(names, values, strict=True):
                    if type(item) not in _PLAIN:
                        out[name] = self.encode(item)
            return out
        if (
            (kind is dict or kind is MappingProxyType)
            and _PLAIN.issuperset(map(type, value.values()))
            and all(type(k) is str and not k.startswith("@") for k in value)
        ):
            return dict(value)  # the common payload: string keys, plain values
        if kind is float:
            if value != value or value in (float("inf"), float("-inf")):
                raise CodecError(f"cannot store the float {value!r}: JSON has no such number")
            return value
        if isinstance(value, datetime):
            if value.utcoffset() is None:
                raise CodecError(f"cannot store the naive datetime {value.isoformat()}")
            return {"@dt": _iso(value)}
        if isinstance(value, timedelta):
            return {"@td": value // _TIMEDELTA_US}
        if isinstance(value, tuple | list):
            return [v if type(v) in _PLAIN else self.encode(v) for v in value]
        if isinstance(value, Mapping):
            obj: dict[str, Any] = {}
            tagged = False
            for k, v in value.items():
                if not isinstance(k, str):
                    raise CodecError(f"cannot store a mapping with the non-string key {k!r}")
                tagged = tagged or k.startswith("@")
                obj[k] = v if type(v) in _PLAIN else self.encode(v)
            return {"@map": obj} if tagged else obj
        if isinstance(value, str | int):  # subclasses of the plain types (an IntEnum…)
            return value
        if attrs.has(kind):
            raise CodecError(
                f"cannot store a {kind.__name__}: it is not in the codec's registry; "
                "add it with codec.with_types(...)"
            )
        raise CodecError(f"cannot store a value of type {kind.__name__}: {value!r}")

    def dumps(self, value: Any) -> str:
        """``value`` as a compact JSON string (see ``encode``) that every store can hold.

        The text is the standard encoder's, written directly for registered records and flat
        string-keyed mappings (the data and payloads stored on every event).

        Raises:
            CodecError: as ``encode``; or ``value`` holds an int too long to write (over 4,300
                digits), nesting too deep or circular, or text no store can hold (a lone
                surrogate such as ``"\\udcff"``, or U+0000).
        """
        # A remembered record's text was checked before it was remembered.
        hit = self._memo.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        return self._checked(self._dumps, value)

    def dumps_once(self, value: Any) -> str:
        """``dumps`` for a value written once (a migration's new data records): its text is
        not remembered, so it does not push out the records that are written again and again.

        Raises:
            CodecError: as ``dumps``.
        """
        kind = type(value)
        writer = self._writers.get(kind)
        if writer is None:
            return self.dumps(value)

        def once(value: Any) -> str:
            text = self._fast.record(value) if self._fast is not None else None
            return text if text is not None else self._record_json(value, writer)

        return self._checked(once, value)

    @staticmethod
    def _checked(write: Callable[[Any], str], value: Any) -> str:
        try:
            text = write(value)
        except CodecError:
            raise
        except _UNWRITABLE as exc:
            raise CodecError(f"cannot store this {_kind(value)}: {_reason(exc)}") from None
        if text.isascii():  # the usual text, without the call
            return text
        problem = text_problem(text)
        if problem is not None:
            raise CodecError(f"cannot store this {_kind(value)}: its text {problem}")
        return text

    def _dumps(self, value: Any) -> str:
        kind = type(value)
        writer = self._writers.get(kind)
        if writer is None:
            if (kind is dict or kind is MappingProxyType) and self._direct:
                if not value:
                    return "{}"
                flat = self._fast.mapping(value) if self._fast is not None else None
                if flat is None:
                    flat = self._flat_mapping(value)
                if flat is not None:
                    return flat
            elif not value and isinstance(value, Mapping):
                return "{}"
            return _ENCODER.encode(self.encode(value))
        memo = self._memo  # ``dumps`` looked in it already
        text = self._fast.record(value) if self._fast is not None else None
        if text is None:
            text = self._record_json(value, writer)
        if not text.isascii() and text_problem(text) is not None:
            return text  # not remembered: ``_checked`` refuses it, now and every time
        if len(memo) >= _MEMO_SIZE:
            with contextlib.suppress(KeyError):  # another thread emptied it meanwhile
                memo.popitem(last=False)
        memo[id(value)] = (value, text)
        return text

    def _record_json(
        self, value: Any, writer: tuple[str, tuple[str, ...], Callable[[Any], Any]]
    ) -> str:
        head, keys, getter = writer
        if not keys:
            return head + "}"
        scalar = _SCALAR_JSON.get
        other = self._value_json
        fields = ",".join(
            [
                key + scalar(type(item), other)(item)
                for key, item in zip(keys, getter(value), strict=True)
            ]
        )
        return f"{head},{fields}}}"

    def _value_json(self, value: Any) -> str:
        kind = type(value)
        writer = self._writers.get(kind)
        if writer is not None:
            return self._record_json(value, writer)
        if kind is datetime and value.utcoffset() is not None:
            return '{"@dt":' + _quote(_iso(value)) + "}"
        return _ENCODER.encode(self.encode(value))

    @staticmethod
    def _flat_mapping(value: Mapping[str, Any]) -> str | None:
        # The usual payload: a few string keys with plain values. Anything else (a key that
        # needs the "@map" wrapper, a nested value) takes the general path.
        scalar = _SCALAR_JSON.get
        parts = []
        for k, v in value.items():
            write = scalar(type(v))
            if write is None or type(k) is not str or k.startswith("@"):
                return None
            parts.append(_quote(k) + ":" + write(v))
        return "{" + ",".join(parts) + "}"

    # -- decoding --------------------------------------------------------------------------

    def decode(self, data: Any) -> Any:
        """The value that ``encode`` turned into ``data``.

        Raises:
            CodecError: ``data`` names an unknown tag, or a record's fields do not fit its type.
        """
        if isinstance(data, dict):
            tag = data.get("@type")
            if tag is not None:
                return self._record(tag, data)
            if "@dt" in data and len(data) == 1:
                return self._datetime(data["@dt"])
            if "@td" in data and len(data) == 1:
                return timedelta(microseconds=data["@td"])
            if "@map" in data and len(data) == 1:
                data = data["@map"]
            return {k: self.decode(v) for k, v in data.items()}
        if isinstance(data, list):
            return tuple(self.decode(v) for v in data)
        return data

    def loads(self, text: str | bytes) -> Any:
        """The value stored as the JSON string ``text``.

        Raises:
            CodecError: ``text`` is not JSON, or ``decode`` refuses it.
        """
        if self._hooked and self._fast is not None:
            data = self._fast.parse(text)
            if data is not _codec_fast.SLOW:  # else the standard parser reads it, or says why
                try:
                    return self.decode(data)
                except CodecError:
                    raise
                except _UNREADABLE as exc:
                    raise CodecError(f"stored JSON is malformed: {_reason(exc)}") from None
        if self._hooked and isinstance(text, str) and "@map" not in text:
            # Records and tags are rebuilt by the parser as it closes each object, innermost
            # first, instead of by a second walk over the parsed data. An "@map" wrapper says
            # its contents are plain even when a key looks like a tag, which an inner-first
            # hook cannot know, so such text takes the walk.
            try:
                data = self._decoder.decode(text)
                return _tuples(data) if type(data) is list else data
            except CodecError:
                raise
            except _UNREADABLE as exc:
                raise CodecError(f"stored JSON is malformed: {_reason(exc)}") from None
        try:
            return self.decode(json.loads(text))
        except CodecError:
            raise
        except _UNREADABLE as exc:
            raise CodecError(f"stored JSON is malformed: {_reason(exc)}") from None

    def _hook(self, data: dict[str, Any]) -> Any:
        # ``decode`` for one object whose members are already decoded (arrays still lists).
        tag = data.get("@type")
        if tag is not None:
            return self._record(tag, data, decoded=True)
        if len(data) == 1:
            if "@dt" in data:
                return self._datetime(data["@dt"])
            if "@td" in data:
                return timedelta(microseconds=data["@td"])
        for k, v in data.items():
            if type(v) is list:
                data[k] = _tuples(v)
        return data

    def _record(self, tag: object, data: dict[str, Any], *, decoded: bool = False) -> Any:
        cls = self._by_tag.get(tag) if isinstance(tag, str) else None
        if cls is None:
            raise CodecError(
                f"stored JSON names the type {tag!r}, which this codec does not know; "
                "register it with codec.with_types(...)"
            )
        same = self._same_names.get(cls)
        if same is not None:
            kwargs = dict(data)
            del kwargs["@type"]
            if same.issuperset(kwargs) and _PLAIN.issuperset(map(type, kwargs.values())):
                return self._build(cls, tag, kwargs)
            # Else an unknown field (named below), or values still to decode.
        names = self._aliases[cls]
        kwargs = {}
        for key, raw in data.items():
            if key == "@type":
                continue
            alias = names.get(key)
            if alias is None:
                raise CodecError(f"stored {tag} has the unknown field {key!r}")
            if decoded:
                kwargs[alias] = _tuples(raw) if type(raw) is list else raw
            else:
                kwargs[alias] = raw if type(raw) in _PLAIN else self.decode(raw)
        return self._build(cls, tag, kwargs)

    @staticmethod
    def _build(cls: type[Any], tag: object, kwargs: dict[str, Any]) -> Any:
        try:
            return cls(**kwargs)
        except Exception as exc:  # the record's own validators said no
            raise CodecError(f"stored {tag} is not valid: {exc}") from exc

    @staticmethod
    def _datetime(text: object) -> datetime:
        try:
            value = datetime.fromisoformat(text)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise CodecError(f"stored datetime {text!r} is not ISO 8601") from None
        if value.utcoffset() is None:
            raise CodecError(f"stored datetime {text!r} has no UTC offset")
        return value


def _kind(value: Any) -> str:
    # Never the value's repr: that of a deep or huge value fails the same way.
    return "mapping" if isinstance(value, Mapping) else type(value).__name__


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "it is nested too deeply (or holds itself)"
    return str(exc) or type(exc).__name__


def _one_field(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if not names:
        return lambda value: ()
    get = operator.attrgetter(names[0])
    return lambda value: (get(value),)


def _default_types() -> list[type[Any]]:
    from agentfsm import effects
    from agentfsm.models import AlfeAgent, Condition, RecifAgent, RecifSpec

    found: list[type[Any]] = [AlfeAgent, RecifAgent, RecifSpec, Condition, Refusal]
    for name in effects.__all__:
        obj = getattr(effects, name)
        if isinstance(obj, type) and attrs.has(obj):
            found.append(obj)
    return found


DEFAULT_CODEC = Codec(_default_types())
"""A codec for the shipped models' records, every effect record and domain event, and Refusal."""
