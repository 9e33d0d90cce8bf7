"""Outbox remaps on both stores: pending items of an effect a new version renamed become the new
record in the transaction that migrates their agent, or nothing is written at all."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from migrate_fleet import build_fleet
from runtime_support import T0, StoreSpec

from agentfsm import Event
from agentfsm.effects import StartRecovery
from agentfsm.migrate import DataTransform, MigrationError, apply_migration, plan_migration
from agentfsm.models import ALFE
from agentfsm.runtime import (
    DEFAULT_CODEC,
    PENDING,
    Controller,
    EffectRouter,
    ManualClock,
    OutboxItem,
    OutboxWorker,
    PostgresStore,
    SQLiteStore,
    Store,
    replay_differences,
)
from agentfsm.runtime._sqlite import _ts
from tests.migrations import ALFE_RECONNECT, OUTBOX_REMAP, ReconnectAgent

CODEC = DEFAULT_CODEC.with_types(ReconnectAgent)


def _same(data: Any, defaults: Any) -> Any:
    return data


SAME = DataTransform("same", _same)


def _open(spec: StoreSpec, codec: Any = CODEC) -> Store:
    if spec.kind == "sqlite":
        return SQLiteStore(spec.target, codec=codec)
    return PostgresStore(spec.target, schema=spec.schema, codec=codec, max_size=4)


def _fleet(store: Store, count: int) -> list[str]:
    return build_fleet(Controller(ALFE, store, ManualClock(T0)), count)


def _recoveries(store: Store) -> dict[int, OutboxItem]:
    return {i.id: i for i in store.outbox(state=PENDING) if isinstance(i.payload, StartRecovery)}


def _execute(store: Store, sql: str, args: Sequence[Any]) -> None:
    """A raw write behind the store's back (to damage a row)."""
    if isinstance(store, SQLiteStore):
        store._conn().execute(sql.replace("%s", "?"), args)
        return
    with store._tx() as conn:  # type: ignore[attr-defined]
        conn.execute(sql, args)


def test_pending_items_of_a_renamed_effect_become_the_new_record(store_spec: StoreSpec) -> None:
    store = _open(store_spec)
    ids = _fleet(store, 48)
    before = _recoveries(store)
    assert before  # the failing agents' recoveries are pending
    others = {i.id: i.payload for i in store.outbox(state=PENDING) if i.id not in before}
    # A worker of the old version holds one when the migration runs.
    held = min(before)
    lease = T0 + timedelta(minutes=5)
    until = _ts(lease) if isinstance(store, SQLiteStore) else lease
    _execute(store, "UPDATE outbox SET claimed_by = %s, claimed_until = %s WHERE id = %s",
             ("old-worker", until, held))  # fmt: skip
    assert {i.id: i.claimed_by for i in store.outbox()}[held] == "old-worker"
    plan = plan_migration(store, OUTBOX_REMAP)
    assert [(c.name, c.rule, c.count) for c in plan.outbox] == [
        ("StartRecovery", "\u2192 ReconnectAgent", len(before))
    ]
    assert apply_migration(store, OUTBOX_REMAP, batch_size=10).remaining == 0
    after = {i.id: i for i in store.outbox(state=PENDING)}
    assert not _recoveries(store)
    for item_id, old in before.items():
        new = after[item_id]
        assert new.payload == ReconnectAgent(host_number=old.payload.host, attempt=1)
        assert (new.key, new.agent_id, new.attempts) == (old.key, old.agent_id, old.attempts)
        assert new.claimed_by is None
    assert {i: after[i].payload for i in others} == others
    # The old worker's claim is gone: it cannot mark the new record done.
    assert not store.finish_outbox(held, "old-worker", T0)
    # Version 2's handler performs them.
    performed: list[ReconnectAgent] = []

    def reconnect(agent_id: str, effect: Any, key: str) -> list[Event]:
        performed.append(effect)
        return []

    v2 = Controller(ALFE_RECONNECT, store, ManualClock(T0 + timedelta(hours=1)))
    OutboxWorker(v2, EffectRouter({ReconnectAgent: reconnect}, default=lambda *a: [])).drain()
    assert len(performed) == len(before)
    assert replay_differences(store, [ALFE, ALFE_RECONNECT]) == []
    assert len(ids) == 48
    store.close()


def test_a_remap_the_store_codec_cannot_read_is_refused_and_changes_nothing(
    store_spec: StoreSpec,
) -> None:
    store = _open(store_spec, DEFAULT_CODEC)
    _fleet(store, 24)
    agents, outbox, log = store.agents(), store.outbox(), len(store.audit_log())
    with pytest.raises(MigrationError, match=r"ReconnectAgent.*codec"):
        apply_migration(store, OUTBOX_REMAP)
    assert (store.agents(), store.outbox(), len(store.audit_log())) == (agents, outbox, log)
    store.close()


@pytest.mark.parametrize("through_python", [False, True], ids=["sql", "python"])
def test_regression_a_pending_item_that_cannot_become_the_new_record_rolls_back_its_batch(
    store_spec: StoreSpec, through_python: bool
) -> None:
    # The outbox is rewritten in the batch's transaction: a record that cannot be built
    # leaves its agents unmigrated too, never agents at v2 with their items still at v1.
    store = _open(store_spec)
    _fleet(store, 24)
    damaged = min(_recoveries(store))
    _execute(store, "UPDATE outbox SET payload = %s WHERE id = %s",
             ('{"@type":"StartRecovery"}', damaged))  # fmt: skip
    raw = "SELECT id, payload, state, claimed_by FROM outbox ORDER BY id"
    agents, outbox, log = store.agents(), store._read(raw, ()), len(store.audit_log())  # type: ignore[attr-defined]
    migration = attrs.evolve(OUTBOX_REMAP, data=SAME) if through_python else OUTBOX_REMAP
    with pytest.raises(MigrationError, match="cannot become ReconnectAgent"):
        apply_migration(store, migration, batch_size=100)
    assert store.agents() == agents
    assert store._read(raw, ()) == outbox  # type: ignore[attr-defined]
    assert len(store.audit_log()) == log
    store.close()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(min_value=1, max_value=36),
    batch=st.integers(min_value=1, max_value=12),
    first_run=st.integers(min_value=0, max_value=3),
    through_python=st.booleans(),
)
def test_an_agents_items_are_remapped_exactly_when_it_is_migrated(
    count: int, batch: int, first_run: int, through_python: bool
) -> None:
    # A data transform takes the agents through Python; without one the database moves them.
    migration = attrs.evolve(OUTBOX_REMAP, data=SAME) if through_python else OUTBOX_REMAP
    store = SQLiteStore(":memory:", codec=CODEC)
    _fleet(store, count)
    before = _recoveries(store)
    untouched = {i.id: i.payload for i in store.outbox() if i.id not in before}
    apply_migration(store, migration, batch_size=batch, max_batches=first_run)
    # Half-way: an agent's items are the new record if and only if the agent was migrated.
    migrated = {a.agent_id for a in store.agents() if a.machine_version == 2}
    items = {i.id: i for i in store.outbox()}
    for item_id, old in before.items():
        remapped = isinstance(items[item_id].payload, ReconnectAgent)
        assert remapped == (old.agent_id in migrated)
    apply_migration(store, migration, batch_size=batch)
    items = {i.id: i for i in store.outbox()}
    assert {i: items[i].payload for i in before} == {
        i: ReconnectAgent(old.payload.host, 1) for i, old in before.items()
    }
    assert {i: items[i].payload for i in untouched} == untouched
    store.close()
