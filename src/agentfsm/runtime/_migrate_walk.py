"""A migration's batches on PostgreSQL at one round trip each, for moves decided in Python.

``postgres_batch`` costs four round trips a batch (``BEGIN``, the locked read, the write,
``COMMIT``), and a round trip is what a batch mostly costs once the machine is busy. A
``PostgresWalk`` holds one connection in pipeline mode for the whole walk and does without the
long transaction: a batch is read without locks, decided, and written by one statement that is
a transaction of its own, sent together with the read of the next batch.

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
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from agentfsm.runtime._errors import StoreError
from agentfsm.runtime._migrate_sql import (
    MIGRATE_SCOPE,
    Decide,
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
    "RETURNING a.id, a.status, a.version, a.data, m.from_status, "
    "m.data IS NOT NULL AS changed), "
    "logged AS (INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, "
    "from_status, to_status, version, at, scope, machine_version) "
    "SELECT %s, id, %s, NULL, %s, CASE WHEN changed THEN "
    "jsonb_build_object('data', data) || %s::jsonb ELSE %s::jsonb END, "
    "from_status, status, version, %s, %s, %s FROM moved RETURNING 1) "
    "SELECT count(*) FROM logged"
)


class PostgresWalk:
    """The batches of one migration on one connection of a ``PostgresStore``.

    Use ``open_walk``; call ``batch`` as ``postgres_batch`` is called.
    """

    def __init__(self, store: Any, conn: Any, pipeline: Any, rules: Rules) -> None:
        self._store = store
        self._conn = conn
        self._sync = pipeline.sync
        self._rules = rules
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
        # The read sent with the last write: (after, limit, its cursor).
        self._ahead: tuple[str, int, Any] | None = None

    def _queue_read(self, after: str, limit: int) -> Any:
        cur = self._conn.cursor()
        r = self._rules
        cur.execute(self._read_sql, (*self._args, r.machine, r.from_version, after, limit))
        return cur

    def _rows(self, after: str, limit: int) -> list[Any]:
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[:2] == (after, limit):
            cur = ahead[2]
        else:
            cur = self._queue_read(after, limit)
            self._sync()
        rows: list[Any] = cur.fetchall()
        return rows

    def batch(
        self, store: Any, rules: Rules, limit: int, decide: Decide, now: datetime, after: str
    ) -> tuple[int, str]:
        """Move the agents among the next ``limit`` after ``after`` that nobody else writes
        meanwhile; returns how many moved and the last id read (``after`` when none was)."""
        try:
            rows = self._rows(after, limit)
            if not rows:
                return 0, after
            moves = decide([store._rows.stored_agent(r) for r in rows])
            data = [m.data_json if m.data_changed else None for m in moves]
            versions = "{" + _versions(rules)
            write = self._conn.cursor()
            # A migration that keeps the data leaves the column alone (no JSON to parse). The
            # arrays go in binary (%b): as text, psycopg escapes each element with a regular
            # expression, which for JSON costs more than the rest of the batch.
            ids = [m.agent_id for m in moves]
            new_data = "COALESCE(m.data::jsonb, a.data)" if any(data) else "a.data"
            write.execute(
                _WRITE.replace("{data}", new_data),
                (ids, [m.status for m in moves],
                 [m.expected_version for m in moves], data, [m.from_status for m in moves],
                 ids, rules.from_version, rules.to_version, now, rules.from_version,
                 rules.event_id, MIGRATE, rules.event, versions, versions, now,
                 MIGRATE_SCOPE, rules.to_version),
            )  # fmt: skip
            last = str(rows[-1][0])
            ahead = self._queue_read(last, limit)
            # One round trip: the write commits at the sync, and the next batch comes back.
            self._sync()
            self._ahead = (last, limit, ahead)
            return int(write.fetchone()[0]), last
        except StoreError:
            raise
        except Exception as exc:
            from agentfsm.runtime._postgres import translate_error

            translated = translate_error(exc, store._psycopg, store._where)
            if translated is None:
                raise
            raise translated from exc


@contextmanager
def open_walk(store: Any, rules: Rules) -> Iterator[PostgresWalk]:
    """A ``PostgresWalk`` on a connection of ``store``'s pool, given back afterwards."""
    from agentfsm.runtime._postgres import translate_error

    try:
        with store._pool.connection() as conn, conn.pipeline() as pipeline:
            yield PostgresWalk(store, conn, pipeline, rules)
    except StoreError:
        raise
    except Exception as exc:
        translated = translate_error(exc, store._psycopg, store._where)
        if translated is None:
            raise
        raise translated from exc
