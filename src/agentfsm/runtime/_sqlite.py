"""``SQLiteStore``: the embedded store, on the standard library's ``sqlite3``.

A file in WAL mode (readers never wait for the writer), or ``":memory:"`` for quick tests.
Every write is a ``BEGIN IMMEDIATE`` transaction: SQLite has one writer at a time, and taking
the write lock up front makes that single-writer discipline explicit, so two workers (threads
or processes) claiming outbox items or timers are serialised instead of deadlocking on a lock
upgrade. Times are stored as fixed-width UTC ISO 8601 text, which sorts chronologically.
"""

from __future__ import annotations

import functools
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from agentfsm._errors import InvalidInput
from agentfsm._private_file import create_owner_only
from agentfsm._words import quote
from agentfsm.runtime._agent_filters import agent_filters, prefix_end
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
    CorruptDatabase,
    DuplicateEvent,
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
from agentfsm.runtime._rows import RowReader, parse_time
from agentfsm.runtime._schema import SCHEMA_VERSION, SQLITE_STEPS, SQLITE_V1
from agentfsm.runtime._sqlite_check import check_file_read_only, schema_version
from agentfsm.runtime._storable import check_writes, storable_key, wanted_ids
from agentfsm.runtime._store import check_batch


@functools.lru_cache(maxsize=4096)
def _ts(dt: datetime) -> str:
    # Cached: a batch writes the same few instants (its decision time, agents' since) many times.
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    def acquire(self, blocking: bool = True) -> bool:
        return True

    def release(self) -> None:
        return None


_AGENT_COLS = "id, machine, status, version, since, data, created_at, updated_at, machine_version"
_AUDIT_COLS = (
    "seq, event_id, agent_id, kind, actor, event, payload, from_status, to_status, version, "
    "refusal_code, refusal_message, refusal_guard, at, correlation_id, principal, machine_version, "
    "before_since, before_data"
)
_OUTBOX_COLS = (
    "id, agent_id, kind, payload, key, state, attempts, next_attempt_at, last_error, "
    "claimed_by, claimed_until, trace_context"
)
_TIMER_COLS = "agent_id, event, due_at, token, claimed_by, claimed_until"

_INSERT_AUDIT = (
    "INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, from_status, "
    "to_status, version, refusal_code, refusal_message, refusal_guard, at, correlation_id, "
    "scope, principal, machine_version, before_since, before_data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_CAS = (
    "UPDATE agents SET status = ?, version = ?, since = ?, data = ?, updated_at = ? "
    "WHERE id = ? AND version = ?"
)
_INSERT_OUTBOX = (
    "INSERT INTO outbox (agent_id, kind, payload, key, state, attempts, next_attempt_at, "
    "created_at, updated_at, trace_context) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)"
)
_SET_TIMER = (
    "INSERT INTO timers (agent_id, event, due_at, token) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (agent_id, event) DO UPDATE SET due_at = excluded.due_at, "
    "token = excluded.token, claimed_by = NULL, claimed_until = NULL"
)
_CLAIM_OUTBOX = f"""
    UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE id IN (
        SELECT o.id FROM outbox o
        WHERE o.state = 'pending' AND o.next_attempt_at <= ?
          AND (o.claimed_until IS NULL OR o.claimed_until < ? OR o.claimed_by = ?)
          AND NOT EXISTS (SELECT 1 FROM outbox p
                          WHERE p.agent_id = o.agent_id AND p.state = 'pending' AND p.id < o.id)
        ORDER BY o.id LIMIT ?)
    RETURNING {_OUTBOX_COLS}"""
_CLAIM_TIMERS = f"""
    UPDATE timers SET claimed_by = ?, claimed_until = ? WHERE token IN (
        SELECT token FROM timers
        WHERE due_at <= ? AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?)
        ORDER BY due_at LIMIT ?)
    RETURNING {_TIMER_COLS}"""


