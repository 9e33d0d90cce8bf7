"""The schema step that lets several control-plane replicas share reconcile work.

It adds, on both stores:

* ``leases``: one row per reconcile key (an agent id): when it is next due (``NULL``: once it
  is enqueued), which replica holds it and until when, the fencing token of that hold, whether
  it was asked for again while held (``again``) and how many passes failed in a row
  (``failures``, for a backoff shared by the fleet).
* the fencing counter (``agentfsm_fence``: a sequence on PostgreSQL, a one-row table on
  SQLite): every lease taken and every outbox claim draws the next number from it, so a later
  holder of any work always carries a larger token than an earlier one.
* ``outbox.fence``: the token of the item's current claim.

The statements here leave the version number to the step that lists them (see ``_schema``).
"""

from __future__ import annotations

LEASES_SQLITE = (
    "CREATE TABLE agentfsm_fence (last INTEGER NOT NULL)",
    "INSERT INTO agentfsm_fence (last) VALUES (0)",
    """CREATE TABLE leases (
        key TEXT PRIMARY KEY, due_at TEXT, holder TEXT, held_until TEXT,
        token INTEGER NOT NULL DEFAULT 0, again INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL)""",
    "CREATE INDEX leases_due ON leases (due_at)",
    "ALTER TABLE outbox ADD COLUMN fence INTEGER",
)
"""SQLite: the leases, the fencing counter and the outbox's fence column."""

LEASES_POSTGRES = (
    "CREATE SEQUENCE agentfsm_fence",
    """CREATE TABLE leases (
        key TEXT PRIMARY KEY, due_at TIMESTAMPTZ, holder TEXT,
        held_until TIMESTAMPTZ, token BIGINT NOT NULL DEFAULT 0,
        again BOOLEAN NOT NULL DEFAULT false, failures INTEGER NOT NULL DEFAULT 0,
        updated_at TIMESTAMPTZ NOT NULL)""",
    "CREATE INDEX leases_due ON leases (due_at)",
    "ALTER TABLE outbox ADD COLUMN fence BIGINT",
)
"""PostgreSQL: the same, with a sequence for the counter."""

LEASES_VERSION = 7
"""The schema version that has the leases (the first one that can fence)."""
