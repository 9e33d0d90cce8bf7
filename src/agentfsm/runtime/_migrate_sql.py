"""The SQL behind ``agentfsm.migrate``: read a batch of agents of one machine version and move
them to the next, in one transaction, with the same compare-and-set as every write.

Each store keeps its ordinary write path untouched; this module adds a second one for
migrations. ``postgres_batch`` selects up to ``limit`` agents still at the old version (``FOR
UPDATE SKIP LOCKED``, so two appliers take disjoint batches), hands their rows to a function
that decides each agent's move, then writes every move: the agent (compare-and-set
on its version *and* its machine version), one ``migrate`` audit row, its timers cancelled or
remapped, its outbox items cancelled or remapped. A batch is all or nothing, so an applier
killed half-way leaves whole batches behind it and a rerun takes up the rest. The plain
batches (``sqlite_plain_batch``, ``postgres_plain_batch``) move agents whose move needs no
Python with no row read at all; SQLite's batches decided in Python are in ``_migrate_inside``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from agentfsm.runtime._errors import StoreError
from agentfsm.runtime._records import MIGRATE

MIGRATE_SCOPE = MIGRATE
"""The idempotency scope of migration audit rows: one row per agent and migration."""


class StoredAgent(NamedTuple):
    """One agent as a migration reads it: the data left as stored JSON until it is needed."""

    agent_id: str
    status: str
    version: int
    since: datetime
    data_json: str


class Move(NamedTuple):
    """What a migration writes for one agent.

    Attributes:
        agent_id: the agent.
        expected_version: the version read (compare-and-set).
        status: the new status.
        data_json: the new data, as stored JSON.
        from_status: the status before.
        data_changed: false when the data is the stored data (it is then not rewritten, and
            the audit row does not repeat it: replay keeps the data it has).
    """

    agent_id: str
    expected_version: int
    status: str
    data_json: str
    from_status: str
    data_changed: bool = True


class Rules(NamedTuple):
    """What one migration does besides moving agents.

    Attributes:
        machine: the machine's name.
        from_version: the version agents are read at.
        to_version: the version they are written at.
        event: the audit rows' event name (``"migrate v1→v2"``).
        event_id: the audit rows' key (one per agent in ``MIGRATE_SCOPE``).
        cancel_timers: timer events whose pending timers are deleted.
        remap_timers: ``old event -> new event`` for pending timers delivered as another event.
        cancel_outbox: record types whose pending outbox items are closed.
        note: written as the closed outbox items' ``last_error``.
        read_data: false when no move needs the stored data (the migration keeps it and
            chooses no status from it): it is then not read at all.
        remap_outbox: record type -> a function from a pending item's stored payload (JSON
            text) to the payload of the record it becomes.
        data_of: with ``read_data``, the statuses whose agents' data is read (the statuses
            under a chooser of a migration that keeps the data); empty: every agent's.
    """

    machine: str
    from_version: int
    to_version: int
    event: str
    event_id: str
    cancel_timers: tuple[str, ...] = ()
    remap_timers: Mapping[str, str] = {}
    cancel_outbox: tuple[str, ...] = ()
    note: str = ""
    read_data: bool = True
    remap_outbox: Mapping[str, Callable[[str], str]] = {}
    data_of: tuple[str, ...] = ()


Decide = Callable[[list[StoredAgent]], list[Move]]
"""``agents read -> moves to write``; called inside the batch's transaction."""


def _versions(rules: Rules) -> str:
    """The end of a migration audit row's payload, after its data."""
    return f'"from_version":{rules.from_version},"to_version":{rules.to_version}}}'


def _marks(n: int, mark: str) -> str:
    return ", ".join([mark] * n)


# -- SQLite ----------------------------------------------------------------------------------


# Batches walk the primary key upwards from the last id taken: consecutive ids share pages,
# so a batch writes few of them. The unary plus keeps SQLite from choosing the
# (machine, machine_version, status) index, which would sort every agent left for each batch.
_WALK = "WHERE +machine = ? AND +machine_version = ? AND id > ? ORDER BY id LIMIT ?"