class SQLiteStore:
    """The embedded store: one SQLite file in WAL mode, or memory.

    Safe to share between threads (each thread gets its own connection to a file; a memory
    database has one connection behind a lock) and between processes opening the same file.

    Args:
        path: the database file (created when missing), or ``":memory:"``.
        codec: how snapshot data, payloads and effects are turned into JSON.
        busy_timeout: seconds a writer waits for another writer's lock before giving up.
        synchronous: SQLite's ``synchronous`` setting. ``"NORMAL"`` (the default) survives a
            crash of the process; ``"FULL"`` also survives a power loss, at a cost per commit.

    Raises:
        InvalidInput: an argument has the wrong type: a path that is not a string or a
            ``PathLike`` of one (or holds a NUL or a lone surrogate, which no file name can),
            a ``synchronous`` that is not a string, a ``busy_timeout`` that is not a finite,
            non-negative number.
        StoreError: ``synchronous`` is not one of SQLite's settings.
        CorruptDatabase: the file is not a SQLite database, or is damaged.
        ForeignDatabase: the file holds another program's tables.
        SchemaTooNew: the file was written by a newer agentfsm.
        StoreUnavailable: the file cannot be opened (permissions, missing directory…).
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
        self._busy = busy_timeout
        self._sync = synchronous.upper()
        self._memory = self.path == ":memory:"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._closed = False
        self._lock: Any = threading.RLock() if self._memory else _NoLock()
        self._rows = RowReader(codec, repr(self.path), parse_time)
        self._shared = self._open() if self._memory else None
        if not self._memory:
            check_file_read_only(self.path, busy_timeout)  # a refusal must change nothing
            try:
                create_owner_only(self.path)
            except OSError as exc:
                raise StoreUnavailable(
                    f"cannot open the SQLite database {self.path!r}: {exc}"
                ) from exc
            self._open_file()

    # -- connections ------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0.0
            )
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open the SQLite database {self.path!r}: {exc}") from exc
        try:
            if not self._memory:
                self._patiently(conn, "PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._sync}")
            # A larger page cache and memory-mapped reads: the agents, the log's indexes and
            # the outbox's are touched on every event. Checkpoints (which sync the database
            # file) every ~40 MB of log instead of ~4 MB: big batches otherwise pay one each.
            conn.execute("PRAGMA cache_size = -65536")
            conn.execute("PRAGMA mmap_size = 268435456")
            conn.execute("PRAGMA wal_autocheckpoint = 10000")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise CorruptDatabase(
                f"{self.path!r} is not a usable SQLite database ({exc}); point the store at a "
                "new file or at an agentfsm database"
            ) from exc
        with self._all_lock:
            self._all.append(conn)
        if self._memory:
            self._prepare_schema(conn)
        return conn

    def _open_file(self) -> None:
        self._prepare_schema(self._conn())

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreUnavailable("this SQLiteStore is closed; open a new one")
        if self._shared is not None:
            return self._shared
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close every connection this store opened."""
        self._closed = True
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._conn()
            self._begin(conn)
            with self._committing(conn):
                yield conn

    @contextmanager
    def _committing(self, conn: sqlite3.Connection) -> Iterator[None]:
        # The transaction begun on ``conn``: COMMIT after the block, ROLLBACK on its error.
        try:
            yield
        except BaseException:
            _roll_back(conn)
            raise
        self._commit(conn)

    def _commit(self, conn: sqlite3.Connection) -> None:
        # COMMIT, or ROLLBACK and the error a caller may retry on.
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _roll_back(conn)
            raise StoreUnavailable(f"commit failed on {self.path!r}: {exc}") from exc

    def _begin(self, conn: sqlite3.Connection) -> None:
        self._patiently(conn, "BEGIN IMMEDIATE")

    def _patiently(self, conn: sqlite3.Connection, sql: str) -> None:
        # SQLite's own busy handler sleeps in steps that grow to 100 ms, which leaves the lock
        # idle long after its holder let go; waiting here in short random naps keeps several
        # writing processes busy instead of asleep. (The connections' busy_timeout is 0.)
        # The clock is read only once the lock turns out to be taken: most calls get it at once.
        deadline: float | None = None
        nap = 0.0002
        while True:
            try:
                conn.execute(sql)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._busy
                if now >= deadline:
                    raise StoreUnavailable(
                        f"cannot run {sql} on {self.path!r}: another writer "
                        f"held the lock longer than busy_timeout ({self._busy} s)"
                    ) from exc
            time.sleep(random.uniform(0, nap))
            nap = min(nap * 2, 0.005)

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn().execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                raise _translate(exc, self.path) from exc

    # -- schema -----------------------------------------------------------------------------

    def _prepare_schema(self, conn: sqlite3.Connection) -> None:
        try:
            self._begin(conn)
            try:
                self._create_or_migrate(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc

    def _create_or_migrate(self, conn: sqlite3.Connection) -> None:
        # Checked again under the write lock: the file may have changed since it was read.
        version = schema_version(conn, self.path)
        if version is None:
            for stmt in SQLITE_V1:
                conn.execute(stmt)
            version = 1
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for stmt in SQLITE_STEPS[step]:
                conn.execute(stmt)

    def schema_version(self) -> int:
        """The schema version the database is at.

        Raises:
            CorruptDatabase: the schema table is damaged.
        """
        with self._lock:
            try:
                version = schema_version(self._conn(), self.path)
            except sqlite3.DatabaseError as exc:
                raise _translate(exc, self.path) from exc
        if version is None:
            raise CorruptDatabase(f"{self.path!r} lost its tables; restore it from a backup")
        return version

    # -- agents -----------------------------------------------------------------------------

    def _agent(self, row: Any) -> AgentRecord:
        return self._rows.agent(row)

    def _audit(self, row: Any) -> AuditRow:
        return self._rows.audit(row)

    def _item(self, row: Any) -> OutboxItem:
        return self._rows.outbox(row)

    def _timer(self, row: Any) -> TimerRow:
        return self._rows.timer(row)

    def load(self, agent_id: str) -> AgentRecord:
        """The stored agent.

        Raises:
            UnknownAgent: there is none (also for an id no agent could be stored under).
            CorruptDatabase: its row is damaged.
        """
        rows = (
            self._read(f"SELECT {_AGENT_COLS} FROM agents WHERE id = ?", (agent_id,))
            if storable_key(agent_id)
            else []
        )
        if not rows:
            raise UnknownAgent(f"no agent {quote(agent_id)} is stored; create it first")
        return self._agent(rows[0])

    def load_many(self, agent_ids: Iterable[str]) -> dict[str, AgentRecord]:
        """The stored agents among ``agent_ids``; unknown ids are left out.

        Raises:
            InvalidInput: ``agent_ids`` is one string, or not iterable.
            CorruptDatabase: a row is damaged.
        """
        ids = wanted_ids(agent_ids)
        out: dict[str, AgentRecord] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for row in self._read(f"SELECT {_AGENT_COLS} FROM agents WHERE id IN ({marks})", chunk):
                out[row[0]] = self._agent(row)
        return out

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
        f = agent_filters(machine, status, prefix, after, limit)
        if f is None:
            return []
        where: list[str] = []
        args: list[object] = []
        for column, value in (("machine =", f.machine), ("status =", f.status), ("id >", f.after)):
            if value is not None:
                where.append(f"{column} ?")
                args.append(value)
        if f.prefix:
            where.append("id >= ?")
            args.append(f.prefix)
            end = prefix_end(f.prefix)
            if end is not None:
                where.append("id < ?")
                args.append(end)
        sql = f"SELECT {_AGENT_COLS} FROM agents"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id LIMIT ?"
        args.append(-1 if f.limit is None else f.limit)
        return [self._agent(r) for r in self._read(sql, args)]

    # -- the one write path -----------------------------------------------------------------

    def commit(self, writes: Sequence[Write]) -> None:
        """Apply ``writes`` in one transaction (see ``Store.commit``)."""
        if len(writes) == 1 and _is_move(writes[0]):
            self._commit_move(writes[0])
            return
        try:
            with self._write() as conn:
                self._apply(conn, writes)
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc

    def commit_if_free(self, writes: Sequence[Write]) -> bool:
        """``commit``, for a caller that must not wait (an event loop's thread): the writes are
        applied only if the write lock is free at once.

        The calling thread's connection then leaves checkpoints of the log (which write and
        sync the database file) to the others: call ``checkpoint`` on another thread now and
        then.

        Returns:
            Whether the writes were applied; ``False``: another writer holds the lock and
            nothing was done.

        Raises:
            The errors of ``commit``.
        """
        lock = self._lock
        if not lock.acquire(blocking=False):
            return False
        try:
            conn = self._conn()
            if not self._memory and not getattr(self._local, "quick", False):
                conn.execute("PRAGMA wal_autocheckpoint = 0")
                self._local.quick = True
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    return False
                raise
            with self._committing(conn):
                self._apply(conn, writes)
            return True
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc
        finally:
            lock.release()

    def checkpoint(self) -> None:
        """Copy the log's committed pages into the database file, without waiting for
        readers or writers (``PRAGMA wal_checkpoint(PASSIVE)``); nothing to do in memory."""
        if self._memory:
            return
        try:
            self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc

    def _commit_move(self, w: Write) -> None:
        # The most common write alone (an accepted event that writes no outbox item and
        # touches no timer): the transaction ``_write`` would open, with the text checked and
        # encoded before the write lock is taken (a refusal of it then changes nothing either).
        args = self._move_args(w)
        try:
            with self._lock:
                conn = self._conn()
                self._begin(conn)
                # ``_committing``'s steps without its generator (the hot path).
                try:
                    self._run_move(conn, w, args)
                except BaseException:
                    _roll_back(conn)
                    raise
                self._commit(conn)
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc

    def _move_args(self, w: Write) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The compare-and-set's and the audit row's arguments of a lone move (``_is_move``),
        its text checked first (``CodecError``)."""
        check_writes((w,))
        dumps = self.codec.dumps
        s = w.snapshot
        b = w.before
        at = _ts(w.at)
        # A status change starts its ``since`` at the decision's time: one conversion for both.
        since = at if s.since is w.at else _ts(s.since)
        cas = (s.status, s.version, since, dumps(s.data), at, w.agent_id, w.expected_version)
        row = (
            w.event_id, w.agent_id, w.kind, w.actor, w.event, dumps(w.payload), w.from_status,
            s.status, s.version, None, None, None, at, w.correlation_id, w.scope, w.principal,
            w.machine_version, None if b is None else _ts(b.since),
            None if b is None else dumps(b.data),
        )  # fmt: skip
        return cas, row

    def _run_move(
        self,
        conn: sqlite3.Connection,
        w: Write,
        args: tuple[tuple[Any, ...], tuple[Any, ...]],
    ) -> None:
        cas, row = args
        if conn.execute(_CAS, cas).rowcount != 1:
            expected = w.expected_version if w.expected_version is not None else -1
            self._check_versions(conn, {w.agent_id: expected})
            raise VersionConflict(w.agent_id, expected)  # pragma: no cover
        try:
            conn.execute(_INSERT_AUDIT, row)
        except sqlite3.IntegrityError:
            raise DuplicateEvent(w.event_id, w.agent_id, w.scope) from None

    def commit_each(self, batches: Sequence[Sequence[Write]]) -> list[Exception | None]:
        """Apply several independent batches in one transaction, each whole or not at all.

        Each batch runs in a savepoint, in order, as ``commit`` would run it alone: a batch
        that fails (a version conflict, a duplicate…) is rolled back to its savepoint and its
        error returned in its place; the others are committed together. One transaction for
        many callers is what makes concurrent callers cheaper per event (a group commit).

        Returns:
            Per batch, ``None`` (written) or the error ``commit`` would have raised.

        Raises:
            StoreError: the transaction as a whole failed (nothing was written).
        """
        outcomes: list[Exception | None] = []
        try:
            with self._write() as conn:
                for writes in batches:
                    conn.execute("SAVEPOINT batch")
                    try:
                        self._apply(conn, writes)
                    except sqlite3.DatabaseError as exc:
                        conn.execute("ROLLBACK TO batch")
                        outcomes.append(_translate(exc, self.path))
                    except StoreError as exc:
                        conn.execute("ROLLBACK TO batch")
                        outcomes.append(exc)
                    else:
                        outcomes.append(None)
                    conn.execute("RELEASE batch")
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc
        return outcomes

    def _apply(self, conn: sqlite3.Connection, writes: Sequence[Write]) -> None:
        # Statements of one kind go to SQLite together (executemany), which is what makes a
        # batch several times faster per event than single writes. That is exact because the
        # write lock is held: the stored versions are checked once up front, and the batch's
        # own writes to one agent must chain (each expects the version the previous one left).
        if len(writes) == 1 and _is_move(writes[0]):  # a lone move, without that bookkeeping
            self._run_move(conn, writes[0], self._move_args(writes[0]))
            return
        dumps = self.codec.dumps
        base, checks, creates = check_batch(writes)
        if creates:
            taken = self._existing(conn, [w.agent_id for w in creates])
            if taken:
                raise AgentExists(f"an agent {taken[0]!r} is already stored")
            conn.executemany(
                f"INSERT INTO agents ({_AGENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (w.agent_id, w.machine, w.snapshot.status, w.snapshot.version,
                     _ts(w.snapshot.since), dumps(w.snapshot.data), _ts(w.at), _ts(w.at),
                     w.machine_version)
                    for w in creates
                ],
            )  # fmt: skip
        if checks:
            self._check_versions(conn, {a: base[a] for a in checks})
        moves = [
            (s.status, s.version, _ts(s.since), dumps(s.data), _ts(w.at), w.agent_id,
             w.expected_version)
            for w in writes
            if w.kind != CREATE and w.refusal is None
            for s in (w.snapshot,)
        ]  # fmt: skip
        if moves and conn.executemany(_CAS, moves).rowcount != len(moves):
            # Some compare-and-set matched no row: say which agent, for the caller to re-read.
            self._check_versions(conn, {a: v for a, v in base.items() if a not in checks})
            raise VersionConflict(str(moves[0][5]), int(moves[0][6] or 0))  # pragma: no cover
        before = conn.total_changes
        rows = [
            (w.event_id, w.agent_id, w.kind, w.actor, w.event, dumps(w.payload), w.from_status,
             w.snapshot.status, w.snapshot.version, None, None, None, _ts(w.at), w.correlation_id,
             w.scope, w.principal, w.machine_version,
             *((None, None) if b is None else (_ts(b.since), dumps(b.data))))
            if w.refusal is None
            else _audit_args(w, dumps)
            for w in writes
            for b in (w.before,)
        ]  # fmt: skip
        try:
            conn.executemany(_INSERT_AUDIT, rows)
        except sqlite3.IntegrityError:
            w = writes[conn.total_changes - before]
            raise DuplicateEvent(w.event_id, w.agent_id, w.scope) from None
        entries = [
            (
                w.agent_id,
                o.kind,
                dumps(o.payload),
                o.key,
                _ts(w.at),
                _ts(w.at),
                _ts(w.at),
                w.trace_context,
            )
            for w in writes
            for o in w.outbox
        ]
        if entries:
            conn.executemany(_INSERT_OUTBOX, entries)
        consumed = [(w.consume_timer,) for w in writes if w.consume_timer is not None]
        if consumed:
            conn.executemany("DELETE FROM timers WHERE token = ?", consumed)
        if any(w.cancels for w in writes):
            # Cancels and settings of one agent's timers must keep their order.
            for w in writes:
                if w.cancels:
                    marks = ", ".join("?" * len(w.cancels))
                    conn.execute(
                        f"DELETE FROM timers WHERE agent_id = ? AND event IN ({marks})",
                        (w.agent_id, *w.cancels),
                    )
                for t in w.timers:
                    conn.execute(_SET_TIMER, (w.agent_id, t.event, _ts(t.due_at), t.token))
        else:
            settings = [
                (w.agent_id, t.event, _ts(t.due_at), t.token) for w in writes for t in w.timers
            ]
            if settings:
                conn.executemany(_SET_TIMER, settings)

    @staticmethod
    def _existing(conn: sqlite3.Connection, ids: list[str]) -> list[str]:
        found: list[str] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT id FROM agents WHERE id IN ({marks})"
            found += [r[0] for r in conn.execute(sql, chunk)]
        return found

    @staticmethod
    def _check_versions(conn: sqlite3.Connection, expected: dict[str, int]) -> None:
        ids = list(expected)
        stored: dict[str, int] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT id, version FROM agents WHERE id IN ({marks})"
            stored.update(conn.execute(sql, chunk).fetchall())
        for agent_id, version in expected.items():
            found = stored.get(agent_id)
            if found is None:
                raise UnknownAgent(f"no agent {quote(agent_id)} is stored; create it first")
            if found != version:
                raise VersionConflict(agent_id, version)

    # -- audit log --------------------------------------------------------------------------

    def audit_row(self, agent_id: str, scope: str, event_id: str) -> AuditRow | None:
        """The agent's audit row of ``event_id`` in ``scope``, if recorded (``CorruptDatabase``
        if damaged)."""
        if not (storable_key(agent_id) and storable_key(scope) and storable_key(event_id)):
            return None
        sql = f"SELECT {_AUDIT_COLS} FROM audit WHERE agent_id = ? AND scope = ? AND event_id = ?"
        rows = self._read(sql, (agent_id, scope, event_id))
        return self._audit(rows[0]) if rows else None

    def history(self, agent_id: str) -> list[AuditRow]:
        """An agent's audit rows, oldest first (``CorruptDatabase`` if one is damaged)."""
        if not storable_key(agent_id):
            return []
        sql = f"SELECT {_AUDIT_COLS} FROM audit WHERE agent_id = ? ORDER BY seq"
        return [self._audit(r) for r in self._read(sql, (agent_id,))]

    def audit_log(self, after_seq: int = 0, limit: int | None = None) -> list[AuditRow]:
        """Audit rows after ``after_seq``, oldest first (``InvalidInput`` for a bad count)."""
        check_count("after_seq", after_seq)
        check_count("limit", limit, optional=True)
        sql = f"SELECT {_AUDIT_COLS} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?"
        rows = self._read(sql, (after_seq, -1 if limit is None else limit))
        return [self._audit(r) for r in rows]

    # -- outbox -----------------------------------------------------------------------------

    def claim_outbox(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxItem]:
        """Claim due outbox items for ``worker`` (see ``Store.claim_outbox``)."""
        n = _ts(now)
        try:
            with self._write() as conn:
                rows = conn.execute(
                    _CLAIM_OUTBOX, (worker, _ts(lease_until), n, n, worker, limit)
                ).fetchall()
                # Read inside the transaction: a damaged row claims nothing.
                items = [self._item(r) for r in rows]
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc
        return sorted(items, key=lambda i: i.id)

    def _update_held(self, sql: str, args: Sequence[Any]) -> bool:
        try:
            with self._write() as conn:
                return conn.execute(sql, args).rowcount == 1
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc

    def finish_outbox(self, item_id: int, worker: str, now: datetime) -> bool:
        """Mark an item done, if ``worker`` still holds it."""
        return self._update_held(
            "UPDATE outbox SET state = ?, claimed_by = NULL, claimed_until = NULL, "
            "updated_at = ? WHERE id = ? AND claimed_by = ? AND state = 'pending'",
            (DONE, _ts(now), item_id, worker),
        )

    def retry_outbox(
        self, item_id: int, worker: str, error: str, next_attempt_at: datetime, now: datetime
    ) -> bool:
        """Count a failed attempt; the item is due again at ``next_attempt_at``."""
        return self._update_held(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "
            "claimed_by = NULL, claimed_until = NULL, updated_at = ? "
            "WHERE id = ? AND claimed_by = ? AND state = 'pending'",
            (error, _ts(next_attempt_at), _ts(now), item_id, worker),
        )

    def park_outbox(self, item_id: int, worker: str, error: str, now: datetime) -> bool:
        """Count a failed attempt and park the item with ``error``."""
        return self._update_held(
            "UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ?, "
            "claimed_by = NULL, claimed_until = NULL, updated_at = ? "
            "WHERE id = ? AND claimed_by = ? AND state = 'pending'",
            (PARKED, error, _ts(now), item_id, worker),
        )

    def requeue_outbox(self, item_id: int, now: datetime) -> bool:
        """Put a parked item back in the queue, due now."""
        n = _ts(now)
        return self._update_held(
            "UPDATE outbox SET state = ?, next_attempt_at = ?, updated_at = ? "
            "WHERE id = ? AND state = 'parked'",
            (PENDING, n, n, item_id),
        )

    def outbox(
        self, *, state: str | None = None, agent_id: str | None = None, limit: int | None = None
    ) -> list[OutboxItem]:
        """Outbox items, oldest first, filtered by state and agent (``InvalidInput`` for a
        filter that is not a string, or a bad ``limit``)."""
        check_filter("state", state)
        check_filter("agent_id", agent_id)
        check_count("limit", limit, optional=True)
        if not all(v is None or storable_key(v) for v in (state, agent_id)):
            return []  # nothing is stored under such a key
        sql = (
            f"SELECT {_OUTBOX_COLS} FROM outbox WHERE (? IS NULL OR state = ?) "
            "AND (? IS NULL OR agent_id = ?) ORDER BY id LIMIT ?"
        )
        args = (state, state, agent_id, agent_id, -1 if limit is None else limit)
        return [self._item(r) for r in self._read(sql, args)]

    def prune_done(self, older_than: datetime, limit: int | None = None) -> int:
        """Delete done items last changed before ``older_than`` (see ``Store.prune_done``)."""
        _check_limit(limit)
        check_instant("older_than", older_than)
        try:
            with self._write() as conn:
                return conn.execute(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox "
                    "WHERE state = 'done' AND updated_at < ? ORDER BY id LIMIT ?)",
                    (_ts(older_than), -1 if limit is None else limit),
                ).rowcount
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc

    # -- timers -----------------------------------------------------------------------------

    def claim_timers(
        self, worker: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[TimerRow]:
        """Claim due timers for ``worker``, earliest first."""
        n = _ts(now)
        try:
            with self._write() as conn:
                rows = conn.execute(
                    _CLAIM_TIMERS, (worker, _ts(lease_until), n, n, worker, limit)
                ).fetchall()
                timers = [self._timer(r) for r in rows]  # inside: a damaged row claims nothing
        except sqlite3.DatabaseError as exc:
            raise _translate(exc, self.path) from exc
        return sorted(timers, key=lambda t: (t.due_at, t.token))

    def consume_timer(self, token: str) -> bool:
        """Delete the timer setting ``token``, if it is still pending (see ``Store``)."""
        return self._update_held("DELETE FROM timers WHERE token = ?", (token,))

    def timers(self, agent_id: str | None = None) -> list[TimerRow]:
        """Pending timers, earliest first (``InvalidInput`` for an id that is not a string)."""
        check_filter("agent_id", agent_id)
        if agent_id is not None and not storable_key(agent_id):
            return []
        sql = f"SELECT {_TIMER_COLS} FROM timers WHERE (? IS NULL OR agent_id = ?) ORDER BY due_at"
        return [self._timer(r) for r in self._read(sql, (agent_id, agent_id))]

    def counts(self, now: datetime, late_after: timedelta = timedelta(minutes=1)) -> StoreCounts:
        """Agents per status, the outbox's backlog and the timers due at ``now`` (for gauges).

        Raises:
            CorruptDatabase: a counted time is damaged.
        """
        return _counts(self, now, late_after)


def _counts(store: SQLiteStore, now: datetime, late_after: timedelta) -> StoreCounts:
    agents = store._read("SELECT machine, status, COUNT(*) FROM agents GROUP BY machine, status")
    outbox = store._read(
        "SELECT state, COUNT(*), MIN(created_at) FROM outbox "
        "WHERE state IN ('pending', 'parked') GROUP BY state"
    )
    timers = store._read(
        "SELECT COUNT(*), SUM(due_at <= ?) FROM timers WHERE due_at <= ?",
        (_ts(now - late_after), _ts(now)),
    )
    return counts_from(agents, outbox, timers[0], parse_time)


def _roll_back(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _is_move(w: Write) -> bool:
    """Whether ``w`` is an accepted event that writes no outbox item and touches no timer."""
    return (
        w.kind != CREATE
        and w.refusal is None
        and not (w.outbox or w.timers or w.cancels)
        and w.consume_timer is None
    )


def _audit_args(w: Write, dumps: Any) -> tuple[Any, ...]:
    ref = w.refusal
    return (
        w.event_id, w.agent_id, w.kind, w.actor, w.event, dumps(w.payload), w.from_status,
        w.snapshot.status, w.snapshot.version, ref.code if ref else None,
        ref.message if ref else None, ref.guard if ref else None, _ts(w.at), w.correlation_id,
        w.scope, w.principal, w.machine_version, None, None,
    )  # fmt: skip


def _check_limit(limit: int | None) -> None:
    if limit is not None and (type(limit) is not int or not 0 < limit <= MAX_INT):
        raise StoreError(f"limit must be a positive number of rows or None, not {quote(limit)}")


def check_open_arguments(path: object, busy_timeout: object, synchronous: object) -> str:
    """Check the arguments both SQLite stores open with, before any file is touched.

    Returns:
        The path as a string.

    Raises:
        InvalidInput: an argument has the wrong type, or the path holds a NUL or a lone
            surrogate.
        StoreError: ``synchronous`` is not one of SQLite's settings.
    """
    if not isinstance(synchronous, str):
        raise InvalidInput(f"synchronous must be a string, not {quote(synchronous)}")
    if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise StoreError(
            f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {quote(synchronous)}"
        )
    check_seconds("busy_timeout", busy_timeout)
    return _checked_path(path)


def _checked_path(path: object) -> str:
    try:
        text = os.fspath(path)  # type: ignore[call-overload]
    except TypeError:
        text = None
    if not isinstance(text, str):
        raise InvalidInput(f"path must be a string or a PathLike of one, not {quote(path)}")
    if "\x00" in text or not storable_key(text):
        raise InvalidInput(f"the path {quote(text)} holds a NUL or a lone surrogate")
    return text


def _translate(exc: sqlite3.DatabaseError, path: str) -> StoreError:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return StoreUnavailable(f"{path!r} stayed locked by another writer: {text}")
    if "not a database" in text or "malformed" in text:
        return CorruptDatabase(f"{path!r} is not a usable SQLite database ({text})")
    if "Could not decode" in text:  # a text column holding bytes that are not UTF-8
        # SQLite's message goes on to quote the bytes; the column's name is what helps.
        return CorruptDatabase(
            f"{path!r} holds damaged text ({text.split(' with text')[0]}); repair or delete "
            "that row, or restore the database from a backup"
        )
    if isinstance(exc, sqlite3.ProgrammingError):
        return StoreUnavailable(f"the connection to {path!r} cannot be used: {text}")
    return StoreError(f"SQLite failed on {path!r}: {text}")
