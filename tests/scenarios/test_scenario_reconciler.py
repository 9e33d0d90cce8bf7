"""The platform's Recif reconciler on the runtime's reconcile loop: what it keeps in the queue,
and what happens when a pass fails."""

from __future__ import annotations

from datetime import timedelta

import pytest
from scenario_helpers import T0

from agentfsm import DEFAULT_POLICY, Actor
from agentfsm.models import AlfeAgent, RecifAgent
from agentfsm.platform import Platform, SimulatedCluster
from agentfsm.recif import ObservedState
from agentfsm.runtime import ManualClock, SQLiteStore, backoff_delay


class FaultyCluster(SimulatedCluster):
    """A cluster whose next ``fail`` reads raise, as an unreachable API server would."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = 0

    def observe(self, agent_id: str) -> ObservedState:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("the API server is unreachable")
        return super().observe(agent_id)


def deployed(cluster: SimulatedCluster) -> tuple[Platform, ManualClock]:
    clock = ManualClock(T0)
    platform = Platform(SQLiteStore(), clock=clock, cluster=cluster)
    platform.create_agent("r1", "recif", RecifAgent("r-one"))
    assert platform.send("r1", "deploy").accepted
    platform.run_until_idle()
    assert platform.status("r1") == "Running"
    return platform, clock


def test_a_running_agent_waits_in_the_queue_for_its_resync_and_a_deleted_one_leaves_it() -> None:
    platform, clock = deployed(SimulatedCluster())
    assert platform.reconciler is not None
    loop = platform.reconciler.loop
    assert loop.pending() == {"r1": clock.now() + DEFAULT_POLICY.requeue_after}
    assert platform.send("r1", "delete").accepted
    platform.run_until_idle()
    assert platform.status("r1") == "deleted"
    assert loop.pending() == {}
    clock.advance(DEFAULT_POLICY.requeue_after * 4)
    assert platform.run_until_idle().reconciled == 0
    platform.close()


def test_an_alfe_agent_is_never_reconciled() -> None:
    platform = Platform(SQLiteStore(), clock=ManualClock(T0), cluster=SimulatedCluster())
    platform.create_agent("a1", "alfe", AlfeAgent("a1", "bot"))
    assert platform.send("a1", "provision", actor=Actor.SYSTEM).accepted
    assert platform.tick().reconciled == 0
    assert platform.reconciler is not None
    assert platform.reconciler.loop.pending() == {}
    assert platform.reconciled("a1") is None
    platform.close()


def test_a_failed_pass_is_reported_by_the_tick_and_retried_with_backoff() -> None:
    cluster = FaultyCluster()
    platform, clock = deployed(cluster)
    clock.advance(DEFAULT_POLICY.requeue_after)
    cluster.fail = 2
    with pytest.raises(RuntimeError, match="unreachable"):
        platform.tick()
    assert platform.reconciler is not None
    loop = platform.reconciler.loop
    assert loop.pending() == {"r1": clock.now() + backoff_delay(1)}
    assert platform.tick().reconciled == 0  # not due again until its backoff has passed
    clock.advance(backoff_delay(1))
    with pytest.raises(RuntimeError, match="unreachable"):
        platform.tick()
    assert loop.pending() == {"r1": clock.now() + backoff_delay(2)}
    clock.advance(backoff_delay(2))
    assert platform.tick().reconciled == 1
    assert loop.failures("r1") == 0
    assert loop.pending() == {"r1": clock.now() + DEFAULT_POLICY.requeue_after}
    assert platform.status("r1") == "Running"
    platform.close()


def test_reconcile_runs_a_pass_now_and_requeues_from_it() -> None:
    platform, clock = deployed(SimulatedCluster())
    reconciler = platform.reconciler
    assert reconciler is not None
    clock.advance(timedelta(seconds=10))
    outcome = reconciler.reconcile(platform.get("r1"))
    assert outcome is not None
    assert outcome.result.phase == "Running"
    assert reconciler.loop.pending() == {"r1": clock.now() + DEFAULT_POLICY.requeue_after}
    platform.close()
