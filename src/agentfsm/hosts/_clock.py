"""Clocks for adapters that need the time: the wall clock, or a manual one tests advance."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from agentfsm._errors import InvalidInput

Clock = Callable[[], datetime]
"""Anything that returns the current time as a timezone-aware ``datetime``."""


def wall_clock() -> datetime:
    """The real time, in UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to: call it for the time, ``advance`` to move it.

    Args:
        start: the first time it reads; must be timezone-aware.

    Raises:
        InvalidInput: ``start`` is naive.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None or start.utcoffset() is None:
            raise InvalidInput("a ManualClock needs a timezone-aware start time")
        self._now = start

    def __call__(self) -> datetime:
        return self._now

    def advance(self, dt: timedelta) -> datetime:
        """Move the clock forward by ``dt`` and return the new time.

        Raises:
            InvalidInput: ``dt`` is negative (a clock never goes back).
        """
        if dt < timedelta(0):
            raise InvalidInput(f"a clock cannot go back; advance by a non-negative delta, not {dt}")
        self._now += dt
        return self._now

    def set(self, when: datetime) -> None:
        """Move the clock forward to ``when``.

        Raises:
            InvalidInput: ``when`` is before the current time.
        """
        self.advance(when - self._now)
