"""Several control-plane replicas in real processes on one PostgreSQL database and one cluster.

A replica stopped (SIGSTOP) past its lease while it was about to write loses the agent to
another replica, which performs the work; resumed, its writes are refused as stale and nothing
is applied twice. Three replicas over 1,000 Recif agents, killed and restarted at random,
converge every agent, never reconcile one agent in two places at once (the fake cluster
records overlapping passes), and between them reconcile each agent once per period.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from replica_cluster import NAMESPACE, ClusterManager, connect, replica_main
from runtime_support import StoreSpec

from agentfsm import Actor, Event
from agentfsm.models import MACHINES, RecifAgent, RecifSpec
from agentfsm.runtime import Controller, SystemClock

SPAWN = multiprocessing.get_context("spawn")
SPEC = RecifSpec(image="img:1", replicas=1, config={"model": "m"})


@pytest.fixture
def cluster() -> Iterator[tuple[Any, Any, bytes]]:
    authkey = uuid.uuid4().bytes
    manager = ClusterManager(address=("127.0.0.1", 0), authkey=authkey, ctx=SPAWN)
    manager.start()
    try:
        yield connect(manager.address, authkey), manager.address, authkey
    finally:
        manager.shutdown()


def _deploy(spec: StoreSpec, agents: list[str]) -> None:
    store = spec.open()
    controller = Controller(MACHINES, store, SystemClock())
    controller.create_many([(a, "recif", RecifAgent(a, SPEC)) for a in agents])
    for a in agents:
        controller.handle(a, Event("deploy", Actor.USER, None, f"deploy:{a}"))
    store.close()


def _wait(what: str, ready: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Replicas:
    """Replica processes of one test, started and killed by name."""

    def __init__(self, spec: StoreSpec, address: Any, authkey: bytes, markers: Path) -> None:
        self.spec, self.address, self.authkey, self.markers = spec, address, authkey, markers
        self.running: dict[str, Any] = {}
        self.count = 0

    def start(self, lease: float, period: float, pause_key: str = "") -> str:
        self.count += 1
        name = f"replica-{self.count}"
        proc = SPAWN.Process(
            target=replica_main,
            args=(self.spec, self.address, self.authkey, name, lease, period,
                  str(self.markers), pause_key),
            daemon=True,
        )  # fmt: skip
        proc.start()
        self.running[name] = proc
        return name

    def signal(self, name: str, sig: int) -> None:
        pid = self.running[name].pid
        assert pid is not None
        os.kill(pid, sig)

    def kill(self, name: str) -> None:
        self.signal(name, signal.SIGKILL)
        self.running.pop(name).join(10)

    def kill_all(self) -> None:
        for name in list(self.running):
            self.kill(name)


@pytest.mark.postgres
def test_a_replica_paused_past_its_lease_is_refused_and_nothing_is_applied_twice(
    pg_dsn: str, cluster: tuple[Any, Any, bytes], tmp_path: Path
) -> None:
    proxy, address, authkey = cluster
    spec = StoreSpec("postgres", pg_dsn, f"t_{uuid.uuid4().hex[:12]}")
    _deploy(spec, ["ag"])
    replicas = Replicas(spec, address, authkey, tmp_path)
    try:
        first = replicas.start(lease=2.0, period=60.0, pause_key="ag")
        _wait("the first replica to decide", (tmp_path / f"{first}.decided").exists, 60)
        replicas.signal(first, signal.SIGSTOP)  # paused between deciding and writing
        (tmp_path / "go").touch()
        second = replicas.start(lease=2.0, period=60.0)
        _wait(
            "the second replica to create the agent's objects",
            lambda: proxy.report()["writes"].get("ag", 0) >= 3, 60,
        )  # fmt: skip
        replicas.signal(first, signal.SIGCONT)
        _wait("the first replica's stale write", (tmp_path / f"{first}.refused").exists, 30)
        report = proxy.report()
    finally:
        replicas.kill_all()
    stale = int((tmp_path / f"{first}.decided").read_text())
    assert int((tmp_path / f"{first}.refused").read_text()) == stale
    owners = [(owner, token) for agent, owner, token, _ in report["passes"] if agent == "ag"]
    assert owners[0] == (first, stale)
    assert {o for o, _ in owners[1:]} == {second} and min(t for _, t in owners[1:]) > stale
    assert report["refused"] == 1
    assert report["overlaps"] == []  # the first replica's lease had lapsed when the second began
    # ConfigMap, Service and Deployment were each written once: by the second replica.
    assert report["writes"]["ag"] == 3
    assert report["ready"] == {"ag": 1}


AGENTS = 1000
PERIOD = 8.0
LEASE = 3.0


@pytest.mark.slow
@pytest.mark.postgres
def test_three_replicas_share_a_thousand_agents_through_random_kills(
    pg_dsn: str, cluster: tuple[Any, Any, bytes], tmp_path: Path
) -> None:
    proxy, address, authkey = cluster
    spec = StoreSpec("postgres", pg_dsn, f"t_{uuid.uuid4().hex[:12]}")
    agents = [f"agent-{i:04d}" for i in range(AGENTS)]
    _deploy(spec, agents)
    store = spec.open()
    from agentfsm.runtime._leases import leases_of

    leases = leases_of(store)
    assert leases is not None
    leases.offer(agents, SystemClock().now())
    rng = random.Random(10)
    replicas = Replicas(spec, address, authkey, tmp_path)
    names = [replicas.start(LEASE, PERIOD) for _ in range(3)]
    kills = 0
    began = time.monotonic()
    try:
        # Kill a random replica every second or two and start a new one in its place, while
        # the fleet converges.
        while time.monotonic() - began < 14:
            time.sleep(rng.uniform(1.0, 2.0))
            victim = rng.choice(names)
            replicas.kill(victim)
            kills += 1
            names.remove(victim)
            names.append(replicas.start(LEASE, PERIOD))

        def converged() -> bool:
            statuses = Counter(r.snapshot.status for r in store.agents())
            return statuses.get("Running", 0) == AGENTS

        _wait("every agent to run", converged, 120)
        # The steady state: two periods with the three replicas up and nothing to change.
        steady_from = time.time()
        time.sleep(2 * PERIOD)
        report = proxy.report()
    finally:
        replicas.kill_all()
        store.close()
    assert kills >= 6
    assert report["overlaps"] == []
    assert report["ready"] == {a: 1 for a in agents}
    # Kubernetes writes: what one replica alone writes (ConfigMap, Service, Deployment) for
    # all but the agents a killed replica was writing, which the next owner finished.
    writes = Counter(report["writes"][a] for a in agents)
    assert writes[3] >= AGENTS * 0.98, writes
    assert max(writes) <= 4, writes
    # Each agent was reconciled about once per period by the whole fleet, not once per replica.
    steady = Counter(a for a, _, _, at in report["passes"] if at >= steady_from)
    per_period = sum(steady.values()) / AGENTS / 2
    assert 0.7 <= per_period <= 1.3, per_period
    assert set(steady) == set(agents)
    owners = {o for a, o, _, at in report["passes"] if at >= steady_from}
    assert len(owners) == 3  # shared by the replicas running then
