"""BillingMonitor with the real Alfe machine: suspended when standing goes bad, and back per
the resume table when it is good again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from billing_helpers import PRICES, T0
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import Actor, Context, Event, InvalidInput, Snapshot, decide, fire
from agentfsm.billing import (
    BILLABLE_STATUSES,
    BillingAdapter,
    BillingMonitor,
    InMemoryLedger,
    ManagedAgent,
    Standing,
)
from agentfsm.models import ALFE, MANAGED_STATUSES, RESUME_TABLE, AlfeAgent

U, S, T = Actor.USER, Actor.SYSTEM, Actor.TIMER
CTX = Context(T0)

# How to bring a pending agent to each status with the real machine's events.
_PATHS: dict[str, list[Event]] = {
    "pending": [],
    "provisioning": [Event("provision", S)],
    "waitlisted": [Event("capacity_unavailable", S)],
    "failed": [Event("provision", S), Event("provisioning_failed", S)],
    "starting": [Event("provision", S), Event("host_up", S)],
    "running": [Event("provision", S), Event("host_up", S), Event("connected", S)],
    "failing": [
        Event("provision", S),
        Event("host_up", S),
        Event("connected", S),
        Event("connection_lost", S),
    ],
    "rebooting": [
        Event("provision", S),
        Event("host_up", S),
        Event("connected", S),
        Event("restart", U),
    ],
    "stopping": [
        Event("provision", S),
        Event("host_up", S),
        Event("connected", S),
        Event("stop", U),
    ],
    "stopped": [
        Event("provision", S),
        Event("host_up", S),
        Event("connected", S),
        Event("stop", U),
        Event("shutdown_complete", S),
    ],
    "deleted": [Event("delete", U)],
}


def _agent(status: str, size: str = "small") -> Snapshot:
    snap = Snapshot("pending", 0, T0, AlfeAgent(agent_id=f"ag-{status}", name=status, size=size))
    for event in _PATHS[status]:
        snap = fire(ALFE, snap, event, CTX).snapshot
    assert snap.status == status
    return snap


class Fleet:
    """Agents kept as snapshots, driven by the real machine with the monitor's events."""

    def __init__(self, statuses: list[str], sizes: dict[str, str] | None = None) -> None:
        sizes = sizes or {}
        agents = (_agent(status, sizes.get(status, "small")) for status in statuses)
        self.agents = {s.data.agent_id: s for s in agents}

    def managed(self) -> list[ManagedAgent]:
        return [ManagedAgent.from_snapshot(s) for s in self.agents.values()]

    def apply(self, monitor: BillingMonitor) -> list[str]:
        """Check, fire every event the monitor asks for; the names of the events applied."""
        applied = []
        for item in monitor.check(self.managed()):
            step = fire(ALFE, self.agents[item.agent_id], item.event, CTX)
            self.agents[item.agent_id] = step.snapshot
            applied.append(item.event.name)
        return applied

    def status(self, original: str) -> str:
        return self.agents[f"ag-{original}"].status


ALL = list(_PATHS)


Change = Callable[[BillingAdapter], object]

# For each reason: how standing goes bad, and how it becomes good again.
_SCENARIOS: dict[str, tuple[Change, Change]] = {
    "credits_exhausted": (
        lambda ledger: None,  # an empty pool
        lambda ledger: ledger.top_up("tu-2", 10_000, T0),
    ),
    "subscription_lapsed": (
        lambda ledger: ledger.set_subscription(False, T0),
        lambda ledger: ledger.set_subscription(True, T0),
    ),
    "payment_issue": (
        lambda ledger: ledger.report_payment_issue("pi-1", T0, "card declined"),
        lambda ledger: ledger.resolve_payment_issue("pi-1", T0),
    ),
}


@pytest.mark.parametrize("reason", list(_SCENARIOS))
def test_bad_standing_suspends_every_managed_agent_and_good_standing_resumes_per_the_table(
    ledger: BillingAdapter, reason: str
) -> None:
    spoil, fix = _SCENARIOS[reason]
    if reason != "credits_exhausted":
        ledger.top_up("tu-1", 1_000, T0)
    fleet = Fleet(ALL)
    monitor = BillingMonitor(ledger)
    spoil(ledger)
    assert ledger.standing().reason == reason
    events = monitor.check(fleet.managed())
    assert {e.event.payload["reason"] for e in events} == {reason}
    assert {e.event.actor for e in events} == {Actor.SYSTEM}
    fleet.apply(monitor)
    for status in ALL:
        expected = "deleted" if status == "deleted" else "billing_suspended"
        assert fleet.status(status) == expected, status
        if status != "deleted":
            assert fleet.agents[f"ag-{status}"].data.remembered == status
    assert fleet.apply(monitor) == []  # nothing more to ask while it stays bad

    fix(ledger)
    assert ledger.standing().good
    resumes = monitor.check(fleet.managed())
    assert {e.event.name for e in resumes} == {"billing_resume"}
    assert {dict(e.event.payload)["standing"] for e in resumes} == {"good"}
    fleet.apply(monitor)
    for status in ALL:
        expected = "deleted" if status == "deleted" else RESUME_TABLE[status]
        assert fleet.status(status) == expected, status
    assert fleet.apply(monitor) == []


