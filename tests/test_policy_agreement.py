"""The same question gets the same answer: ``offered``, ``decide`` and a ``Controller`` read one
policy, the machine's, so a dashboard never shows an action unavailable that ``handle`` accepts
(or the other way round), whatever the policy.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentfsm import (
    Actor,
    Context,
    Event,
    Machine,
    Offer,
    Policy,
    Refusal,
    Snapshot,
    Step,
    decide,
    offered,
)
from agentfsm.models import ALFE, ALFE_SELF_HOSTED, RECIF, AlfeAgent, RecifAgent
from agentfsm.render import sample_snapshot
from agentfsm.runtime import Controller, ManualClock, SQLiteStore
from agentfsm.testing import enabled_events

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
MACHINES = (ALFE, ALFE_SELF_HOSTED, RECIF)

durations = st.sampled_from(
    [timedelta(seconds=1), timedelta(minutes=2), timedelta(minutes=10), timedelta(hours=3)]
) | st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=3))
policies = st.builds(
    Policy,
    stuck_after=durations,
    boot_timeout=durations,
    recovery_timeout=durations,
    grace_period=durations,
    capacity_retry_base=durations,
    capacity_retry_max=durations,
    requeue_after=durations,
)


def data_for(machine: Machine, name: str = "support") -> Any:
    return RecifAgent(name) if machine is RECIF else AlfeAgent(f"id-{name}", name)


def satisfying(action: str, snapshot: Snapshot) -> dict[str, Any]:
    """A payload that meets every input-reading guard of ``action``, as a person would type."""
    if action == "recreate":
        return {"confirmation": snapshot.data.name}
    if action == "scale":
        return {"replicas": 3}
    if action in ("update_config", "start_canary"):
        return {"image": "registry.example/agent:2"}
    return {}


def waits(policy: Policy) -> st.SearchStrategy[timedelta]:
    """Waits around every limit the guards compare with, exactly at it and just past it."""
    limits = [policy.stuck_after, policy.boot_timeout, policy.recovery_timeout]
    near = [limit + delta for limit in limits for delta in (-timedelta(microseconds=1),
            timedelta(0), timedelta(microseconds=1))]  # fmt: skip
    return st.sampled_from([timedelta(0), *near]) | st.timedeltas(
        min_value=timedelta(0), max_value=timedelta(days=4)
    )


@st.composite
def any_snapshot(draw: st.DrawFn, machine: Machine, status: str) -> Snapshot:
    """An agent of ``machine`` in ``status``, with a record that fits it (a Recif agent
    sometimes runs a canary)."""
    snapshot = sample_snapshot(machine, status)
    if machine is RECIF and draw(st.booleans()):
        data = attrs.evolve(snapshot.data, canary="registry.example/agent:canary")
        snapshot = snapshot._replace(data=data)
    return snapshot


def pick(draw: Any, actions: list[str]) -> str | None:
    """An action, rarely Delete (once deleted, an agent has nothing left to offer); ``None``
    when only Delete is there and it is not its turn."""
    if draw(st.integers(0, 9)) == 0:
        return str(draw(st.sampled_from(actions)))
    kept = [a for a in actions if a != "delete"]
    return str(draw(st.sampled_from(kept))) if kept else None


def agree(offer: Offer, result: Step | Refusal) -> None:
    if offer.offered:
        assert isinstance(result, Step), (offer, result)
    else:
        assert isinstance(result, Refusal), (offer, result)
        assert offer.refusal == result, (offer.refusal, result)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MACHINES), policies, st.data())
def test_offered_and_decide_agree_under_any_policy(
    machine: Machine, policy: Policy, data: st.DataObject
) -> None:
    ruled = machine.with_policy(policy)
    for status in machine.spec.state_names:
        snapshot = data.draw(any_snapshot(machine, status))
        now = snapshot.since + data.draw(waits(policy))
        offers = offered(ruled, snapshot, Context(now))
        # The same policy given as a context override instead gives the same answers.
        assert offered(machine, snapshot, Context(now, policy)) == offers
        for offer in offers:
            event = Event(offer.event, Actor.USER, satisfying(offer.event, snapshot))
            result = decide(ruled, snapshot, event, Context(now))
            agree(offer, result)
            assert decide(machine, snapshot, event, Context(now, policy)) == result


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from((ALFE, ALFE, ALFE_SELF_HOSTED, RECIF)), policies, st.data())
def test_a_controller_on_sqlite_accepts_exactly_what_offered_offers(
    machine: Machine, policy: Policy, data: st.DataObject
) -> None:
    ruled = machine.with_policy(policy)
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder) / "agents.db")
        clock = ManualClock(T0)
        controller = Controller({ruled.name: ruled}, store, clock)
        controller.create("a1", ruled.name, data_for(machine))
        try:
            for _ in range(data.draw(st.integers(3, 16))):
                snapshot = controller.get("a1").snapshot
                if data.draw(st.booleans()):  # the platform moves the agent on
                    platform = [e for e in ruled.spec.events if Actor.USER not in e.actors]
                    if any(snapshot.status in ruled.events[e.name].by_status for e in platform):
                        event = data.draw(enabled_events(ruled, snapshot))
                        if event.actor is not Actor.USER:
                            controller.handle("a1", event)
                    continue
                clock.advance(data.draw(waits(policy)))
                snapshot = controller.get("a1").snapshot
                offers = {o.event: o for o in offered(ruled, snapshot, Context(clock.now()))}
                # Every action not offered is refused by handle, with the same refusal, and
                # changes nothing; then one offered action is taken and must be accepted.
                for offer in offers.values():
                    if not offer.offered:
                        payload = satisfying(offer.event, snapshot)
                        refused = controller.handle("a1", Event(offer.event, Actor.USER, payload))
                        agree(offer, refused)
                        assert controller.get("a1").snapshot == snapshot
                available = sorted(a for a, o in offers.items() if o.offered)
                if not available:
                    continue
                action = pick(data.draw, available)
                if action is None:
                    continue
                payload = satisfying(action, snapshot)
                result = controller.handle("a1", Event(action, Actor.USER, payload))
                agree(offers[action], result)
                assert isinstance(result, Step)
                assert controller.get("a1").snapshot == result.snapshot
        finally:
            store.close()


def test_regression_offered_ignored_the_policy_the_controller_was_built_with(
    tmp_path: Path,
) -> None:
    quick = ALFE.with_policy(Policy(stuck_after=timedelta(minutes=2)))
    store = SQLiteStore(tmp_path / "agents.db")
    clock = ManualClock(T0)
    controller = Controller({"alfe": quick}, store, clock)
    controller.create("a1", "alfe", AlfeAgent("a1", "support"))
    for name in ("provision", "host_up"):
        assert isinstance(controller.handle("a1", Event(name, Actor.SYSTEM)), Step)
    clock.advance(timedelta(minutes=3))  # stuck under the 2-minute policy, not under 10
    snapshot = controller.get("a1").snapshot
    assert snapshot.status == "starting"
    # The dashboard asks as the docs show it: Context(now), no policy of its own.
    start = next(o for o in offered(quick, snapshot, Context(clock.now())) if o.event == "start")
    assert start.offered
    assert isinstance(controller.handle("a1", Event("start")), Step)
    store.close()


def test_a_controller_and_a_platform_take_no_policy_of_their_own(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "agents.db")
    with pytest.raises(TypeError, match="policy"):
        Controller({"alfe": ALFE}, store, policy=Policy())  # type: ignore[call-arg]
    from agentfsm.platform import Platform

    with pytest.raises(TypeError, match="policy"):
        Platform(store, policy=Policy())  # type: ignore[call-arg]
    store.close()


def test_with_policy_keeps_the_machine_and_changes_only_the_policy() -> None:
    policy = Policy(stuck_after=timedelta(minutes=3))
    ruled = ALFE.with_policy(policy)
    assert ruled.policy == policy
    assert ALFE.policy == Policy()
    assert ruled.spec is ALFE.spec
    assert ruled.record is ALFE.record
    assert ALFE.with_policy(Policy(stuck_after=timedelta(minutes=3))) is ruled
    assert ruled.with_policy(ALFE.policy) is ALFE
    with pytest.raises(Exception, match="Policy"):
        ALFE.with_policy("fast")  # type: ignore[arg-type]
