"""Several control-plane replicas in real processes on one PostgreSQL database and one cluster.

A replica stopped (SIGSTOP) past its lease while it was about to write loses the agent to
another replica, which performs the work; resumed, its writes are refused as stale and nothing
is applied twice. Three replicas over 1,000 Recif agents, killed and restarted at random,
converge every agent, never reconcile one agent in two places at once (the fake cluster
records overlapping passes), and between them reconcile each agent once per period.
"""

from __future__ import annotations

import itertools
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
from replica_cluster import (
    ClusterManager,
    connect,
    outbox_worker_main,
    recorder_main,
    replica_main,
)
from runtime_support import StoreSpec

from agentfsm import Actor, Event
from agentfsm.models import MACHINES, RecifAgent, RecifSpec
from agentfsm.runtime import Controller, SystemClock
from agentfsm.runtime._leases import leases_of

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


@pytest.mark.slow
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
        _wait("the pods to be ready", lambda: proxy.report()["ready"] == {"ag": 1}, 30)
        report = proxy.report()
    finally:
        replicas.kill_all()
    stale = int((tmp_path / f"{first}.decided").read_text())
    assert int((tmp_path / f"{first}.refused").read_text()) == stale
    owners = [(owner, token) for agent, owner, token, _ in report["passes"] if agent == "ag"]
    assert owners[0] == (first, stale)
    assert {o for o, _ in owners[1:]} == {second}
    assert min(t for _, t in owners[1:]) > stale
    assert report["refused"] == 1
    assert report["overlaps"] == []  # the first replica's lease had lapsed when the second began
    # ConfigMap, Service and Deployment were each written once: by the second replica.
    assert report["writes"]["ag"] == 3
    assert report["ready"] == {"ag": 1}


@pytest.mark.slow
@pytest.mark.postgres
def test_an_outbox_worker_paused_past_its_claim_is_refused_and_nothing_is_applied_twice(
    pg_dsn: str, tmp_path: Path
) -> None:
    import sqlite3

    from agentfsm.models import AlfeAgent

    spec = StoreSpec("postgres", pg_dsn, f"t_{uuid.uuid4().hex[:12]}")
    store = spec.open()
    controller = Controller(MACHINES, store, SystemClock())
    controller.create("ag", "alfe", AlfeAgent("ag", "Ag"))
    controller.handle("ag", Event("provision", Actor.SYSTEM))
    item = store.outbox()[0]  # the oldest: the first one claimed
    ledger = str(tmp_path / "ledger.db")
    markers = str(tmp_path)
    late = SPAWN.Process(
        target=outbox_worker_main, args=(spec, ledger, "late", 2.0, markers, True), daemon=True
    )
    late.start()
    workers = [late]
    try:
        _wait("the first worker's claim", (tmp_path / "late.claimed").exists, 60)
        assert late.pid is not None
        os.kill(late.pid, signal.SIGSTOP)  # paused inside the handler, before the effect
        (tmp_path / "go").touch()
        on_time = SPAWN.Process(
            target=outbox_worker_main,
            args=(spec, ledger, "on-time", 2.0, markers, False),
            daemon=True,
        )
        on_time.start()
        workers.append(on_time)
        _wait(
            "the second worker to perform the item",
            lambda: [i.state for i in store.outbox() if i.id == item.id] == ["done"],
            60,
        )
        os.kill(late.pid, signal.SIGCONT)
        _wait("the first worker's stale effect", (tmp_path / "late.refused").exists, 30)
    finally:
        for proc in workers:
            if proc.pid is not None and proc.exitcode is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.join(10)
    stale = int((tmp_path / "late.claimed").read_text())
    assert int((tmp_path / "late.refused").read_text()) == stale
    conn = sqlite3.connect(ledger)
    applied = conn.execute("SELECT key, token FROM applied").fetchall()
    refused = conn.execute("SELECT key, token FROM refused").fetchall()
    conn.close()
    assert [k for k, _ in applied].count(item.key) == 1  # applied once, by the newer claim
    assert max(Counter(k for k, _ in applied).values()) == 1  # and so was every other item
    assert next(t for k, t in applied if k == item.key) > stale
    assert refused == [(item.key, stale)]
    assert store.outbox(state="parked") == []
    assert [r.event for r in store.history("ag")].count("host_up") == 1  # fed back once
    store.close()