def test_the_story_runs_dry_metering_and_resumes_after_a_top_up(ledger: BillingAdapter) -> None:
    """A running medium agent and a stopped small one; the pool covers two hours of usage."""
    fleet = Fleet(["running", "stopped"], sizes={"running": "medium"})
    monitor = BillingMonitor(ledger)
    ledger.top_up("tu-1", 24, T0)
    for hour in range(3):
        at = T0 + timedelta(hours=hour)
        charged = monitor.meter(fleet.managed(), at)
        assert charged == (12 if fleet.status("running") == "running" else 0)
        fleet.apply(monitor)
        if hour < 1:
            assert fleet.status("running") == "running"
    # two hours of medium (24) used the 24 up; the stopped agent was never charged
    assert ledger.balance() == 0
    assert fleet.status("running") == "billing_suspended"
    assert fleet.status("stopped") == "billing_suspended"
    assert monitor.meter(fleet.managed(), T0 + timedelta(hours=5)) == 0  # paused: not billable
    ledger.top_up("tu-2", 1_000, T0 + timedelta(hours=5))
    ledger.top_up("tu-2", 1_000, T0 + timedelta(hours=5))  # delivered twice, counted once
    assert ledger.balance() == 1_000
    fleet.apply(monitor)
    assert fleet.status("running") == "starting"
    assert fleet.status("stopped") == "stopped"


def test_self_hosted_agents_are_left_alone() -> None:
    monitor = BillingMonitor(InMemoryLedger(PRICES))  # empty pool: credits exhausted
    agents = [ManagedAgent("sh-1", "active", "small"), ManagedAgent("m-1", "running", "small")]
    assert [e.agent_id for e in monitor.check(agents)] == ["m-1"]
    assert monitor.meter([ManagedAgent("sh-1", "active", "small")], T0) == 0


def test_an_unknown_status_is_a_clear_error() -> None:
    monitor = BillingMonitor(InMemoryLedger(PRICES))
    with pytest.raises(InvalidInput, match=r"'Running'.*not an Alfe status"):
        monitor.check([ManagedAgent("x", "Running", "small")])


def test_only_billable_statuses_are_metered() -> None:
    ledger = InMemoryLedger(PRICES)
    monitor = BillingMonitor(ledger)
    agents = [ManagedAgent(f"ag-{s}", s, "small") for s in MANAGED_STATUSES]
    assert monitor.meter(agents, T0) == 5 * len(BILLABLE_STATUSES)
    assert monitor.meter(agents, T0 + timedelta(minutes=30)) == 0  # the same hour


@settings(max_examples=100, deadline=None)
@given(
    statuses=st.lists(st.sampled_from([*MANAGED_STATUSES, "active"]), max_size=12),
    balance=st.integers(1, 10**9),
)
def test_no_suspension_while_standing_is_good(statuses: list[str], balance: int) -> None:
    agents = [ManagedAgent(f"ag-{n}", s, "small") for n, s in enumerate(statuses)]
    events = BillingMonitor.events_for(Standing(None, balance), agents)
    assert all(e.event.name == "billing_resume" for e in events)
    assert len(events) == statuses.count("billing_suspended")


@settings(max_examples=100, deadline=None)
@given(
    statuses=st.lists(st.sampled_from(MANAGED_STATUSES), max_size=12),
    reason=st.sampled_from(["payment_issue", "credits_exhausted", "subscription_lapsed"]),
)
def test_every_event_asked_for_is_accepted_by_the_machine(statuses: list[str], reason: str) -> None:
    """Bad standing asks each suspendable agent once, and the Alfe machine accepts each ask."""
    agents = {f"ag-{n}": _agent(s) for n, s in enumerate(statuses) if s in _PATHS}
    managed = [ManagedAgent(a, s.status, "small") for a, s in agents.items()]
    for item in BillingMonitor.events_for(Standing(reason, 0), managed):
        assert decide(ALFE, agents[item.agent_id], item.event, CTX).accepted
