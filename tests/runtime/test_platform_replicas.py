"""Two ``Platform`` replicas on one store share Recif reconcile through the store's leases.

With a store that keeps leases and that other processes can open (a SQLite file, PostgreSQL),
a ``Platform`` drives Recif reconcile with ``SharedReconcileLoop``: two platforms on one
database reconcile each agent once per period between them, and never both at once. With the
in-memory loop (``reconcile_loop="memory"``) each platform reconciles every agent itself, which
is what these tests tell apart.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from runtime_support import T0, StoreSpec

from agentfsm import DEFAULT_POLICY, Policy
from agentfsm.models import MACHINES, RECIF, RecifAgent
from agentfsm.platform import Platform, ReconcileLoopKind, SimulatedCluster
from agentfsm.recif import ObservedState
from agentfsm.runtime import (
    Clock,
    ManualClock,
    ReconcileLoop,
    SharedReconcileLoop,
    SQLiteStore,
    StoreError,
    SystemClock,
    current_fence,
)

PERIOD = DEFAULT_POLICY.requeue_after
AGENTS = [f"rc-{i:02d}" for i in range(16)]


class RecordingCluster(SimulatedCluster):
    """A simulated cluster shared by the replicas, recording each pass's look at an agent:
    (agent, the holder of the pass's lease or ``None``, the time)."""

    def __init__(self, clock: Clock, pause: float = 0.0) -> None:
        super().__init__()
        self.clock = clock
        self.pause = pause
        self.looks: list[tuple[str, str | None, Any]] = []
        self._looks_lock = threading.Lock()

    def observe(self, agent_id: str) -> ObservedState:
        fence = current_fence()
        with self._looks_lock:
            self.looks.append((agent_id, None if fence is None else fence.holder, self.clock.now()))
        if self.pause:
            time.sleep(self.pause)  # a pass that takes a moment, as one over the network does
        return super().observe(agent_id)


def _replicas(
    spec: StoreSpec,
    clock: Clock,
    cluster: SimulatedCluster,
    mode: ReconcileLoopKind = "auto",
    machines: Any = None,
) -> list[Platform]:
    return [
        Platform(
            spec.open(),
            clock=clock,
            cluster=cluster,
            machines=machines,
            worker_id=f"replica-{i}",
            reconcile_loop=mode,
        )
        for i in range(2)
    ]


def _close(platforms: list[Platform]) -> None:
    for p in platforms:
        p.close()
        p.store.close()


def _deploy_and_converge(platforms: list[Platform], ready: Callable[[], None]) -> None:
    first = platforms[0]
    for a in AGENTS:
        first.create_agent(a, "recif", RecifAgent(a))
        assert first.send(a, "deploy").accepted
    for _ in range(40):
        ready()
        if all(first.status(a) == "Running" for a in AGENTS):
            return
    raise AssertionError({a: first.status(a) for a in AGENTS})


@pytest.mark.parametrize("mode", ["auto", "memory"])
def test_two_platforms_on_one_store_reconcile_each_agent_once_per_period(
    store_spec: StoreSpec, mode: ReconcileLoopKind
) -> None:
    clock = ManualClock(T0)
    cluster = RecordingCluster(clock)
    platforms = _replicas(store_spec, clock, cluster, mode)
    try:
        assert platforms[0].reconciler is not None
        loop = platforms[0].reconciler.loop
        assert isinstance(loop, SharedReconcileLoop if mode == "auto" else ReconcileLoop)

        def tick_both() -> None:
            for p in platforms:
                p.run_until_idle()

        _deploy_and_converge(platforms, tick_both)
        cluster.looks.clear()
        periods = 4
        for period in range(periods):
            clock.advance(PERIOD)
            # The replicas take turns going first, as their polls would interleave.
            for p in platforms if period % 2 else platforms[::-1]:
                p.run_until_idle()
        per_agent = Counter(agent for agent, _, _ in cluster.looks)
        per_period = Counter((agent, at) for agent, _, at in cluster.looks)
        if mode == "memory":
            # Each platform keeps its own queue: every agent twice per period.
            assert per_agent == dict.fromkeys(AGENTS, 2 * periods)
            return
        assert per_agent == dict.fromkeys(AGENTS, periods)
        assert set(per_period.values()) == {1}  # one pass per agent per period, fleet-wide
        holders = {holder for _, holder, _ in cluster.looks}
        assert holders == {"replica-0:reconcile", "replica-1:reconcile"}  # the work is shared
    finally:
        _close(platforms)


def test_two_platforms_running_at_once_never_reconcile_one_agent_together(
    store_spec: StoreSpec,
) -> None:
    period = timedelta(seconds=0.4)
    machines = {**MACHINES, "recif": RECIF.with_policy(Policy(requeue_after=period))}
    clock = SystemClock()
    cluster = RecordingCluster(clock, pause=0.003)
    platforms = _replicas(store_spec, clock, cluster, machines=machines)
    running: dict[str, str] = {}
    overlaps: list[tuple[str, str, str]] = []
    passes: list[tuple[str, str, float]] = []
    lock = threading.Lock()

    def recorded(name: str, reconcile: Callable[[str], Any]) -> Callable[[str], Any]:
        def run(key: str) -> Any:
            with lock:
                if key in running:
                    overlaps.append((key, running[key], name))
                running[key] = name
                passes.append((key, name, time.monotonic()))
            try:
                return reconcile(key)
            finally:
                with lock:
                    if running.get(key) == name:
                        del running[key]

        return run

    try:
        for p in platforms:
            assert p.reconciler is not None
            loop = p.reconciler.loop
            assert isinstance(loop, SharedReconcileLoop)
            # Wrap the pass the loop calls, to see when each one begins and ends.
            loop._reconcile = recorded(loop.replica_id, loop._reconcile)

        def wait() -> None:
            time.sleep(0.2)

        for p in platforms:
            p.start(interval=0.005)
        _deploy_and_converge(platforms, wait)
        time.sleep(period.total_seconds())  # the passes that saw the pods ready are followed up
        with lock:
            passes.clear()
        time.sleep(8 * period.total_seconds())
    finally:
        _close(platforms)
    assert overlaps == []
    assert {name for _, name, _ in passes} == {"replica-0:reconcile", "replica-1:reconcile"}
    assert {key for key, _, _ in passes} == set(AGENTS)
    times: dict[str, list[float]] = {}
    for key, _, at in passes:
        times.setdefault(key, []).append(at)
    gaps = [b - a for ts in times.values() for a, b in itertools.pairwise(ts)]
    # One schedule for the fleet: never two passes within a period (two private queues would
    # each reconcile the agent once per period, so gaps of a fraction of it would show).
    assert min(gaps) >= 0.9 * period.total_seconds(), sorted(gaps)[:5]


def test_an_in_memory_store_keeps_the_in_memory_loop_unless_asked() -> None:
    cluster = SimulatedCluster()
    auto = Platform(SQLiteStore(), cluster=cluster)
    shared = Platform(SQLiteStore(), cluster=cluster, reconcile_loop="shared")
    try:
        assert auto.reconciler is not None
        assert shared.reconciler is not None
        assert isinstance(auto.reconciler.loop, ReconcileLoop)
        assert isinstance(shared.reconciler.loop, SharedReconcileLoop)
    finally:
        auto.close()
        shared.close()


class NoLeases:
    """A ``Store`` stand-in without leases: only what ``Platform`` touches when it is built."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


def test_shared_reconcile_on_a_store_without_leases_is_refused() -> None:
    from agentfsm import InvalidInput

    with pytest.raises(StoreError, match="keeps no reconcile leases"):
        Platform(NoLeases(), cluster=SimulatedCluster(), reconcile_loop="shared")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="reconcile_loop"):
        Platform(SQLiteStore(), cluster=SimulatedCluster(), reconcile_loop="both")  # type: ignore[arg-type]


def test_an_alfe_event_adds_no_lease_row_with_the_shared_loop(tmp_path: Any) -> None:
    from agentfsm import Actor
    from agentfsm.models import AlfeAgent

    store = SQLiteStore(tmp_path / "agents.db")
    platform = Platform(store, clock=ManualClock(T0), cluster=SimulatedCluster())
    try:
        platform.create_agent("a1", "alfe", AlfeAgent("a1", "bot"))
        assert platform.send("a1", "provision", actor=Actor.SYSTEM).accepted
        platform.run_until_idle()
        assert platform.reconciler is not None
        assert platform.reconciler.loop.pending() == {}
    finally:
        platform.close()
        store.close()


def test_regression_a_deleted_agents_lease_row_stayed_after_its_objects_were_gone(
    tmp_path: Any,
) -> None:
    # Each deleted agent left its row in the leases table for good (due at no time), so the
    # table only grew. Once the cluster holds nothing of the agent, its row goes.
    store = SQLiteStore(tmp_path / "agents.db")
    cluster = SimulatedCluster()
    platform = Platform(store, clock=ManualClock(T0), cluster=cluster)
    try:
        assert isinstance(platform.reconciler.loop, SharedReconcileLoop)
        for a in ("rc-kept", "rc-gone"):
            platform.create_agent(a, "recif", RecifAgent(a))
            assert platform.send(a, "deploy").accepted
        for _ in range(10):
            platform.run_until_idle()
        assert platform.status("rc-gone") == "Running"
        assert platform.send("rc-gone", "delete").accepted
        for _ in range(10):
            platform.run_until_idle()
        assert cluster.observe("rc-gone").nothing_left
        assert set(platform.reconciler.loop.pending()) == {"rc-kept"}
        assert platform.status("rc-gone") == "deleted"
    finally:
        platform.close()
        store.close()
