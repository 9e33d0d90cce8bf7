"""Stored rows read back into records, every column checked, for both stores.

A row a store did not write (edited by hand, damaged on disk, written by a buggy tool) must not
come out as a record that fails later, far from the cause, nor as a bare ``ValueError`` or
``KeyError``. Each column is checked for its type and, where it holds a code, for a known
value; anything else is ``CorruptDatabase`` naming the table and the row.

SQLite keeps times as ISO 8601 text and any column may hold any type, so everything is
checked; PostgreSQL's typed columns leave the codes, the JSON and the times to check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from agentfsm._values import Refusal, Snapshot, is_role_code
from agentfsm.runtime._codec import Codec
from agentfsm.runtime._errors import CodecError, CorruptDatabase
from agentfsm.runtime._migrate_sql import StoredAgent
from agentfsm.runtime._records import (
    CREATE,
    DOMAIN_EVENT,
    DONE,
    EFFECT,
    ERASE,
    EVENT,
    MIGRATE,
    PARKED,
    PENDING,
    AgentRecord,
    AuditRow,
    OutboxItem,
    TimerRow,
)

_KINDS = frozenset({CREATE, EVENT, ERASE, MIGRATE})
_OUTBOX_KINDS = frozenset({EFFECT, DOMAIN_EVENT})
_STATES = frozenset({PENDING, DONE, PARKED})
# What reading a damaged value raises on the way: a bad time or number, a wrong type, JSON the
# codec cannot read, text that is not UTF-8.
_DAMAGE = (ValueError, TypeError, KeyError, OverflowError, UnicodeError, CodecError)


class _Damage(ValueError):
    """One column does not hold what the store writes there."""


def _text(value: Any, column: str) -> str:
    if type(value) is not str:
        raise _Damage(f"{column} is {type(value).__name__} {value!r}, not text")
    return value


def _opt_text(value: Any, column: str) -> str | None:
    return None if value is None else _text(value, column)


def _count(value: Any, column: str) -> int:
    if type(value) is not int or value < 0:
        raise _Damage(f"{column} is {value!r}, not a whole number from 0")
    return value


def _machine_version(value: Any) -> int:
    # Machine versions start at 1 (``MachineSpec.version``); 0 or less was never written.
    if type(value) is not int or value < 1:
        raise _Damage(f"machine_version is {value!r}, not a whole number from 1")
    return value


def _code(value: Any, column: str, known: frozenset[Any]) -> Any:
    if value not in known:
        raise _Damage(f"{column} is {value!r}, not one of the codes the store writes")
    return value


def _actor(value: Any) -> str | None:
    # A machine may have roles of its own (``Role("owner")``), so any role code is a code the
    # store writes; the store cannot know which machine's roles they are.
    if value is not None and not is_role_code(value):
        raise _Damage(f"actor is {value!r}, not a role code")
    return value  # type: ignore[no-any-return]


def parse_time(value: Any) -> datetime:
    """A time stored as ISO 8601 text with an offset (SQLite)."""
    if type(value) is not str:
        raise _Damage(f"the time {value!r} is not text")
    parsed = datetime.fromisoformat(value)
    if parsed.utcoffset() is None:
        raise _Damage(f"the time {value!r} has no UTC offset")
    return parsed


def given_time(value: Any) -> datetime:
    """A time the driver already read (PostgreSQL ``timestamptz``)."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise _Damage(f"the time {value!r} is not a time with a UTC offset")
    return value


