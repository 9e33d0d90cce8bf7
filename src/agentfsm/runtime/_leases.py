"""Per-key reconcile leases and outbox fencing, in the store (schema version 7).

A lease row per reconcile key says when the key is next due and who holds it until when. A
replica *takes* due keys that nobody holds (or whose hold lapsed), each with a fresh fencing
token, reconciles them, and *releases* each with the time it is next due; the release is
fenced (it names the token), so a holder whose lease lapsed and was taken over changes nothing.
Because the due time lives in the row and only its holder moves it, every key is reconciled
once per period by the whole fleet, however many replicas run; a replica that dies simply
stops releasing, and its keys are due again for the others once the lease time has passed.

PostgreSQL takes keys with ``FOR UPDATE SKIP LOCKED`` (replicas taking at once get disjoint
keys) and draws tokens from a sequence; SQLite does the same under its one writer lock, with a
one-row counter.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import attrs

from agentfsm._errors import InvalidInput
from agentfsm.runtime._errors import StoreError
from agentfsm.runtime._rows import given_time, parse_time


@attrs.frozen(slots=True)
class Lease:
    """One replica's hold on one reconcile key.

    Attributes:
        key: the key (an agent id).
        holder: the replica holding it.
        token: its fencing token (larger than every token drawn before it).
        until: when the hold lapses unless released or renewed first.
        failures: passes over the key that failed in a row, across the fleet.
    """

    key: str
    holder: str
    token: int
    until: datetime
    failures: int = 0


class LeaseStore(Protocol):
    """What ``SharedReconcileLoop`` and the fenced outbox need from a store (blocking)."""

    def offer(self, keys: Iterable[str], at: datetime) -> int:
        """Start tracking ``keys`` not tracked yet, due at ``at``; returns how many were new."""
        ...

    def enqueue(self, key: str, at: datetime) -> None:
        """Make ``key`` due at ``at`` at the latest (tracking it if new); a held key runs again
        once its pass is over."""
        ...

    def take(self, holder: str, now: datetime, until: datetime, limit: int) -> list[Lease]:
        """Hold up to ``limit`` keys due at ``now`` that nobody holds, until ``until``."""
        ...

    def release(self, lease: Lease, now: datetime, due: datetime | None, failures: int) -> bool:
        """Give the key back, next due at ``due`` (``None``: when enqueued); False when the
        lease had been taken over (nothing changed)."""
        ...

    def renew(self, lease: Lease, until: datetime) -> bool:
        """Extend a hold; False when it had been taken over."""
        ...

    def forget(self, key: str) -> bool:
        """Stop tracking ``key``; False when it was not tracked."""
        ...

    def drop(self, lease: Lease, now: datetime) -> bool:
        """Stop tracking the held key (its subject is gone), or, if it was enqueued while
        held, release it due at ``now``; False when the lease had been taken over (nothing
        changed)."""
        ...

    def schedule(self) -> dict[str, tuple[datetime | None, str | None]]:
        """Every tracked key: when it is due and who holds it."""
        ...

    def fence_outbox(self, worker: str, item_ids: Sequence[int]) -> dict[int, int]:
        """Give each item ``worker`` holds among ``item_ids`` a fresh token: ``id -> token``."""
        ...


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key or "\x00" in key:
        raise InvalidInput(f"a reconcile key must be a non-empty string, not {key!r}")
    return key


def _check_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit must be a whole number of at least 1, not {limit!r}")
    return limit


# -- SQLite ----------------------------------------------------------------------------------

_SQ_OFFER = (
    "INSERT INTO leases (key, due_at, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING"
)
_SQ_ENQUEUE = """
    INSERT INTO leases (key, due_at, updated_at) VALUES (?1, ?2, ?3)
    ON CONFLICT (key) DO UPDATE SET
        due_at = CASE WHEN leases.due_at IS NULL OR excluded.due_at < leases.due_at
                      THEN excluded.due_at ELSE leases.due_at END,
        again = CASE WHEN leases.holder IS NOT NULL AND leases.held_until >= ?3
                     THEN 1 ELSE leases.again END,
        updated_at = ?3"""
_SQ_RELEASE_NOW = """
    UPDATE leases SET holder = NULL, held_until = NULL, due_at = ?, again = 0, failures = 0,
        updated_at = ?
    WHERE key = ? AND token = ?"""
_SQ_DUE = """
    SELECT key, failures FROM leases
    WHERE due_at <= ?1 AND (held_until IS NULL OR held_until < ?1)
    ORDER BY due_at, key LIMIT ?2"""


class SQLiteLeases:
    """The leases of a ``SQLiteStore`` (its file, its writer lock)."""

    def __init__(self, store: Any) -> None:
        from agentfsm.runtime._sqlite import _translate, _ts

        self._store = store
        self._ts = _ts
        self._translate = _translate

    def _write(self, work: Any) -> Any:
        try:
            with self._store._write() as conn:
                return work(conn)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc, self._store.path) from exc

    def _draw(self, conn: sqlite3.Connection, n: int) -> range:
        # Inside the writer's transaction: nobody else draws in between.
        (last,) = conn.execute(
            "UPDATE agentfsm_fence SET last = last + ? RETURNING last", (n,)
        ).fetchone()
        return range(last - n + 1, last + 1)

    def offer(self, keys: Iterable[str], at: datetime) -> int:
        """See ``LeaseStore.offer``."""
        rows = [(_check_key(k), self._ts(at), self._ts(at)) for k in keys]

        def work(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(_SQ_OFFER, rows)
            return conn.total_changes - before

        return int(self._write(work))

    def enqueue(self, key: str, at: datetime) -> None:
        """See ``LeaseStore.enqueue``."""
        args = (_check_key(key), self._ts(at), self._ts(at))
        self._write(lambda conn: conn.execute(_SQ_ENQUEUE, args))

    def take(self, holder: str, now: datetime, until: datetime, limit: int) -> list[Lease]:
        """See ``LeaseStore.take``."""
        _check_limit(limit)

        def work(conn: sqlite3.Connection) -> list[Lease]:
            due = conn.execute(_SQ_DUE, (self._ts(now), limit)).fetchall()
            if not due:
                return []
            leases = [
                Lease(key, holder, token, until, failures)
                for (key, failures), token in zip(due, self._draw(conn, len(due)), strict=True)
            ]
            conn.executemany(
                "UPDATE leases SET holder = ?, held_until = ?, token = ?, again = 0, "
                "updated_at = ? WHERE key = ?",
                [(holder, self._ts(until), x.token, self._ts(now), x.key) for x in leases],
            )
            return leases

        result: list[Lease] = self._write(work)
        return result

    def release(self, lease: Lease, now: datetime, due: datetime | None, failures: int) -> bool:
        """See ``LeaseStore.release``."""
        again = now if due is None else min(now, due)
        args = (
            self._ts(again), None if due is None else self._ts(due), failures, self._ts(now),
            lease.key, lease.token,
        )  # fmt: skip
        return bool(
            self._write(
                lambda conn: (
                    conn.execute(
                        "UPDATE leases SET holder = NULL, held_until = NULL, "
                        "due_at = CASE WHEN again THEN ? ELSE ? END, again = 0, failures = ?, "
                        "updated_at = ? WHERE key = ? AND token = ?",
                        args,
                    ).rowcount
                    == 1
                )
            )
        )

    def renew(self, lease: Lease, until: datetime) -> bool:
        """See ``LeaseStore.renew``."""
        args = (self._ts(until), lease.key, lease.token)
        return bool(
            self._write(
                lambda conn: (
                    conn.execute(
                        "UPDATE leases SET held_until = ? WHERE key = ? AND token = ?", args
                    ).rowcount
                    == 1
                )
            )
        )

    def forget(self, key: str) -> bool:
        """See ``LeaseStore.forget``."""
        args = (_check_key(key),)
        return bool(
            self._write(
                lambda conn: conn.execute("DELETE FROM leases WHERE key = ?", args).rowcount == 1
            )
        )

    def drop(self, lease: Lease, now: datetime) -> bool:
        """See ``LeaseStore.drop``."""
        held = (lease.key, lease.token)
        at = self._ts(now)

        def work(conn: sqlite3.Connection) -> bool:
            sql = "DELETE FROM leases WHERE key = ? AND token = ? AND again = 0"
            if conn.execute(sql, held).rowcount == 1:
                return True
            return bool(conn.execute(_SQ_RELEASE_NOW, (at, at, *held)).rowcount == 1)

        return bool(self._write(work))

    def schedule(self) -> dict[str, tuple[datetime | None, str | None]]:
        """See ``LeaseStore.schedule``."""
        rows = self._store._read("SELECT key, due_at, holder FROM leases ORDER BY key")
        return {k: (None if d is None else parse_time(d), h) for k, d, h in rows}

    def fence_outbox(self, worker: str, item_ids: Sequence[int]) -> dict[int, int]:
        """See ``LeaseStore.fence_outbox``."""
        if not item_ids:
            return {}
        marks = ", ".join("?" * len(item_ids))

        def work(conn: sqlite3.Connection) -> dict[int, int]:
            held = [
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM outbox WHERE id IN ({marks}) AND claimed_by = ? "
                    "AND state = 'pending' ORDER BY id",
                    (*item_ids, worker),
                )
            ]
            if not held:
                return {}
            tokens = dict(zip(held, self._draw(conn, len(held)), strict=True))
            conn.executemany(
                "UPDATE outbox SET fence = ? WHERE id = ?", [(t, i) for i, t in tokens.items()]
            )
            return tokens

        result: dict[int, int] = self._write(work)
        return result


# -- PostgreSQL ------------------------------------------------------------------------------

_PG_OFFER = """
    INSERT INTO leases (key, due_at, updated_at)
    SELECT k, %s, %s FROM unnest(%s::text[]) AS k ON CONFLICT (key) DO NOTHING"""
_PG_ENQUEUE = """
    INSERT INTO leases (key, due_at, updated_at) VALUES (%(key)s, %(at)s, %(at)s)
    ON CONFLICT (key) DO UPDATE SET
        due_at = LEAST(COALESCE(leases.due_at, excluded.due_at), excluded.due_at),
        again = leases.again OR (leases.holder IS NOT NULL AND leases.held_until >= %(at)s),
        updated_at = %(at)s"""
_PG_TAKE = """
    UPDATE leases SET holder = %(holder)s, held_until = %(until)s,
        token = nextval('agentfsm_fence'), again = false, updated_at = %(now)s
    WHERE key IN (
        SELECT key FROM leases
        WHERE due_at <= %(now)s AND (held_until IS NULL OR held_until < %(now)s)
        ORDER BY due_at, key LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING key, token, failures"""
_PG_RELEASE = """
    UPDATE leases SET holder = NULL, held_until = NULL,
        due_at = CASE WHEN again THEN %s ELSE %s END, again = false, failures = %s,
        updated_at = %s
    WHERE key = %s AND token = %s"""
# Both parts see the row as it was, so exactly one of them applies: the row goes unless the
# key was enqueued while held, and then it is released due at once.
_PG_DROP = """
    WITH gone AS (
        DELETE FROM leases WHERE key = %(key)s AND token = %(token)s AND NOT again RETURNING 1
    ), kept AS (
        UPDATE leases SET holder = NULL, held_until = NULL, due_at = %(now)s, again = false,
            failures = 0, updated_at = %(now)s
        WHERE key = %(key)s AND token = %(token)s AND again RETURNING 1
    )
    SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM kept)"""
_PG_FENCE_OUTBOX = """
    UPDATE outbox SET fence = nextval('agentfsm_fence')
    WHERE id = ANY(%s) AND claimed_by = %s AND state = 'pending' RETURNING id, fence"""


class _Plan(NamedTuple):
    """One PostgreSQL statement of the leases and what its outcome means, for either driver."""

    sql: str
    args: Any
    finish: Callable[[int, list[Any]], Any]


def _count(count: int, rows: list[Any]) -> int:
    return count


def _one(count: int, rows: list[Any]) -> bool:
    return count == 1


def _first_is_one(count: int, rows: list[Any]) -> bool:
    return bool(rows[0][0] == 1)


def _nothing(count: int, rows: list[Any]) -> None:
    return None


def _schedule_rows(count: int, rows: list[Any]) -> dict[str, tuple[datetime | None, str | None]]:
    return {k: (None if d is None else given_time(d), h) for k, d, h in rows}


def _fence_rows(count: int, rows: list[Any]) -> dict[int, int]:
    return {int(i): int(t) for i, t in rows}


class PostgresPlans:
    """The statements of every lease operation on PostgreSQL (see ``LeaseStore``)."""

    @staticmethod
    def offer(keys: Iterable[str], at: datetime) -> _Plan | None:
        wanted = [_check_key(k) for k in keys]
        return _Plan(_PG_OFFER, (at, at, wanted), _count) if wanted else None

    @staticmethod
    def enqueue(key: str, at: datetime) -> _Plan:
        return _Plan(_PG_ENQUEUE, {"key": _check_key(key), "at": at}, _nothing)

    @staticmethod
    def take(holder: str, now: datetime, until: datetime, limit: int) -> _Plan:
        args = {"holder": holder, "until": until, "now": now, "limit": _check_limit(limit)}

        def finish(count: int, rows: list[Any]) -> list[Lease]:
            leases = [Lease(k, holder, int(t), until, int(f)) for k, t, f in rows]
            return sorted(leases, key=lambda x: x.token)

        return _Plan(_PG_TAKE, args, finish)

    @staticmethod
    def release(lease: Lease, now: datetime, due: datetime | None, failures: int) -> _Plan:
        again = now if due is None else min(now, due)
        return _Plan(_PG_RELEASE, (again, due, failures, now, lease.key, lease.token), _one)

    @staticmethod
    def renew(lease: Lease, until: datetime) -> _Plan:
        sql = "UPDATE leases SET held_until = %s WHERE key = %s AND token = %s"
        return _Plan(sql, (until, lease.key, lease.token), _one)

    @staticmethod
    def forget(key: str) -> _Plan:
        return _Plan("DELETE FROM leases WHERE key = %s", (_check_key(key),), _one)

    @staticmethod
    def drop(lease: Lease, now: datetime) -> _Plan:
        args = {"key": lease.key, "token": lease.token, "now": now}
        return _Plan(_PG_DROP, args, _first_is_one)

    @staticmethod
    def schedule() -> _Plan:
        return _Plan("SELECT key, due_at, holder FROM leases ORDER BY key", (), _schedule_rows)

    @staticmethod
    def fence_outbox(worker: str, item_ids: Sequence[int]) -> _Plan | None:
        return _Plan(_PG_FENCE_OUTBOX, (list(item_ids), worker), _fence_rows) if item_ids else None


_EMPTY = {"offer": 0, "fence_outbox": {}}


class PostgresLeases:
    """The leases of a ``PostgresStore`` (its pool, its schema)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def _exec(self, plan: _Plan | None, name: str) -> Any:
        if plan is None:
            return _EMPTY[name]
        with self._store._tx(transaction=False) as conn:
            cur = conn.execute(plan.sql, plan.args)
            return plan.finish(cur.rowcount, cur.fetchall() if cur.description else [])

    def offer(self, keys: Iterable[str], at: datetime) -> int:
        """See ``LeaseStore.offer``."""
        return int(self._exec(PostgresPlans.offer(keys, at), "offer"))

    def enqueue(self, key: str, at: datetime) -> None:
        """See ``LeaseStore.enqueue``."""
        self._exec(PostgresPlans.enqueue(key, at), "enqueue")

    def take(self, holder: str, now: datetime, until: datetime, limit: int) -> list[Lease]:
        """See ``LeaseStore.take``."""
        leases: list[Lease] = self._exec(PostgresPlans.take(holder, now, until, limit), "take")
        return leases

    def release(self, lease: Lease, now: datetime, due: datetime | None, failures: int) -> bool:
        """See ``LeaseStore.release``."""
        return bool(self._exec(PostgresPlans.release(lease, now, due, failures), "release"))

    def renew(self, lease: Lease, until: datetime) -> bool:
        """See ``LeaseStore.renew``."""
        return bool(self._exec(PostgresPlans.renew(lease, until), "renew"))

    def forget(self, key: str) -> bool:
        """See ``LeaseStore.forget``."""
        return bool(self._exec(PostgresPlans.forget(key), "forget"))

    def drop(self, lease: Lease, now: datetime) -> bool:
        """See ``LeaseStore.drop``."""
        return bool(self._exec(PostgresPlans.drop(lease, now), "drop"))

    def schedule(self) -> dict[str, tuple[datetime | None, str | None]]:
        """See ``LeaseStore.schedule``."""
        found: dict[str, tuple[datetime | None, str | None]] = self._exec(
            PostgresPlans.schedule(), "schedule"
        )
        return found

    def fence_outbox(self, worker: str, item_ids: Sequence[int]) -> dict[int, int]:
        """See ``LeaseStore.fence_outbox``."""
        tokens: dict[int, int] = self._exec(
            PostgresPlans.fence_outbox(worker, item_ids), "fence_outbox"
        )
        return tokens


def leases_of(store: object) -> LeaseStore | None:
    """The leases of ``store``, a ``SQLiteStore`` or a ``PostgresStore``; ``None`` for any
    other store, which then runs unfenced (see ``async_leases_of`` for the asyncio stores).
    """
    from agentfsm.runtime._postgres import PostgresStore
    from agentfsm.runtime._sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        return SQLiteLeases(store)
    if isinstance(store, PostgresStore):
        return PostgresLeases(store)
    return None


def require_leases(store: object) -> LeaseStore:
    """``leases_of(store)``, or ``StoreError`` for a store that keeps no leases."""
    found = leases_of(store)
    if found is None:
        raise StoreError(
            f"{type(store).__name__} keeps no reconcile leases; use a SQLiteStore or a "
            "PostgresStore to share reconcile work between replicas"
        )
    return found
