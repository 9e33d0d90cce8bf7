"""The Recif story, end to end with real parts: a SQLite store on disk, the simulated cluster
and its reconcile loop, and a real Git repository checked with the ``git`` command line."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pygit2
import pytest
import yaml
from scenario_helpers import T0, moves, run_git

from agentfsm import DEFAULT_POLICY, Event
from agentfsm.effects import RecreateConfigMap, RestartPods
from agentfsm.models import RECIF, RecifAgent, RecifSpec
from agentfsm.platform import Platform, SimulatedCluster
from agentfsm.recif import Fault
from agentfsm.releases import GitReleaseStore, ReleaseEffectHandler
from agentfsm.runtime import DONE, EffectHandler, ManualClock, SQLiteStore, replay_agent

if shutil.which("git") is None:  # pragma: no cover - the CI image has git
    pytest.skip(
        "the Recif scenario checks the repository with the git CLI", allow_module_level=True
    )

pytestmark = pytest.mark.timeout(60)

AGENT, SLUG = "rc-support", "support-agent"
GOOD = {"model": "claude-sonnet", "strategy": "react"}
NEW = {"model": "claude-opus", "strategy": "react"}


@pytest.fixture(autouse=True)
def _no_fsync() -> None:
    # Each commit would wait for the disk; what fsync costs is the release benchmark's business.
    pygit2.settings.enable_fsync_gitdir(False)


class World:
    """A control plane with a cluster and a release repository, on disk."""

    def __init__(self, root: Path, releases: EffectHandler | None = None) -> None:
        self.root = root
        self.clock = ManualClock(T0)
        self.repo = root / "recif-state.git"
        self.git_store = GitReleaseStore(self.repo, fsync=False, gc_every=None)
        self.store = SQLiteStore(root / "control-plane.db")
        self.cluster = SimulatedCluster()
        self.platform = Platform(
            self.store, clock=self.clock, cluster=self.cluster, releases=releases or self.git_store
        )

    def git(self, *args: str) -> str:
        return run_git(self.repo, *args)

    def subjects(self) -> list[str]:
        return self.git("log", "--reverse", "--format=%s", "main").splitlines()

    def current(self) -> Any:
        return yaml.safe_load(self.git("show", f"main:agents/{SLUG}/current.yaml"))

    def close(self) -> None:
        self.platform.close()
        self.store.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.close()


def deploy(world: World, config: dict[str, str] = GOOD) -> None:
    world.platform.create_agent(AGENT, "recif", RecifAgent(SLUG, RecifSpec(config=config)))
    assert world.platform.send(AGENT, "deploy").accepted
    world.platform.run_until_idle()


def test_the_recif_story(world: World) -> None:
    p, cluster = world.platform, world.cluster

    # Deployed: the operator creates the objects, sees ready pods: Running, release v1.
    deploy(world)
    assert p.status(AGENT) == "Running"
    seen = cluster.observe(AGENT)
    assert (seen.deployment, seen.service, seen.ready_replicas) == (True, True, 1)
    assert seen.configmap == GOOD
    assert p.get(AGENT).snapshot.data.endpoint == f"http://{SLUG}:8000"
    assert world.current()["version"] == 1

    # Reconfigured: the ConfigMap is recreated, pods restart, release v2.
    assert p.send(AGENT, "update_config", {"config": NEW}).accepted
    p.run_until_idle()
    assert p.status(AGENT) == "Running"
    assert cluster.observe(AGENT).configmap == NEW
    assert world.current()["version"] == 2

    # The model the new config names is not found: the pods crash-loop, the agent is Failed,
    # and the reason is in its event log.
    model_not_found = Fault("CrashLoopBackOff", config=NEW)
    cluster.add_fault(model_not_found, agent_id=AGENT)
    p.run_until_idle()
    assert p.status(AGENT) == "Failed"
    assert p.get(AGENT).snapshot.data.last_reason == "CrashLoopBackOff"
    assert [e.reason for e in cluster.events(AGENT)] == ["CrashLoopBackOff"]
    phase = p.reconciled(AGENT)
    assert phase is not None
    assert phase.phase == "Failed"

    # Level-triggered: looking again changes nothing while the cause is there.
    world.clock.advance(DEFAULT_POLICY.requeue_after)
    assert p.run_until_idle().reconciled == 1
    assert p.status(AGENT) == "Failed"

    # Once the config's model is available, the next look finds ready pods: Running again,
    # and no release (the declared spec did not change).
    assert cluster.remove_fault(model_not_found, agent_id=AGENT) == 1
    p.run_until_idle()
    assert p.status(AGENT) == "Running"

    # Stopped: scaled to zero, record kept. Restarted: scaled back, Running, release v3.
    assert p.send(AGENT, "stop").accepted
    p.run_until_idle()
    assert p.status(AGENT) == "Terminated"
    assert (cluster.observe(AGENT).replicas, cluster.observe(AGENT).ready_replicas) == (0, 0)
    assert p.send(AGENT, "restart").accepted
    p.run_until_idle()
    assert p.status(AGENT) == "Running"
    assert cluster.observe(AGENT).ready_replicas == 1
    assert world.current()["version"] == 3

    # Deleted: every object removed, the tombstone written, v1-v3 kept.
    assert p.send(AGENT, "delete").accepted
    p.run_until_idle()
    assert p.status(AGENT) == "deleted"
    assert cluster.observe(AGENT).nothing_left
    assert cluster.agents() == []

    tombstone = world.current()
    assert tombstone["status"] == "deleted"
    assert tombstone["deleted_at"] == "2026-04-03T10:00:30Z"
    assert world.subjects() == [
        f"{SLUG}: release v1 (AgentDeployed)",
        f"{SLUG}: release v2 (AgentConfigChanged)",
        f"{SLUG}: release v3 (AgentDeployed)",
        f"{SLUG}: tombstone (AgentDeleted)",
    ]
    assert world.git("ls-tree", "--name-only", "main", f"agents/{SLUG}/releases/").split() == [
        f"agents/{SLUG}/releases/v{n}.yaml" for n in (1, 2, 3)
    ]
    releases = [
        yaml.safe_load(world.git("show", f"main:agents/{SLUG}/releases/v{n}.yaml"))
        for n in (1, 2, 3)
    ]
    assert [r["config"] for r in releases] == [GOOD, NEW, NEW]
    world.git("fsck", "--strict", "--no-dangling")

    # The audit history: the phases the operator reported, and the user's actions.
    history = p.history(AGENT)
    assert moves(history) == [
        ("recif", None, "created"),
        ("deploy", "created", "Pending"),
        ("pods_ready", "Pending", "Running"),
        ("update_config", "Running", "Running"),
        ("pods_unhealthy", "Running", "Failed"),
        ("pods_ready", "Failed", "Running"),
        ("stop", "Running", "Terminated"),
        ("restart", "Terminated", "Pending"),
        ("pods_ready", "Pending", "Running"),
        ("delete", "Running", "deleted"),
    ]
    assert replay_agent(RECIF, history) == p.get(AGENT).snapshot
    assert p.store.outbox(state="parked") == []


def test_fixing_a_bad_config_recovers_the_agent_and_makes_the_next_release(world: World) -> None:
    p, cluster = world.platform, world.cluster
    bad = {"model": "no-such-model"}
    cluster.add_fault(Fault("CrashLoopBackOff", config=bad))  # strikes any agent that uses it
    deploy(world)
    assert p.send(AGENT, "update_config", {"config": bad}).accepted
    p.run_until_idle()
    assert p.status(AGENT) == "Failed"

    assert p.send(AGENT, "update_config", {"config": GOOD}).accepted
    p.run_until_idle()
    assert p.status(AGENT) == "Running"
    assert [line.split(": ", 1)[1] for line in world.subjects()] == [
        "release v1 (AgentDeployed)",
        "release v2 (AgentConfigChanged)",
        "release v3 (AgentConfigChanged)",
    ]
    assert world.current()["config"] == GOOD


def test_a_config_edited_behind_the_operators_back_is_repaired_without_a_release(
    world: World,
) -> None:
    p, cluster = world.platform, world.cluster
    deploy(world)
    # Someone edits the live ConfigMap to a bad model and restarts the pods by hand.
    bad = {"model": "typo"}
    cluster.add_fault(Fault("CrashLoopBackOff", config=bad), agent_id=AGENT)
    cluster.apply(AGENT, [RecreateConfigMap(bad), RestartPods()])
    p.run_until_idle()
    # The operator saw the crash (Failed), put the declared config back, and saw ready pods.
    assert [m[1:] for m in moves(p.history(AGENT))][-2:] == [
        ("Running", "Failed"),
        ("Failed", "Running"),
    ]
    assert cluster.observe(AGENT).configmap == GOOD
    assert len(world.subjects()) == 1


def test_the_reconcile_loop_looks_every_30_seconds(world: World) -> None:
    deploy(world)
    p = world.platform
    world.clock.advance(DEFAULT_POLICY.requeue_after - timedelta(seconds=1))
    assert p.run_until_idle().reconciled == 0
    world.clock.advance(timedelta(seconds=1))
    report = p.run_until_idle()
    assert report.reconciled == 1
    assert report.reconcile_actions == report.reconcile_events == 0  # converged: just a look


class WorkerKilled(BaseException):
    """Stands for SIGKILL: not an ``Exception``, so no worker code catches it."""


class FaultyCrashAfterRelease:
    """Writes the release, then "dies" before the outbox item is marked done (once)."""

    def __init__(self, inner: EffectHandler) -> None:
        self.inner = inner
        self.calls = 0

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        self.calls += 1
        events = self.inner(agent_id, effect, key)
        if self.calls == 1:
            raise WorkerKilled
        return events


def test_a_domain_event_delivered_twice_makes_one_release(tmp_path: Path) -> None:
    git_store = GitReleaseStore(tmp_path / "recif-state.git", fsync=False, gc_every=None)
    faulty = FaultyCrashAfterRelease(ReleaseEffectHandler(git_store))
    first = World(tmp_path, releases=faulty)
    try:
        first.platform.create_agent(AGENT, "recif", RecifAgent(SLUG, RecifSpec(config=GOOD)))
        first.platform.send(AGENT, "deploy")
        with pytest.raises(WorkerKilled):
            first.platform.run_until_idle()
        assert faulty.calls == 1
        assert len(first.subjects()) == 1  # the release landed in Git before the "crash"
        claimed = first.store.outbox(state="pending", agent_id=AGENT)
        assert [item.claimed_by for item in claimed] == [first.platform.outbox_worker.worker_id]
    finally:
        first.close()

    # A restarted control plane (another worker) takes the item over once the lease lapses.
    second = World(tmp_path, releases=faulty)
    try:
        second.clock.set(first.clock.now())
        assert second.platform.run_until_idle().effects == 0  # still leased to the dead worker
        second.clock.advance(timedelta(seconds=61))
        second.platform.run_until_idle()
        assert faulty.calls == 2  # delivered again...
        assert second.subjects() == [f"{SLUG}: release v1 (AgentDeployed)"]  # ...one release
        items = second.store.outbox(agent_id=AGENT)
        assert {item.state for item in items} == {DONE}
        second.git("fsck", "--strict", "--no-dangling")
    finally:
        second.close()
