"""Migration scenarios on both stores: a split chosen from the snapshot with its recovery
deadlines following the agents, and Recif's new required config entry reaching the next
release."""

from __future__ import annotations

from datetime import timedelta

from runtime_support import T0, StoreSpec

from agentfsm import Actor, Event, Step
from agentfsm.effects import AgentDeployed
from agentfsm.migrate import apply_migration, check_migration, plan_migration
from agentfsm.migrate.examples import RECIF_V1_TO_V2, RECIF_V2, STRATEGY_DEFAULT
from agentfsm.models import RECIF, RecifAgent
from agentfsm.releases import dump_document
from agentfsm.releases._documents import build_release
from agentfsm.runtime import (
    DEFAULT_CODEC,
    PENDING,
    Controller,
    ManualClock,
    PostgresStore,
    SQLiteStore,
    Store,
    TimerWorker,
    replay_differences,
)
from tests.migrations import LINK_V1, LINK_V2, SPLIT, Link

S, T, U = Actor.SYSTEM, Actor.TIMER, Actor.USER


def _open(spec: StoreSpec) -> Store:
    codec = DEFAULT_CODEC.with_types(Link)
    if spec.kind == "sqlite":
        return SQLiteStore(spec.target, codec=codec)
    return PostgresStore(spec.target, schema=spec.schema, codec=codec, max_size=4)


def test_a_split_sends_each_failing_agent_where_its_cause_says(store_spec: StoreSpec) -> None:
    store = _open(store_spec)
    clock = ManualClock(T0)
    v1 = Controller(LINK_V1, store, clock)
    lost = [f"lost-{i}" for i in range(20)]
    slow = [f"slow-{i}" for i in range(20)]
    healthy = [f"ok-{i}" for i in range(5)]
    v1.create_many([(a, "link", Link()) for a in (*lost, *slow, *healthy)])
    for a in (*lost, *healthy):
        v1.handle(a, Event("connected", S))
    for a in lost:
        v1.handle(a, Event("connection_lost", S))
    clock.advance(timedelta(minutes=11))
    for a in slow:
        assert isinstance(v1.handle(a, Event("boot_timeout", T)), Step)
    deadlines = {t.agent_id: t.due_at for t in store.timers() if t.event == "recovery_exhausted"}
    assert set(deadlines) == {*lost, *slow}
    assert check_migration(SPLIT).ok

    plan = plan_migration(store, SPLIT)
    assert {(r.from_status, r.to_status, r.rule, r.agents) for r in plan.rows} == {
        ("failing", "reconnecting", "by cause", 20),
        ("failing", "recovering", "by cause", 20),
        ("running", "running", "same name", 5),
    }
    assert apply_migration(store, SPLIT, batch_size=8).remaining == 0
    assert {store.load(a).snapshot.status for a in lost} == {"reconnecting"}
    assert {store.load(a).snapshot.status for a in slow} == {"recovering"}
    # The recovery deadlines are still pending, at the same times, for the new statuses...
    after = {t.agent_id: t.due_at for t in store.timers() if t.event == "recovery_exhausted"}
    assert after == deadlines
    # ...and version 2 delivers them there.
    clock.advance(timedelta(minutes=11))
    v2 = Controller(LINK_V2, store, clock)
    while TimerWorker(v2).run_once().claimed:
        pass
    assert {store.load(a).snapshot.status for a in (*lost, *slow)} == {"failed"}
    assert {store.load(a).snapshot.status for a in healthy} == {"running"}
    assert replay_differences(store, [LINK_V1, LINK_V2]) == []
    store.close()


def test_recif_agents_get_the_required_config_default_and_release_it(
    store_spec: StoreSpec,
) -> None:
    store = _open(store_spec)
    clock = ManualClock(T0)
    v1 = Controller(RECIF, store, clock)
    slugs = [f"agent-{i}" for i in range(12)]
    v1.create_many([(s, "recif", RecifAgent(s)) for s in slugs])
    for s in slugs[:8]:
        v1.handle(s, Event("deploy", U))
    # One agent already says which strategy it uses: the default does not overwrite it.
    v1.handle(slugs[0], Event("update_config", U, {"config": {"strategy": "plan"}}))
    report = check_migration(RECIF_V1_TO_V2)
    assert report.ok, report.format()
    plan = plan_migration(store, RECIF_V1_TO_V2)
    assert plan.data == ("add config strategy", (("strategy", "'react'"),))
    assert apply_migration(store, RECIF_V1_TO_V2).remaining == 0
    configs = {s: store.load(s).snapshot.data.spec.config for s in slugs}
    assert configs[slugs[0]]["strategy"] == "plan"
    assert {configs[s]["strategy"] for s in slugs[1:]} == {STRATEGY_DEFAULT}
    # The next release: pods become ready under v2, and AgentDeployed carries the config.
    v2 = Controller(RECIF_V2, store, clock)
    payload = {"ready_replicas": 1, "endpoint": "http://agent-3:8000"}
    assert isinstance(v2.handle(slugs[3], Event("pods_ready", S, payload)), Step)
    deployed = [
        i.payload for i in store.outbox(state=PENDING, agent_id=slugs[3])
        if isinstance(i.payload, AgentDeployed)
    ]  # fmt: skip
    assert deployed, "the release is due"
    event = deployed[-1]
    assert event.config["strategy"] == STRATEGY_DEFAULT
    doc = build_release(
        event.slug, version=1, event="AgentDeployed", image=event.image,
        replicas=event.replicas, config=event.config, changelog=None, at=event.at,
    )  # fmt: skip
    assert "strategy: react" in dump_document(doc)
    # v2 refuses a configuration without the entry it requires.
    refused = v2.handle(slugs[4], Event("update_config", U, {"config": {"model": "x"}}))
    assert not isinstance(refused, Step)
    assert replay_differences(store, [RECIF, RECIF_V2]) == []
    store.close()
