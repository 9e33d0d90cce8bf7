"""The Alfe story, end to end with real parts: a SQLite store and ledger on disk, real agent
processes on this machine (``LocalProcessHost``), and a manual clock for the hours and days."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from scenario_helpers import (
    T0,
    agent_processes,
    alive,
    moves,
    process_state,
    recorded,
    refusals,
    wait_until,
)

from agentfsm import DEFAULT_POLICY, Refusal
from agentfsm.billing import PriceTable, SQLiteLedger
from agentfsm.hosts import EventSink, LocalProcessHost
from agentfsm.hosts._agent_program import EXIT_REFUSED
from agentfsm.hosts._processes import AGENT_COMMAND
from agentfsm.models import ALFE, AlfeAgent
from agentfsm.platform import Platform
from agentfsm.runtime import ManualClock, SQLiteStore, replay_agent

pytestmark = pytest.mark.timeout(60)

AGENT, NAME = "ag-support", "support-bot"


class World:
    """One control plane on disk, and the things a test looks at."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = ManualClock(T0)
        self.hosts_dir = root / "hosts"
        self.store = SQLiteStore(root / "control-plane.db")
        self.ledger = SQLiteLedger(root / "billing.db", PriceTable({"small": 100}))
        self.platform = Platform(self.store, clock=self.clock, host=self._host, ledger=self.ledger)

    def _host(self, sink: EventSink) -> LocalProcessHost:
        self.local = LocalProcessHost(
            sink,
            base_dir=self.hosts_dir,
            heartbeat_interval=0.1,
            missed_heartbeats=3,
            stop_timeout=2.0,
            orphan_timeout=10.0,
        )
        return self.local

    def pid(self) -> int:
        pid = self.local.pid(AGENT)
        assert pid is not None, f"{AGENT} has no process"
        return pid

    def close(self) -> None:
        self.platform.close()
        self.store.close()
        self.ledger.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.close()
        # No agent process survives the control plane, whatever the test did.
        assert agent_processes(str(w.hosts_dir)) == []


