"""Putting values into sentences: bounded quotes of caller values, and durations in words.

Refusal sentences and error messages quote what they were given. A raw ``repr`` of caller
input is unbounded (a 10 MB string, a million-element list) and can even raise: ``repr`` of an
int over 4,300 digits is a ``ValueError``, of a 100,000-deep dict a ``RecursionError``, and a
class may define a ``__repr__`` that fails. ``quote`` never raises and never returns more than
about a hundred characters, whatever it is given.
"""

from __future__ import annotations

import builtins
import reprlib
from datetime import timedelta

_LIMIT = 100
# An int needs about log10(2) decimal digits per bit; past this many bits its repr is not
# worth reading (and past ~14,000 bits CPython refuses to build it at all).
_INT_BITS = 200


class _Bounded(reprlib.Repr):
    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = 60
        self.maxother = 60
        self.maxlong = 40
        for name in ("maxdict", "maxlist", "maxtuple", "maxset", "maxfrozenset", "maxdeque"):
            setattr(self, name, 4)

    def repr_int(self, x: int, level: int) -> str:
        bits = int.bit_length(x)
        if bits > _INT_BITS:
            return f"<an integer of about {int(bits * 0.30103) + 1} digits>"
        return str(super().repr_int(x, level))

    def repr_instance(self, x: object, level: int) -> str:
        try:
            text = builtins.repr(x)
        except Exception:  # a caller's class may define a __repr__ that fails
            return _type_word(x)
        if len(text) > self.maxother:
            return text[: self.maxother - 3] + "..."
        return text


_REPR = _Bounded()


def _type_word(value: object) -> str:
    name = type(value).__name__
    return f"<{name[:40]} object>"


def quote(value: object) -> str:
    """A short, safe ``repr`` of ``value`` for a sentence: at most about 100 characters.

    Never raises: a value that cannot be shown is named by its type.
    """
    try:
        text = _REPR.repr(value)
    except Exception:  # RecursionError, MemoryError-free failures of hostile containers
        return _type_word(value)
    return text if len(text) <= _LIMIT else text[: _LIMIT - 3] + "..."


_UNITS = (("day", 86_400_000_000), ("hour", 3_600_000_000), ("minute", 60_000_000))


def duration_words(duration: timedelta) -> str:
    """``timedelta(minutes=90)`` as ``"1 hour and 30 minutes"``; exact to the microsecond.

    Seconds carry their fraction (``"1.5 seconds"``); a zero or negative duration is
    ``"0 seconds"`` (policies never hold one).
    """
    left = (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds
    if left <= 0:
        return "0 seconds"
    parts: list[str] = []
    for unit, size in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {unit}{'' if count == 1 else 's'}")
    if left:
        whole, micro = divmod(left, 1_000_000)
        number = str(whole) if not micro else f"{whole}.{micro:06d}".rstrip("0")
        parts.append(f"{number} second{'' if number == '1' else 's'}")
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def readable(name: str) -> str:
    """A name in words for people: ``"billing_suspend"`` is ``"Billing suspend"``."""
    words = name.replace("_", " ").replace("-", " ").strip()
    return (words[:1].upper() + words[1:]) if words else name