_MIGRATING: list[tuple[str, tuple[str, ...]]] = [("IN (SELECT id FROM agentfsm_migrating)", ())]
"""The batch of the plain path: the agents its temporary table holds."""


def _sqlite_side_effects(
    conn: Any, rules: Rules, members: list[tuple[str, tuple[str, ...]]], at: str
) -> None:
    """The batch's timers and outbox items: ``members`` are ``agent_id IN ...`` clauses."""
    json_type = "json_extract(payload, '$.\"@type\"')"
    for inside, chunk in members:
        if rules.cancel_timers:
            conn.execute(
                f"DELETE FROM timers WHERE agent_id {inside} "
                f"AND event IN ({_marks(len(rules.cancel_timers), '?')})",
                (*chunk, *rules.cancel_timers),
            )
        for old, new in rules.remap_timers.items():
            # A new token: a worker that claimed the old setting cannot consume this one.
            conn.execute(
                f"UPDATE timers SET event = ?, token = token || ?, claimed_by = NULL, "
                f"claimed_until = NULL WHERE agent_id {inside} AND event = ?",
                (new, f":v{rules.to_version}", *chunk, old),
            )
        if rules.cancel_outbox:
            conn.execute(
                f"UPDATE outbox SET state = 'done', last_error = ?, claimed_by = NULL, "
                f"claimed_until = NULL, updated_at = ? WHERE agent_id {inside} "
                f"AND state = 'pending' AND {json_type} IN "
                f"({_marks(len(rules.cancel_outbox), '?')})",
                (rules.note, at, *chunk, *rules.cancel_outbox),
            )
        if rules.remap_outbox:
            kinds = tuple(rules.remap_outbox)
            found = conn.execute(
                f"SELECT id, {json_type}, payload FROM outbox WHERE agent_id {inside} "
                f"AND state = 'pending' AND {json_type} IN ({_marks(len(kinds), '?')})",
                (*chunk, *kinds),
            ).fetchall()
            # The claim is released: a worker performing the old record cannot finish the new.
            conn.executemany(
                "UPDATE outbox SET payload = ?, claimed_by = NULL, claimed_until = NULL, "
                "updated_at = ? WHERE id = ?",
                [(rules.remap_outbox[kind](payload), at, i) for i, kind, payload in found],
            )


def has_side_effects(rules: Rules) -> bool:
    """Whether a migration changes timers or outbox items besides moving agents."""
    return bool(
        rules.cancel_timers or rules.remap_timers or rules.cancel_outbox or rules.remap_outbox
    )


def sqlite_read(store: Any, sql: str, args: Sequence[Any]) -> list[Any]:
    """Rows of a read-only query on a ``SQLiteStore``."""
    rows: list[Any] = store._read(sql, args)
    return rows


# -- PostgreSQL ------------------------------------------------------------------------------