def test_the_alfe_story(world: World, tmp_path: Path) -> None:
    p, clock, ledger = world.platform, world.clock, world.ledger
    assert ledger.top_up("card-1", 150, T0)

    # Created pending; the platform provisions it; a real process boots and connects.
    p.create_agent(AGENT, "alfe", AlfeAgent(AGENT, NAME))
    assert p.status(AGENT) == "pending"
    p.wait_for(AGENT, "running")
    first = world.pid()
    assert alive(first)
    assert ledger.balance() == 50  # the first hour is charged while it is billable

    # Its process dies: the dropped connection is connection_lost, recovery boots it again.
    os.kill(first, signal.SIGKILL)
    wait_until(p, lambda: recorded(p, AGENT, "connection_lost") == 1, "connection_lost")
    p.wait_for(AGENT, "running")
    second = world.pid()
    assert second != first
    assert not alive(first)

    # Stopped: SIGTERM, a clean exit, shutdown_complete. Started: a new process.
    assert p.send(AGENT, "stop").accepted
    p.wait_for(AGENT, "stopped")
    assert world.local.pid(AGENT) is None
    assert not alive(second)
    assert p.send(AGENT, "start").accepted
    p.wait_for(AGENT, "running")
    third = world.pid()

    # An hour later the pool runs dry: the agent is suspended and its process frozen.
    clock.advance(timedelta(hours=1))
    p.wait_for(AGENT, "billing_suspended")
    assert ledger.balance() == -50
    assert p.get(AGENT).snapshot.data.suspend_reason == "credits_exhausted"
    wait_until(p, lambda: process_state(third) == "T", "the process to be paused (SIGSTOP)")

    # A top-up (delivered twice, counted once) resumes it: same process, connected again.
    assert ledger.top_up("card-2", 1000, clock.now())
    assert not ledger.top_up("card-2", 1000, clock.now())
    p.wait_for(AGENT, "running")
    assert world.pid() == third
    assert process_state(third) != "T"
    assert ledger.balance() == 950

    # Recreate needs the typed name; then a fresh host and new credentials, same identity.
    old_secret = (world.hosts_dir / AGENT / "host-1" / "credentials").read_text().strip()
    kept = tmp_path / "old-credentials"
    kept.write_text(old_secret + "\n")
    refused = p.send(AGENT, "recreate", {"confirmation": "support-bot-typo"})
    assert isinstance(refused, Refusal)
    assert refused.code == "confirmation_mismatch"
    assert p.send(AGENT, "recreate", {"confirmation": NAME}).accepted
    record = p.wait_for(AGENT, "running")
    data = record.snapshot.data
    assert (data.agent_id, data.name, data.host, data.credentials) == (AGENT, NAME, 2, 2)
    fourth = world.pid()
    assert fourth != third
    assert not alive(third)
    assert not (world.hosts_dir / AGENT / "host-1").exists()
    new_secret = (world.hosts_dir / AGENT / "host-2" / "credentials").read_text().strip()
    assert new_secret != old_secret

    # A process presenting the revoked credentials is refused by the control plane.
    impostor = subprocess.run(
        [
            *AGENT_COMMAND, "--port", str(world.local.port),
            "--agent", AGENT, "--host", "1", "--generation", "1", "--credentials", str(kept),
            "--boot", "old-boot", "--orphan-timeout", "5",
        ],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert impostor.returncode == EXIT_REFUSED
    assert "credentials revoked" in impostor.stderr
    assert world.pid() == fourth  # the real agent was not disturbed

    # Deleted: the process is stopped, the data kept for the grace period, then purged.
    assert p.send(AGENT, "delete").accepted
    p.run_until_idle()
    assert p.status(AGENT) == "deleted"
    wait_until(p, lambda: not alive(fourth), "the deleted agent's process to end")
    deleted = p.get(AGENT).snapshot.data
    assert deleted.purge_at == deleted.deleted_at + DEFAULT_POLICY.grace_period
    assert (world.hosts_dir / AGENT).exists()  # retained during the grace period

    clock.advance(DEFAULT_POLICY.grace_period - timedelta(hours=1))
    p.run_until_idle()
    assert p.get(AGENT).snapshot.data.purged_at is None
    clock.advance(timedelta(hours=1))
    p.run_until_idle()
    purged = p.get(AGENT)
    assert purged.snapshot.status == "deleted"
    assert purged.snapshot.data.purged_at == clock.now()
    assert (purged.snapshot.data.host, purged.snapshot.data.credentials) == (0, 0)
    assert (purged.snapshot.data.agent_id, purged.snapshot.data.name) == (AGENT, NAME)
    assert not (world.hosts_dir / AGENT).exists()

    # The audit history tells the whole story, and alone rebuilds the stored agent.
    history = p.history(AGENT)
    assert moves(history) == [
        ("alfe", None, "pending"),
        ("provision", "pending", "provisioning"),
        ("host_up", "provisioning", "starting"),
        ("connected", "starting", "running"),
        ("connection_lost", "running", "failing"),
        ("connected", "failing", "running"),
        ("stop", "running", "stopping"),
        ("shutdown_complete", "stopping", "stopped"),
        ("start", "stopped", "starting"),
        ("connected", "starting", "running"),
        ("billing_suspend", "running", "billing_suspended"),
        ("billing_resume", "billing_suspended", "starting"),
        ("connected", "starting", "running"),
        ("recreate", "running", "provisioning"),
        ("host_up", "provisioning", "starting"),
        ("connected", "starting", "running"),
        ("delete", "running", "deleted"),
        ("purge", "deleted", "deleted"),
        ("remove_retained_data", "deleted", "deleted"),
    ]
    assert refusals(history) == [("recreate", "confirmation_mismatch")]
    actors = {(r.event, r.actor) for r in history if r.kind == "event"}
    assert {("stop", "U"), ("recreate", "U"), ("connected", "S"), ("billing_suspend", "S")} <= (
        actors
    )
    assert ("purge", "T") in actors
    assert ("provision", "S") in actors
    assert replay_agent(ALFE, history) == purged.snapshot
    assert p.store.outbox(state="parked") == []


def test_a_process_left_running_is_killed_when_the_platform_closes(tmp_path: Path) -> None:
    world = World(tmp_path)
    try:
        world.platform.create_agent(AGENT, "alfe", AlfeAgent(AGENT, NAME))
        world.ledger.top_up("card", 10_000, T0)
        world.platform.wait_for(AGENT, "running")
        pid = world.pid()
        assert agent_processes(str(world.hosts_dir)) == [pid]
    finally:
        world.close()
    assert not alive(pid)
    assert agent_processes(str(world.hosts_dir)) == []
    # The store outlives the control plane: a new one reads the agent where it was.
    store = SQLiteStore(tmp_path / "control-plane.db")
    try:
        assert store.load(AGENT).snapshot.status == "running"
    finally:
        store.close()
    shutil.rmtree(world.hosts_dir, ignore_errors=True)
