"""The database schema of both stores, its version, and the steps that migrate older versions.

Version 1 was the first layout; version 2 added the audit log's ``correlation_id`` column and
the partial indexes that let workers find due outbox items quickly; version 3 scopes every
idempotency key to its agent and sender: the audit log gained ``scope`` (the actor's code, and
the principal after a ``/``; the kind for ``create`` and ``erase`` rows) and ``principal``, and
its key is unique on ``(agent_id, scope, event_id)`` instead of ``event_id`` alone. Existing rows
take their scope from their actor (or kind), which is what they would have been given.
Version 4 records the machine version that decided each agent and each audit row
(``machine_version`` on ``agents`` and ``audit``); rows written before it were decided by
version 1 of their machine, the only one there was, and say so.
Version 5 gives outbox items the trace context of the decision that wrote them
(``trace_context``, a W3C ``traceparent``; empty when no tracing SDK records the decision).
Version 6 stores, on each accepted event's audit row, the snapshot the event was decided on
(``before_since`` and ``before_data``; the status and version are the row's ``from_status`` and
``version - 1``), so an event delivered again is answered by deciding it once more on that
snapshot instead of replaying the agent's whole log. Rows written before it have none, and a
duplicate of one of them is still answered by the replay.
Version 7 adds the per-key reconcile leases and the fencing counter that let several replicas
share work (``leases``, ``agentfsm_fence``, ``outbox.fence``; see ``_schema_leases``).

A store opening an older database applies the missing steps in one transaction; a database at
a higher version than ``SCHEMA_VERSION`` is refused.
"""

from __future__ import annotations

from agentfsm.runtime._schema_leases import LEASES_POSTGRES, LEASES_SQLITE

SCHEMA_VERSION = 7
"""The schema version this agentfsm writes."""

APPLICATION = "agentfsm"
"""Written beside the version, so a database of another program is never taken for ours."""

OUR_TABLES = ("agentfsm_schema", "agents", "audit", "outbox", "timers", "leases")

# -- SQLite ----------------------------------------------------------------------------------

