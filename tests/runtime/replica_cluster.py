"""Replica processes sharing one fake cluster: the pieces of the multi-replica tests.

``serve_cluster`` runs one ``FakeKubernetesApi`` in a server process of its own (a
``multiprocessing`` manager), behind a lock, settling the Deployments written since the last
settle every ``SETTLE_EVERY`` seconds, as the cluster's controllers would. Replica processes
reach it through a proxy, so every replica writes to, and is fenced by, the same objects.

``replica_main`` is one control-plane replica: a ``SharedReconcileLoop`` on PostgreSQL whose
pass over a Recif agent observes the cluster, decides with ``agentfsm.recif.reconcile``,
performs the actions through ``KubernetesHost`` (fenced by the pass's token) and feeds the
phase event back to the agent's machine. Each pass announces itself to the fake, which
records passes over one agent by two owners at once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any

import attrs
from runtime_support import StoreSpec

from agentfsm.kubernetes import FakeKubernetesApi, KubernetesHost
from agentfsm.models import MACHINES
from agentfsm.recif import DesiredSpec, phase_event, reconcile
from agentfsm.runtime import (
    Controller,
    SharedReconcileLoop,
    StaleFence,
    SystemClock,
    current_fence,
)

NAMESPACE = "team"
SETTLE_EVERY = 0.3
_WRITES = (
    "create_namespaced_deployment", "replace_namespaced_deployment", "patch_namespaced_deployment",
    "delete_namespaced_deployment", "create_namespaced_service", "replace_namespaced_service",
    "delete_namespaced_service", "create_namespaced_config_map", "replace_namespaced_config_map",
    "delete_namespaced_config_map", "create_namespaced_event",
)  # fmt: skip
_READS = (
    "read_namespaced_deployment", "read_namespaced_service", "read_namespaced_config_map",
    "list_namespaced_pod",
)  # fmt: skip


class SharedCluster:
    """A ``FakeKubernetesApi`` behind a lock, for the threads of a manager's server."""

    def __init__(self) -> None:
        self.fake = FakeKubernetesApi()
        self.lock = threading.Lock()
        self.dirty: set[str] = set()
        self.refused = 0
        threading.Thread(target=self._settle_forever, daemon=True).start()

    def _settle_forever(self) -> None:
        while True:
            time.sleep(SETTLE_EVERY)
            with self.lock:
                names, self.dirty = self.dirty, set()
                if names:
                    self.fake.settle(names)

    def begin_pass(self, agent: str, owner: str, token: int, until: float) -> None:
        with self.lock:
            self.fake.begin_pass(agent, owner, token, until, time.time())

    def end_pass(self, agent: str, owner: str, token: int) -> None:
        with self.lock:
            self.fake.end_pass(agent, owner, token)

    def count_refusal(self) -> None:
        with self.lock:
            self.refused += 1

    def report(self) -> dict[str, Any]:
        """Passes, overlaps, refusals, and writes per object name."""
        with self.lock:
            names = {k[2] for k in self.fake._store if k[0] != "Pod"}
            ready = {
                n: (d.status.ready_replicas or 0)
                for (kind, _, n), d in self.fake._store.items()
                if kind == "Deployment"
            }
            return {
                "passes": list(self.fake.passes),
                "overlaps": list(self.fake.overlaps),
                "refused": self.refused,
                "writes": {n: self.fake.writes(n) for n in names | set(self.fake._writes_by_name)},
                "ready": ready,
            }


