"""The codec's fast path, on msgspec (the ``fast`` extra), writing the hand-written path's JSON.

Each registered record gets a generated msgspec struct with the record's tag first and its fields
in the record's order, so msgspec writes, in C, the very text ``Codec`` writes by hand; stored
text is parsed by msgspec too, and ``Codec.decode`` rebuilds the records from what it parsed.

The fast path takes only what it writes byte for byte as the hand-written path does: the plain
scalars (``str``, ``int``, ``bool``, ``None``), aware datetimes, registered records, tuples and
lists of those, and mappings of those under string keys that do not start with ``@``. Anything
else in a value (a float, whose exponent msgspec spells ``1e16`` where the standard library
writes ``1e+16``; a timedelta; a key that needs the ``@map`` wrapper), and whatever
msgspec cannot write or read (a lone surrogate, ``NaN``), goes the hand-written way, which is
also the whole codec when msgspec is not installed: the core needs attrs alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import MappingProxyType
from typing import Any

try:
    import msgspec
except ImportError:  # pragma: no cover - the core runs without the extra
    msgspec = None  # type: ignore[assignment]

AVAILABLE = msgspec is not None
"""Whether msgspec is installed (``pip install agentfsm[fast]``)."""

_PLAIN = frozenset({str, int, bool, type(None)})


class _Slow(Exception):
    """A value the fast path does not write exactly as the hand-written path."""


SLOW: Any = object()
"""What ``FastJSON.parse`` returns for text msgspec cannot read."""


class FastJSON:
    """msgspec's encoder and decoder, and one struct per registered record type.

    Args:
        iso: an aware datetime's ISO 8601 text, as the hand-written path writes it.
    """

    def __init__(self, iso: Callable[[datetime], str]) -> None:
        assert msgspec is not None
        self._encode = msgspec.json.Encoder().encode
        self._decode = msgspec.json.Decoder().decode
        self._errors: tuple[type[Exception], ...] = (
            msgspec.DecodeError,
            UnicodeError,
            ValueError,
            TypeError,
            OverflowError,
            RecursionError,
        )
        self._record_errors = (_Slow, *self._errors)
        self._iso = iso
        self._structs: dict[type[Any], tuple[Any, Callable[[Any], tuple[Any, ...]]]] = {}

    def add(
        self, cls: type[Any], tag: str, names: tuple[str, ...], get: Callable[[Any], Any]
    ) -> None:
        """Generate the struct of a record type: ``{"@type": tag, name: value, ...}``, its
        fields from ``get``, which returns a tuple of the field values in ``names``' order."""
        assert msgspec is not None
        # Generated names, renamed to the real ones: a field may be called anything the
        # record allows (``_private``, a keyword-like name) and still be written as it is.
        fields = [(f"f{i}", object) for i in range(len(names))]
        rename = {f"f{i}": name for i, name in enumerate(names)}
        struct = msgspec.defstruct(
            f"Stored{tag}", fields, tag_field="@type", tag=tag, rename=rename
        )
        self._structs[cls] = (struct, get)

    def record(self, value: Any) -> str | None:
        """A registered record's JSON text, or ``None`` when the record holds a value the fast
        path leaves to the hand-written one."""
        try:
            return self._encode(self._struct(value)).decode()
        except self._record_errors:
            return None

    def mapping(self, value: Any) -> str | None:
        """A flat mapping's JSON text (string keys not starting with ``@``, plain values), or
        ``None`` when it is not such a mapping."""
        if not _PLAIN.issuperset(map(type, value.values())):
            return None
        if type(value) is MappingProxyType:
            value = dict(value)
        for key in value:
            if type(key) is not str or key.startswith("@"):
                return None
        try:
            return self._encode(value).decode()
        except self._errors:
            return None

    def parse(self, text: str | bytes) -> Any:
        """The JSON data of ``text`` (objects as dicts, arrays as lists), or ``SLOW`` when
        msgspec cannot read it (the hand-written path then reads it, or says why not)."""
        try:
            return self._decode(text)
        except self._errors:
            return SLOW

    def _struct(self, value: Any) -> Any:
        struct, get = self._structs[type(value)]
        values = get(value)
        if _PLAIN.issuperset(map(type, values)):
            return struct(*values)
        return struct(*[v if type(v) in _PLAIN else self._value(v) for v in values])

    def _value(self, value: Any) -> Any:
        kind = type(value)
        if kind in self._structs:
            return self._struct(value)
        if kind is datetime and value.utcoffset() is not None:
            return {"@dt": self._iso(value)}
        if kind is tuple or kind is list:
            return [v if type(v) in _PLAIN else self._value(v) for v in value]
        if kind is dict or kind is MappingProxyType:
            out: dict[str, Any] = {}
            for key, item in value.items():
                if type(key) is not str or key.startswith("@"):
                    raise _Slow  # the hand-written path wraps it, or refuses the key
                out[key] = item if type(item) in _PLAIN else self._value(item)
            return out
        raise _Slow
