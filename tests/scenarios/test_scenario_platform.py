"""The platform's parts on their own and together: the simulated cluster, the inbox, the
reconcile loop's single flight, missing adapters, a simulated fleet, and a property that the
Recif status always agrees with the cluster once the platform is idle."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scenario_helpers import T0

from agentfsm import Actor, Event, InvalidInput
from agentfsm.billing import InMemoryLedger, PriceTable
from agentfsm.effects import (
    AgentDeployed,
    CreateConfigMap,
    CreateDeployment,
    Emit,
    ProvisionHost,
    RecordEvents,
    ScaleDeployment,
)
from agentfsm.hosts import EventSink, SimulatedHost
from agentfsm.models import RECIF, AlfeAgent, RecifAgent, RecifSpec
from agentfsm.platform import EventInbox, Platform, SimulatedCluster
from agentfsm.recif import Fault, ObservedState
from agentfsm.runtime import PARKED, ManualClock, PermanentError, SQLiteStore, replay_agent

pytestmark = pytest.mark.timeout(120)


# -- the simulated cluster --------------------------------------------------------------------


def test_the_cluster_performs_kubernetes_effects_and_nothing_else() -> None:
    cluster = SimulatedCluster()
    changed: list[str] = []
    cluster.subscribe(changed.append)
    assert cluster("a", CreateDeployment("img:1", 2), "k1") == ()
    assert cluster.observe("a").replicas == 2
    assert changed == ["a"]
    with pytest.raises(PermanentError, match="ProvisionHost is not Kubernetes work"):
        cluster("a", ProvisionHost("small", 1), "k2")
    with pytest.raises(PermanentError, match="has no Deployment"):
        cluster("b", ScaleDeployment(3), "k3")
    assert cluster.observe("b") == ObservedState()


def test_an_event_log_entry_redelivered_under_its_key_is_logged_once() -> None:
    cluster = SimulatedCluster()
    cluster("a", RecordEvents("CrashLoopBackOff", "model not found"), "k1")
    cluster("a", RecordEvents("CrashLoopBackOff", "model not found"), "k1")
    cluster("a", RecordEvents("ImagePullBackOff"), "k2")
    assert [e.reason for e in cluster.events("a")] == ["CrashLoopBackOff", "ImagePullBackOff"]


def test_faults_strike_one_agent_or_all_and_stop_when_removed() -> None:
    cluster = SimulatedCluster()
    for agent in ("a", "b"):
        cluster.apply(agent, [CreateConfigMap({}), CreateDeployment("img:bad", 1)])
    mine = Fault("ImagePullBackOff", image="img:bad")
    cluster.add_fault(mine, agent_id="a")
    assert cluster.observe("a").waiting_reason == "ImagePullBackOff"
    assert cluster.observe("b").waiting_reason is None
    everyone = Fault("CrashLoopBackOff", image="img:bad")
    cluster.add_fault(everyone)
    assert cluster.observe("b").waiting_reason == "CrashLoopBackOff"
    assert cluster.faults("a") == [mine, everyone]
    assert cluster.remove_fault(agent_id="a") == 1
    assert cluster.remove_fault(everyone) == 1
    assert cluster.observe("a").ready_replicas == cluster.observe("b").ready_replicas == 1


def test_a_fault_must_be_a_fault() -> None:
    with pytest.raises(InvalidInput, match=r"agentfsm\.recif\.Fault"):
        SimulatedCluster().add_fault("CrashLoopBackOff")  # type: ignore[arg-type]


# -- the inbox --------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=6))
def test_the_inbox_keeps_every_report_in_order_with_unique_ids(counts: list[int]) -> None:
    inbox = EventInbox()
    sent: dict[str, list[int]] = {}

    def report(thread: int, n: int) -> None:
        for i in range(n):
            inbox(f"a{thread}", Event("connected", Actor.SYSTEM, {"i": i}, id="same-id"))

    threads = [threading.Thread(target=report, args=(t, n)) for t, n in enumerate(counts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = inbox.take(limit=5)
    inbox.put_back(taken)
    got = inbox.take()
    for agent, event in got:
        sent.setdefault(agent, []).append(event.payload["i"])
    assert sent == {f"a{t}": list(range(n)) for t, n in enumerate(counts) if n}
    assert len({e.id for _, e in got}) == len(got) == sum(counts) == inbox.received
    assert len(inbox) == 0


# -- the reconcile loop ------------------------------------------------------------------------


class SlowCluster(SimulatedCluster):
    """A cluster whose reads take a while, and which counts passes running at once."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = 0
        self.most = 0
        self.count_lock = threading.Lock()

    def observe(self, agent_id: str) -> ObservedState:
        with self.count_lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(0.05)
        try:
            return super().observe(agent_id)
        finally:
            with self.count_lock:
                self.inside -= 1