def postgres_batch(
    store: Any, rules: Rules, limit: int, decide: Decide, now: datetime, after: str
) -> tuple[int, str]:
    """Migrate up to ``limit`` agents with ids after ``after`` on a ``PostgresStore``; returns
    how many moved and the last id taken.

    Rows locked by another applier (or by a controller writing them) are skipped, not waited
    for: the caller comes back for them.
    """
    with store._tx() as conn:
        cur = conn.cursor()
        column = "data::text" if rules.read_data else "''"
        args: tuple[Any, ...] = (rules.machine, rules.from_version, after, limit)
        if rules.read_data and rules.data_of:
            # Only the agents under a chooser need their data: the others' stays in the table.
            column = "CASE WHEN status = ANY(%s) THEN data::text ELSE '' END"
            args = (list(rules.data_of), *args)
        rows = cur.execute(
            f"SELECT id, status, version, since, {column} FROM agents "
            "WHERE machine = %s AND machine_version = %s AND id > %s ORDER BY id LIMIT %s "
            "FOR UPDATE SKIP LOCKED",
            args,
        ).fetchall()
        if not rows:
            return 0, after
        agents = [store._rows.stored_agent(r) for r in rows]
        moves = decide(agents)
        versions = "{" + _versions(rules)
        # One statement moves the batch's rows and writes their audit rows (arrays unnested
        # server-side; a statement per agent would cost a round trip each): each new record
        # is parsed once, and its audit row takes it from the updated row. The arrays go in
        # binary (%b): as text, psycopg escapes every element with a regular expression, which
        # for arrays of JSON (full of quotes) cost more than the rest of the batch together.
        ids = [m.agent_id for m in moves]
        data = [m.data_json if m.data_changed else None for m in moves]
        # A migration that keeps the data leaves the column alone (no JSON to parse).
        new_data = "COALESCE(m.data::jsonb, a.data)" if any(data) else "a.data"
        count = cur.execute(
            "WITH moved AS (UPDATE agents a SET status = m.status, version = m.expected + 1, "
            f"data = {new_data}, machine_version = %s, updated_at = %s "
            "FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::text[], %b::text[]) "
            "AS m(id, status, expected, data, from_status) "
            "WHERE a.id = m.id AND a.version = m.expected AND a.machine_version = %s "
            "RETURNING a.id, a.status, a.version, a.data, m.from_status, "
            "m.data IS NOT NULL AS changed), "
            "logged AS (INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, "
            "from_status, to_status, version, at, scope, machine_version) "
            "SELECT %s, id, %s, NULL, %s, CASE WHEN changed THEN "
            "jsonb_build_object('data', data) || %s::jsonb ELSE %s::jsonb END, "
            "from_status, status, version, %s, %s, %s FROM moved RETURNING 1) "
            "SELECT count(*) FROM logged",
            (rules.to_version, now, ids, [m.status for m in moves],
             [m.expected_version for m in moves], data, [m.from_status for m in moves],
             rules.from_version, rules.event_id, MIGRATE, rules.event, versions, versions,
             now, MIGRATE_SCOPE, rules.to_version),
        ).fetchone()[0]  # fmt: skip
        if count != len(moves):  # pragma: no cover - the rows are locked
            raise StoreError("a migrated agent changed under its row lock")
        _postgres_side_effects(cur, rules, ids, now)
        return len(moves), rows[-1][0]


def _postgres_side_effects(cur: Any, rules: Rules, ids: list[str], now: datetime) -> None:
    """The batch's timers and outbox items, for the agents ``ids``."""
    if rules.cancel_timers:
        cur.execute(
            "DELETE FROM timers WHERE agent_id = ANY(%s) AND event = ANY(%s)",
            (ids, list(rules.cancel_timers)),
        )
    for old, new in rules.remap_timers.items():
        cur.execute(
            "UPDATE timers SET event = %s, token = token || %s, claimed_by = NULL, "
            "claimed_until = NULL WHERE agent_id = ANY(%s) AND event = %s",
            (new, f":v{rules.to_version}", ids, old),
        )
    if rules.cancel_outbox:
        cur.execute(
            "UPDATE outbox SET state = 'done', last_error = %s, claimed_by = NULL, "
            "claimed_until = NULL, updated_at = %s WHERE agent_id = ANY(%s) "
            "AND state = 'pending' AND payload->>'@type' = ANY(%s)",
            (rules.note, now, ids, list(rules.cancel_outbox)),
        )
    if rules.remap_outbox:
        found = cur.execute(
            "SELECT id, payload->>'@type', payload::text FROM outbox "
            "WHERE agent_id = ANY(%s) AND state = 'pending' AND payload->>'@type' = ANY(%s)",
            (ids, list(rules.remap_outbox)),
        ).fetchall()
        if found:
            cur.execute(
                "UPDATE outbox o SET payload = m.payload::jsonb, claimed_by = NULL, "
                "claimed_until = NULL, updated_at = %s "
                "FROM unnest(%s::bigint[], %s::text[]) AS m(id, payload) WHERE o.id = m.id",
                (now, [i for i, _k, _p in found],
                 [rules.remap_outbox[k](p) for _i, k, p in found]),
            )  # fmt: skip


