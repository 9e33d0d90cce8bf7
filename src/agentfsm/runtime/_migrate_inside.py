"""A SQLite migration batch decided from inside the database: one ``UPDATE`` calls Python.

Moves decided in Python (a status chooser, a data transform) used to cross the boundary
twice: the batch's rows were read into Python, decided, and written back through a temporary
table, and on SQLite that crossing cost more than the decisions. Here the batch is one
``UPDATE`` of the agents: the statuses mapped by name are a ``CASE`` in SQL, and the others'
status and every agent's new data come from SQL functions registered on the write connection
for the batch, which call the migration for each agent as the database reaches its row. A
temporary trigger, created and dropped inside the batch's transaction (so no other write
ever sees it), writes each moved agent's ``migrate`` audit row in the same pass, and notes its
id for the migration's timer and outbox rules.

The batch holds the write lock from its first read to its commit, so what the functions see is
what is written, and it is all or nothing: an error raised by the migration (kept aside while
SQLite unwinds, then raised as it was), a damaged row, or an agent with no rule leaves nothing
written, the trigger included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from agentfsm.runtime._errors import StoreError
from agentfsm.runtime._migrate_sql import (
    _WALK,
    MIGRATE_SCOPE,
    Rules,
    Unmapped,
    _case,
    _marks,
    _sqlite_side_effects,
    _versions,
    has_side_effects,
)
from agentfsm.runtime._records import MIGRATE

ChooseRow = Callable[[str, str, Any, Any, Any], str]
"""``(agent_id, status, version, since, data) -> new status``, from the row's raw columns."""

TransformRow = Callable[[str, Any, Any, Any], str]
"""``(agent_id, version, since, data) -> new data text`` (the same text: unchanged)."""

_ARGS = "agentfsm_migrate_args"
_MOVED = "agentfsm_migrate_moved"
_TRIGGER = "agentfsm_migrate_log"


def _outside(*args: Any) -> str:
    raise StoreError("a migration function was called outside its batch")


def _trigger(note_ids: bool) -> str:
    # The audit row repeats the data only when it changed: replay keeps the data it has.
    noted = f"INSERT INTO {_MOVED} VALUES (NEW.id);" if note_ids else ""
    return (
        f"CREATE TEMP TRIGGER {_TRIGGER} AFTER UPDATE OF machine_version ON main.agents "
        "BEGIN INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, "
        "from_status, to_status, version, at, scope, machine_version) "
        "SELECT a.event_id, NEW.id, a.kind, NULL, a.event, CASE WHEN NEW.data IS OLD.data "
        "THEN '{' || a.versions ELSE '{\"data\":' || NEW.data || ',' || a.versions END, "
        "OLD.status, NEW.status, NEW.version, NEW.updated_at, a.scope, NEW.machine_version "
        f"FROM {_ARGS} a; {noted} END"
    )


