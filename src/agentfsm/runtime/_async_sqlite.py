"""``AsyncSQLiteStore``: ``SQLiteStore`` run on one thread of its own, awaited from asyncio.

Why a thread around the sync store rather than an asyncio bridge such as aiosqlite: such a
bridge is itself one thread per connection running ``sqlite3``, and it hops to that thread
once per statement, fetch and commit; here a whole store operation (a batch of writes with
every statement and the COMMIT) is one hop. And every statement, row check, busy-wait and
transaction rule stays the sync store's code, with no second copy and no new dependency.
SQLite has one writer at a time anyway, so one thread per store costs nothing in concurrency
for writes; reads on a WAL file are quick and share it.

A cancelled caller stops waiting, but the operation it started runs to its end on the thread:
a transaction is never cut in half (one that had not begun when its caller was cancelled is
dropped). Commits that queue up while the thread is busy go into one transaction, each batch
in a savepoint of its own (``SQLiteStore.commit_each``): concurrent callers share the COMMIT,
and each still succeeds or fails alone. Commits that add outbox items or timers announce new work
in this process (``wait_for_work``); other processes' commits are found by polling.

One exception to the thread: a commit made by a lone caller (the same task as the last commit,
or none for a little while) while the thread has nothing of ours to do runs at once on the
loop's thread, if the write lock is free (``SQLiteStore.commit_if_free`` tries it
once and never waits). Handing it over would cost two thread switches, which take longer than
the commit itself (at one caller, a hop costs ~70 us of CPU and several times that in wall
time on a busy machine; a commit without a sync, ~100 us). It cannot be cut in half either:
no ``await`` falls inside it. The loop's connection leaves checkpoints (which sync the file)
to the thread, which runs one every ``_CHECKPOINT_EVERY`` writes; with ``synchronous`` FULL
or EXTRA, where every commit syncs the log, commits always go to the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

from agentfsm.runtime._codec import DEFAULT_CODEC, Codec
from agentfsm.runtime._errors import StoreUnavailable
from agentfsm.runtime._gauges import StoreCounts
from agentfsm.runtime._records import AgentRecord, AuditRow, OutboxItem, TimerRow, Write
from agentfsm.runtime._sqlite import SQLiteStore, check_open_arguments
from agentfsm.runtime._storable import wanted_ids
from agentfsm.runtime._wakeup import WorkSignal

T = TypeVar("T")


_STOP = object()
_GROUP = 64  # commits sharing one transaction at most
_CHECKPOINT_EVERY = 2000  # writes committed on the loop's thread between two checkpoints
_ALONE = 0.002  # seconds after a commit within which another caller's means concurrency
_TURN = 0.001  # seconds of commits on the loop's thread between two turns given to the others
_QUICK_SYNC = frozenset({"OFF", "NORMAL", "0", "1"})  # settings whose commits do not sync


class _Job:
    __slots__ = ("args", "counted", "func", "future", "writes")

    def __init__(
        self,
        future: asyncio.Future[Any],
        func: Callable[..., Any] | None,
        args: tuple[Any, ...],
        writes: Sequence[Write] | None = None,
        *,
        counted: bool = True,
    ) -> None:
        self.future, self.func, self.args, self.writes = future, func, args, writes
        self.counted = counted


class _StoreThread:
    """One thread running a ``SQLiteStore``'s calls in order, handing results to the loop.

    ``busy`` counts the operations handed to it and not yet over; it is only changed on the
    loop's thread (each job, run or dropped, reports back there), so ``busy == 0`` there means
    the thread has nothing of ours to do and will not touch the store until it is given more.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="agentfsm-sqlite", daemon=True)
        self._thread.start()
        self.store: SQLiteStore | None = None
        self.busy = 0

    def call(self, func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        future: asyncio.Future[T] = self._loop.create_future()
        self.busy += 1
        self._jobs.put(_Job(future, func, args))
        return future

    def commit(self, writes: Sequence[Write]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()
        self.busy += 1
        self._jobs.put(_Job(future, None, (), writes))
        return future

    def background(self, func: Callable[[], object]) -> None:
        """Run ``func`` on the thread without counting it as busy and without a caller (a
        checkpoint: the loop's own commits may go on beside it)."""
        self._jobs.put(_Job(self._loop.create_future(), func, (), None, counted=False))

    async def stop(self) -> None:
        self._jobs.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    def _serve(self) -> None:
        held: Any = None
        while True:
            job = held if held is not None else self._jobs.get()
            held = None
            if job is _STOP:
                return
            if job.writes is None:
                self._run(job)
                continue
            group = [job]
            # This thread is the queue's only reader: not empty means the get will not block.
            while len(group) < _GROUP and not self._jobs.empty():
                nxt = self._jobs.get_nowait()
                if nxt is not _STOP and nxt.writes is not None:
                    group.append(nxt)
                else:
                    held = nxt
                    break
            self._commit(group)

    def _run(self, job: _Job) -> None:
        if job.future.cancelled():
            self._settle(job, None, None)  # its caller gave up before it began: dropped
            return
        assert job.func is not None
        try:
            result = job.func(*job.args)
        except BaseException as exc:
            self._settle(job, None, exc)
        else:
            self._settle(job, result, None)

    def _commit(self, group: list[_Job]) -> None:
        live = []
        for j in group:  # one look at each: a job is either dropped or run, never neither
            if j.future.cancelled():
                self._settle(j, None, None)  # dropped, as in ``_run``
            else:
                live.append(j)
        group = live
        if not group:
            return
        assert self.store is not None
        if len(group) == 1:  # the usual case at low concurrency: no savepoint, no second job
            job = group[0]
            try:
                self.store.commit(job.writes or ())
            except BaseException as exc:
                self._settle(job, None, exc)
            else:
                self._settle(job, None, None)
            return
        try:
            outcomes = self.store.commit_each([j.writes or () for j in group])
        except Exception:
            # The shared transaction failed: each batch alone, so each caller gets its own
            # outcome.
            for j in group:
                self._run(_Job(j.future, self.store.commit, (j.writes,)))
            return
        for j, error in zip(group, outcomes, strict=True):
            self._settle(j, None, error)

    def _settle(self, job: _Job, result: Any, error: BaseException | None) -> None:
        # A loop closed under a running call (RuntimeError) has no one left to tell.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._deliver, job, result, error)

    def _deliver(self, job: _Job, result: Any, error: BaseException | None) -> None:
        # Run on the loop: the caller may have given up (cancelled) while the call ran.
        if job.counted:
            self.busy -= 1
        future = job.future
        if future.cancelled() or not job.counted:
            return  # nobody waits (a background job's error is its next run's to meet)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class AsyncSQLiteStore:
    """The embedded store for asyncio programs: a ``SQLiteStore`` on one worker thread.

    Open it with ``await store.open()`` or ``async with AsyncSQLiteStore(path) as store``.
    The arguments are ``SQLiteStore``'s.

    Args:
        path: the database file (created when missing), or ``":memory:"``.
        codec: how snapshot data, payloads and effects are turned into JSON.
        busy_timeout: seconds a writer waits for another writer's lock before giving up.
        synchronous: SQLite's ``synchronous`` setting (``"NORMAL"`` or ``"FULL"``…).

    Raises:
        InvalidInput: an argument has the wrong type (as for ``SQLiteStore``), checked here
            before the store opens.
        StoreError: ``synchronous`` is not one of SQLite's settings.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        *,
        codec: Codec = DEFAULT_CODEC,
        busy_timeout: float = 30.0,
        synchronous: str = "NORMAL",
    ) -> None:
        self.path = check_open_arguments(path, busy_timeout, synchronous)
        self.codec = codec
        self._args: dict[str, Any] = {
            "codec": codec, "busy_timeout": busy_timeout, "synchronous": synchronous
        }  # fmt: skip
        self._thread: _StoreThread | None = None
        self._sync: SQLiteStore | None = None
        self._signal = WorkSignal()
        # With synchronous=FULL or EXTRA every commit syncs the log: never on the loop.
        self._quick = synchronous.upper() in _QUICK_SYNC
        self._since_checkpoint = 0
        self._turn_at = 0.0  # when a commit here last gave the loop a turn
        self._last_task: asyncio.Task[Any] | None = None  # the last committing caller
        self._last_at = 0.0

    @property
    def sync_store(self) -> SQLiteStore:
        """The ``SQLiteStore`` underneath (for blocking code sharing the database).

        Raises:
            StoreUnavailable: the store is not open.
        """
        if self._sync is None:
            raise StoreUnavailable("this AsyncSQLiteStore is not open; await store.open()")
        return self._sync

    async def open(self) -> AsyncSQLiteStore:
        """Open (or create) the database on the store's thread.

        Returns:
            The store itself.

        Raises:
            CorruptDatabase, ForeignDatabase, SchemaTooNew, StoreUnavailable: as
                ``SQLiteStore`` raises them.
        """
        if self._sync is not None:
            return self
        thread = _StoreThread(asyncio.get_running_loop())
        try:
            self._sync = await thread.call(functools.partial(SQLiteStore, self.path, **self._args))
        except BaseException:
            await thread.stop()
            raise
        thread.store = self._sync
        self._thread = thread
        return self

    async def close(self) -> None:
        """Close the database once the operations under way are over."""
        thread, store = self._thread, self._sync
        self._thread, self._sync = None, None
        if thread is not None and store is not None:
            await thread.call(store.close)
            await thread.stop()

    async def __aenter__(self) -> AsyncSQLiteStore:
        return await self.open()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _on_thread(self, func: Callable[..., T], *args: Any) -> T:
        if self._thread is None:
            raise StoreUnavailable("this AsyncSQLiteStore is not open; await store.open()")
        return await self._thread.call(func, *args)

    # -- waking workers ---------------------------------------------------------------------

    def work_seen(self) -> int:
        """A mark to pass to ``wait_for_work``: work announced after it wakes the waiter."""
        return self._signal.mark()

    async def wait_for_work(self, seen: int, timeout: float) -> bool:
        """Wait until this store announces work after ``seen`` or ``timeout`` seconds pass.

        Returns:
            Whether work was announced.
        """
        return await self._signal.wait(seen, timeout)

    # -- the store contract, awaited ----------------------------------------------------------

    async def schema_version(self) -> int:
        """The schema version the database is at (``CorruptDatabase`` if damaged)."""
        return await self._on_thread(self.sync_store.schema_version)

    async def load(self, agent_id: str) -> AgentRecord:
        """The stored agent (``UnknownAgent`` if there is none)."""
        return await self._on_thread(self.sync_store.load, agent_id)

    async def load_many(self, agent_ids: Iterable[str]) -> dict[str, AgentRecord]:
        """The stored agents among ``agent_ids``; unknown ids are left out (``InvalidInput``
        when ``agent_ids`` is one string, or not iterable)."""
        return await self._on_thread(self.sync_store.load_many, wanted_ids(agent_ids))

    async def agents(
        self,
        *,
        machine: str | None = None,
        status: str | None = None,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[AgentRecord]:
        """The stored agents by id: every one, or a page of them (see ``Store.agents``)."""
        page = functools.partial(
            self.sync_store.agents,
            machine=machine, status=status, prefix=prefix, after=after, limit=limit,
        )  # fmt: skip
        return await self._on_thread(page)

    async def commit(self, writes: Sequence[Write]) -> None:
        """Apply ``writes`` in one transaction (see ``Store.commit``).

        While the store's thread is idle, the commit runs at once on the loop's thread if the
        write lock is free (see the module's notes); otherwise it goes to the thread.
        """
        thread = self._thread
        if thread is None:
            raise StoreUnavailable("this AsyncSQLiteStore is not open; await store.open()")
        now = time.monotonic()
        task = asyncio.current_task()
        # One caller at a time: the same task as the last commit, or the last was a while ago.
        # Several callers take turns and do better sharing the thread's transactions.
        alone = task is self._last_task or now - self._last_at > _ALONE
        self._last_task, self._last_at = task, now
        if alone and self._quick and thread.busy == 0:
            if now - self._turn_at > _TURN:
                # Callers whose commits all run here never wait, so they would keep the loop
                # to themselves: every so often, a turn for the others first (a cancellation
                # here has written nothing).
                await asyncio.sleep(0)
                self._turn_at = time.monotonic()
            store = self._sync
            if (
                thread.busy == 0
                and store is not None
                and self._thread is thread
                and store.commit_if_free(writes)
            ):
                self._written_here(thread, store, len(writes))
                self._announce(writes)
                return
        await thread.commit(writes)
        self._announce(writes)

    def _announce(self, writes: Sequence[Write]) -> None:
        for w in writes:
            if w.outbox or w.timers:
                self._signal.announce()
                break

    def _written_here(self, thread: _StoreThread, store: SQLiteStore, count: int) -> None:
        # The loop's connection does not checkpoint (that syncs the file): the thread does,
        # every so many writes, beside the loop's commits.
        self._since_checkpoint += count
        if self._since_checkpoint >= _CHECKPOINT_EVERY:
            self._since_checkpoint = 0
            thread.background(store.checkpoint)

    async def audit_row(self, agent_id: str, scope: str, event_id: str) -> AuditRow | None:
        """The agent's audit row of ``event_id`` in ``scope``, if recorded."""
        return await self._on_thread(self.sync_store.audit_row, agent_id, scope, event_id)

    async def history(self, agent_id: str) -> list[AuditRow]:
        """An agent's audit rows, oldest first."""
        return await self._on_thread(self.sync_store.history, agent_id)

    async def audit_log(self, after_seq: int = 0, limit: int | None = None) -> list[AuditRow]:
        """Audit rows after ``after_seq``, oldest first (``InvalidInput`` for a bad count)."""
        return await self._on_thread(self.sync_store.audit_log, after_seq, limit)

    async def claim_outbox(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxItem]:
        """Claim due outbox items for ``worker``."""
        store = self.sync_store
        return await self._on_thread(store.claim_outbox, worker, now, lease_until, limit)

    async def finish_outbox(self, item_id: int, worker: str, now: datetime) -> bool:
        """Mark an item done, if ``worker`` still holds it."""
        return await self._on_thread(self.sync_store.finish_outbox, item_id, worker, now)

    async def retry_outbox(
        self, item_id: int, worker: str, error: str, next_attempt_at: datetime, now: datetime
    ) -> bool:
        """Count a failed attempt; the item is due again at ``next_attempt_at``."""
        store = self.sync_store
        return await self._on_thread(
            store.retry_outbox, item_id, worker, error, next_attempt_at, now
        )

    async def park_outbox(self, item_id: int, worker: str, error: str, now: datetime) -> bool:
        """Count a failed attempt and park the item with ``error``."""
        return await self._on_thread(self.sync_store.park_outbox, item_id, worker, error, now)

    async def requeue_outbox(self, item_id: int, now: datetime) -> bool:
        """Put a parked item back in the queue, due now."""
        done = await self._on_thread(self.sync_store.requeue_outbox, item_id, now)
        if done:
            self._signal.announce()
        return done

    async def outbox(
        self, *, state: str | None = None, agent_id: str | None = None, limit: int | None = None
    ) -> list[OutboxItem]:
        """Outbox items, oldest first, filtered by state and agent (``InvalidInput`` for a
        filter that is not a string, or a bad ``limit``)."""
        call = functools.partial(
            self.sync_store.outbox, state=state, agent_id=agent_id, limit=limit
        )
        return await self._on_thread(call)

    async def prune_done(self, older_than: datetime, limit: int | None = None) -> int:
        """Delete done items last changed before ``older_than`` (see ``Store.prune_done``)."""
        return await self._on_thread(self.sync_store.prune_done, older_than, limit)

    async def claim_timers(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[TimerRow]:
        """Claim due timers for ``worker``, earliest first."""
        store = self.sync_store
        return await self._on_thread(store.claim_timers, worker, now, lease_until, limit)

    async def consume_timer(self, token: str) -> bool:
        """Delete the timer setting ``token``, if it is still pending."""
        return await self._on_thread(self.sync_store.consume_timer, token)

    async def timers(self, agent_id: str | None = None) -> list[TimerRow]:
        """Pending timers, earliest first (``InvalidInput`` for an id that is not a string)."""
        return await self._on_thread(self.sync_store.timers, agent_id)

    async def counts(
        self, now: datetime, late_after: timedelta = timedelta(minutes=1)
    ) -> StoreCounts:
        """Agents per status, the outbox's backlog and the timers due (``SQLiteStore.counts``)."""
        return await self._on_thread(self.sync_store.counts, now, late_after)
