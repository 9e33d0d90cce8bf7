"""The Recif release pipeline: the real RECIF machine's domain events into a real repository."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from release_helpers import T0, Git

from agentfsm import Actor, Context, Event, Snapshot, fire
from agentfsm.effects import AgentDeleted, AgentDeployed, Emit, ScaleDeployment
from agentfsm.models import RECIF, RecifAgent
from agentfsm.releases import (
    GitReleaseStore,
    ReleaseEffectHandler,
    ReleaseInfo,
    ReleaseStoreBusy,
)
from agentfsm.runtime import PermanentError, TemporaryError

U, S = Actor.USER, Actor.SYSTEM


def test_the_recif_story_makes_v1_v2_v3_and_a_tombstone(store: GitReleaseStore, git: Git) -> None:
    handler = ReleaseEffectHandler(store)
    snapshot = Snapshot("created", 0, T0, RecifAgent(slug="support-agent"))
    story = [
        Event("deploy", U),
        Event("pods_ready", S, {"ready_replicas": 1}),  # AgentDeployed: v1
        Event("update_config", U, {"config": {"model": "claude"}}),  # AgentConfigChanged: v2
        Event("pods_unhealthy", S, {"reason": "CrashLoopBackOff"}),  # Failed
        Event("pods_ready", S, {"ready_replicas": 1}),  # recovered: no release
        Event("stop", U),
        Event("restart", U),
        Event("pods_ready", S, {"ready_replicas": 1}),  # AgentDeployed again: v3
        Event("delete", U),  # AgentDeleted: tombstone
    ]
    emitted: list[str] = []
    for minute, event in enumerate(story):
        step = fire(RECIF, snapshot, event, Context(T0 + timedelta(minutes=minute)))
        snapshot = step.snapshot
        for n, effect in enumerate(step.effects):
            if not handler.handles(effect):
                continue
            emitted.append(type(effect.event).__name__)
            key = f"ag_1:{snapshot.version}:{n}"  # what an outbox keys the item by
            assert handler("ag_1", effect, key) == ()
            first = handler.last
            assert handler("ag_1", effect, key) == ()  # delivered twice
            assert handler.last == first
    assert snapshot.status == "deleted"
    assert emitted == [
        "AgentDeployed",
        "AgentConfigChanged",
        "AgentDeployed",
        "AgentDeleted",
    ]
    history = store.history("support-agent")
    assert [h.version for h in history] == [1, 2, 3, None]
    assert [h.document.changelog for h in history] == [
        "Initial deploy of ghcr.io/recif/corail:latest",
        "Configuration changed",
        "Redeployed ghcr.io/recif/corail:latest",
        "Agent deleted from platform",
    ]
    assert history[1].release.config == {"model": "claude"}
    assert history[2].release.config == {"model": "claude"}  # the restart released the fix
    # four commits, not eight; v1-v3 still on the branch beside the tombstone
    assert len(git("log", "--format=%H", "main").split()) == 4
    assert git("ls-tree", "--name-only", "main", "agents/support-agent/releases/").split() == [
        f"agents/support-agent/releases/v{n}.yaml" for n in (1, 2, 3)
    ]
    tombstone = yaml.safe_load(git("show", "main:agents/support-agent/current.yaml"))
    assert tombstone["status"] == "deleted"
    assert tombstone["deleted_at"] == "2026-04-03T10:08:00Z"
    git("fsck", "--strict", "--no-dangling")


def test_a_canary_promotion_makes_the_next_release(store: GitReleaseStore) -> None:
    handler = ReleaseEffectHandler(store)
    snapshot = Snapshot("created", 0, T0, RecifAgent(slug="canary-agent"))
    for event in (
        Event("deploy", U),
        Event("pods_ready", S, {"ready_replicas": 2}),
        Event("start_canary", U, {"image": "corail:2.0"}),
        Event("promote_canary", U),
    ):
        step = fire(RECIF, snapshot, event, Context(T0))
        snapshot = step.snapshot
        for n, effect in enumerate(step.effects):
            if handler.handles(effect):
                handler("ag_2", effect, f"ag_2:{snapshot.version}:{n}")
    history = store.history("canary-agent")
    assert [(h.version, h.release.event, h.release.image) for h in history] == [
        (1, "AgentDeployed", "ghcr.io/recif/corail:latest"),
        (2, "AgentCanaryPromoted", "corail:2.0"),
    ]


def test_an_effect_it_does_not_perform_is_permanent(store: GitReleaseStore) -> None:
    handler = ReleaseEffectHandler(store)
    with pytest.raises(PermanentError, match="ScaleDeployment"):
        handler("ag_1", ScaleDeployment(0), "k")


def test_a_bad_slug_is_permanent_and_writes_nothing(store: GitReleaseStore) -> None:
    handler = ReleaseEffectHandler(store)
    effect = Emit(AgentDeployed("../../etc", T0, "img", 1, {}))
    with pytest.raises(PermanentError, match="DNS-1123"):
        handler("ag_1", effect, "k")
    assert store.tip() is None


def test_a_release_after_the_tombstone_is_permanent(store: GitReleaseStore) -> None:
    handler = ReleaseEffectHandler(store)
    handler("ag_1", Emit(AgentDeleted("gone", T0)), "k1")
    with pytest.raises(PermanentError, match="was deleted"):
        handler("ag_1", Emit(AgentDeployed("gone", T0, "img", 1, {})), "k2")


class FaultyBusyStore(GitReleaseStore):
    """Fault injection: every write finds the branch busy."""

    def record_release(self, slug: str, **kwargs: object) -> ReleaseInfo:  # type: ignore[override]
        raise ReleaseStoreBusy("the branch kept moving")


def test_a_busy_store_is_temporary_with_a_delay(repo_path: Path) -> None:
    handler = ReleaseEffectHandler(
        FaultyBusyStore(repo_path, fsync=False), busy_delay=timedelta(seconds=3)
    )
    with pytest.raises(TemporaryError, match="kept moving") as caught:
        handler("ag_1", Emit(AgentDeployed("busy", T0, "img", 1, {})), "k")
    assert caught.value.delay == timedelta(seconds=3)


def test_it_is_an_effect_handler_the_runtime_can_route_to(store: GitReleaseStore) -> None:
    from agentfsm.runtime import EffectHandler

    handler: EffectHandler = ReleaseEffectHandler(store)
    assert handler("ag_1", Emit(AgentDeployed("typed", T0, "img", 1, {})), "k") == ()


def test_regression_a_bare_domain_event_from_the_outbox_is_released(
    store: GitReleaseStore,
) -> None:
    # The runtime's outbox stores domain events without their Emit wrapper; the handler used to
    # park every one of them as "not an effect it performs".
    handler = ReleaseEffectHandler(store)
    handler("ag_1", AgentDeployed("bare", T0, "img", 1, {}), "k1")
    handler("ag_1", AgentDeleted("bare", T0), "k2")
    assert [r.version for r in store.history("bare")] == [1, None]  # v1, then the tombstone