def _call(name: str) -> Any:
    def call(self: SharedCluster, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            result = getattr(self.fake, name)(*args, **kwargs)
            if name in _WRITES:
                # The Deployment (or the ConfigMap its pods wait for) of this agent changed.
                self.dirty.add(args[1].metadata.name if name.startswith("create") else args[0])
            return result

    call.__name__ = name
    return call


for _name in _WRITES + _READS:
    setattr(SharedCluster, _name, _call(_name))

_CLUSTER: SharedCluster | None = None


def _the_cluster() -> SharedCluster:
    global _CLUSTER
    if _CLUSTER is None:
        _CLUSTER = SharedCluster()
    return _CLUSTER


class ClusterManager(BaseManager):
    """Serves the one ``SharedCluster`` of a test."""


ClusterManager.register("cluster", callable=_the_cluster)


def connect(address: Any, authkey: bytes) -> Any:
    """A proxy of the served cluster."""
    manager = ClusterManager(address=address, authkey=authkey)
    manager.connect()
    return manager.cluster()  # type: ignore[attr-defined]


def replica_main(
    spec: StoreSpec,
    address: Any,
    authkey: bytes,
    replica_id: str,
    lease: float,
    period: float,
    markers: str,
    pause_key: str = "",
) -> None:
    """Run one replica until killed: a shared reconcile loop with one worker thread.

    With ``pause_key``, the first pass over that agent writes ``<markers>/<replica>.decided``
    after deciding and before performing, then waits for ``<markers>/go``, so that a test can
    stop the process exactly there.
    """
    logging.basicConfig(level=logging.WARNING)
    store = spec.open()
    clock = SystemClock()
    controller = Controller(MACHINES, store, clock)
    cluster = connect(address, authkey)
    host = KubernetesHost(cluster, cluster, namespace=NAMESPACE)
    paused = [False]

    def reconcile_agent(key: str) -> timedelta | None:
        fence = current_fence()
        assert fence is not None
        assert fence.until is not None
        until = fence.until.timestamp()
        cluster.begin_pass(key, replica_id, fence.token, until)
        try:
            record = store.load(key)
            desired = DesiredSpec.from_snapshot(record.snapshot)
            observed = host.observe(desired.slug)
            result = reconcile(desired, observed, now=clock.now())
            if pause_key == key and not paused[0]:
                paused[0] = True
                Path(markers, f"{replica_id}.decided").write_text(str(fence.token))
                while not Path(markers, "go").exists():
                    time.sleep(0.01)
            try:
                for action in result.actions:
                    host.perform(desired.slug, action)
            except StaleFence:
                cluster.count_refusal()
                Path(markers, f"{replica_id}.refused").write_text(str(fence.token))
                raise
            event = phase_event(record.snapshot.status, result)
            if event is not None:
                event = attrs.evolve(event, id=f"sync:{key}:{fence.token}")
                controller.handle(key, event)
            # A watch would bring the agent back once its pods moved; a short requeue stands
            # in for it while the agent is converging, the period once nothing is left to do.
            busy = bool(result.actions) or record.snapshot.status != "Running"
            return timedelta(seconds=min(period, 1.0) if busy else period)
        finally:
            cluster.end_pass(key, replica_id, fence.token)

    loop = SharedReconcileLoop(
        store, reconcile_agent, clock, replica_id=replica_id,
        lease=timedelta(seconds=lease), batch_size=8,
    )  # fmt: skip
    loop.offer(r.agent_id for r in store.agents())  # what is tracked already keeps its schedule
    Path(markers, f"{replica_id}.up").touch()
    loop.start(workers=1, poll=0.05)
    while True:
        time.sleep(3600)


class LedgerResource:
    """A resource in a SQLite file that checks fencing tokens itself: in one transaction it
    compares the work's token with the largest it applied for the agent, and either refuses
    (``StaleFence``, nothing changed) or records the token and applies the effect."""

    def __init__(self, path: str) -> None:
        import sqlite3

        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.conn.execute("CREATE TABLE IF NOT EXISTS fences (agent TEXT PRIMARY KEY, token INT)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS applied (key TEXT, pid INT, token INT)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS refused (key TEXT, pid INT, token INT)")

    def apply(self, agent_id: str, key: str, token: int) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        row = self.conn.execute("SELECT token FROM fences WHERE agent = ?", (agent_id,)).fetchone()
        if row is not None and token < row[0]:
            self.conn.execute("INSERT INTO refused VALUES (?, ?, ?)", (key, os.getpid(), token))
            self.conn.execute("COMMIT")
            raise StaleFence(agent_id, token, row[0])
        self.conn.execute(
            "INSERT INTO fences VALUES (?, ?) ON CONFLICT (agent) DO UPDATE SET token = ?",
            (agent_id, token, token),
        )
        self.conn.execute("INSERT INTO applied VALUES (?, ?, ?)", (key, os.getpid(), token))
        self.conn.execute("COMMIT")


def outbox_worker_main(
    spec: StoreSpec, ledger: str, worker_id: str, lease: float, markers: str, pause: bool
) -> None:
    """An outbox worker performing through a ``LedgerResource``, until killed. With ``pause``,
    its first call writes ``<markers>/<worker>.claimed`` and waits for ``<markers>/go``."""
    from agentfsm import Actor, Event
    from agentfsm.runtime import OutboxWorker

    store = spec.open()
    controller = Controller(MACHINES, store, SystemClock())
    resource = LedgerResource(ledger)
    first = [pause]

    def perform(agent_id: str, effect: Any, key: str) -> list[Event]:
        fence = current_fence()
        assert fence is not None
        if first[0]:
            first[0] = False
            Path(markers, f"{worker_id}.claimed").write_text(str(fence.token))
            while not Path(markers, "go").exists():
                time.sleep(0.01)
        try:
            resource.apply(agent_id, key, fence.token)
        except StaleFence:
            Path(markers, f"{worker_id}.refused").write_text(str(fence.token))
            raise
        return [Event("host_up", Actor.SYSTEM)] if type(effect).__name__ == "ProvisionHost" else []

    worker = OutboxWorker(
        controller, perform, worker_id=worker_id, lease=timedelta(seconds=lease), batch_size=1
    )
    while True:
        if not worker.run_once().claimed:
            time.sleep(0.05)


def recorder_main(
    spec: StoreSpec,
    address: Any,
    authkey: bytes,
    replica_id: str,
    lease: float,
    period: float,
    markers: str,
) -> None:
    """A replica whose pass only records itself on the served cluster (begin and end, with its
    token and lease), then asks to come back after ``period``: the resync schedule alone, at a
    fleet size where full Recif passes would be mostly waiting for pods. Runs until killed."""
    logging.basicConfig(level=logging.WARNING)
    store = spec.open()
    cluster = connect(address, authkey)

    def record_pass(key: str) -> timedelta:
        fence = current_fence()
        assert fence is not None
        assert fence.until is not None
        cluster.begin_pass(key, replica_id, fence.token, fence.until.timestamp())
        cluster.end_pass(key, replica_id, fence.token)
        return timedelta(seconds=period)

    loop = SharedReconcileLoop(
        store, record_pass, SystemClock(), replica_id=replica_id,
        lease=timedelta(seconds=lease), batch_size=16,
    )  # fmt: skip
    Path(markers, f"{replica_id}.up").touch()
    loop.start(workers=1, poll=0.05)
    while True:
        time.sleep(3600)
