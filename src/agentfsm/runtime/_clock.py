"""Clocks: the only place the runtime learns the time, so tests can move it by hand."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from agentfsm._errors import InvalidInput


@runtime_checkable
class Clock(Protocol):
    """Something that tells the time."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        """The current time (``datetime.now(UTC)``)."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; for tests and simulations. Thread-safe.

    Args:
        start: the first time it reports (aware).

    Raises:
        InvalidInput: ``start`` is naive.
    """

    def __init__(self, start: datetime) -> None:
        if start.utcoffset() is None:
            raise InvalidInput("ManualClock needs a timezone-aware start time")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The time it was last set to."""
        with self._lock:
            return self._now

    def advance(self, by: timedelta | float) -> datetime:
        """Move the clock forward by ``by`` (a timedelta or seconds) and return the new time.

        Raises:
            InvalidInput: ``by`` is negative.
        """
        delta = by if isinstance(by, timedelta) else timedelta(seconds=by)
        if delta < timedelta(0):
            raise InvalidInput(f"a clock cannot go backwards (asked to move by {delta})")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        """Set the time to ``when`` (aware, not before the current time).

        Raises:
            InvalidInput: ``when`` is naive or earlier than now.
        """
        if when.utcoffset() is None:
            raise InvalidInput("ManualClock.set needs a timezone-aware time")
        with self._lock:
            if when < self._now:
                raise InvalidInput(f"a clock cannot go backwards ({when} < {self._now})")
            self._now = when
