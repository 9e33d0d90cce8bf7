"""Properties of applying a migration: however the work is cut into batches and interrupted,
each agent is migrated exactly once, keeps its status under the identity map, and the log
replays to the store."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from migrate_fleet import STATUSES, build_fleet, status_of
from runtime_support import T0

from agentfsm import Actor, Event
from agentfsm.migrate import apply_migration
from agentfsm.migrate.examples import ALFE_V1_TO_V2, ALFE_V2
from agentfsm.models import ALFE
from agentfsm.runtime import (
    MIGRATE,
    Controller,
    MachineVersionMismatch,
    ManualClock,
    SQLiteStore,
    replay_differences,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(min_value=1, max_value=40),
    batch=st.integers(min_value=1, max_value=16),
    first_run=st.integers(min_value=0, max_value=4),
)
def test_interrupted_batches_migrate_each_agent_once(
    count: int, batch: int, first_run: int
) -> None:
    store = SQLiteStore(":memory:")
    ids = build_fleet(Controller(ALFE, store, ManualClock(T0)), count)
    first = apply_migration(store, ALFE_V1_TO_V2, batch_size=batch, max_batches=first_run)
    assert first.migrated == min(count, batch * first_run)
    rest = apply_migration(store, ALFE_V1_TO_V2, batch_size=batch)
    assert first.migrated + rest.migrated == count
    assert rest.remaining == 0
    per_agent = Counter(r.agent_id for r in store.audit_log() if r.kind == MIGRATE)
    assert per_agent == Counter(ids)
    assert [store.load(a).snapshot.status for a in ids] == [status_of(i) for i in range(count)]
    assert replay_differences(store, [ALFE, ALFE_V2]) == []
    store.close()


def test_regression_a_controller_older_than_the_agent_is_not_told_to_migrate_backwards() -> None:
    store = SQLiteStore(":memory:")
    build_fleet(Controller(ALFE, store, ManualClock(T0)), 1)
    apply_migration(store, ALFE_V1_TO_V2)
    with pytest.raises(MachineVersionMismatch) as caught:
        Controller(ALFE, store, ManualClock(T0)).handle("a000000", Event("delete", Actor.USER))
    assert (caught.value.stored, caught.value.given) == (2, (1,))
    assert "v2\u2192v1" not in str(caught.value)
    assert "give it 'alfe' v2" in str(caught.value)
    assert len(STATUSES) == 12
    store.close()