AGENTS = int(os.environ.get("AGENTFSM_REPLICA_AGENTS", "1000"))
PERIOD = 10.0
LEASE = 3.0


def _gaps(passes: list[tuple[str, str, int, float]], since: float) -> list[float]:
    """The time between consecutive passes over each agent, from ``since`` on."""
    times: dict[str, list[float]] = {}
    for agent, _, _, at in passes:
        if at >= since:
            times.setdefault(agent, []).append(at)
    return [b - a for ts in times.values() for a, b in itertools.pairwise(ts)]


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
    rng = random.Random(10)
    replicas = Replicas(spec, address, authkey, tmp_path)
    names = [replicas.start(LEASE, PERIOD) for _ in range(3)]
    kills = 0
    began = time.monotonic()
    try:
        # Kill a random replica every second or two and start a new one in its place, while
        # the fleet converges.
        while time.monotonic() - began < 12:
            time.sleep(rng.uniform(1.0, 2.0))
            victim = rng.choice(names)
            replicas.kill(victim)
            kills += 1
            names.remove(victim)
            names.append(replicas.start(LEASE, PERIOD))

        def converged() -> bool:
            time.sleep(0.5)  # counting is cheap, but the replicas need the cores more
            return store.counts(SystemClock().now()).agents.get(("recif", "Running"), 0) == AGENTS

        _wait("every agent to run", converged, 300)
        converged_after = time.monotonic() - began
        # The steady state: a period and a half with the same three replicas up.
        steady_from = time.time()
        time.sleep(1.5 * PERIOD)
        report = proxy.report()
    finally:
        replicas.kill_all()
        store.close()
    assert kills >= 6
    assert report["overlaps"] == []
    assert report["ready"] == dict.fromkeys(agents, 1)
    # Kubernetes writes: what one replica alone writes (ConfigMap, Service, Deployment) for
    # all but the agents a killed replica was writing, which the next owner finished.
    writes = Counter(report["writes"][a] for a in agents)
    assert writes[3] >= AGENTS * 0.98, writes
    assert max(writes) <= 4, writes
    # No agent was reconciled again within a period: the fleet keeps one schedule, where
    # three replicas with a queue each would reconcile every agent three times per period.
    steady = [p for p in report["passes"] if p[3] >= steady_from]
    gaps = _gaps(report["passes"], steady_from)
    assert steady
    assert all(g >= 0.9 * PERIOD for g in gaps), sorted(gaps)[:5]
    assert len({owner for _, owner, _, _ in steady}) == 3  # shared by the replicas up then
    print(
        f"{AGENTS} agents converged {converged_after:.0f} s after the replicas started, "
        f"{kills} kills; {len(steady) / (1.5 * PERIOD):.0f} passes/s in the steady state; "
        f"writes per agent {dict(writes)}"
    )


FLEET = 30
SHORT_PERIOD = 3.0


@pytest.mark.slow
@pytest.mark.postgres
def test_three_replicas_reconcile_each_agent_once_per_period(
    pg_dsn: str, cluster: tuple[Any, Any, bytes], tmp_path: Path
) -> None:
    proxy, address, authkey = cluster
    spec = StoreSpec("postgres", pg_dsn, f"t_{uuid.uuid4().hex[:12]}")
    agents = [f"small-{i:02d}" for i in range(FLEET)]
    _deploy(spec, agents)
    store = spec.open()
    replicas = Replicas(spec, address, authkey, tmp_path)
    for _ in range(3):
        replicas.start(LEASE, SHORT_PERIOD)
    try:

        def converged() -> bool:
            time.sleep(0.2)
            return store.counts(SystemClock().now()).agents.get(("recif", "Running"), 0) == FLEET

        _wait("every agent to run", converged, 120)
        time.sleep(2.0)  # the passes that saw the pods become ready are followed up
        steady_from = time.time()
        time.sleep(4 * SHORT_PERIOD)
        report = proxy.report()
    finally:
        replicas.kill_all()
        store.close()
    steady = Counter(a for a, _, _, at in report["passes"] if at >= steady_from)
    # Four periods: every agent four times (five when its first pass fell just after the
    # window opened and its last just before it closed), whatever the number of replicas.
    assert set(steady) == set(agents)
    assert set(steady.values()) <= {3, 4, 5}, steady
    assert sum(steady.values()) <= 4.3 * FLEET
    gaps = _gaps(report["passes"], steady_from)
    assert all(g >= 0.9 * SHORT_PERIOD for g in gaps), sorted(gaps)[:5]
    assert len({o for _, o, _, at in report["passes"] if at >= steady_from}) > 1
    assert report["overlaps"] == []