def postgres_fresh_statistics(store: Any) -> bool:
    """Refresh the planner's statistics of the ``agents`` table when they are missing or a
    tenth of the table changed since they were taken; returns whether it did.

    A batch walks the primary key upwards only when the planner knows most agents are at the
    old version. With no statistics (a fleet just loaded) or stale ones (just migrated), it
    reads each batch through the (machine, machine_version, status) index instead, sorting
    every agent left, so that a migration's time grows with the square of the fleet.
    Autovacuum would analyze the table eventually; a migration does it first. (PostgreSQL
    skips a table the role may not analyze, with a warning.)
    """
    found = store._read(
        "SELECT n_mod_since_analyze, n_live_tup, "
        "coalesce(last_analyze, last_autoanalyze) IS NULL "
        "FROM pg_stat_user_tables WHERE relid = 'agents'::regclass",
        (),
    )
    if not found:
        return False
    changed, live, never = found[0]
    if not never and changed * 10 <= max(live, 1):
        return False
    with store._pool.connection() as conn:
        conn.execute("ANALYZE agents")
    return True


def postgres_read(store: Any, sql: str, args: Sequence[Any]) -> list[Any]:
    """Rows of a read-only query on a ``PostgresStore`` (``?`` marks become ``%s``)."""
    rows: list[Any] = store._read(sql.replace("?", "%s"), args)
    return rows


# -- the plain path: no row leaves the database ------------------------------------------------


class Unmapped(StoreError):
    """A batch held an agent whose status the migration has no rule for; nothing was written."""


def _case(mapping: Mapping[str, str], mark: str) -> tuple[str, list[str]]:
    """``CASE status ... END`` sending each status to its new one, and NULL for the others
    (which the NOT NULL columns then refuse: an unmapped status aborts the batch)."""
    whens = " ".join(f"WHEN {mark} THEN {mark}" for _ in mapping)
    args = [x for pair in mapping.items() for x in pair]
    return f"CASE status {whens} ELSE NULL END", args


def sqlite_plain_batch(
    store: Any, rules: Rules, limit: int, mapping: Mapping[str, str], now: datetime, after: str
) -> tuple[int, str]:
    """A SQLite batch for a migration that keeps the data and maps statuses by name only:
    the batch is moved by three statements, with no row read into Python (its timer and
    outbox rules are a statement each)."""
    import sqlite3

    from agentfsm.runtime._sqlite import _translate, _ts

    case, case_args = _case(mapping, "?")
    at = _ts(now)
    payload = f'{{"from_version":{rules.from_version},"to_version":{rules.to_version}}}'
    try:
        with store._write() as conn:
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS agentfsm_migrating "
                "(id TEXT PRIMARY KEY, status TEXT NOT NULL, version INTEGER NOT NULL)"
            )
            conn.execute("DELETE FROM agentfsm_migrating")
            taken = conn.execute(
                f"INSERT INTO agentfsm_migrating SELECT id, status, version FROM agents {_WALK}",
                (rules.machine, rules.from_version, after, limit),
            ).rowcount
            if not taken:
                return 0, after
            last = conn.execute("SELECT max(id) FROM agentfsm_migrating").fetchone()[0]
            try:
                conn.execute(
                    "INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, "
                    "from_status, to_status, version, at, scope, machine_version) "
                    f"SELECT ?, id, ?, NULL, ?, ?, status, {case}, version + 1, ?, ?, ? "
                    "FROM agentfsm_migrating",
                    (rules.event_id, MIGRATE, rules.event, payload, *case_args, at,
                     MIGRATE_SCOPE, rules.to_version),
                )  # fmt: skip
            except sqlite3.IntegrityError as exc:
                if "NOT NULL" in str(exc):
                    raise Unmapped(_unmapped(conn, mapping, "?")) from None
                raise
            moved = conn.execute(
                f"UPDATE agents SET status = {case}, version = version + 1, "
                "machine_version = ?, updated_at = ? "
                "WHERE id IN (SELECT id FROM agentfsm_migrating) AND machine_version = ?",
                (*case_args, rules.to_version, at, rules.from_version),
            ).rowcount
            if moved != taken:  # pragma: no cover - the write lock is held
                raise StoreError("a migrated agent changed under the write lock")
            _sqlite_side_effects(conn, rules, _MIGRATING, at)
            return int(taken), str(last)
    except sqlite3.DatabaseError as exc:
        raise _translate(exc, store.path) from exc


