"""The stores' arguments, checked before any statement runs.

A count past what a database integer holds (``audit_log(after_seq=2**70)``), a time whose UTC
form falls outside ``datetime``'s range (``datetime.min`` at +23:59), a filter that is a list:
left to the driver, each fails half-way with an ``OverflowError``, a ``ValueError`` or a
``TypeError``. Checked here, each is an ``InvalidInput`` naming the argument, the same on both
stores, and nothing has been read or written.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from agentfsm._errors import InvalidInput
from agentfsm._words import quote

# Both databases keep integers in 64 bits (SQLite's INTEGER, PostgreSQL's bigint).
MAX_INT = 2**63 - 1


def check_count(name: str, value: object, *, optional: bool = False) -> None:
    """Refuse anything but an int from 0 to ``MAX_INT`` (or ``None`` when ``optional``).

    Raises:
        InvalidInput: ``value`` is not such an int (a bool is not a count).
    """
    if value is None and optional:
        return
    if type(value) is not int or not 0 <= value <= MAX_INT:
        what = "a whole number from 0 to 2**63 - 1" + (" or None" if optional else "")
        raise InvalidInput(f"{name} must be {what}, not {quote(value)}")


def check_instant(name: str, value: object) -> None:
    """Refuse anything but a timezone-aware datetime whose UTC form is a ``datetime``.

    Raises:
        InvalidInput: ``value`` is not a datetime, is naive, or is out of range in UTC.
    """
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name} must be a timezone-aware datetime, not {quote(value)}")
    try:
        offset = value.utcoffset()
        if offset is not None:
            value.astimezone(UTC)
    except Exception as exc:  # out of range in UTC, or a caller's tzinfo that fails
        raise InvalidInput(f"{name} {quote(value)} has no UTC form a store can hold") from exc
    if offset is None:
        raise InvalidInput(f"{name} must be timezone-aware, not the naive {quote(value)}")


def check_seconds(name: str, value: object) -> None:
    """Refuse anything but a finite, non-negative number of seconds.

    Raises:
        InvalidInput: ``value`` is not an int or float, or is negative, NaN or infinite.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{name} must be a number of seconds, not {quote(value)}")
    try:
        ok = math.isfinite(value) and value >= 0 and value <= MAX_INT
    except OverflowError:  # an int too large for a float
        ok = False
    if not ok:
        raise InvalidInput(f"{name} must be a finite, non-negative number, not {quote(value)}")


def check_filter(name: str, value: object) -> None:
    """Refuse a filter that is neither a string nor ``None``.

    Raises:
        InvalidInput: ``value`` is neither.
    """
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string or None, not {quote(value)}")
