"""The dashboard's live updates: one watcher reads the audit log and fans new rows out.

However many browsers are open, one task per app reads the store: it takes the store's wake-up
mark, reads the audit log after its cursor, hands the new rows to every open event stream, and
then waits for the store to announce work (``wait_for_work``: NOTIFY on PostgreSQL, this
process's commits on SQLite) or for ``poll`` seconds to pass, so other processes' writes are
seen within ``poll`` seconds and nothing spins. The task runs only while a stream is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from agentfsm.runtime._errors import StoreError
from agentfsm.runtime._records import AuditRow

log = logging.getLogger("agentfsm.http.ui")

_PAGE = 1000
_BACKLOG = 500  # rows held for one slow stream before it is told to re-read everything


class Subscription:
    """The rows one event stream has not sent yet."""

    def __init__(self) -> None:
        self.rows: list[AuditRow] = []
        self.overflowed = False
        self._ready = asyncio.Event()

    def push(self, rows: list[AuditRow]) -> None:
        if len(self.rows) + len(rows) > _BACKLOG:
            self.rows.clear()
            self.overflowed = True
        else:
            self.rows.extend(rows)
        self._ready.set()

    async def next(self, timeout: float) -> tuple[list[AuditRow], bool] | None:
        """The rows gathered and whether some were dropped, or ``None`` after ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            return None
        self._ready.clear()
        rows, dropped = self.rows, self.overflowed
        self.rows, self.overflowed = [], False
        return rows, dropped


class AuditWatch:
    """Follows the end of a store's audit log for the dashboard's event streams.

    Args:
        store: an ``AsyncStore`` (opened by the app's lifespan).
        poll: the longest wait, in seconds, between two reads of the log.
    """

    def __init__(self, store: Any, poll: float) -> None:
        self._store = store
        self._poll = poll
        self._subs: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._cursor: int | None = None
        self._ready: asyncio.Event | None = None

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """A subscription to the rows written from now on, for as long as the block runs.

        It is handed over once the follower knows where the log ends, so a page that re-reads
        itself when its stream opens misses nothing written in between.
        """
        sub = Subscription()
        self._subs.add(sub)
        if self._task is None or self._task.done():
            # A fresh start finds the end again: what was written while nobody watched is
            # in the pages their streams re-read on opening.
            self._cursor = None
            self._ready = asyncio.Event()
            self._task = asyncio.create_task(self._follow(), name="agentfsm-ui-watch")
        ready = self._ready
        try:
            if ready is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(5.0, self._poll)):  # a store that is down
                        await ready.wait()
            yield sub
        finally:
            self._subs.discard(sub)
            if not self._subs and self._task is not None:
                self._task.cancel()
                self._task = None

    async def _follow(self) -> None:
        while True:
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except StoreError as exc:  # the store is down for now: streams stay open, quiet
                log.warning("the dashboard could not read the audit log: %s", exc)
                await asyncio.sleep(self._poll)

    async def _read(self) -> None:
        store = self._store
        if self._cursor is None:
            self._cursor = await self._end()
            if self._ready is not None:
                self._ready.set()
        while True:
            seen = store.work_seen()
            rows: list[AuditRow] = await store.audit_log(self._cursor, _PAGE)
            if rows:
                self._cursor = rows[-1].seq
                for sub in list(self._subs):
                    sub.push(rows)
                if len(rows) == _PAGE:
                    continue  # more are waiting: read them before sleeping
            await store.wait_for_work(seen, self._poll)

    async def _end(self) -> int:
        """The last row's position, found by doubling then halving with one-row reads (about
        40 for a million rows) rather than by reading the whole log."""

        async def beyond(seq: int) -> bool:
            return bool(await self._store.audit_log(seq, 1))

        if not await beyond(0):
            return 0
        low, high = 0, 1  # rows after ``low``; none after ``high`` once the doubling stops
        while await beyond(high):
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            if await beyond(middle):
                low = middle
            else:
                high = middle
        return high