class RowReader:
    """Turns stored rows into records, or raises ``CorruptDatabase`` naming the row.

    Args:
        codec: reads the JSON columns.
        where: the database, for messages (a path, or a schema at a redacted DSN).
        time: reads a stored time column.
    """

    def __init__(self, codec: Codec, where: str, time: Callable[[Any], datetime]) -> None:
        self._loads = codec.loads
        self._where = where
        self._time = time

    def _damaged(self, table: str, key: Any, exc: Exception) -> CorruptDatabase:
        return CorruptDatabase(
            f"{self._where}: the {table} row {key!r} is damaged ({exc}); repair or delete "
            "that row, or restore the database from a backup"
        )

    def _opt_time(self, value: Any) -> datetime | None:
        return None if value is None else self._time(value)

    def agent(self, r: Any) -> AgentRecord:
        """An ``agents`` row: id, machine, status, version, since, data, created, updated,
        machine version."""
        try:
            snap = Snapshot(
                _text(r[2], "status"), _count(r[3], "version"), self._time(r[4]), self._loads(r[5])
            )
            return AgentRecord(
                _text(r[0], "id"), _text(r[1], "machine"), snap, self._time(r[6]),
                self._time(r[7]), _machine_version(r[8]),
            )  # fmt: skip
        except _DAMAGE as exc:
            raise self._damaged("agents", r[0], exc) from exc

    def stored_agent(self, r: Any) -> StoredAgent:
        """An ``agents`` row as a migration reads it: id, status, version, since, and the data
        as stored JSON text (decoded later, and only when the migration needs it)."""
        try:
            return StoredAgent(
                _text(r[0], "id"), _text(r[1], "status"), _count(r[2], "version"),
                self._time(r[3]), _text(r[4], "data"),
            )  # fmt: skip
        except _DAMAGE as exc:
            raise self._damaged("agents", r[0], exc) from exc

    def audit(self, r: Any) -> AuditRow:
        """An ``audit`` row (``_AUDIT_COLS`` of either store)."""
        try:
            payload = self._loads(r[6])
            if not isinstance(payload, Mapping):
                raise _Damage(f"payload is {type(payload).__name__}, not an object")
            from_status = _opt_text(r[7], "from_status")
            to_status = _text(r[8], "to_status")
            event = _text(r[5], "event")
            refusal = None
            if r[10] is not None:
                refusal = Refusal(
                    _text(r[10], "refusal_code"),
                    _opt_text(r[11], "refusal_message") or "",
                    event,
                    from_status or to_status,
                    _opt_text(r[12], "refusal_guard"),
                )
            version = _count(r[9], "version")
            return AuditRow(
                _count(r[0], "seq"), _text(r[1], "event_id"), _text(r[2], "agent_id"),
                _code(r[3], "kind", _KINDS), _actor(r[4]), event, payload,
                from_status, to_status, version, refusal, self._time(r[13]),
                _opt_text(r[14], "correlation_id"), _opt_text(r[15], "principal"),
                _machine_version(r[16]), self._before(r[17], r[18], from_status, version),
            )  # fmt: skip
        except _DAMAGE as exc:
            raise self._damaged("audit", r[0], exc) from exc

    def _before(
        self, since: Any, data: Any, from_status: str | None, version: int
    ) -> Snapshot | None:
        # The snapshot an accepted event was decided on: its status and version are the row's
        # own (the status before, one version less), so only its time and data are stored.
        if since is None and data is None:
            return None
        if since is None or data is None or from_status is None or version < 1:
            raise _Damage("before_since and before_data are not both set on an accepted event")
        return Snapshot(from_status, version - 1, self._time(since), self._loads(data))

    def outbox(self, r: Any) -> OutboxItem:
        """An ``outbox`` row (``_OUTBOX_COLS`` of either store)."""
        try:
            return OutboxItem(
                _count(r[0], "id"), _text(r[1], "agent_id"), _code(r[2], "kind", _OUTBOX_KINDS),
                self._loads(r[3]), _text(r[4], "key"), _code(r[5], "state", _STATES),
                _count(r[6], "attempts"), self._time(r[7]), _opt_text(r[8], "last_error"),
                _opt_text(r[9], "claimed_by"), self._opt_time(r[10]),
                _opt_text(r[11], "trace_context"),
            )  # fmt: skip
        except _DAMAGE as exc:
            raise self._damaged("outbox", r[0], exc) from exc

    def timer(self, r: Any) -> TimerRow:
        """A ``timers`` row: agent, event, due, token, claimed by, claimed until."""
        try:
            return TimerRow(
                _text(r[0], "agent_id"), _text(r[1], "event"), self._time(r[2]),
                _text(r[3], "token"), _opt_text(r[4], "claimed_by"), self._opt_time(r[5]),
            )  # fmt: skip
        except _DAMAGE as exc:
            raise self._damaged("timers", r[3], exc) from exc