SQLITE_V1 = (
    "CREATE TABLE agentfsm_schema (version INTEGER NOT NULL, application TEXT NOT NULL)",
    """CREATE TABLE agents (
        id TEXT PRIMARY KEY, machine TEXT NOT NULL, status TEXT NOT NULL,
        version INTEGER NOT NULL, since TEXT NOT NULL, data TEXT NOT NULL,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    """CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
        agent_id TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT, event TEXT NOT NULL,
        payload TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL,
        version INTEGER NOT NULL, refusal_code TEXT, refusal_message TEXT, refusal_guard TEXT,
        at TEXT NOT NULL)""",
    "CREATE INDEX audit_agent ON audit (agent_id, seq)",
    """CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, agent_id TEXT NOT NULL, kind TEXT NOT NULL,
        payload TEXT NOT NULL, key TEXT NOT NULL UNIQUE, state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL, last_error TEXT,
        claimed_by TEXT, claimed_until TEXT, created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL)""",
    """CREATE TABLE timers (
        agent_id TEXT NOT NULL, event TEXT NOT NULL, due_at TEXT NOT NULL,
        token TEXT NOT NULL UNIQUE, claimed_by TEXT, claimed_until TEXT,
        PRIMARY KEY (agent_id, event))""",
    "CREATE INDEX timers_due ON timers (due_at)",
    "INSERT INTO agentfsm_schema (version, application) VALUES (1, 'agentfsm')",
)

SQLITE_STEPS: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE audit ADD COLUMN correlation_id TEXT",
        "CREATE INDEX outbox_pending ON outbox (id) WHERE state = 'pending'",
        "CREATE INDEX outbox_agent_pending ON outbox (agent_id, id) WHERE state = 'pending'",
        "UPDATE agentfsm_schema SET version = 2",
    ),
    # SQLite cannot drop a column's UNIQUE constraint: the log is copied into a new table
    # (keeping every seq, and AUTOINCREMENT's high-water mark with the rename).
    3: (
        """CREATE TABLE audit_v3 (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,
            agent_id TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT, event TEXT NOT NULL,
            payload TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL,
            version INTEGER NOT NULL, refusal_code TEXT, refusal_message TEXT,
            refusal_guard TEXT, at TEXT NOT NULL, correlation_id TEXT, scope TEXT NOT NULL,
            principal TEXT)""",
        """INSERT INTO audit_v3 (seq, event_id, agent_id, kind, actor, event, payload,
            from_status, to_status, version, refusal_code, refusal_message, refusal_guard, at,
            correlation_id, scope)
        SELECT seq, event_id, agent_id, kind, actor, event, payload, from_status, to_status,
            version, refusal_code, refusal_message, refusal_guard, at, correlation_id,
            CASE WHEN kind = 'event' AND actor IS NOT NULL THEN actor ELSE kind END
        FROM audit ORDER BY seq""",
        "DROP TABLE audit",
        "ALTER TABLE audit_v3 RENAME TO audit",
        "CREATE INDEX audit_agent ON audit (agent_id, seq)",
        "CREATE UNIQUE INDEX audit_key ON audit (agent_id, scope, event_id)",
        "UPDATE agentfsm_schema SET version = 3",
    ),
    4: (
        "ALTER TABLE agents ADD COLUMN machine_version INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE audit ADD COLUMN machine_version INTEGER NOT NULL DEFAULT 1",
        # A migration's plan counts agents by machine, version and status.
        "CREATE INDEX agents_machine ON agents (machine, machine_version, status)",
        "UPDATE agentfsm_schema SET version = 4",
    ),
    5: (
        "ALTER TABLE outbox ADD COLUMN trace_context TEXT",
        "UPDATE agentfsm_schema SET version = 5",
    ),
    6: (
        "ALTER TABLE audit ADD COLUMN before_since TEXT",
        "ALTER TABLE audit ADD COLUMN before_data TEXT",
        "UPDATE agentfsm_schema SET version = 6",
    ),
    7: (*LEASES_SQLITE, "UPDATE agentfsm_schema SET version = 7"),
}
"""``version -> statements`` that take a database from ``version - 1`` to ``version``."""

# -- PostgreSQL ------------------------------------------------------------------------------

POSTGRES_V1 = (
    "CREATE TABLE agentfsm_schema (version INTEGER NOT NULL, application TEXT NOT NULL)",
    """CREATE TABLE agents (
        id TEXT PRIMARY KEY, machine TEXT NOT NULL, status TEXT NOT NULL,
        version BIGINT NOT NULL, since TIMESTAMPTZ NOT NULL, data JSONB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)""",
    """CREATE TABLE audit (
        seq BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL UNIQUE,
        agent_id TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT, event TEXT NOT NULL,
        payload JSONB NOT NULL, from_status TEXT, to_status TEXT NOT NULL,
        version BIGINT NOT NULL, refusal_code TEXT, refusal_message TEXT, refusal_guard TEXT,
        at TIMESTAMPTZ NOT NULL)""",
    "CREATE INDEX audit_agent ON audit (agent_id, seq)",
    """CREATE TABLE outbox (
        id BIGSERIAL PRIMARY KEY, agent_id TEXT NOT NULL, kind TEXT NOT NULL,
        payload JSONB NOT NULL, key TEXT NOT NULL UNIQUE, state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TIMESTAMPTZ NOT NULL,
        last_error TEXT, claimed_by TEXT, claimed_until TIMESTAMPTZ,
        created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)""",
    """CREATE TABLE timers (
        agent_id TEXT NOT NULL, event TEXT NOT NULL, due_at TIMESTAMPTZ NOT NULL,
        token TEXT NOT NULL UNIQUE, claimed_by TEXT, claimed_until TIMESTAMPTZ,
        PRIMARY KEY (agent_id, event))""",
    "CREATE INDEX timers_due ON timers (due_at)",
    "INSERT INTO agentfsm_schema (version, application) VALUES (1, 'agentfsm')",
)

POSTGRES_STEPS: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE audit ADD COLUMN correlation_id TEXT",
        "CREATE INDEX outbox_pending ON outbox (id) WHERE state = 'pending'",
        "CREATE INDEX outbox_agent_pending ON outbox (agent_id, id) WHERE state = 'pending'",
        "UPDATE agentfsm_schema SET version = 2",
    ),
    3: (
        "ALTER TABLE audit DROP CONSTRAINT audit_event_id_key",
        "ALTER TABLE audit ADD COLUMN scope TEXT, ADD COLUMN principal TEXT",
        "UPDATE audit SET scope = CASE WHEN kind = 'event' AND actor IS NOT NULL THEN actor "
        "ELSE kind END",
        "ALTER TABLE audit ALTER COLUMN scope SET NOT NULL",
        "ALTER TABLE audit ADD CONSTRAINT audit_key UNIQUE (agent_id, scope, event_id)",
        "UPDATE agentfsm_schema SET version = 3",
    ),
    4: (
        "ALTER TABLE agents ADD COLUMN machine_version INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE audit ADD COLUMN machine_version INTEGER NOT NULL DEFAULT 1",
        "CREATE INDEX agents_machine ON agents (machine, machine_version, status)",
        "UPDATE agentfsm_schema SET version = 4",
    ),
    5: (
        "ALTER TABLE outbox ADD COLUMN trace_context TEXT",
        "UPDATE agentfsm_schema SET version = 5",
    ),
    6: (
        "ALTER TABLE audit ADD COLUMN before_since TIMESTAMPTZ, ADD COLUMN before_data JSONB",
        "UPDATE agentfsm_schema SET version = 6",
    ),
    7: (*LEASES_POSTGRES, "UPDATE agentfsm_schema SET version = 7"),
}
