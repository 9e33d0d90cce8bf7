"""``PostgresStore``: the store for several control-plane replicas, on psycopg 3 and its pool.

Compare-and-set on the version keeps concurrent writers safe; ``FOR UPDATE SKIP LOCKED`` lets
replicas share outbox items and timers without waiting on each other or taking one twice. The
tables live in their own PostgreSQL schema (``agentfsm`` by default), so the store can share a
database with other programs. Needs the ``postgres`` extra.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from agentfsm._errors import InvalidInput, MissingExtra
from agentfsm._words import quote
from agentfsm.runtime._agent_filters import agent_filters
from agentfsm.runtime._arguments import (
    MAX_INT,
    check_count,
    check_filter,
    check_instant,
    check_seconds,
)
from agentfsm.runtime._codec import DEFAULT_CODEC, Codec
from agentfsm.runtime._errors import (
    AgentExists,
    CodecError,
    ConnectionLost,
    CorruptDatabase,
    DuplicateEvent,
    ForeignDatabase,
    SchemaTooNew,
    StoreError,
    StoreUnavailable,
    UnknownAgent,
    VersionConflict,
)
from agentfsm.runtime._gauges import StoreCounts, counts_from
from agentfsm.runtime._records import (
    CREATE,
    DONE,
    PARKED,
    PENDING,
    AgentRecord,
    AuditRow,
    OutboxItem,
    TimerRow,
    Write,
)
from agentfsm.runtime._rows import RowReader, given_time
from agentfsm.runtime._schema import (
    APPLICATION,
    OUR_TABLES,
    POSTGRES_STEPS,
    POSTGRES_V1,
    SCHEMA_VERSION,
)
from agentfsm.runtime._storable import check_writes, storable_key, wanted_ids
from agentfsm.runtime._store import check_batch

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_AGENT_COLS = (
    "id, machine, status, version, since, data::text, created_at, updated_at, machine_version"
)
_AUDIT_COLS = (
    "seq, event_id, agent_id, kind, actor, event, payload::text, from_status, to_status, "
    "version, refusal_code, refusal_message, refusal_guard, at, correlation_id, principal, "
    "machine_version, before_since, before_data::text"
)
_OUTBOX_COLS = (
    "id, agent_id, kind, payload::text, key, state, attempts, next_attempt_at, last_error, "
    "claimed_by, claimed_until, trace_context"
)
_TIMER_COLS = "agent_id, event, due_at, token, claimed_by, claimed_until"

# The compare-and-set and the audit row in one round trip: no row updated, no row logged.
_CAS_AND_LOG = """
    WITH moved AS (
        UPDATE agents SET status = %s, version = %s, since = %s, data = %s::jsonb,
               updated_at = %s
        WHERE id = %s AND version = %s RETURNING id)
    INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, from_status, to_status,
                       version, refusal_code, refusal_message, refusal_guard, at, correlation_id,
                       scope, principal, machine_version, before_since, before_data)
    SELECT %s, id, %s, %s, %s, %s::jsonb, %s, %s, %s, NULL, NULL, NULL, %s, %s, %s, %s, %s,
           %s, %s::jsonb
    FROM moved"""
EXISTS = "SELECT 1 FROM agents WHERE id = %s"
# The attribute under which a pooled connection keeps the cursor ``_commit_one`` reuses.
KEPT_CURSOR = "_agentfsm_cursor"
# A refusal changes nothing but must be decided on the current version: FOR SHARE holds the
# row against writers until the audit row is committed.
_CHECK_AND_LOG = """
    WITH seen AS (SELECT id FROM agents WHERE id = %s AND version = %s FOR SHARE)
    INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, from_status, to_status,
                       version, refusal_code, refusal_message, refusal_guard, at, correlation_id,
                       scope, principal, machine_version)
    SELECT %s, id, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s FROM seen"""
_INSERT_AGENT = (
    "INSERT INTO agents (id, machine, status, version, since, data, created_at, updated_at, "
    "machine_version) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)"
)
_INSERT_AUDIT = """
    INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, from_status, to_status,
                       version, refusal_code, refusal_message, refusal_guard, at, correlation_id,
                       scope, principal, machine_version)
    VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, NULL, NULL, NULL, %s, %s, %s, %s, %s)"""
_INSERT_OUTBOX = """
    INSERT INTO outbox (agent_id, kind, payload, key, state, attempts, next_attempt_at,
                        created_at, updated_at, trace_context)
    VALUES (%s, %s, %s::jsonb, %s, 'pending', 0, %s, %s, %s, %s)"""
_SET_TIMER = """
    INSERT INTO timers (agent_id, event, due_at, token) VALUES (%s, %s, %s, %s)
    ON CONFLICT (agent_id, event) DO UPDATE SET due_at = excluded.due_at,
        token = excluded.token, claimed_by = NULL, claimed_until = NULL"""
_CLAIM_OUTBOX = f"""
    UPDATE outbox SET claimed_by = %s, claimed_until = %s WHERE id IN (
        SELECT o.id FROM outbox o
        WHERE o.state = 'pending' AND o.next_attempt_at <= %s
          AND (o.claimed_until IS NULL OR o.claimed_until < %s OR o.claimed_by = %s)
          AND NOT EXISTS (SELECT 1 FROM outbox p
                          WHERE p.agent_id = o.agent_id AND p.state = 'pending' AND p.id < o.id)
        ORDER BY o.id LIMIT %s FOR UPDATE SKIP LOCKED)
    RETURNING {_OUTBOX_COLS}"""
_CLAIM_TIMERS = f"""
    UPDATE timers SET claimed_by = %s, claimed_until = %s WHERE token IN (
        SELECT token FROM timers
        WHERE due_at <= %s AND (claimed_until IS NULL OR claimed_until < %s OR claimed_by = %s)
        ORDER BY due_at LIMIT %s FOR UPDATE SKIP LOCKED)
    RETURNING {_TIMER_COLS}"""


class PostgresStore:
    """The store for several control-plane processes sharing one PostgreSQL database.

    Args:
        dsn: a libpq connection string or URL (``"host=db dbname=agents user=cp"``).
        schema: the PostgreSQL schema holding the tables (created when missing).
        codec: how snapshot data, payloads and effects are turned into JSON.
        min_size: the connection pool's lower bound.
        max_size: the connection pool's upper bound.
        connect_timeout: seconds to wait for the server when opening.

    Raises:
        MissingExtra: psycopg is not installed (``pip install 'agentfsm[postgres]'``).
        InvalidInput: an argument has the wrong type (a DSN or a schema name that is not a
            string, pool sizes that are not whole numbers with ``1 <= min_size <= max_size``,
            a ``connect_timeout`` that is not a finite, non-negative number).
        StoreError: the DSN (one holding a NUL or a lone surrogate, too) or the schema name
            is malformed.
        StoreUnavailable: the server cannot be reached or refuses the login.
        ForeignDatabase: the schema holds another program's tables.
        SchemaTooNew: the schema was written by a newer agentfsm.
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
    ) -> None:
        try:
            import psycopg
            import psycopg_pool
        except ImportError as exc:  # pragma: no cover - the extra is installed in tests
            raise MissingExtra("PostgresStore", "postgres", "psycopg") from exc
        parts = open_parts(dsn, schema, codec, min_size, max_size, connect_timeout)
        self._psycopg = psycopg
        self.schema = schema
        self.codec = codec
        self.channel, self._where, self._rows, self._q = parts
        timeout = max(1, int(connect_timeout))
        try:
            with psycopg.connect(dsn, connect_timeout=timeout, autocommit=True) as conn:
                self._prepare_schema(conn)
        except psycopg.ProgrammingError as exc:
            raise StoreError(f"the PostgreSQL DSN {self._where!r} is malformed: {exc}") from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {self._where!r}: {str(exc).strip()}"
            ) from exc
        self._pool = psycopg_pool.ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "connect_timeout": timeout},
            configure=self._configure,
            open=False,
            timeout=max(connect_timeout, 30.0),
        )
        try:
            self._pool.open(wait=True, timeout=max(connect_timeout, 5.0))
        except psycopg_pool.PoolTimeout as exc:
            self._pool.close()
            raise StoreUnavailable(f"cannot open connections to {self._where!r}: {exc}") from exc

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"SET search_path TO {self.schema}")
        conn.execute("SET TIME ZONE 'UTC'")

    def close(self) -> None:
        """Close the connection pool."""
        self._pool.close()

    # -- schema -----------------------------------------------------------------------------

    def _prepare_schema(self, conn: psycopg.Connection[Any]) -> None:
        prepare_schema(conn, self.schema, self._where)

    def schema_version(self) -> int:
        """The schema version the database is at.

        Raises:
            CorruptDatabase: the schema table is damaged.
        """
        return self._run(self._q.schema_version())

    # -- connections ------------------------------------------------------------------------

    @contextmanager
    def _tx(self, *, transaction: bool = True) -> Iterator[psycopg.Connection[Any]]:
        # ``transaction=False`` is for one statement, which the server runs as a transaction
        # of its own (the connections are in autocommit): no BEGIN and COMMIT round trips.
        pg = self._psycopg
        try:
            with self._pool.connection() as conn:
                if transaction:
                    with conn.transaction():
                        yield conn
                else:
                    yield conn
        except StoreError:
            raise
        except Exception as exc:
            translated = translate_error(exc, pg, self._where)
            if translated is None:
                raise
            raise translated from exc

    def _run(self, query: Query[T]) -> T:
        # Rows are converted inside the transaction, so a damaged row claimed by an UPDATE ...
        # RETURNING rolls the claim back.
        if query.sql is None:
            return query.finish([])
        with self._tx() as conn:
            cur = conn.execute(query.sql, query.args)
            if query.counted:
                return query.finish(cur.rowcount)
            try:
                rows = cur.fetchall()
            except self._psycopg.DataError as exc:  # a stored value the driver cannot read
                raise self._q.damaged(exc) from exc
            return query.finish(rows if query.convert is None else [query.convert(r) for r in rows])

    def _read(
        self, sql: str, args: Sequence[Any] = (), convert: Callable[[Any], Any] | None = None
    ) -> list[Any]:
        # For statements of other modules (the migrations'): one query, read like the rest.
        return self._run(Query(sql, args, False, convert, _rows))

    # -- agents -----------------------------------------------------------------------------

    def load(self, agent_id: str) -> AgentRecord:
        """The stored agent.

        Raises:
            UnknownAgent: there is none (also for an id no agent could be stored under).
            CorruptDatabase: its row is damaged.
        """
        return self._run(self._q.load(agent_id))

    def load_many(self, agent_ids: Iterable[str]) -> dict[str, AgentRecord]:
        """The stored agents among ``agent_ids``; unknown ids are left out.

        Raises:
            InvalidInput: ``agent_ids`` is one string, or not iterable.
            CorruptDatabase: a row is damaged.
        """
        return self._run(self._q.load_many(agent_ids))

    def agents(
        self,
        *,
        machine: str | None = None,
        status: str | None = None,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[AgentRecord]:
        """The stored agents by id: every one, or a page of them (see ``Store.agents``)."""
        return self._run(self._q.agents(machine, status, prefix, after, limit))

    # -- the one write path -----------------------------------------------------------------

    def commit(self, writes: Sequence[Write]) -> None:
        """Apply ``writes`` in one transaction (see ``Store.commit``).

        Round trips are what a write costs here, so: a lone event that writes no outbox item
        and touches no timer is one statement (the compare-and-set and the audit row), run as
        its own transaction; anything else is pipelined: each write's statements are sent
        together, with one wait for the compare-and-set's outcome and one for the rest (so an
        error is charged to the write that caused it), then the COMMIT. A commit that adds
        outbox items or timers notifies ``channel`` (delivered when it commits), which wakes
        listening workers.
        """
        if len(writes) == 1 and one_statement(writes[0]):
            self._commit_one(writes[0])
            return
        unique = self._psycopg.errors.UniqueViolation
        plans = plan_commit(writes, self.codec.dumps, self.channel)
        with self._tx() as conn, conn.pipeline() as pipe:
            cur = conn.cursor()
            for plan in plans:
                _run_plan(cur, plan, pipe, unique)

    def _commit_one(self, w: Write) -> None:
        # A write of one statement (``one_statement``), the usual event: its own transaction
        # (the connections are in autocommit), one round trip. This is what ``plan_commit``
        # and ``_run_plan`` would do for it, without their generators, the pool's context manager
        # (whose COMMIT has nothing to do in autocommit) or a new cursor per event: each
        # pooled connection keeps one cursor, used by one thread at a time as the connection.
        check_writes((w,))
        stmt = head_statement(w, self.codec.dumps)
        pg = self._psycopg
        pool = self._pool
        try:
            conn = pool.getconn()
            try:
                cur: psycopg.Cursor[Any] | None = getattr(conn, KEPT_CURSOR, None)
                if cur is None or cur.closed:
                    cur = conn.cursor()
                    setattr(conn, KEPT_CURSOR, cur)
                try:
                    cur.execute(stmt.sql, stmt.args)
                except pg.errors.UniqueViolation as exc:
                    raise unique_error(exc, w) from None
                if cur.rowcount != 1:
                    cur.execute(EXISTS, (w.agent_id,))
                    raise missed_write(w, cur.rowcount == 1)
            finally:
                pool.putconn(conn)
        except StoreError:
            raise
        except Exception as exc:
            translated = translate_error(exc, pg, self._where)
            if translated is None:
                raise
            raise translated from exc

    # -- audit log --------------------------------------------------------------------------

    def audit_row(self, agent_id: str, scope: str, event_id: str) -> AuditRow | None:
        """The agent's audit row of ``event_id`` in ``scope``, if recorded (``CorruptDatabase``
        if damaged)."""
        return self._run(self._q.audit_row(agent_id, scope, event_id))

    def history(self, agent_id: str) -> list[AuditRow]:
        """An agent's audit rows, oldest first (``CorruptDatabase`` if one is damaged)."""
        return self._run(self._q.history(agent_id))

    def audit_log(self, after_seq: int = 0, limit: int | None = None) -> list[AuditRow]:
        """Audit rows after ``after_seq``, oldest first (``InvalidInput`` for a bad count)."""
        return self._run(self._q.audit_log(after_seq, limit))

    # -- outbox -----------------------------------------------------------------------------

    def claim_outbox(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxItem]:
        """Claim due outbox items for ``worker`` (``FOR UPDATE SKIP LOCKED``)."""
        return self._run(self._q.claim_outbox(worker, now, lease_until, limit))

    def finish_outbox(self, item_id: int, worker: str, now: datetime) -> bool:
        """Mark an item done, if ``worker`` still holds it."""
        return self._run(self._q.finish_outbox(item_id, worker, now))

    def retry_outbox(
        self, item_id: int, worker: str, error: str, next_attempt_at: datetime, now: datetime
    ) -> bool:
        """Count a failed attempt; the item is due again at ``next_attempt_at``."""
        return self._run(self._q.retry_outbox(item_id, worker, error, next_attempt_at, now))

    def park_outbox(self, item_id: int, worker: str, error: str, now: datetime) -> bool:
        """Count a failed attempt and park the item with ``error``."""
        return self._run(self._q.park_outbox(item_id, worker, error, now))

    def requeue_outbox(self, item_id: int, now: datetime) -> bool:
        """Put a parked item back in the queue, due now."""
        return self._run(self._q.requeue_outbox(item_id, now))

    def outbox(
        self, *, state: str | None = None, agent_id: str | None = None, limit: int | None = None
    ) -> list[OutboxItem]:
        """Outbox items, oldest first, filtered by state and agent (``InvalidInput`` for a
        filter that is not a string, or a bad ``limit``)."""
        return self._run(self._q.outbox(state, agent_id, limit))

    def prune_done(self, older_than: datetime, limit: int | None = None) -> int:
        """Delete done items last changed before ``older_than`` (see ``Store.prune_done``)."""
        return self._run(self._q.prune_done(older_than, limit))

    # -- timers -----------------------------------------------------------------------------

    def claim_timers(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[TimerRow]:
        """Claim due timers for ``worker`` (``FOR UPDATE SKIP LOCKED``), earliest first."""
        return self._run(self._q.claim_timers(worker, now, lease_until, limit))

    def consume_timer(self, token: str) -> bool:
        """Delete the timer setting ``token``, if it is still pending (see ``Store``)."""
        return self._run(self._q.consume_timer(token))

    def timers(self, agent_id: str | None = None) -> list[TimerRow]:
        """Pending timers, earliest first (``InvalidInput`` for an id that is not a string)."""
        return self._run(self._q.timers(agent_id))

    def counts(self, now: datetime, late_after: timedelta = timedelta(minutes=1)) -> StoreCounts:
        """Agents per status, the outbox's backlog and the timers due at ``now`` (for gauges)."""
        agents, outbox, timers = self._q.counts(now, late_after)
        by_status: list[Any] = self._run(agents)
        backlog: list[Any] = self._run(outbox)
        due: list[Any] = self._run(timers)
        return counts_from(by_status, backlog, due[0], given_time)


def translate_error(exc: Exception, pg: Any, where: str) -> StoreError | None:
    """The store's error for a driver or pool error ``exc`` (``None``: not one of theirs)."""
    if isinstance(exc, pg.DataError):
        # A value the server cannot hold (U+0000 in text or JSON, a number out of range):
        # the statement failed whole and the transaction was rolled back.
        return CodecError(f"PostgreSQL refused a value: {str(exc).strip()}")
    if isinstance(exc, pg.OperationalError):
        return ConnectionLost(
            f"the connection to {where!r} broke during a transaction, which the "
            f"server rolled back; retry: {str(exc).strip()}"
        )
    if isinstance(exc, pg.Error):
        return StoreError(f"PostgreSQL failed: {str(exc).strip()}")
    if type(exc).__module__.startswith("psycopg_pool"):
        return StoreUnavailable(f"no connection to {where!r}: {exc}")
    return None


def prepare_schema(conn: psycopg.Connection[Any], schema: str, where: str) -> None:
    """Create or migrate ``schema`` (under an advisory lock, so replicas starting at once
    take turns); shared by the sync and the async store.

    Raises:
        ForeignDatabase: the schema holds another program's tables.
        SchemaTooNew: the schema was written by a newer agentfsm.
        CorruptDatabase: the schema table is damaged.
    """
    with conn.transaction():
        # Two replicas starting at once must not both create or migrate the schema.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"agentfsm:{schema}",))
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(f"SET LOCAL search_path TO {schema}")
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        }
        if not tables:
            for stmt in POSTGRES_V1:
                conn.execute(stmt)
            version = 1
        elif "agentfsm_schema" not in tables:
            ours = sorted(tables & set(OUR_TABLES)) or sorted(tables)[:5]
            raise ForeignDatabase(
                f"the schema {schema!r} at {where!r} holds tables that are not "
                f"agentfsm's ({', '.join(ours)}); use another schema name"
            )
        else:
            row = conn.execute("SELECT version, application FROM agentfsm_schema").fetchone()
            if row is None or row[1] != APPLICATION:
                raise ForeignDatabase(
                    f"the schema {schema!r} has a schema table that is not agentfsm's"
                )
            version = row[0]
            if type(version) is not int or version < 1:
                raise CorruptDatabase(
                    f"the schema {schema!r} has a damaged agentfsm_schema table "
                    f"(version {version!r}; it must be a version from 1); restore it from "
                    "a backup"
                )
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the schema {schema!r} is at version {version}, newer than this "
                f"agentfsm understands ({SCHEMA_VERSION}); upgrade agentfsm to open it"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for stmt in POSTGRES_STEPS[step]:
                conn.execute(stmt)


class Query(NamedTuple, Generic[T]):
    """One statement and what to make of its outcome, for the sync and the async store.

    Attributes:
        sql: the statement, or ``None`` when nothing could be found (an unstorable key).
        args: its parameters.
        counted: the outcome is the row count (else the rows, each read with ``convert``).
        convert: reads one row into a record (inside the transaction).
        finish: turns the outcome into the method's return value.
    """

    sql: str | None
    args: Sequence[Any]
    counted: bool
    convert: Callable[[Any], Any] | None
    finish: Callable[[Any], T]


def _rows(rows: Any) -> Any:
    return rows


def _updated_one(count: Any) -> bool:
    return bool(count == 1)


def _count(count: Any) -> int:
    return int(count)


class PostgresQueries:
    """Every read and every small update of both PostgreSQL stores, as ``Query`` values."""

    def __init__(self, schema: str, rows: RowReader) -> None:
        self.schema = schema
        self.rows = rows

    def damaged(self, exc: Exception) -> CorruptDatabase:
        """A stored value the driver cannot read."""
        return CorruptDatabase(
            f"the schema {self.schema!r} holds a damaged value: {str(exc).strip()}; "
            "repair or delete that row, or restore the database from a backup"
        )

    def schema_version(self) -> Query[int]:
        def finish(rows: Any) -> int:
            if len(rows) != 1 or type(rows[0][0]) is not int or rows[0][0] < 1:
                raise CorruptDatabase(
                    f"the schema {self.schema!r} has a damaged agentfsm_schema table ({rows!r})"
                )
            return int(rows[0][0])

        return Query("SELECT version FROM agentfsm_schema", (), False, None, finish)

    def load(self, agent_id: str) -> Query[AgentRecord]:
        def finish(rows: Any) -> AgentRecord:
            if not rows:
                raise UnknownAgent(f"no agent {quote(agent_id)} is stored; create it first")
            return rows[0]  # type: ignore[no-any-return]

        sql = f"SELECT {_AGENT_COLS} FROM agents WHERE id = %s" if _key_ok(agent_id) else None
        return Query(sql, (agent_id,), False, self.rows.agent, finish)

    def load_many(self, agent_ids: Iterable[str]) -> Query[dict[str, AgentRecord]]:
        ids = [a for a in wanted_ids(agent_ids) if "\x00" not in a]
        sql = f"SELECT {_AGENT_COLS} FROM agents WHERE id = ANY(%s)"
        return Query(sql, (ids,), False, self.rows.agent, lambda rs: {r.agent_id: r for r in rs})

    def agents(
        self,
        machine: str | None = None,
        status: str | None = None,
        prefix: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> Query[list[AgentRecord]]:
        f = agent_filters(machine, status, prefix, after, limit)
        keys = () if f is None else (f.machine, f.status, f.prefix)
        if f is None or any(v is not None and "\x00" in v for v in keys):
            return Query(None, (), False, None, _rows)  # nothing is stored under such a key
        where: list[str] = []
        args: list[object] = []
        for column, value in (("machine =", f.machine), ("status =", f.status)):
            if value is not None:
                where.append(f"{column} %s")
                args.append(value)
        if f.after is not None:
            # No stored id holds U+0000, so the ids above "ab\x00c" are those above "ab".
            where.append("id > %s")
            args.append(f.after.partition("\x00")[0])
        if f.prefix:
            # starts_with, not a range: the ids are ordered by the database's collation.
            where.append("starts_with(id, %s)")
            args.append(f.prefix)
        sql = f"SELECT {_AGENT_COLS} FROM agents"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id LIMIT %s"
        args.append(f.limit)
        return Query(sql, tuple(args), False, self.rows.agent, _rows)

    def audit_row(self, agent_id: str, scope: str, event_id: str) -> Query[AuditRow | None]:
        ok = _key_ok(agent_id) and _key_ok(scope) and _key_ok(event_id)
        sql = (
            f"SELECT {_AUDIT_COLS} FROM audit WHERE agent_id = %s AND scope = %s AND event_id = %s"
        )
        return Query(
            sql if ok else None,
            (agent_id, scope, event_id),
            False,
            self.rows.audit,
            lambda rs: rs[0] if rs else None,
        )

    def history(self, agent_id: str) -> Query[list[AuditRow]]:
        sql = f"SELECT {_AUDIT_COLS} FROM audit WHERE agent_id = %s ORDER BY seq"
        return Query(sql if _key_ok(agent_id) else None, (agent_id,), False, self.rows.audit, _rows)

    def audit_log(self, after_seq: int, limit: int | None) -> Query[list[AuditRow]]:
        check_count("after_seq", after_seq)
        check_count("limit", limit, optional=True)
        sql = f"SELECT {_AUDIT_COLS} FROM audit WHERE seq > %s ORDER BY seq LIMIT %s"
        return Query(sql, (after_seq, limit), False, self.rows.audit, _rows)

    def claim_outbox(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> Query[list[OutboxItem]]:
        args = (worker, lease_until, now, now, worker, limit)
        return Query(
            _CLAIM_OUTBOX, args, False, self.rows.outbox, lambda rs: sorted(rs, key=_by_id)
        )

    def finish_outbox(self, item_id: int, worker: str, now: datetime) -> Query[bool]:
        return Query(
            "UPDATE outbox SET state = %s, claimed_by = NULL, claimed_until = NULL, "
            "updated_at = %s WHERE id = %s AND claimed_by = %s AND state = 'pending'",
            (DONE, now, item_id, worker), True, None, _updated_one,
        )  # fmt: skip

    def retry_outbox(
        self, item_id: int, worker: str, error: str, next_attempt_at: datetime, now: datetime
    ) -> Query[bool]:
        return Query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = %s, next_attempt_at = %s, "
            "claimed_by = NULL, claimed_until = NULL, updated_at = %s "
            "WHERE id = %s AND claimed_by = %s AND state = 'pending'",
            (error, next_attempt_at, now, item_id, worker), True, None, _updated_one,
        )  # fmt: skip

    def park_outbox(self, item_id: int, worker: str, error: str, now: datetime) -> Query[bool]:
        return Query(
            "UPDATE outbox SET state = %s, attempts = attempts + 1, last_error = %s, "
            "claimed_by = NULL, claimed_until = NULL, updated_at = %s "
            "WHERE id = %s AND claimed_by = %s AND state = 'pending'",
            (PARKED, error, now, item_id, worker), True, None, _updated_one,
        )  # fmt: skip

    def requeue_outbox(self, item_id: int, now: datetime) -> Query[bool]:
        return Query(
            "UPDATE outbox SET state = %s, next_attempt_at = %s, updated_at = %s "
            "WHERE id = %s AND state = 'parked'",
            (PENDING, now, now, item_id), True, None, _updated_one,
        )  # fmt: skip

    def outbox(
        self, state: str | None, agent_id: str | None, limit: int | None
    ) -> Query[list[OutboxItem]]:
        check_filter("state", state)
        check_filter("agent_id", agent_id)
        check_count("limit", limit, optional=True)
        if not all(v is None or _key_ok(v) for v in (state, agent_id)):
            return Query(None, (), False, None, _rows)  # nothing is stored under such a key
        sql = (
            f"SELECT {_OUTBOX_COLS} FROM outbox WHERE (%s::text IS NULL OR state = %s) "
            "AND (%s::text IS NULL OR agent_id = %s) ORDER BY id LIMIT %s"
        )
        args = (state, state, agent_id, agent_id, limit)
        return Query(sql, args, False, self.rows.outbox, _rows)

    def prune_done(self, older_than: datetime, limit: int | None) -> Query[int]:
        if limit is not None and (type(limit) is not int or not 0 < limit <= MAX_INT):
            raise StoreError(f"limit must be a positive number of rows or None, not {quote(limit)}")
        check_instant("older_than", older_than)
        return Query(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
            "WHERE state = 'done' AND updated_at < %s ORDER BY id LIMIT %s "
            "FOR UPDATE SKIP LOCKED)",
            (older_than, limit), True, None, _count,
        )  # fmt: skip

    def claim_timers(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> Query[list[TimerRow]]:
        args = (worker, lease_until, now, now, worker, limit)
        return Query(
            _CLAIM_TIMERS, args, False, self.rows.timer, lambda ts: sorted(ts, key=_by_due)
        )

    def consume_timer(self, token: str) -> Query[bool]:
        return Query("DELETE FROM timers WHERE token = %s", (token,), True, None, _updated_one)

    def counts(
        self, now: datetime, late_after: timedelta
    ) -> tuple[Query[list[Any]], Query[list[Any]], Query[list[Any]]]:
        """The three counting queries of ``counts`` (agents, outbox, timers)."""
        return (
            Query(
                "SELECT machine, status, COUNT(*) FROM agents GROUP BY machine, status",
                (), False, None, _rows,
            ),
            Query(
                "SELECT state, COUNT(*), MIN(created_at) FROM outbox "
                "WHERE state IN ('pending', 'parked') GROUP BY state",
                (), False, None, _rows,
            ),
            Query(
                "SELECT COUNT(*), SUM((due_at <= %s)::int) FROM timers WHERE due_at <= %s",
                (now - late_after, now), False, None, _rows,
            ),
        )  # fmt: skip

    def timers(self, agent_id: str | None) -> Query[list[TimerRow]]:
        check_filter("agent_id", agent_id)
        if agent_id is not None and not _key_ok(agent_id):
            return Query(None, (), False, None, _rows)
        sql = (
            f"SELECT {_TIMER_COLS} FROM timers WHERE (%s::text IS NULL OR agent_id = %s) "
            "ORDER BY due_at"
        )
        return Query(sql, (agent_id, agent_id), False, self.rows.timer, _rows)


def _by_id(item: OutboxItem) -> int:
    return item.id


def _by_due(timer: TimerRow) -> tuple[datetime, str]:
    return timer.due_at, timer.token


class Statement(NamedTuple):
    """One statement of a write plan. ``wait``: its row count decides what follows, so the
    driver syncs the pipeline and sends the count back into the plan."""

    sql: str
    args: Any
    many: bool = False
    wait: bool = False


WritePlan = Generator[Statement, int | None, None]
"""The statements of one write, in order; sent each waited statement's row count."""


def notify_channel(schema: str) -> str:
    """The ``LISTEN``/``NOTIFY`` channel a schema's commits announce new work on."""
    return f"agentfsm_{schema}"


def plan_commit(
    writes: Sequence[Write], dumps: Callable[[Any], str], channel: str
) -> list[tuple[Write, WritePlan]]:
    """The plans of a batch, for the sync and the async store alike, run in one pipelined
    transaction. (A batch of one write of one statement, ``one_statement``, is each store's
    ``_commit_one``: one round trip, outside a transaction.)

    Raises:
        DuplicateEvent, AgentExists, VersionConflict, CodecError: see ``check_batch``.
    """
    check_batch(writes)
    plans = [(w, _statements(w, dumps)) for w in writes]
    if any(w.outbox or w.timers for w in writes):
        plans.append((writes[-1], _notify(channel)))
    return plans


def _notify(channel: str) -> WritePlan:
    yield Statement("SELECT pg_notify(%s, '')", (channel,))


def unique_error(exc: Exception, w: Write) -> StoreError:
    """What a unique violation raised by ``w``'s statements means."""
    constraint = getattr(getattr(exc, "diag", None), "constraint_name", "") or ""
    if constraint.startswith("agents"):
        return AgentExists(f"an agent {w.agent_id!r} is already stored")
    return DuplicateEvent(w.event_id, w.agent_id, w.scope)


def _run_plan(
    cur: psycopg.Cursor[Any],
    plan: tuple[Write, WritePlan],
    pipe: psycopg.Pipeline | None,
    unique: type[Exception],
) -> None:
    w, statements = plan
    try:
        stmt: Statement | None = next(statements, None)
        while stmt is not None:
            if stmt.many:
                cur.executemany(stmt.sql, stmt.args)
            else:
                cur.execute(stmt.sql, stmt.args)
            count: int | None = None
            if stmt.wait:
                if pipe is not None:
                    pipe.sync()
                count = cur.rowcount
            stmt = send_outcome(statements, count)
        if pipe is not None:
            pipe.sync()  # so that an error is charged to this write
    except unique as exc:
        raise unique_error(exc, w) from None


def send_outcome(plan: WritePlan, outcome: int | None) -> Statement | None:
    """The plan's next statement, given the last one's outcome; ``None`` when it is done."""
    try:
        return plan.send(outcome)
    except StopIteration:
        return None


def _statements(w: Write, dumps: Callable[[Any], str]) -> WritePlan:
    snap = w.snapshot
    at = w.at
    if w.kind == CREATE:
        yield Statement(
            _INSERT_AGENT,
            (w.agent_id, w.machine, snap.status, snap.version, snap.since, dumps(snap.data),
             at, at, w.machine_version),
        )  # fmt: skip
        yield Statement(
            _INSERT_AUDIT,
            (w.event_id, w.agent_id, w.kind, w.actor, w.event, dumps(w.payload),
             w.from_status, snap.status, snap.version, at, w.correlation_id, w.scope,
             w.principal, w.machine_version),
        )  # fmt: skip
    else:
        # The outcome of the compare-and-set decides what follows.
        if (yield head_statement(w, dumps)) != 1:
            exists = yield Statement(EXISTS, (w.agent_id,), wait=True)
            raise missed_write(w, bool(exists))
    if w.outbox:
        yield Statement(
            _INSERT_OUTBOX,
            [
                (w.agent_id, o.kind, dumps(o.payload), o.key, at, at, at, w.trace_context)
                for o in w.outbox
            ],
            many=True,
        )
    if w.consume_timer is not None:
        yield Statement("DELETE FROM timers WHERE token = %s", (w.consume_timer,))
    if w.cancels:
        yield Statement(
            "DELETE FROM timers WHERE agent_id = %s AND event = ANY(%s)",
            (w.agent_id, list(w.cancels)),
        )
    for t in w.timers:
        yield Statement(_SET_TIMER, (w.agent_id, t.event, t.due_at, t.token))


def head_statement(w: Write, dumps: Callable[[Any], str]) -> Statement:
    """The first statement of an event's write (not a creation's): the compare-and-set and the
    audit row of an accepted event, or the version check and the audit row of a refusal. Its
    row count is 1 when the agent was at the expected version, else 0 (nothing written)."""
    snap = w.snapshot
    at = w.at
    ref = w.refusal
    if ref is None:
        before = w.before
        return Statement(
            _CAS_AND_LOG,
            (snap.status, snap.version, snap.since, dumps(snap.data), at, w.agent_id,
             w.expected_version, w.event_id, w.kind, w.actor, w.event, dumps(w.payload),
             w.from_status, snap.status, snap.version, at, w.correlation_id, w.scope,
             w.principal, w.machine_version, None if before is None else before.since,
             None if before is None else dumps(before.data)),
            wait=True,
        )  # fmt: skip
    return Statement(
        _CHECK_AND_LOG,
        (w.agent_id, w.expected_version, w.event_id, w.kind, w.actor, w.event,
         dumps(w.payload), w.from_status, snap.status, snap.version, ref.code,
         ref.message, ref.guard, at, w.correlation_id, w.scope, w.principal,
         w.machine_version),
        wait=True,
    )  # fmt: skip


def _key_ok(value: object) -> bool:
    """Whether a row could be stored under ``value``: PostgreSQL text holds no U+0000 either."""
    return storable_key(value) and "\x00" not in value  # type: ignore[operator]


def check_open_arguments(
    dsn: object, schema: object, min_size: object, max_size: object, connect_timeout: object
) -> None:
    """Check the arguments both PostgreSQL stores open with, before anything connects.

    Raises:
        InvalidInput: an argument has the wrong type or an impossible value.
        StoreError: the DSN holds a NUL or a lone surrogate.
    """
    if not isinstance(dsn, str):
        raise InvalidInput(f"the DSN must be a string, not {quote(dsn)}")
    if not _key_ok(dsn):
        raise StoreError(
            "the PostgreSQL DSN holds a NUL or a lone surrogate, which libpq cannot read"
        )
    if not isinstance(schema, str):
        raise InvalidInput(f"the schema name must be a string, not {quote(schema)}")
    for name, size in (("min_size", min_size), ("max_size", max_size)):
        if type(size) is not int or not 0 <= size <= 10_000:
            raise InvalidInput(f"{name} must be a whole number of connections, not {quote(size)}")
    if min_size > max_size or max_size < 1:  # type: ignore[operator]
        raise InvalidInput(
            f"the pool needs 1 <= max_size and min_size <= max_size ({min_size}, {max_size})"
        )
    check_seconds("connect_timeout", connect_timeout)


class OpenParts(NamedTuple):
    """What both PostgreSQL stores derive from their arguments before connecting."""

    channel: str
    where: str
    rows: RowReader
    queries: PostgresQueries


def open_parts(
    dsn: str,
    schema: str,
    codec: Codec,
    min_size: object,
    max_size: object,
    connect_timeout: object,
) -> OpenParts:
    """Check a PostgreSQL store's arguments and build its channel, redacted DSN and queries.

    Args:
        dsn: the libpq connection string or URL.
        schema: the PostgreSQL schema name.
        codec: how the store turns data into JSON.
        min_size: the pool's lower bound.
        max_size: the pool's upper bound.
        connect_timeout: seconds to wait for the server.

    Returns:
        The notification channel, the DSN without its password, the row reader and the
        queries.

    Raises:
        InvalidInput: an argument has the wrong type or an impossible value.
        StoreError: the DSN holds a NUL or a lone surrogate, or the schema name is malformed.
    """
    check_open_arguments(dsn, schema, min_size, max_size, connect_timeout)
    if not _SCHEMA_NAME.match(schema):
        raise StoreError(
            f"the schema name {schema!r} must be lower-case letters, digits and underscores"
        )
    where = _redact(dsn)
    rows = RowReader(codec, f"the schema {schema!r} at {where!r}", given_time)
    return OpenParts(notify_channel(schema), where, rows, PostgresQueries(schema, rows))


def missed_write(w: Write, exists: bool) -> StoreError:
    """Why ``w``'s compare-and-set wrote nothing: the agent is not stored (``exists`` false),
    or it is at another version than the expected one."""
    if not exists:
        return UnknownAgent(f"no agent {w.agent_id!r} is stored; create it first")
    return VersionConflict(w.agent_id, w.expected_version or 0)


def one_statement(w: Write) -> bool:
    """Whether ``w`` is one statement: an event that writes no outbox item and no timer."""
    return (
        w.kind != CREATE
        and not w.outbox
        and not w.timers
        and not w.cancels
        and w.consume_timer is None
    )


def _redact(dsn: str) -> str:
    """The DSN without its password, for messages."""
    dsn = re.sub(r"(password\s*=\s*)(\S+)", r"\1***", dsn)
    return re.sub(r"(://[^:/@]+:)([^@]+)@", r"\1***@", dsn)
