"""The platform's own event ids are out of users' reach: a user who sends the id the billing
step, or a timer, will use next changes nothing the platform does. Real ``Platform``, SQLite
store and ledger on disk; host reports are sent by hand (no host adapter), so every step is
deterministic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from scenario_helpers import T0

from agentfsm import Actor, Event, Refusal
from agentfsm.billing import PriceTable, SQLiteLedger
from agentfsm.models import AlfeAgent, RecifAgent
from agentfsm.platform import Platform, SimulatedCluster
from agentfsm.runtime import ManualClock, SQLiteStore

S, U = Actor.SYSTEM, Actor.USER

pytestmark = pytest.mark.timeout(60)


@contextmanager
def _platform(
    root: Path, *, agents: int = 1, cluster: bool = False
) -> Iterator[tuple[Platform, ManualClock]]:
    root.mkdir(parents=True, exist_ok=True)
    clock = ManualClock(T0)
    store = SQLiteStore(root / "control-plane.db")
    ledger = SQLiteLedger(root / "billing.db", PriceTable({"small": 100}))
    ledger.top_up("card-1", 150 * agents, T0)  # each agent's first hour, and half another
    platform = Platform(
        store, clock=clock, ledger=ledger, cluster=SimulatedCluster() if cluster else None
    )
    try:
        yield platform, clock
    finally:
        platform.close()
        store.close()
        ledger.close()


def _running(platform: Platform, agent_id: str) -> None:
    platform.create_agent(agent_id, "alfe", AlfeAgent(agent_id, agent_id.upper()))
    platform.tick()  # provisioned by the platform
    assert platform.send(agent_id, "host_up", actor=S).accepted
    assert platform.send(agent_id, "connected", actor=S).accepted
    assert platform.status(agent_id) == "running"
    platform.tick()  # its first hour is charged


def _billing_suspend_id(root: Path, agents: tuple[str, ...], victim: str) -> str:
    """The id the billing step gives the victim's ``billing_suspend``, seen in a control run."""
    with _platform(root, agents=len(agents)) as (p, clock):
        for agent in agents:
            _running(p, agent)
        clock.advance(timedelta(hours=1))
        p.tick()
        assert p.status(victim) == "billing_suspended"
        [row] = [r for r in p.history(victim) if r.event == "billing_suspend"]
        return row.event_id


def test_regression_user_event_under_the_next_billing_id_bypasses_suspension(
    tmp_path: Path,
) -> None:
    billing_id = _billing_suspend_id(tmp_path / "control", ("a1",), "a1")
    with _platform(tmp_path / "attack") as (p, clock):
        _running(p, "a1")
        refused = p.send("a1", Event("host_up", U, id=billing_id))  # a user's refused event
        assert isinstance(refused, Refusal)
        assert p.status("a1") == "running"  # the id is taken before it is used
        clock.advance(timedelta(hours=1))
        p.tick()
        assert p.status("a1") == "billing_suspended"
        assert p.get("a1").snapshot.data.suspend_reason == "credits_exhausted"


def test_regression_another_agents_billing_id_makes_every_tick_raise(tmp_path: Path) -> None:
    billing_id = _billing_suspend_id(tmp_path / "control", ("mine", "victim"), "victim")
    with _platform(tmp_path / "attack", agents=2, cluster=True) as (p, clock):
        _running(p, "mine")
        _running(p, "victim")
        assert not p.send("mine", Event("host_up", U, id=billing_id)).accepted
        assert p.status("victim") == "running"  # the id is taken before it is used
        p.create_agent("r1", "recif", RecifAgent("r-one"))
        assert p.send("r1", "deploy").accepted
        clock.advance(timedelta(hours=1))
        p.tick()  # does not raise
        assert p.status("victim") == "billing_suspended"
        assert p.status("mine") == "billing_suspended"
        p.run_until_idle()
        assert p.status("r1") == "Running"  # the rest of every tick still happens


@pytest.mark.timeout(30, method="signal")
def test_regression_user_chosen_restart_id_lets_a_user_pre_empt_the_boot_timer(
    tmp_path: Path,
) -> None:
    with _platform(tmp_path) as (p, clock):
        _running(p, "a1")
        assert p.send("a1", Event("restart", U, id="my-restart")).accepted
        assert p.status("a1") == "rebooting"
        [timer] = p.store.timers("a1")
        assert timer.event == "boot_timeout"
        # The boot timer's event id, computed as the runtime derives it, sent first by the user.
        assert not p.send("a1", Event("restart", U, id=f"timer:{timer.token}")).accepted
        clock.advance(timedelta(minutes=6))
        report = p.tick()  # returns: the timer is fired once and consumed
        assert report.timers == 1
        assert p.status("a1") != "rebooting"
        assert [r.event for r in p.history("a1") if r.actor == "T"] == ["boot_timeout"]
        assert timer.token not in {t.token for t in p.store.timers("a1")}


def test_regression_one_agents_failing_billing_event_stopped_the_rest_of_the_tick(
    tmp_path: Path,
) -> None:
    billing_id = _billing_suspend_id(tmp_path / "control", ("a-first", "b-second"), "a-first")
    with _platform(tmp_path / "run", agents=2, cluster=True) as (p, clock):
        _running(p, "a-first")
        _running(p, "b-second")
        # A platform-scoped event under the id a-first's billing_suspend will take: the billing
        # step's own request then meets IdempotencyKeyMismatch, for that agent only.
        assert isinstance(p.send("a-first", Event("host_up", S, id=billing_id)), Refusal)
        p.create_agent("r1", "recif", RecifAgent("r-one"))
        assert p.send("r1", "deploy").accepted
        clock.advance(timedelta(hours=1))
        report = p.tick()  # does not raise
        assert report.billing_failed == 1
        assert report.billing == 1
        assert p.status("b-second") == "billing_suspended"  # the agent after it was still billed
        assert p.status("a-first") == "running"  # its own event could not be recorded
        p.run_until_idle()  # the failure does not count as work: this ends
        assert p.status("r1") == "Running"  # the reconcile step after billing still ran


def test_regression_one_agents_failing_provision_stopped_the_rest_of_the_tick(
    tmp_path: Path,
) -> None:
    with _platform(tmp_path) as (p, _clock):
        for agent in ("a-first", "b-second"):
            p.create_agent(agent, "alfe", AlfeAgent(agent, agent.upper()))
        taken = Event("host_up", S, id="provision:a-first:0:provision")  # the derived id
        assert isinstance(p.send("a-first", taken), Refusal)
        report = p.tick()  # does not raise
        assert report.provision_failed == 1
        assert report.provisioned == 1
        assert p.status("a-first") == "pending"
        assert p.status("b-second") == "provisioning"