RESYNC_AGENTS = 1000
RESYNC_PERIOD = 10.0
RESYNC_PERIODS = 3


@pytest.mark.slow
@pytest.mark.postgres
def test_three_replicas_resync_a_thousand_agents_once_per_period(
    pg_dsn: str, cluster: tuple[Any, Any, bytes], tmp_path: Path
) -> None:
    proxy, address, authkey = cluster
    spec = StoreSpec("postgres", pg_dsn, f"t_{uuid.uuid4().hex[:12]}")
    agents = [f"agent-{i:04d}" for i in range(RESYNC_AGENTS)]
    store = spec.open()
    leases = leases_of(store)
    assert leases is not None
    leases.offer(agents, SystemClock().now())
    store.close()
    names = [f"recorder-{i}" for i in range(3)]
    procs = [
        SPAWN.Process(
            target=recorder_main,
            args=(spec, address, authkey, name, LEASE, RESYNC_PERIOD, str(tmp_path)),
            daemon=True,
        )
        for name in names
    ]
    for proc in procs:
        proc.start()
    try:
        _wait("the replicas", lambda: all((tmp_path / f"{n}.up").exists() for n in names), 120)
        _wait("every agent's first pass", lambda: len(proxy.report()["passes"]) >= len(agents), 60)
        first_round = proxy.report()["passes"][: len(agents)]
        assert {p[0] for p in first_round} == set(agents)  # none ran twice in its first period
        # The fleet's periods, counted from half a period after the first round: each agent's
        # passes then fall mid-period, so a period holds exactly one pass of every agent.
        steady_from = max(p[3] for p in first_round) + RESYNC_PERIOD / 2
        window_end = steady_from + RESYNC_PERIODS * RESYNC_PERIOD
        time.sleep(max(0.0, window_end - time.time()) + 1.0)
        report = proxy.report()
    finally:
        for proc in procs:
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGKILL)
            proc.join(10)
    burst = max(p[3] for p in first_round) - min(p[3] for p in first_round)
    steady = [p for p in report["passes"] if steady_from <= p[3] < window_end]
    per_period = Counter(
        (agent, int((at - steady_from) // RESYNC_PERIOD)) for agent, _, _, at in steady
    )
    gaps = _gaps(report["passes"], 0.0)
    print(
        f"{len(agents)} agents, 3 replicas, {RESYNC_PERIOD:.0f} s period: first round in "
        f"{burst:.1f} s, then {len(steady)} passes in {RESYNC_PERIODS} periods; "
        f"gaps {min(gaps):.2f}-{max(gaps):.2f} s; "
        f"passes per replica {dict(Counter(owner for _, owner, _, _ in steady))}"
    )
    # Exactly one pass per agent per period, across the fleet (three replicas with a queue
    # each would make three).
    expected = {(a, k): 1 for a in agents for k in range(RESYNC_PERIODS)}
    assert per_period == expected, Counter(per_period.values())
    # Never twice within a period, and never late by much: one schedule per agent.
    assert min(gaps) >= RESYNC_PERIOD - 0.05, sorted(gaps)[:5]
    assert max(gaps) < 1.5 * RESYNC_PERIOD, sorted(gaps)[-5:]
    assert {owner for _, owner, _, _ in steady} == set(names)  # the work was shared
    assert report["overlaps"] == []