def _unmapped(conn: Any, mapping: Mapping[str, str], mark: str) -> str:
    marks = ", ".join([mark] * len(mapping))
    row = conn.execute(
        f"SELECT id, status FROM agentfsm_migrating WHERE status NOT IN ({marks}) LIMIT 1",
        tuple(mapping),
    ).fetchone()
    return f"agent {row[0]!r} is in {row[1]!r}, which the migration has no rule for"


def postgres_plain_batch(
    store: Any, rules: Rules, limit: int, mapping: Mapping[str, str], now: datetime, after: str
) -> tuple[int, str]:
    """``postgres_batch`` for a migration that keeps the data and maps statuses by name only:
    one statement takes the batch (``SKIP LOCKED``), moves it and writes its audit rows (and,
    in the same transaction, one per timer or outbox rule)."""
    pg = store._psycopg
    case, case_args = _case(mapping, "%s::text")
    payload = f'{{"from_version":{rules.from_version},"to_version":{rules.to_version}}}'
    sql = f"""
        WITH batch AS (
            SELECT id, status, version FROM agents
            WHERE machine = %s AND machine_version = %s AND id > %s ORDER BY id LIMIT %s
            FOR UPDATE SKIP LOCKED),
        moved AS (
            UPDATE agents a SET status = m.to_status, version = a.version + 1,
                   machine_version = %s, updated_at = %s
            FROM (SELECT id, status AS from_status, {case} AS to_status, version FROM batch) m
            WHERE a.id = m.id AND a.version = m.version
            RETURNING a.id, m.from_status, a.status, a.version)
        , logged AS (
        INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, from_status,
                           to_status, version, at, scope, machine_version)
        SELECT %s, id, %s, NULL, %s, %s::jsonb, from_status, status, version, %s, %s, %s
        FROM moved RETURNING agent_id)
        SELECT count(*), max(agent_id), {{ids}} FROM logged"""
    args = (rules.machine, rules.from_version, after, limit, rules.to_version, now, *case_args,
            rules.event_id, MIGRATE, rules.event, payload, now, MIGRATE_SCOPE,
            rules.to_version)  # fmt: skip
    effects = has_side_effects(rules)
    sql = sql.replace("{ids}", "array_agg(agent_id)" if effects else "NULL")
    try:
        # Without timer or outbox rules the batch is one statement: no BEGIN and COMMIT.
        with store._tx(transaction=effects) as conn:
            cur = conn.cursor()
            count, last, ids = cur.execute(sql, args).fetchone()
            if effects and count:
                _postgres_side_effects(cur, rules, list(ids), now)
            return int(count), last or after
    except StoreError as exc:
        cause = exc.__cause__
        if not isinstance(cause, pg.errors.NotNullViolation):
            raise
    marks = ", ".join(["%s"] * len(mapping))
    row = store._read(
        "SELECT id, status FROM agents WHERE machine = %s AND machine_version = %s "
        f"AND status NOT IN ({marks}) LIMIT 1",
        (rules.machine, rules.from_version, *mapping),
    )
    found = f"agent {row[0][0]!r} is in {row[0][1]!r}" if row else "an agent is in a status"
    raise Unmapped(f"{found}, which the migration has no rule for")
