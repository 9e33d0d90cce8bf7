"""Schema version 6: an accepted event's audit row carries the snapshot it was decided on, so a
duplicate is answered from that row (a lookup) instead of a replay of the agent's log.

A version-5 database of each store is migrated in place; its rows carry no such snapshot, and a
duplicate of one of them is still answered, by the replay. Either way the answer is the step
recorded the first time."""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runtime_support import T0, agent_data, random_event

from agentfsm import Actor, Context, Event, Step, decide
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    SCHEMA_VERSION,
    Controller,
    CorruptDatabase,
    ManualClock,
    PostgresStore,
    SQLiteStore,
    Store,
)
from agentfsm.runtime._codec import DEFAULT_CODEC
from agentfsm.runtime._schema import POSTGRES_STEPS, POSTGRES_V1, SQLITE_STEPS, SQLITE_V1

S = Actor.SYSTEM
T1 = T0 + timedelta(minutes=1)
_AGENT = (
    "INSERT INTO agents (id, machine, status, version, since, data, created_at, updated_at, "
    "machine_version) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"
)
_AUDIT = (
    "INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, from_status, to_status, "
    "version, at, scope, machine_version) "
    "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, 1)"
)


class CountingStore:
    """A store that counts the calls made to it by name, and passes them on."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.inner, name)
        if callable(value):

            def counted(*args: Any) -> Any:
                self.calls[name] = self.calls.get(name, 0) + 1
                return value(*args)

            return counted
        return value


def _old_step() -> Step[Any]:
    """What a version-5 store recorded for the agent "old": created at T0, provisioned at T1."""
    machine = MACHINES["alfe"]
    created = machine.initial(AlfeAgent("old", "Old"), T0)
    step = decide(machine, created, Event("provision", S, id="ev-old"), Context(T1))
    assert isinstance(step, Step)
    return step


def _v5_rows(at: Callable[[Any], Any]) -> list[tuple[str, tuple[Any, ...]]]:
    machine = MACHINES["alfe"]
    data = AlfeAgent("old", "Old")
    created = machine.initial(data, T0)
    after = _old_step().snapshot
    dumps = DEFAULT_CODEC.dumps
    return [
        (
            _AGENT,
            ("old", "alfe", after.status, after.version, at(after.since), dumps(after.data),
             at(T0), at(T1), 1),
        ),
        (
            _AUDIT,
            ("create:old", "old", "create", None, "alfe", dumps({"data": data}), None,
             created.status, 0, at(T0), "create"),
        ),
        (
            _AUDIT,
            ("ev-old", "old", "event", "S", "provision", "{}", created.status, after.status,
             1, at(T1), "S"),
        ),
    ]  # fmt: skip


def _answers_old_and_new_duplicates(store: Store) -> None:
    assert store.schema_version() == SCHEMA_VERSION >= 6
    [_, old_row] = store.history("old")
    assert old_row.before is None  # written before the step: nothing to look up
    counting = CountingStore(store)
    controller = Controller(MACHINES, counting, ManualClock(T1 + timedelta(hours=1)))  # type: ignore[arg-type]
    assert controller.handle("old", Event("provision", S, id="ev-old")) == _old_step()
    assert counting.calls.get("history") == 1  # the replay, for a row without a snapshot
    new = controller.handle("old", Event("host_up", S, id="ev-new"))
    assert isinstance(new, Step)
    assert store.history("old")[-1].before == _old_step().snapshot
    counting.calls.clear()
    assert controller.handle("old", Event("host_up", S, id="ev-new")) == new
    assert "history" not in counting.calls  # a lookup, not a replay
    assert controller.stats.duplicates == 2


def test_sqlite_version_5_is_migrated_to_recorded_snapshots(tmp_path: Path) -> None:
    path = tmp_path / "v5.db"
    conn = sqlite3.connect(path)
    for stmt in (*SQLITE_V1, *(s for v in (2, 3, 4, 5) for s in SQLITE_STEPS[v])):
        conn.execute(stmt)
    for sql, args in _v5_rows(lambda t: t.isoformat(timespec="microseconds")):
        conn.execute(sql.format(p="?"), args)
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    try:
        _answers_old_and_new_duplicates(store)
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_version_5_is_migrated_to_recorded_snapshots(pg_dsn: str) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        for stmt in (*POSTGRES_V1, *(s for v in (2, 3, 4, 5) for s in POSTGRES_STEPS[v])):
            conn.execute(stmt)
        for sql, args in _v5_rows(lambda t: t):
            conn.execute(sql.format(p="%s"), args)
    store = PostgresStore(pg_dsn, schema=schema)
    try:
        _answers_old_and_new_duplicates(store)
    finally:
        store.close()


# -- every store: the snapshot on the row, and what a duplicate costs -------------------------


def test_an_accepted_event_records_the_snapshot_it_was_decided_on(controller: Controller) -> None:
    controller.create("a", "alfe", AlfeAgent("a", "A"))
    before = controller.get("a").snapshot
    step = controller.handle("a", Event("provision", S, id="p"))
    assert isinstance(step, Step)
    refused = controller.handle("a", Event("provision", S, id="p2"))
    assert not refused.accepted
    create_row, event_row, refusal_row = controller.store.history("a")
    assert event_row.before == before
    assert controller.store.audit_row("a", "S", "p") == event_row
    assert (create_row.before, refusal_row.before) == (None, None)


def test_regression_a_duplicate_replayed_the_whole_audit_log(controller: Controller) -> None:
    # Answering a redelivered event read every row of the agent's log: its cost grew with the
    # agent's history. Now it reads the event's own row (and the agent's) whatever the history.
    controller.create("a", "alfe", AlfeAgent("a", "A"))
    controller.handle("a", Event("provision", S, id="p"))
    for n in range(20):
        controller.handle("a", Event("billing_suspend", S, {"reason": "payment_issue"}))
        controller.handle("a", Event("billing_resume", S, {"standing": "good"}, id=f"r{n}"))
    first = controller.store.history("a")
    counting = CountingStore(controller.store)
    again = Controller(MACHINES, counting, controller.clock)  # type: ignore[arg-type]
    recorded = again.handle("a", Event("billing_resume", S, {"standing": "good"}, id="r3"))
    assert isinstance(recorded, Step)
    assert recorded.snapshot.version == 1 + 2 * 4
    assert counting.calls == {"commit": 1, "load": 2, "audit_row": 1}
    assert controller.store.history("a") == first  # nothing was written


def _damage(store: Store, sql: str) -> None:
    if isinstance(store, SQLiteStore):
        conn = sqlite3.connect(store.path)
        conn.execute(sql)
        conn.commit()
        conn.close()
        return
    assert isinstance(store, PostgresStore)
    with store._tx() as conn:
        conn.execute(sql)


def test_a_half_recorded_snapshot_is_a_damaged_row(controller: Controller) -> None:
    controller.create("a", "alfe", AlfeAgent("a", "A"))
    controller.handle("a", Event("provision", S, id="p"))
    _damage(controller.store, "UPDATE audit SET before_data = NULL WHERE event_id = 'p'")
    with pytest.raises(CorruptDatabase, match="before_since"):
        controller.store.audit_row("a", "S", "p")
    with pytest.raises(CorruptDatabase, match="before_since"):
        controller.handle("a", Event("provision", S, id="p"))


# -- the property: a duplicate is answered with what was recorded, from the row or the replay --


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 25), forget=st.booleans())
def test_a_duplicate_gets_the_recorded_outcome_from_the_row_or_the_replay(
    seed: int, steps: int, forget: bool
) -> None:
    rng = random.Random(seed)
    machine = MACHINES[rng.choice(sorted(MACHINES))]
    store = SQLiteStore(":memory:")
    try:
        clock = ManualClock(T0)
        controller = Controller(MACHINES, store, clock)
        controller.create("a", machine.name, agent_data(machine.name, "a"))
        outcomes = []
        for n in range(steps):
            clock.advance(timedelta(minutes=rng.randint(1, 600)))
            event = random_event(rng, machine, "name-a")
            event = Event(event.name, event.actor, event.payload, id=f"e{n}")
            outcomes.append((event, controller.handle("a", event)))
        if forget:  # as a version-5 database left them: every duplicate takes the replay
            store._conn().execute("UPDATE audit SET before_since = NULL, before_data = NULL")
        written = store.history("a")
        fresh = Controller(MACHINES, store, clock)
        for event, outcome in rng.sample(outcomes, min(5, len(outcomes))):
            assert fresh.handle("a", event) == outcome
        assert store.history("a") == written
    finally:
        store.close()
