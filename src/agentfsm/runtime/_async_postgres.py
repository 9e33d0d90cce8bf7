"""``AsyncPostgresStore``: ``PostgresStore`` on psycopg's asyncio connection pool.

Nothing of the SQL lives here: the statements, the write plans, the row checks, the schema
steps and the error translation are ``PostgresStore``'s, imported; this module only awaits them.
A cancelled caller stops waiting, but the operation it started runs to its end as a task of
its own (see ``_whole``). Workers can wait for new work: commits that add outbox items or
timers ``NOTIFY`` the schema's channel, and one listening connection per store wakes the
waiters (``wait_for_work``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine, Iterable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from agentfsm._errors import MissingExtra
from agentfsm.runtime._codec import DEFAULT_CODEC, Codec
from agentfsm.runtime._errors import StoreError, StoreUnavailable
from agentfsm.runtime._gauges import StoreCounts, counts_from
from agentfsm.runtime._postgres import (
    EXISTS,
    KEPT_CURSOR,
    Query,
    Statement,
    WritePlan,
    head_statement,
    missed_write,
    one_statement,
    open_parts,
    plan_commit,
    prepare_schema,
    send_outcome,
    translate_error,
    unique_error,
)
from agentfsm.runtime._records import AgentRecord, AuditRow, OutboxItem, TimerRow, Write
from agentfsm.runtime._rows import given_time
from agentfsm.runtime._steps import cancelling
from agentfsm.runtime._storable import check_writes
from agentfsm.runtime._wakeup import WorkSignal

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")
log = logging.getLogger("agentfsm.runtime")


class AsyncPostgresStore:
    """The PostgreSQL store for asyncio control planes (FastAPI, aiohttp, kopf).

    Open it with ``await store.open()`` or ``async with AsyncPostgresStore(...) as store``.
    The arguments are ``PostgresStore``'s.

    Args:
        dsn: a libpq connection string or URL.
        schema: the PostgreSQL schema holding the tables (created when missing).
        codec: how snapshot data, payloads and effects are turned into JSON.
        min_size: the connection pool's lower bound.
        max_size: the connection pool's upper bound.
        connect_timeout: seconds to wait for the server when opening.
        listen: keep a connection listening for new work (``wait_for_work``).

    Raises:
        MissingExtra: psycopg is not installed (``pip install 'agentfsm[postgres]'``).
        InvalidInput: an argument has the wrong type (as for ``PostgresStore``).
        StoreError: the DSN (one holding a NUL or a lone surrogate) or the schema name is
            malformed.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "agentfsm",
        codec: Codec = DEFAULT_CODEC,
        min_size: int = 1,
        max_size: int = 8,
        connect_timeout: float = 5.0,
        listen: bool = True,
    ) -> None:
        try:
            import psycopg
            import psycopg_pool
        except ImportError as exc:  # pragma: no cover - the extra is installed in tests
            raise MissingExtra("AsyncPostgresStore", "postgres", "psycopg") from exc
        parts = open_parts(dsn, schema, codec, min_size, max_size, connect_timeout)
        self._psycopg = psycopg
        self._pool_module = psycopg_pool
        self._dsn = dsn
        self.schema = schema
        self.codec = codec
        self.channel, self._where, self._rows, self._q = parts
        self._min, self._max = min_size, max_size
        self._timeout = connect_timeout
        self._listen = listen
        self._pool: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._signal = WorkSignal()
        self._running: set[asyncio.Task[Any]] = set()

    # -- opening and closing ----------------------------------------------------------------

    async def open(self) -> AsyncPostgresStore:
        """Create or migrate the schema, open the pool (and the listening connection).

        Returns:
            The store itself.

        Raises:
            StoreError: the DSN is malformed.
            StoreUnavailable: the server cannot be reached or refuses the login.
            ForeignDatabase: the schema holds another program's tables.
            SchemaTooNew: the schema was written by a newer agentfsm.
        """
        if self._pool is not None:
            return self
        pg = self._psycopg
        timeout = max(1, int(self._timeout))
        try:
            # The schema steps are the sync store's, run once on a connection of their own.
            await asyncio.to_thread(self._prepare, timeout)
        except pg.ProgrammingError as exc:
            raise StoreError(f"the PostgreSQL DSN {self._where!r} is malformed: {exc}") from exc
        except pg.OperationalError as exc:
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {self._where!r}: {str(exc).strip()}"
            ) from exc
        pool = self._pool_module.AsyncConnectionPool(
            self._dsn,
            min_size=self._min,
            max_size=self._max,
            kwargs={"autocommit": True, "connect_timeout": timeout},
            configure=self._configure,
            open=False,
            timeout=max(self._timeout, 30.0),
        )
        try:
            await pool.open(wait=True, timeout=max(self._timeout, 5.0))
        except self._pool_module.PoolTimeout as exc:
            await pool.close()
            raise StoreUnavailable(f"cannot open connections to {self._where!r}: {exc}") from exc
        self._pool = pool
        if self._listen:
            self._listener = asyncio.get_running_loop().create_task(self._listen_forever())
        return self

    def _prepare(self, timeout: int) -> None:
        with self._psycopg.connect(self._dsn, connect_timeout=timeout, autocommit=True) as conn:
            prepare_schema(conn, self.schema, self._where)

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(f"SET search_path TO {self.schema}")
        await conn.execute("SET TIME ZONE 'UTC'")

    async def close(self) -> None:
        """Close the pool and the listening connection, once the operations under way (those
        of cancelled callers too) are over."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def __aenter__(self) -> AsyncPostgresStore:
        return await self.open()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- waking workers ---------------------------------------------------------------------

    def work_seen(self) -> int:
        """A mark to pass to ``wait_for_work``: work announced after it wakes the waiter."""
        return self._signal.mark()

    async def wait_for_work(self, seen: int, timeout: float) -> bool:
        """Wait until work is announced after ``seen`` (any process's commit), or ``timeout``
        seconds. Returns whether work was announced."""
        return await self._signal.wait(seen, timeout)

    async def _listen_forever(self) -> None:
        # One connection of its own: a pooled one would be handed to writers.
        pg = self._psycopg
        while True:
            try:
                async with await pg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {self.channel}")
                    self._signal.announce()  # work may have been missed while not listening
                    async for _ in conn.notifies():
                        self._signal.announce()
            except pg.Error as exc:
                log.warning("listening on %s failed, reconnecting: %s", self.channel, exc)
                self._signal.announce()
                await asyncio.sleep(1.0)

    # -- connections ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _tx(self, *, transaction: bool = True) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        if self._pool is None:
            raise StoreUnavailable("this AsyncPostgresStore is not open; await store.open()")
        pool = self._pool
        try:
            # getconn and putconn rather than ``pool.connection()``: its ``async with conn``
            # only commits or rolls back, and these connections are in autocommit (a
            # transaction is ``conn.transaction()``'s, and putconn rolls back any left open).
            conn = await pool.getconn()
            try:
                if transaction:
                    async with conn.transaction():
                        yield conn
                else:
                    yield conn
            finally:
                await pool.putconn(conn)
        except Exception as exc:
            if cancelling():
                # psycopg answers a cancellation during a query with the query's own error
                # once the server has cancelled it: the caller was cancelled, say so.
                raise asyncio.CancelledError() from exc
            if isinstance(exc, StoreError):
                raise
            translated = translate_error(exc, self._psycopg, self._where)
            if translated is None:
                raise
            raise translated from exc

    async def _whole(self, operation: Coroutine[Any, Any, T]) -> T:
        # Each operation runs as a task of its own that a cancelled caller stops waiting for
        # but does not interrupt: psycopg cancelled in the middle of a pipelined transaction
        # can leave the statements behind it running, or the connection holding its locks.
        # So a transaction always reaches its COMMIT or ROLLBACK, as on AsyncSQLiteStore.
        # The caller waits on a future the task settles itself as it ends (``asyncio.shield``
        # would settle it from a done callback, one turn of the loop later).
        waiter: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(_settling(operation, waiter))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return await waiter

    async def _run(self, query: Query[T]) -> T:
        if query.sql is None:
            return query.finish([])
        return await self._whole(self._query(query))

    async def _query(self, query: Query[T]) -> T:
        assert query.sql is not None
        async with self._tx() as conn:
            cur = await conn.execute(query.sql, query.args)
            if query.counted:
                return query.finish(cur.rowcount)
            try:
                rows = await cur.fetchall()
            except self._psycopg.DataError as exc:
                raise self._q.damaged(exc) from exc
            return query.finish(rows if query.convert is None else [query.convert(r) for r in rows])

    # -- the store contract, awaited ----------------------------------------------------------

    async def schema_version(self) -> int:
        """The schema version the database is at (``CorruptDatabase`` if damaged)."""
        return await self._run(self._q.schema_version())

    async def load(self, agent_id: str) -> AgentRecord:
        """The stored agent (``UnknownAgent`` if there is none)."""
        return await self._run(self._q.load(agent_id))

    async def load_many(self, agent_ids: Iterable[str]) -> dict[str, AgentRecord]:
        """The stored agents among ``agent_ids``; unknown ids are left out (``InvalidInput``
        when ``agent_ids`` is one string, or not iterable)."""
        return await self._run(self._q.load_many(agent_ids))

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
        return await self._run(self._q.agents(machine, status, prefix, after, limit))

    async def commit(self, writes: Sequence[Write]) -> None:
        """Apply ``writes`` in one transaction (see ``Store.commit``).

        A cancelled caller stops waiting at once; the transaction runs to its end (COMMIT, or
        ROLLBACK on an error), so it happened whole or not at all.
        """
        await self._whole(self._commit(writes))

    async def _commit(self, writes: Sequence[Write]) -> None:
        if len(writes) == 1 and one_statement(writes[0]):
            await self._commit_one(writes[0])
            return
        unique = self._psycopg.errors.UniqueViolation
        plans = plan_commit(writes, self.codec.dumps, self.channel)
        async with self._tx() as conn, conn.pipeline() as pipe:
            cur = conn.cursor()
            for plan in plans:
                await _run_plan(cur, plan, pipe, unique)
        if any(w.outbox or w.timers for w in writes):
            self._signal.announce()  # this process's workers need not wait for the echo

    async def _commit_one(self, w: Write) -> None:
        # The usual event, one statement in autocommit: ``PostgresStore._commit_one`` awaited,
        # on the cursor each pooled connection keeps (a new psycopg cursor builds its own
        # adapters map), without the plan's generator or ``_tx``'s context manager.
        check_writes((w,))
        stmt = head_statement(w, self.codec.dumps)
        if self._pool is None:
            raise StoreUnavailable("this AsyncPostgresStore is not open; await store.open()")
        pool = self._pool
        try:
            conn = await pool.getconn()
            try:
                cur: psycopg.AsyncCursor[Any] | None = getattr(conn, KEPT_CURSOR, None)
                if cur is None or cur.closed:
                    cur = conn.cursor()
                    setattr(conn, KEPT_CURSOR, cur)
                try:
                    await cur.execute(stmt.sql, stmt.args)
                except self._psycopg.errors.UniqueViolation as exc:
                    raise unique_error(exc, w) from None
                if cur.rowcount != 1:
                    await cur.execute(EXISTS, (w.agent_id,))
                    raise missed_write(w, cur.rowcount == 1)
            finally:
                await pool.putconn(conn)
        except StoreError:
            raise
        except Exception as exc:
            if cancelling():
                raise asyncio.CancelledError() from exc
            translated = translate_error(exc, self._psycopg, self._where)
            if translated is None:
                raise
            raise translated from exc

    async def audit_row(self, agent_id: str, scope: str, event_id: str) -> AuditRow | None:
        """The agent's audit row of ``event_id`` in ``scope``, if recorded."""
        return await self._run(self._q.audit_row(agent_id, scope, event_id))

    async def history(self, agent_id: str) -> list[AuditRow]:
        """An agent's audit rows, oldest first."""
        return await self._run(self._q.history(agent_id))

    async def audit_log(self, after_seq: int = 0, limit: int | None = None) -> list[AuditRow]:
        """Audit rows after ``after_seq``, oldest first (``InvalidInput`` for a bad count)."""
        return await self._run(self._q.audit_log(after_seq, limit))

    async def claim_outbox(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxItem]:
        """Claim due outbox items for ``worker`` (``FOR UPDATE SKIP LOCKED``)."""
        return await self._run(self._q.claim_outbox(worker, now, lease_until, limit))

    async def finish_outbox(self, item_id: int, worker: str, now: datetime) -> bool:
        """Mark an item done, if ``worker`` still holds it."""
        return await self._run(self._q.finish_outbox(item_id, worker, now))

    async def retry_outbox(
        self, item_id: int, worker: str, error: str, next_attempt_at: datetime, now: datetime
    ) -> bool:
        """Count a failed attempt; the item is due again at ``next_attempt_at``."""
        return await self._run(self._q.retry_outbox(item_id, worker, error, next_attempt_at, now))

    async def park_outbox(self, item_id: int, worker: str, error: str, now: datetime) -> bool:
        """Count a failed attempt and park the item with ``error``."""
        return await self._run(self._q.park_outbox(item_id, worker, error, now))

    async def requeue_outbox(self, item_id: int, now: datetime) -> bool:
        """Put a parked item back in the queue, due now."""
        return await self._run(self._q.requeue_outbox(item_id, now))

    async def outbox(
        self, *, state: str | None = None, agent_id: str | None = None, limit: int | None = None
    ) -> list[OutboxItem]:
        """Outbox items, oldest first, filtered by state and agent (``InvalidInput`` for a
        filter that is not a string, or a bad ``limit``)."""
        return await self._run(self._q.outbox(state, agent_id, limit))

    async def prune_done(self, older_than: datetime, limit: int | None = None) -> int:
        """Delete done items last changed before ``older_than`` (see ``Store.prune_done``)."""
        return await self._run(self._q.prune_done(older_than, limit))

    async def claim_timers(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[TimerRow]:
        """Claim due timers for ``worker``, earliest first."""
        return await self._run(self._q.claim_timers(worker, now, lease_until, limit))

    async def consume_timer(self, token: str) -> bool:
        """Delete the timer setting ``token``, if it is still pending."""
        return await self._run(self._q.consume_timer(token))

    async def timers(self, agent_id: str | None = None) -> list[TimerRow]:
        """Pending timers, earliest first (``InvalidInput`` for an id that is not a string)."""
        return await self._run(self._q.timers(agent_id))

    async def counts(
        self, now: datetime, late_after: timedelta = timedelta(minutes=1)
    ) -> StoreCounts:
        """Agents per status, the outbox's backlog and the timers due (``PostgresStore.counts``)."""
        agents, outbox, timers = self._q.counts(now, late_after)
        by_status: list[Any] = await self._run(agents)
        backlog: list[Any] = await self._run(outbox)
        due: list[Any] = await self._run(timers)
        return counts_from(by_status, backlog, due[0], given_time)


async def _settling(operation: Coroutine[Any, Any, T], waiter: asyncio.Future[T]) -> None:
    # The outcome goes to the waiter; a waiter already cancelled (its caller gave up) has no
    # one left to tell, so the outcome is dropped here rather than reported as never retrieved.
    try:
        result = await operation
    except asyncio.CancelledError:
        waiter.cancel()  # only the loop shutting down cancels this task
        raise
    except BaseException as exc:
        if not waiter.done():
            waiter.set_exception(exc)
        if not isinstance(exc, Exception):
            raise
    else:
        if not waiter.done():
            waiter.set_result(result)


async def _run_plan(
    cur: psycopg.AsyncCursor[Any],
    plan: tuple[Write, WritePlan],
    pipe: psycopg.AsyncPipeline | None,
    unique: type[Exception],
) -> None:
    # The sync store's ``_run_plan``, awaited.
    w, statements = plan
    try:
        stmt: Statement | None = next(statements, None)
        while stmt is not None:
            if stmt.many:
                await cur.executemany(stmt.sql, stmt.args)
            else:
                await cur.execute(stmt.sql, stmt.args)
            count: int | None = None
            if stmt.wait:
                if pipe is not None:
                    await pipe.sync()
                count = cur.rowcount
            stmt = send_outcome(statements, count)
        if pipe is not None:
            await pipe.sync()
    except unique as exc:
        raise unique_error(exc, w) from None
