"""``agentfsm history``: one agent's audit log, read from a SQLite store.

The log is what ``GET /agents/{id}/events`` returns: every event decided for the agent, oldest
first, with who sent it, the status before and after, and the refusal when there was one. It
is printed as a table, or as JSON with ``--json``.

The file is checked read-only before the store opens it, so pointing the command at a missing
file, an empty one or another program's database never creates or changes anything. Whatever
goes wrong (no such file, a damaged or locked database, no such agent) is a ``HistoryError``
with a one-line message, which the command prints to standard error with exit status 2.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import attrs

from agentfsm._errors import InvalidInput
from agentfsm._values import role_named
from agentfsm.cli._names import did_you_mean
from agentfsm.runtime import (
    AgentRecord,
    AuditRow,
    SQLiteStore,
    StoreError,
    UnknownAgent,
)
from agentfsm.runtime._sqlite_check import read_only_uri
from agentfsm.wire import dump


class HistoryError(Exception):
    """The history cannot be read; the message (one line) says why and what to do."""

    def __init__(self, message: str) -> None:
        # A store's message may quote stored text; the command prints one line whatever it is.
        super().__init__(" ".join(message.split()))


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_file(path: Path) -> None:
    """Refuse anything that is not an existing agentfsm SQLite database, touching nothing."""
    hint = "run `agentfsm demo` first, or pass --db PATH"
    if not path.exists():
        raise HistoryError(f"no database at {path}; {hint}")
    if not path.is_file():
        raise HistoryError(f"{path} is not a file; pass --db with the path of a database file")
    try:
        with path.open("rb") as f:
            head = f.read(100)
    except OSError as error:
        raise HistoryError(f"cannot read {path}: {error.strerror or error}") from error
    if not head.startswith(_SQLITE_MAGIC):
        raise HistoryError(f"{path} is not a SQLite database; pass --db with an agentfsm database")
    try:
        # Read so that a WAL file gets no -wal or -shm beside it (see read_only_uri).
        conn = sqlite3.connect(read_only_uri(str(path), head), uri=True)
        try:
            row = conn.execute("SELECT application FROM agentfsm_schema").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as error:
        raise HistoryError(
            f"{path} is not an agentfsm database ({error}); pass --db with the database "
            "an agentfsm store wrote"
        ) from error
    if row is None or row[0] != "agentfsm":
        raise HistoryError(f"{path} is not an agentfsm database; pass --db with one")


def read_history(path: Path, agent_id: str) -> tuple[AgentRecord, list[AuditRow]]:
    """The stored agent and its audit rows, oldest first.

    Args:
        path: a SQLite database written by an agentfsm store.
        agent_id: the agent.

    Raises:
        HistoryError: the file is missing, not an agentfsm database, too new or damaged, or
            holds no such agent (the message lists some that it holds).
    """
    _check_file(path)
    try:
        store = SQLiteStore(path, busy_timeout=5.0)
    except StoreError as error:  # too new, damaged, locked: named in the message
        raise HistoryError(f"cannot open {path}: {error}") from error
    try:
        try:
            record = store.load(agent_id)
        except UnknownAgent:
            known = [a.agent_id for a in store.agents()]
            listed = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            choose = f"its agents are: {listed}" if known else "it holds no agents yet"
            hint = did_you_mean(agent_id, known)
            raise HistoryError(f"no agent {agent_id!r} in {path}{hint}; {choose}") from None
        return record, store.history(agent_id)
    except StoreError as error:
        raise HistoryError(f"cannot read {path}: {error}") from error
    finally:
        store.close()


def _actor(code: str | None) -> str:
    if code is None:
        return "runtime"
    try:
        return role_named(code).label
    except InvalidInput:  # a role this process never made: its stored code says who
        return code


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a stored value (records as objects, times as ISO text)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if attrs.has(type(value)):
        return {f.name: _plain(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def row_json(row: AuditRow) -> Any:
    """One audit row in the records' one JSON form (``agentfsm.wire.dump``), as the events
    endpoint returns it: ``from_status``/``to_status``, the actor as its role code.

    Raises:
        HistoryError: a stored payload holds a value that has no JSON form.
    """
    try:
        return dump(row)
    except InvalidInput as error:
        where = f"event {row.seq} of {row.agent_id!r}"
        raise HistoryError(f"{where} cannot be printed as JSON: {error}") from None


def _given(payload: Mapping[str, Any], limit: int = 40) -> str:
    text = " ".join(f"{k}={json.dumps(_plain(v), ensure_ascii=False)}" for k, v in payload.items())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_history(path: Path, record: AgentRecord, rows: Sequence[AuditRow]) -> str:
    """The audit log as an aligned table, with a heading that says where it came from.

    Columns: seq, time (UTC, to the millisecond), actor (``user``, ``platform``, ``timer``, or
    ``runtime`` for the runtime's own rows), event (with its payload, shortened), from -> to
    (``(stays)`` when refused), and the refusal's code and sentence.
    """
    refused = sum(1 for r in rows if r.refusal is not None)
    snap = record.snapshot
    head = (
        f"{record.agent_id} ({record.machine}) in {path}: {len(rows)} events, {refused} refused; "
        f"now {snap.status} (version {snap.version})"
    )
    table = [("seq", "time (UTC)", "actor", "event", "from -> to", "refusal")]
    for r in rows:
        if r.kind == "create":
            move, event = f"-> {r.to_status}", "(created)"
        elif r.refusal is not None:
            move, event = f"{r.from_status} (stays)", r.event
        else:
            move, event = f"{r.from_status} -> {r.to_status}", r.event
        why = f"{r.refusal.code}: {r.refusal.message}" if r.refusal is not None else ""
        when = r.at.astimezone(UTC).isoformat(sep=" ", timespec="milliseconds")[:23]
        given = _given(r.payload) if r.kind != "create" else ""
        event += f" ({given})" if given else ""
        table.append((str(r.seq), when, _actor(r.actor), event, move, why))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, (*widths, 0), strict=True)).rstrip()
        for row in table
    ]
    return "\n".join([head, "", *lines]) + "\n"


def history_text(path: Path, agent_id: str, *, as_json: bool) -> str:
    """What ``agentfsm history`` prints: the table, or the JSON array of events.

    Raises:
        HistoryError: see ``read_history``.
    """
    record, rows = read_history(path, agent_id)
    if as_json:
        return json.dumps([row_json(r) for r in rows], indent=2, ensure_ascii=False) + "\n"
    return format_history(path, record, rows)
