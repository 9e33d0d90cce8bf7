"""Waking workers when there is new work, instead of only polling.

A ``WorkSignal`` counts announcements. A worker takes a mark before it looks for work and, when
it found none, waits for an announcement after that mark: work announced while it was looking
is not missed. Loop-bound: announce and wait from the event loop's thread.
"""

from __future__ import annotations

import asyncio


class WorkSignal:
    """Announcements of new work, for asyncio workers to wait on."""

    def __init__(self) -> None:
        self._count = 0
        self._changed: asyncio.Event | None = None

    def mark(self) -> int:
        """The number of announcements so far."""
        return self._count

    def announce(self) -> None:
        """There is new work: wake every waiter."""
        self._count += 1
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def wait(self, seen: int, timeout: float) -> bool:
        """Wait for an announcement after ``seen``, at most ``timeout`` seconds.

        Returns:
            Whether there was one.
        """
        if self._count != seen:
            return True
        if self._changed is None:
            self._changed = asyncio.Event()
        changed = self._changed
        try:
            async with asyncio.timeout(timeout):  # not wait_for: see ``_async_workers``
                await changed.wait()
        except TimeoutError:
            return self._count != seen
        return True