def sqlite_inside_batch(
    store: Any,
    rules: Rules,
    limit: int,
    mapping: Mapping[str, str],
    chosen: Sequence[str],
    choose: ChooseRow | None,
    transform: TransformRow | None,
    now: datetime,
    after: str,
) -> tuple[int, str]:
    """Migrate up to ``limit`` agents with ids after ``after`` on a ``SQLiteStore``; returns
    how many moved and the last id taken.

    ``mapping`` moves the statuses it names; ``choose`` picks the status of the agents in a
    ``chosen`` status; ``transform`` (``None``: the data is kept) gives every agent's new data.

    Raises:
        Unmapped: an agent's status has neither a mapping nor a chooser.
        the migration's own error, as it raised it; StoreError or a subclass from the store.
    """
    import sqlite3

    from agentfsm.runtime._sqlite import _translate, _ts

    at = _ts(now)
    failed: list[BaseException] = []

    def kept(fn: Callable[..., str]) -> Callable[..., str]:
        # SQLite reports a function's exception as "user-defined function raised exception";
        # the exception itself is kept here and raised once the statement has unwound.
        def call(*args: Any) -> str:
            try:
                return fn(*args)
            except BaseException as exc:
                failed.append(exc)
                raise

        return call

    case, case_args = _case(mapping, "?") if mapping else ("NULL", [])
    status_sql, status_args = case, list(case_args)
    if chosen:
        marks = _marks(len(chosen), "?")
        status_sql = (
            f"CASE WHEN status IN ({marks}) THEN "
            f"agentfsm_choose(id, status, version, since, data) ELSE {case} END"
        )
        status_args = [*chosen, *case_args]
    data_sql = "agentfsm_transform(id, version, since, data)" if transform else "data"
    side_effects = has_side_effects(rules)
    try:
        with store._write() as conn:
            found = conn.execute(
                f"SELECT max(id), count(*) FROM (SELECT id FROM agents {_WALK})",
                (rules.machine, rules.from_version, after, limit),
            ).fetchone()
            if not found[1]:
                return 0, after
            last = str(found[0])
            functions = [("agentfsm_choose", 5, choose), ("agentfsm_transform", 4, transform)]
            for name, arity, fn in functions:
                if fn is not None:
                    conn.create_function(name, arity, kept(fn))
            conn.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {_ARGS} "
                "(event_id TEXT, kind TEXT, event TEXT, versions TEXT, scope TEXT)"
            )
            conn.execute(f"DELETE FROM {_ARGS}")
            conn.execute(
                f"INSERT INTO {_ARGS} VALUES (?, ?, ?, ?, ?)",
                (rules.event_id, MIGRATE, rules.event, _versions(rules), MIGRATE_SCOPE),
            )
            if side_effects:
                conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_MOVED} (id TEXT PRIMARY KEY)")
                conn.execute(f"DELETE FROM {_MOVED}")
            conn.execute(_trigger(side_effects))
            try:
                moved = conn.execute(
                    f"UPDATE agents SET status = {status_sql}, data = {data_sql}, "
                    "version = version + 1, machine_version = ?, updated_at = ? "
                    "WHERE +machine = ? AND +machine_version = ? AND id > ? AND id <= ?",
                    (*status_args, rules.to_version, at, rules.machine, rules.from_version,
                     after, last),
                ).rowcount  # fmt: skip
            except sqlite3.IntegrityError as exc:
                if "agents.status" in str(exc):
                    raise Unmapped(_unmapped(conn, rules, mapping, chosen, after, last)) from None
                raise
            except sqlite3.OperationalError:
                if failed:
                    raise failed[0] from None
                raise
            finally:
                # Python cannot unregister a function: it is replaced by one that holds nothing.
                for name, arity, fn in functions:
                    if fn is not None:
                        conn.create_function(name, arity, _outside)
            if moved != found[1]:  # pragma: no cover - the write lock is held
                raise StoreError("a migrated agent changed under the write lock")
            conn.execute(f"DROP TRIGGER temp.{_TRIGGER}")
            if side_effects:
                _sqlite_side_effects(conn, rules, [(f"IN (SELECT id FROM {_MOVED})", ())], at)
            return moved, last
    except sqlite3.DatabaseError as exc:
        if failed:
            raise failed[0] from None
        raise _translate(exc, store.path) from exc


def _unmapped(
    conn: Any,
    rules: Rules,
    mapping: Mapping[str, str],
    chosen: Sequence[str],
    after: str,
    last: str,
) -> str:
    ruled = (*mapping, *chosen)
    row = conn.execute(
        "SELECT id, status FROM agents WHERE +machine = ? AND +machine_version = ? "
        f"AND id > ? AND id <= ? AND status NOT IN ({_marks(len(ruled), '?')}) "
        "ORDER BY id LIMIT 1",
        (rules.machine, rules.from_version, after, last, *ruled),
    ).fetchone()
    return f"agent {row[0]!r} is in {row[1]!r}, which the migration has no rule for"
