"""Schema version 4: a version-3 database of each store is migrated in place; every agent and
audit row it held says it was decided by version 1 of its machine, and a controller holding
another version refuses to decide those agents instead of guessing."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest
from runtime_support import T0

from agentfsm import Actor, Context, Event, Machine, Step, decide
from agentfsm.models import ALFE, MACHINES, AlfeAgent
from agentfsm.runtime import (
    SCHEMA_VERSION,
    Controller,
    MachineVersionMismatch,
    ManualClock,
    PostgresStore,
    SQLiteStore,
    Store,
    replay_differences,
)
from agentfsm.runtime._codec import DEFAULT_CODEC
from agentfsm.runtime._schema import POSTGRES_STEPS, POSTGRES_V1, SQLITE_STEPS, SQLITE_V1

S = Actor.SYSTEM

_AUDIT = (
    "INSERT INTO audit (seq, event_id, agent_id, kind, actor, event, payload, from_status, "
    "to_status, version, refusal_code, refusal_message, refusal_guard, at, correlation_id, "
    "scope, principal) VALUES "
    "({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)
_AGENT = "INSERT INTO agents VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"


def _v3_rows(at: Callable[[Any], Any]) -> list[tuple[str, tuple[Any, ...]]]:
    machine = MACHINES["alfe"]
    data = AlfeAgent("old", "Old")
    created = machine.initial(data, T0)
    step = decide(machine, created, Event("provision", S, id="p-1"), Context(T0))
    assert isinstance(step, Step)
    after = step.snapshot
    dumps = DEFAULT_CODEC.dumps
    return [
        (
            _AGENT,
            ("old", "alfe", after.status, after.version, at(after.since), dumps(after.data),
             at(T0), at(T0)),
        ),
        (
            _AUDIT,
            (1, "create:old", "old", "create", None, "alfe", dumps({"data": data}), None,
             "pending", 0, None, None, None, at(T0), None, "create", None),
        ),
        (
            _AUDIT,
            (2, "p-1", "old", "event", "S", "provision", "{}", "pending", after.status,
             after.version, None, None, None, at(T0), None, "S", None),
        ),
    ]  # fmt: skip


def _version_two() -> Machine:
    return Machine(attrs.evolve(ALFE.spec, version=2), ALFE.implementations)


def _records_version_one(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION >= 4
    assert store.load("old").machine_version == 1
    assert [r.machine_version for r in store.history("old")] == [1, 1]
    # A controller with only version 2 refuses, naming both versions and what is missing.
    newer = Controller([_version_two()], store, ManualClock(T0))
    with pytest.raises(MachineVersionMismatch) as caught:
        newer.handle("old", Event("host_up", S, id="h-1"))
    assert (caught.value.stored, caught.value.given) == (1, (2,))
    assert "v1" in str(caught.value)
    assert "v2" in str(caught.value)
    assert "migration" in str(caught.value)
    assert len(store.history("old")) == 2  # the refusal changed nothing
    # Version 1 decides them, and records that it did.
    controller = Controller(MACHINES, store, ManualClock(T0))
    assert isinstance(controller.handle("old", Event("host_up", S, id="h-1")), Step)
    assert store.history("old")[-1].machine_version == 1
    assert replay_differences(store, MACHINES) == []


def test_sqlite_version_3_is_migrated_to_machine_versions(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    conn = sqlite3.connect(path)
    for stmt in (*SQLITE_V1, *SQLITE_STEPS[2], *SQLITE_STEPS[3]):
        conn.execute(stmt)
    for sql, args in _v3_rows(lambda t: t.isoformat(timespec="microseconds")):
        conn.execute(sql.format(p="?"), args)
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    try:
        _records_version_one(store)
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_version_3_is_migrated_to_machine_versions(pg_dsn: str) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        for stmt in (*POSTGRES_V1, *POSTGRES_STEPS[2], *POSTGRES_STEPS[3]):
            conn.execute(stmt)
        for sql, args in _v3_rows(lambda t: t):
            conn.execute(sql.format(p="%s"), args)
        conn.execute("SELECT setval('audit_seq_seq', 2)")
    store = PostgresStore(pg_dsn, schema=schema)
    try:
        _records_version_one(store)
    finally:
        store.close()


def test_new_agents_record_the_highest_version_given(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    controller = Controller([ALFE, _version_two()], store, ManualClock(T0))
    controller.create("a", "alfe", AlfeAgent("a", "A"))
    assert store.load("a").machine_version == 2
    controller.handle("a", Event("provision", S, id="p"))
    assert [r.machine_version for r in store.history("a")] == [2, 2]
    # Version 1 alone cannot decide it: never a guess.
    with pytest.raises(MachineVersionMismatch):
        Controller(ALFE, store, ManualClock(T0)).handle("a", Event("host_up", S, id="h"))
    assert replay_differences(store, [ALFE, _version_two()]) == []
    store.close()


def test_a_version_must_be_a_positive_integer() -> None:
    from agentfsm import InvalidMachine

    with pytest.raises(InvalidMachine, match="version"):
        Machine(attrs.evolve(ALFE.spec, version=0), ALFE.implementations)
