"""SimulatedHost: its reports, its faults, and the Alfe machine driven by it."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from _hosts_driver import AlfeDriver
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import Actor, Event, InvalidInput
from agentfsm.hosts import (
    BootNeverConnects,
    CapacityShortage,
    Crash,
    LostConnection,
    ManualClock,
    ProvisioningFailure,
    RecordingSink,
    SimulatedHost,
    StuckShutdown,
    TemporaryError,
    random_faults,
)

# More examples on demand: HOSTS_EXAMPLES=2000 pytest tests/hosts/test_simulated.py
EXAMPLES = int(os.environ.get("HOSTS_EXAMPLES", "60"))
T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _driver(**kwargs: object) -> AlfeDriver:
    clock = ManualClock(T0)
    driver = AlfeDriver(clock, host=None)  # type: ignore[arg-type]
    host = SimulatedHost(clock, driver.sink, **kwargs)  # type: ignore[arg-type]
    driver.__init__(clock, host)  # type: ignore[misc]
    return driver


def _user(name: str, **payload: object) -> Event:
    return Event(name, Actor.USER, payload)


def test_an_agent_without_faults_reaches_running_after_realistic_delays() -> None:
    d = _driver(seed=1)
    d.add("a1")
    assert d.status("a1") == "provisioning"
    d.run_for(timedelta(seconds=10))
    assert d.status("a1") == "provisioning"  # provisioning takes at least 20 s
    d.run_for(10 * MIN)
    assert d.status("a1") == "running"
    obs = d.host.observe("a1")
    assert (obs.connected, obs.host_up, obs.host, obs.credentials) == (True, True, 1, 1)
    assert not d.refused_reports


def test_same_seed_same_reports_different_seed_different_times() -> None:
    def run(seed: int) -> list[str]:
        d = _driver(seed=seed, faults=[random_faults(0.3, seed=7)])
        for i in range(3):
            d.add(f"a{i}")
        d.run_for(timedelta(hours=3))
        return d.history

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_capacity_shortage_waitlists_until_capacity_returns() -> None:
    d = _driver(faults=[CapacityShortage("small", until=T0 + 20 * MIN)])
    d.add("a1")
    d.run_for(MIN)
    assert d.status("a1") == "waitlisted"
    d.run_for(2 * timedelta(hours=1))
    assert d.status("a1") == "running"
    assert d.agents["a1"].data.host == 1  # the retries reuse the host number
    assert not d.refused_reports


def test_capacity_limit_per_size_waitlists_the_extra_agent() -> None:
    d = _driver(capacity={"small": 2})
    for i in range(3):
        d.add(f"a{i}")
    d.run_for(10 * MIN)
    assert sorted(d.status(f"a{i}") for i in range(3)) == ["running", "running", "waitlisted"]
    waiting = next(a for a in d.agents if d.status(a) == "waitlisted")
    first = next(a for a in d.agents if d.status(a) == "running")
    d.send(first, _user("delete"))
    d.run_for(timedelta(hours=2))
    assert d.status(waiting) == "running"
    assert not d.refused_reports


def test_provisioning_failure_fails_the_agent_and_recreate_recovers() -> None:
    d = _driver(faults=[ProvisioningFailure(agent_id="a1")])
    d.add("a1")
    d.run_for(5 * MIN)
    assert d.status("a1") == "failed"
    d.send("a1", _user("recreate", confirmation="a1"))
    d.run_for(5 * MIN)
    assert d.status("a1") == "running"
    assert d.host.observe("a1").credentials == 2


def test_boot_that_never_connects_times_out_then_recovers() -> None:
    d = _driver(faults=[BootNeverConnects(times=1)])
    d.add("a1")
    d.run_for(4 * MIN)
    assert d.status("a1") == "starting"
    assert d.host.observe("a1").phase == "hung"
    d.run_for(5 * MIN)  # boot_timeout -> failing -> recovery boots again and connects
    assert d.status("a1") == "running"
    assert "a1 boot_timeout: failing" in "\n".join(d.history)


def test_lost_connection_goes_failing_and_recovery_reconnects() -> None:
    d = _driver(faults=[LostConnection(at=T0 + 30 * MIN)])
    d.add("a1")
    d.run_until(T0 + 30 * MIN)
    assert d.status("a1") == "failing"
    assert not d.host.observe("a1").connected
    d.run_for(MIN)
    assert d.status("a1") == "running"


def test_permanent_loss_ends_failed_after_the_recovery_deadline() -> None:
    d = _driver(faults=[LostConnection(at=T0 + 30 * MIN, permanent=True)])
    d.add("a1")
    d.run_until(T0 + 40 * MIN)
    assert d.status("a1") == "failing"
    d.run_for(20 * MIN)
    assert d.status("a1") == "failed"


def test_crash_reboots_on_recovery() -> None:
    d = _driver(faults=[Crash(at=T0 + 30 * MIN, agent_id="a2")])
    d.add("a1")
    d.add("a2")
    d.run_until(T0 + 30 * MIN)
    assert (d.status("a1"), d.status("a2")) == ("running", "failing")
    assert d.host.observe("a2").phase == "booting"  # recovery started a full boot
    d.run_for(MIN)
    assert d.status("a2") == "running"


def test_stuck_shutdown_stays_stopping_until_start_power_cycles() -> None:
    d = _driver(faults=[StuckShutdown()])
    d.add("a1")
    d.run_for(5 * MIN)
    d.send("a1", _user("stop"))
    d.run_for(5 * MIN)
    assert d.status("a1") == "stopping"
    assert d.send("a1", _user("start")) is not None  # not stuck long enough yet
    d.run_for(6 * MIN)
    assert d.send("a1", _user("start")) is None
    d.run_for(MIN)
    assert d.status("a1") == "running"
    assert not d.refused_reports


def test_slow_shutdown_completes_after_its_delay() -> None:
    d = _driver(faults=[StuckShutdown(delay=timedelta(minutes=3))])
    d.add("a1")
    d.run_for(5 * MIN)
    d.send("a1", _user("stop"))
    d.run_for(2 * MIN)
    assert d.status("a1") == "stopping"
    d.run_for(2 * MIN)
    assert d.status("a1") == "stopped"
    assert not d.host.observe("a1").host_up


def test_restart_keeps_credentials_and_recreate_replaces_them() -> None:
    d = _driver()
    d.add("a1")
    d.run_for(5 * MIN)
    d.send("a1", _user("restart"))
    assert d.host.observe("a1").phase == "booting"
    d.run_for(MIN)
    assert (d.status("a1"), d.host.observe("a1").credentials) == ("running", 1)
    d.send("a1", _user("recreate", confirmation="a1"))
    d.run_for(5 * MIN)
    obs = d.host.observe("a1")
    assert (d.status("a1"), obs.host, obs.credentials) == ("running", 2, 2)


def test_a_stop_forgets_the_connection_the_boot_would_have_reported() -> None:
    sink = RecordingSink()
    clock = ManualClock(T0)
    host = SimulatedHost(clock, sink)
    host.provision("a1", 1, "small")
    host.issue_credentials("a1", 1)
    host.advance(5 * MIN)
    host.boot("a1", 1)
    host.power_off("a1", 1)
    host.advance(5 * MIN)
    assert sink.names("a1") == ["host_up", "shutdown_complete"]


def test_regression_a_pause_forgets_a_capacity_answer_on_its_way() -> None:
    d = _driver(capacity={"small": 0})
    d.add("a0")
    d.send("a0", Event("billing_suspend", Actor.SYSTEM, {"reason": "payment_issue"}))
    d.run_for(MIN)
    assert d.status("a0") == "billing_suspended"
    assert not d.refused_reports


def test_boot_before_the_host_is_up_is_a_temporary_error() -> None:
    host = SimulatedHost(ManualClock(T0))
    host.provision("a1", 1, "small")
    with pytest.raises(TemporaryError):
        host.boot("a1", 1)


def test_calls_for_an_old_host_generation_change_nothing() -> None:
    sink = RecordingSink()
    host = SimulatedHost(ManualClock(T0), sink)
    host.provision("a1", 2, "small")
    host.issue_credentials("a1", 1)
    host.advance(5 * MIN)
    host.power_off("a1", 1)
    host.destroy("a1", 1)
    assert host.observe("a1").host == 2
    assert sink.names("a1") == ["host_up"]


@pytest.mark.parametrize(
    "call",
    [
        lambda h: h.provision("bad id", 1, "small"),
        lambda h: h.provision("a1", 0, "small"),
        lambda h: h.provision("a1", 1, ""),
        lambda h: h.boot("a1", True),
        lambda h: h.issue_credentials("../x", 1),
    ],
)
def test_bad_input_is_a_clear_error(call: object) -> None:
    host = SimulatedHost(ManualClock(T0))
    with pytest.raises(InvalidInput):
        call(host)  # type: ignore[operator]


def test_advance_needs_a_manual_clock() -> None:
    host = SimulatedHost(lambda: T0)
    with pytest.raises(TypeError, match="ManualClock"):
        host.advance(MIN)


def test_faults_and_clocks_reject_bad_values() -> None:
    with pytest.raises(InvalidInput):
        random_faults(1.5)
    with pytest.raises(InvalidInput):
        BootNeverConnects(times=0)
    with pytest.raises(InvalidInput):
        LostConnection(at=datetime(2026, 1, 1))  # naive
    with pytest.raises(InvalidInput):
        ManualClock(datetime(2026, 1, 1))
    with pytest.raises(InvalidInput):
        ManualClock(T0).advance(-MIN)
    with pytest.raises(InvalidInput):
        SimulatedHost(ManualClock(T0), faults=["crash"])  # type: ignore[list-item]


# -- the property: the host's own reports are always acceptable ------------------------------

_ACTIONS = st.sampled_from(
    ["wait", "stop", "start", "restart", "recreate", "delete", "suspend", "resume", "resize"]
)
# Waits in seconds: short ones land actions while a report is in flight, long ones let it land.
_WAIT = st.one_of(st.integers(0, 60), st.integers(0, 1500))
_STEP = st.tuples(_WAIT, st.integers(0, 2), _ACTIONS)


def _action(d: AlfeDriver, agent_id: str, action: str) -> None:
    if action == "wait":
        return
    if action in ("recreate", "resize"):
        payload = {"confirmation": agent_id}
        if action == "resize":
            payload["size"] = "large"
        d.send(agent_id, _user("recreate", **payload))
    elif action == "suspend":
        d.send(agent_id, Event("billing_suspend", Actor.SYSTEM, {"reason": "payment_issue"}))
    elif action == "resume":
        d.send(agent_id, Event("billing_resume", Actor.SYSTEM, {"standing": "good"}))
    else:
        d.send(agent_id, _user(action))
    d.drain()


def _consistent(d: AlfeDriver) -> None:
    for agent_id, snap in d.agents.items():
        obs = d.host.observe(agent_id)
        assert (snap.status == "running") == obs.connected, (agent_id, snap.status, obs)
        if snap.status in ("stopped", "deleted", "billing_suspended", "waitlisted"):
            assert not obs.connected


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    rate=st.floats(0.0, 0.5),
    steps=st.lists(_STEP, max_size=30),
)
def test_host_reports_are_never_refused_and_status_matches_observation(
    seed: int, rate: float, steps: list[tuple[int, int, str]]
) -> None:
    d = _driver(seed=seed, faults=[random_faults(rate, seed=seed + 1)], capacity={"small": 2})
    for i in range(3):
        d.add(f"a{i}")
    for seconds, who, action in steps:
        d.run_for(timedelta(seconds=seconds))
        _consistent(d)
        _action(d, f"a{who}", action)
        _consistent(d)
    # Bounded: the model's capacity backoff overflows after about 40 retries (see the report).
    d.run_for(timedelta(hours=6))
    _consistent(d)
    assert not d.refused_reports, "\n".join(d.history)