def test_one_agent_is_never_reconciled_twice_at_once() -> None:
    cluster = SlowCluster()
    platform = Platform(SQLiteStore(), clock=ManualClock(T0), cluster=cluster)
    platform.create_agent("r1", "recif", RecifAgent("r-one"))
    platform.send("r1", "deploy")
    record = platform.get("r1")
    reconciler = platform.reconciler
    assert reconciler is not None
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(reconciler.reconcile(record)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cluster.most == 1
    assert sum(r is not None for r in results) >= 1
    assert None in results  # the others found it busy and skipped it
    platform.close()


# -- missing adapters and a simulated fleet --------------------------------------------------


def test_work_for_an_adapter_that_was_not_given_is_parked_with_a_reason() -> None:
    store = SQLiteStore()
    platform = Platform(store, clock=ManualClock(T0))
    platform.create_agent("a1", "alfe", AlfeAgent("a1", "bot"))
    platform.create_agent("r1", "recif", RecifAgent("r-one"))
    platform.send("r1", "deploy")
    report = platform.run_until_idle()
    assert report.parked == 5  # ProvisionHost, IssueCredentials and three Kubernetes objects
    errors = [item.last_error or "" for item in store.outbox(state=PARKED)]
    assert any("needs a host adapter" in e for e in errors)
    assert any("needs a cluster" in e for e in errors)
    assert platform.status("a1") == "provisioning"
    assert platform.status("r1") == "Pending"  # nothing reconciles it without a cluster


def test_a_simulated_fleet_comes_up_and_goes_away(tmp_path: Any) -> None:
    clock = ManualClock(T0)

    def host(sink: EventSink) -> SimulatedHost:
        return SimulatedHost(clock.now, sink, seed=7)

    ledger = InMemoryLedger(PriceTable({"small": 1}))
    ledger.top_up("t", 1_000, T0)
    with Platform(SQLiteStore(tmp_path / "fleet.db"), clock=clock, host=host, ledger=ledger) as p:
        ids = [f"ag-{n}" for n in range(6)]
        for agent in ids:
            p.create_agent(agent, "alfe", AlfeAgent(agent, agent.upper()))
        for _ in range(40):  # 10 s steps: simulated provisioning and boot take up to 130 s
            p.run_until_idle()
            if all(p.status(a) == "running" for a in ids):
                break
            clock.advance(timedelta(seconds=10))
        assert {p.status(a) for a in ids} == {"running"}
        for agent in ids:
            assert p.send(agent, "delete").accepted
        p.run_until_idle()
        assert {p.status(a) for a in ids} == {"deleted"}
        assert ledger.balance() < 1_000  # the hours they ran were charged
        assert p.store.outbox(state=PARKED) == []


# -- a property: once idle, a Recif agent's status agrees with its cluster ----------------------


class FakeReleases:
    """Counts the releases and tombstones it is asked for (no repository)."""

    def __init__(self) -> None:
        self.keys: dict[str, str] = {}

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        assert isinstance(effect, Emit)
        self.keys[key] = type(effect.event).__name__
        return ()


CONFIGS = [{"model": "a"}, {"model": "b"}, {"model": "bad"}]
IMAGES = ["img:1", "img:2", "img:broken"]
actions = st.lists(
    st.one_of(
        st.tuples(st.just("update_config"), st.sampled_from(CONFIGS)),
        st.tuples(st.just("update_image"), st.sampled_from(IMAGES)),
        st.tuples(st.just("scale"), st.integers(min_value=1, max_value=3)),
        st.tuples(st.sampled_from(["stop", "restart", "heal", "wait"]), st.none()),
        st.tuples(st.just("break"), st.sampled_from(["config", "image"])),
    ),
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions, st.booleans())
def test_once_idle_the_recif_status_agrees_with_the_cluster(
    script: list[tuple[str, Any]], delete_at_end: bool
) -> None:
    clock = ManualClock(T0)
    cluster = SimulatedCluster()
    releases = FakeReleases()
    platform = Platform(SQLiteStore(), clock=clock, cluster=cluster, releases=releases)
    platform.create_agent("r1", "recif", RecifAgent("r-one", RecifSpec(image="img:1")))
    platform.send("r1", "deploy")
    platform.run_until_idle()
    for kind, arg in script:
        if kind == "update_config":
            platform.send("r1", "update_config", {"config": arg})
        elif kind == "update_image":
            platform.send("r1", "update_config", {"image": arg})
        elif kind == "scale":
            platform.send("r1", "scale", {"replicas": arg})
        elif kind in ("stop", "restart"):
            platform.send("r1", kind)
        elif kind == "break":
            fault = (
                Fault("CrashLoopBackOff", config={"model": "bad"})
                if arg == "config"
                else Fault("ImagePullBackOff", image="img:broken")
            )
            cluster.add_fault(fault, agent_id="r1")
        elif kind == "heal":
            cluster.remove_fault(agent_id="r1")
        else:
            clock.advance(timedelta(seconds=30))
        platform.run_until_idle()
        _agrees(platform, cluster)
    if delete_at_end:
        platform.send("r1", "delete")
        platform.run_until_idle()
        assert cluster.observe("r1").nothing_left
        assert list(releases.keys.values())[-1] == "AgentDeleted"
    _agrees(platform, cluster)
    history = platform.history("r1")
    assert replay_agent(RECIF, history) == platform.get("r1").snapshot
    assert platform.store.outbox(state=PARKED) == []
    # One release per accepted release-making step, and never two for one outbox item.
    made = [r for r in history if r.accepted and r.event in ("update_config", "delete")]
    deployed = sum(
        1 for r in history if r.accepted and r.event == "pods_ready" and r.from_status == "Pending"
    )
    assert len(releases.keys) == len(made) + deployed
    assert sum(1 for v in releases.keys.values() if v == "AgentDeployed") == deployed
    platform.close()


def _agrees(platform: Platform, cluster: SimulatedCluster) -> None:
    status = platform.status("r1")
    seen = cluster.observe("r1")
    data: RecifAgent = platform.get("r1").snapshot.data
    if status == "Running":
        assert seen.waiting_reason is None
        assert seen.ready_replicas == data.spec.replicas == data.ready_replicas
    elif status == "Failed":
        assert seen.waiting_reason is not None
        assert seen.ready_replicas == 0
    elif status == "Terminated":
        assert seen.replicas == seen.ready_replicas == 0
    elif status == "deleted":
        assert seen.nothing_left
    else:
        pytest.fail(f"an idle platform left the agent {status!r}")
    assert seen.image == data.spec.image or status == "deleted"


def test_a_release_domain_event_reaches_the_release_handler_as_an_emit() -> None:
    releases = FakeReleases()
    platform = Platform(SQLiteStore(), clock=ManualClock(T0), cluster=SimulatedCluster(),
                        releases=releases)  # fmt: skip
    platform.create_agent("r1", "recif", RecifAgent("r-one"))
    platform.send("r1", "deploy")
    platform.run_until_idle()
    assert list(releases.keys.values()) == [AgentDeployed.__name__]
