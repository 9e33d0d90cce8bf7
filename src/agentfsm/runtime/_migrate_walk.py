"""A migration's batches on PostgreSQL, each written while the next one is read and decided.

``postgres_batch`` costs four round trips a batch (``BEGIN``, the locked read, the write,
``COMMIT``), and the client waits for the server's write before it decides anything more. A
``PostgresWalk`` does without the long transaction: a batch is read without locks, decided, and
written by one statement that is a transaction of its own, on a connection of its own held by a
writer thread; meanwhile the caller reads and decides the next batch. The server's time on the
write and the client's on the decisions overlap (the writer needs Python only to send the
statement and to read its count, and waits for the server without it).

The guarantees are the locked batch's. The write takes a row only if it can lock it at once
(``SKIP LOCKED``: no waiting, so two appliers cannot deadlock) and only at the version and
machine version read (the compare-and-set of every write); its audit rows are those of the
rows it moved, in the same statement. An agent another applier or a controller wrote meanwhile
is not moved, and the caller's walk comes back for it. An applier killed at any point leaves
whole statements behind.

Migrations with timer or outbox rules keep the locked batch: their side statements must see
exactly the agents moved.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from agentfsm.runtime._errors import StoreError
from agentfsm.runtime._migrate_sql import (
    MIGRATE_SCOPE,
    Decide,
    Move,
    Rules,
    _versions,
)
from agentfsm.runtime._records import MIGRATE

_WRITE = (
    "WITH m AS (SELECT * FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::text[], "
    "%b::text[]) AS m(id, status, expected, data, from_status)), "
    # Locked here, not waited for: a row another writer holds is left for the next walk.
    "took AS (SELECT id, version FROM agents WHERE id = ANY(%b::text[]) "
    "AND machine_version = %s FOR UPDATE SKIP LOCKED), "
    "moved AS (UPDATE agents a SET status = m.status, version = m.expected + 1, "
    "data = {data}, machine_version = %s, updated_at = %s "
    "FROM m JOIN took t ON t.id = m.id AND t.version = m.expected "
    "WHERE a.id = m.id AND a.version = m.expected AND a.machine_version = %s "
    "RETURNING a.id, a.status, a.version, {returned}, m.from_status, "
    "m.data IS NOT NULL AS changed), "
    "logged AS (INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, "
    "from_status, to_status, version, at, scope, machine_version) "
    "SELECT %s, id, %s, NULL, %s, CASE WHEN changed THEN "
    "jsonb_build_object('data', data) || %s::jsonb ELSE %s::jsonb END, "
    "from_status, status, version, %s, %s, %s FROM moved RETURNING 1) "
    "SELECT count(*) FROM logged"
)


class PostgresWalk:
    """The batches of one migration on a ``PostgresStore``.

    Use ``open_walk``; call ``batch`` as ``postgres_batch`` is called. ``batch`` returns once
    its own batch committed, having read and decided the next one meanwhile.
    """

    def __init__(self, store: Any, conn: Any, rules: Rules, writer: ThreadPoolExecutor) -> None:
        self._store = store
        self._conn = conn
        self._rules = rules
        self._writer = writer
        column = "data::text" if rules.read_data else "''"
        self._args: tuple[Any, ...] = ()
        if rules.read_data and rules.data_of:
            # Only the agents under a chooser need their data: the others' stays in the table.
            column = "CASE WHEN status = ANY(%s) THEN data::text ELSE '' END"
            self._args = (list(rules.data_of),)
        self._read_sql = (
            f"SELECT id, status, version, since, {column} FROM agents "
            "WHERE machine = %s AND machine_version = %s AND id > %s ORDER BY id LIMIT %s"
        )
        # The next batch, read and decided: (after, limit, (moves, last) or the error).
        self._ahead: tuple[str, int, Any] | None = None

    def _decided(self, after: str, limit: int, decide: Decide) -> tuple[list[Move], str]:
        r = self._rules
        rows = self._store._read(self._read_sql, (*self._args, r.machine, r.from_version,
                                                  after, limit))  # fmt: skip
        if not rows:
            return [], after
        moves = decide([self._store._rows.stored_agent(row) for row in rows])
        return moves, str(rows[-1][0])

    def _write(self, moves: list[Move], now: datetime) -> int:
        r = self._rules
        data = [m.data_json if m.data_changed else None for m in moves]
        versions = "{" + _versions(r)
        ids = [m.agent_id for m in moves]
        # A migration that keeps the data leaves the column alone (no JSON to parse). The
        # arrays go in binary (%b): as text, psycopg escapes each element with a regular
        # expression, which for JSON costs more than the rest of the batch.
        changed = any(data)
        new_data = "COALESCE(m.data::jsonb, a.data)" if changed else "a.data"
        # The audit rows repeat only changed data: else none is carried to them.
        returned = "a.data" if changed else "NULL::jsonb AS data"
        try:
            row = self._conn.execute(
                _WRITE.replace("{data}", new_data).replace("{returned}", returned),
                (ids, [m.status for m in moves],
                 [m.expected_version for m in moves], data, [m.from_status for m in moves],
                 ids, r.from_version, r.to_version, now, r.from_version,
                 r.event_id, MIGRATE, r.event, versions, versions, now,
                 MIGRATE_SCOPE, r.to_version),
            ).fetchone()  # fmt: skip
            return int(row[0])
        except StoreError:
            raise
        except Exception as exc:
            from agentfsm.runtime._postgres import translate_error

            translated = translate_error(exc, self._store._psycopg, self._store._where)
            if translated is None:
                raise
            raise translated from exc

    def batch(
        self, store: Any, rules: Rules, limit: int, decide: Decide, now: datetime, after: str
    ) -> tuple[int, str]:
        """Move the agents among the next ``limit`` after ``after`` that nobody else writes
        meanwhile; returns how many moved and the last id read (``after`` when none was)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[:2] == (after, limit):
            found = ahead[2]
            if isinstance(found, BaseException):
                raise found
            moves, last = found
        else:
            moves, last = self._decided(after, limit, decide)
        if not moves:
            return 0, after
        written = self._writer.submit(self._write, moves, now)
        try:
            self._ahead = (last, limit, self._decided(last, limit, decide))
        except Exception as exc:  # the next batch's to raise, once this one is written
            self._ahead = (last, limit, exc)
        return written.result(), last


@contextmanager
def open_walk(store: Any, rules: Rules) -> Iterator[PostgresWalk]:
    """A ``PostgresWalk`` with its writer thread and connection (from ``store``'s pool),
    stopped and given back afterwards."""
    from agentfsm.runtime._postgres import translate_error

    try:
        with (
            store._pool.connection() as conn,
            ThreadPoolExecutor(1, thread_name_prefix="agentfsm-migrate") as writer,
        ):
            yield PostgresWalk(store, conn, rules, writer)
    except StoreError:
        raise
    except Exception as exc:
        translated = translate_error(exc, store._psycopg, store._where)
        if translated is None:
            raise
        raise translated from exc
