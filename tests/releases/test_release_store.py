"""GitReleaseStore on a real repository, checked with the git command line."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pygit2
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from release_helpers import T0, Git, deploy, run_git

from agentfsm import InvalidInput
from agentfsm.releases import (
    AgentRelease,
    AgentTombstone,
    GitReleaseStore,
    ReleaseConflict,
    ReleaseNotFound,
    ReleaseStore,
    ReleaseStoreError,
    load_document,
)


def _commits(git: Git) -> list[str]:
    return git("log", "--format=%H", "main").split()


def test_it_is_a_release_store(store: GitReleaseStore) -> None:
    assert isinstance(store, ReleaseStore)


def test_the_first_release_is_v1_and_current(store: GitReleaseStore, git: Git) -> None:
    info = store.record_release(
        "support-agent",
        event="AgentDeployed",
        image="ghcr.io/recif/corail:1.0",
        replicas=2,
        config={"model": "gpt-4o"},
        at=T0,
        key="deploy-1",
    )
    assert info.version == 1
    assert git("rev-parse", "main").strip() == info.commit
    v1 = yaml.safe_load(git("show", "main:agents/support-agent/releases/v1.yaml"))
    assert v1["metadata"] == {"name": "support-agent"}
    assert v1["version"] == 1
    assert v1["image"] == "ghcr.io/recif/corail:1.0"
    assert v1["event"] == "AgentDeployed"
    assert git("show", "main:agents/support-agent/current.yaml") == git(
        "show", "main:agents/support-agent/releases/v1.yaml"
    )
    # one commit, which adds exactly these two files
    assert len(_commits(git)) == 1
    files = git("show", "--name-status", "--format=", "main").split("\n")
    assert sorted(f for f in files if f) == [
        "A\tagents/support-agent/current.yaml",
        "A\tagents/support-agent/releases/v1.yaml",
    ]


def test_each_release_adds_the_next_version_and_never_rewrites_an_old_one(
    store: GitReleaseStore, git: Git
) -> None:
    deploy(store, key="a")
    v1_before = git("show", "main:agents/support-agent/releases/v1.yaml")
    info = store.record_release(
        "support-agent",
        event="AgentConfigChanged",
        image="ghcr.io/recif/corail:1.0",
        replicas=3,
        config={"model": "claude"},
        at=T0 + timedelta(hours=1),
        key="b",
    )
    assert info.version == 2
    assert git("show", "main:agents/support-agent/releases/v1.yaml") == v1_before
    current = yaml.safe_load(git("show", "main:agents/support-agent/current.yaml"))
    assert current["version"] == 2
    assert current["config"] == {"model": "claude"}
    changed = git("show", "--name-status", "--format=", "main").split()
    assert changed == [
        "M",
        "agents/support-agent/current.yaml",
        "A",
        "agents/support-agent/releases/v2.yaml",
    ]
    # every commit of the branch leaves every earlier vN.yaml as it was
    log = git("log", "--format=", "--name-status", "main", "--", "agents/support-agent/releases")
    assert "M\t" not in log
    assert "D\t" not in log


def test_the_same_key_twice_makes_one_release(store: GitReleaseStore, git: Git) -> None:
    first = deploy(store, key="outbox-7")
    again = store.record_release(
        "support-agent",
        event="AgentDeployed",
        image="ghcr.io/recif/corail:1.0",
        replicas=2,
        config={"model": "gpt-4o"},
        at=T0,
        key="outbox-7",
    )
    assert again.version == first == 1
    assert len(_commits(git)) == 1
    assert "Idempotency-Key: outbox-7" in git("log", "-1", "--format=%B", "main")


def test_a_key_is_remembered_by_a_store_opened_later(
    store: GitReleaseStore, repo_path: Path
) -> None:
    deploy(store, key="k")
    other = GitReleaseStore(repo_path, fsync=False, gc_every=None)
    assert deploy(other, key="k") == 1
    assert [h.version for h in other.history("support-agent")] == [1]


def test_a_key_used_for_another_agent_is_a_conflict(store: GitReleaseStore) -> None:
    deploy(store, "alpha", key="shared")
    with pytest.raises(ReleaseConflict, match="already used for the agent 'alpha'"):
        deploy(store, "beta", key="shared")
    assert store.current("beta") is None


def test_deletion_writes_the_tombstone_and_keeps_every_release(
    store: GitReleaseStore, git: Git
) -> None:
    deploy(store, key="a")
    deploy(store, key="b")
    info = store.record_deletion("support-agent", at=T0 + timedelta(days=1), key="c")
    assert info.is_tombstone
    assert info.version is None
    current = git("show", "main:agents/support-agent/current.yaml")
    assert yaml.safe_load(current) == {
        "apiVersion": "agents.recif.dev/v1",
        "kind": "AgentRelease",
        "metadata": {"name": "support-agent"},
        "status": "deleted",
        "deleted_at": "2026-04-04T10:00:00Z",
        "changelog": "Agent deleted from platform",
    }
    listed = git("ls-tree", "--name-only", "main", "agents/support-agent/releases/").split()
    assert listed == [
        "agents/support-agent/releases/v1.yaml",
        "agents/support-agent/releases/v2.yaml",
    ]
    history = store.history("support-agent")
    assert [h.version for h in history] == [1, 2, None]
    assert isinstance(history[-1].document, AgentTombstone)


def test_deleting_twice_writes_one_tombstone(store: GitReleaseStore, git: Git) -> None:
    deploy(store, key="a")
    first = store.record_deletion("support-agent", at=T0, key="del-1")
    again = store.record_deletion("support-agent", at=T0 + timedelta(minutes=5), key="del-2")
    assert again.commit == first.commit
    assert len(_commits(git)) == 2


def test_a_deleted_agent_gets_no_new_release(store: GitReleaseStore, git: Git) -> None:
    deploy(store, key="a")
    store.record_deletion("support-agent", at=T0, key="del")
    with pytest.raises(ReleaseConflict, match="was deleted"):
        deploy(store, key="after")
    assert len(_commits(git)) == 2


def test_an_agent_deleted_before_any_release_gets_a_tombstone(store: GitReleaseStore) -> None:
    info = store.record_deletion("never-deployed", at=T0, key="d")
    assert store.history("never-deployed") == [info]


def test_history_reads_back_versions_contents_authors_and_times(
    store: GitReleaseStore, git: Git
) -> None:
    for n in range(3):
        deploy(store, key=f"k{n}", image=f"img:{n}", at=T0 + timedelta(hours=n))
    history = store.history("support-agent")
    assert [h.version for h in history] == [1, 2, 3]
    assert [h.release.image for h in history] == ["img:0", "img:1", "img:2"]
    assert [h.time for h in history] == [T0 + timedelta(hours=n) for n in range(3)]
    assert {h.author for h in history} == {"Release bot <bot@example.com>"}
    assert [h.key for h in history] == ["k0", "k1", "k2"]
    # the same facts, as git tells them
    assert [h.commit for h in reversed(history)] == _commits(git)
    assert git("log", "--format=%an <%ae>|%aI", "main").split("\n")[:3] == [
        f"Release bot <bot@example.com>|{(T0 + timedelta(hours=n)).isoformat()}" for n in (2, 1, 0)
    ]


def test_current_and_release_read_back(store: GitReleaseStore) -> None:
    assert store.current("support-agent") is None
    deploy(store, key="a", image="img:1")
    deploy(store, key="b", image="img:2")
    current = store.current("support-agent")
    assert current is not None
    assert current.version == 2
    assert store.release("support-agent", 1).release.image == "img:1"
    with pytest.raises(ReleaseNotFound, match=r"no release v9 \(its releases: v1, v2\)"):
        store.release("support-agent", 9)
    with pytest.raises(ReleaseNotFound, match="its releases: none"):
        store.release("other", 1)


def test_agents_lists_every_slug(store: GitReleaseStore) -> None:
    deploy(store, "beta", key="b")
    deploy(store, "alpha", key="a")
    assert store.agents() == ["alpha", "beta"]
    assert store.history("gamma") == []


@pytest.mark.parametrize(
    "slug",
    ["../evil", "a/b", "Support", "", "-x", "x-", "a" * 64, ".git", "agents/../x", "ä"],
)
def test_a_slug_that_is_not_a_dns_label_never_reaches_a_path(
    store: GitReleaseStore, repo_path: Path, slug: str
) -> None:
    deploy(store, "ok", key="first")
    before = run_git(repo_path, "rev-parse", "main")
    with pytest.raises(InvalidInput, match="slug"):
        deploy(store, slug, key="bad")
    with pytest.raises(InvalidInput, match="slug"):
        store.record_deletion(slug, at=T0, key="bad2")
    with pytest.raises(InvalidInput, match="slug"):
        store.history(slug)
    assert run_git(repo_path, "rev-parse", "main") == before
    assert run_git(repo_path, "ls-tree", "-r", "--name-only", "main").split() == [
        "agents/ok/current.yaml",
        "agents/ok/releases/v1.yaml",
    ]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"key": ""}, "idempotency key"),
        ({"key": "two\nlines"}, "one line"),
        ({"key": "x" * 201}, "at most 200"),
        ({"event": "AgentDeleted"}, "record_deletion"),
        ({"replicas": 0}, "replicas"),
        ({"image": " "}, "image"),
        ({"at": datetime(2026, 4, 3, 10, 0)}, "timezone"),
    ],
)
def test_bad_input_is_refused_before_any_commit(
    store: GitReleaseStore, repo_path: Path, kwargs: dict[str, object], match: str
) -> None:
    args: dict[str, object] = {
        "event": "AgentDeployed",
        "image": "img",
        "replicas": 1,
        "config": {},
        "at": T0,
        "key": "k",
    }
    args.update(kwargs)
    with pytest.raises(InvalidInput, match=match):
        store.record_release("agent", **args)  # type: ignore[arg-type]
    assert store.tip() is None
    assert not (repo_path / "refs" / "heads" / "main").exists()


def test_bad_construction_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="branch"):
        GitReleaseStore(tmp_path / "r", branch="bad..name")
    with pytest.raises(InvalidInput, match="author"):
        GitReleaseStore(tmp_path / "r", author=("bot", ""))
    with pytest.raises(InvalidInput, match="gc_every"):
        GitReleaseStore(tmp_path / "r", fsync=False, gc_every=-1)
    with pytest.raises(ReleaseStoreError, match="no Git repository"):
        GitReleaseStore(tmp_path / "missing", create=False)


def test_a_non_bare_repository_is_used_without_touching_its_work_tree(tmp_path: Path) -> None:
    work = tmp_path / "state"
    run_git(tmp_path, "init", "-q", "-b", "main", str(work))
    (work / "README").write_text("state repo\n")
    run_git(work, "add", "README")
    run_git(work, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "-m", "init")
    store = GitReleaseStore(work, fsync=False, gc_every=None)
    deploy(store, key="k")
    assert run_git(work, "ls-tree", "-r", "--name-only", "main").split() == [
        "README",
        "agents/support-agent/current.yaml",
        "agents/support-agent/releases/v1.yaml",
    ]
    assert not (work / "agents").exists()  # no work tree writes
    # the hand-made first commit has no trailers: it is simply not a release
    assert [h.version for h in store.history("support-agent")] == [1]


def test_a_release_file_committed_by_hand_is_read_back_with_its_commit(
    store: GitReleaseStore, repo_path: Path
) -> None:
    deploy(store, key="k")
    repo = pygit2.Repository(str(repo_path))
    v1 = store.release("support-agent", 1).release
    v2 = v1.model_copy(update={"version": 2, "changelog": "by hand"})
    from agentfsm.releases import dump_document

    blob = repo.create_blob(dump_document(v2).encode())
    tip = repo.lookup_reference("refs/heads/main").target
    index = pygit2.Index()
    index.read_tree(repo[tip].tree)
    index.add(pygit2.IndexEntry("agents/support-agent/releases/v2.yaml", blob, 0o100644))
    sig = pygit2.Signature("Someone", "someone@example.com", int(T0.timestamp()), 0)
    hand = repo.create_commit("refs/heads/main", sig, sig, "manual", index.write_tree(repo), [tip])
    info = store.release("support-agent", 2)
    assert info.commit == str(hand)
    assert info.author == "Someone <someone@example.com>"
    assert info.key is None


def test_git_fsck_finds_nothing_wrong(store: GitReleaseStore, git: Git) -> None:
    for n in range(5):
        deploy(store, f"agent-{n % 2}", key=f"k{n}")
    store.record_deletion("agent-0", at=T0, key="d")
    git("fsck", "--strict", "--no-dangling")


def test_gc_packs_the_objects_and_the_history_still_reads(repo_path: Path, git: Git) -> None:
    store = GitReleaseStore(repo_path, fsync=False, gc_every=3)
    for n in range(6):
        deploy(store, key=f"k{n}")
    assert store.gc() is True
    counts = dict(line.split(": ") for line in git("count-objects", "-v").splitlines())
    assert int(counts["count"]) == 0
    assert int(counts["in-pack"]) > 0
    assert [h.version for h in store.history("support-agent")] == [1, 2, 3, 4, 5, 6]
    deploy(store, key="after-gc")
    assert store.current("support-agent") is not None
    git("fsck", "--strict")


def test_documents_on_the_branch_read_back_with_the_safe_loader(
    store: GitReleaseStore, git: Git
) -> None:
    deploy(store, key="a")
    doc = load_document(git("show", "main:agents/support-agent/releases/v1.yaml"))
    assert isinstance(doc, AgentRelease)
    assert doc == store.release("support-agent", 1).document


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(st.sampled_from(["alpha", "beta", "gamma"]), st.integers(0, 12)),
        min_size=1,
        max_size=25,
    )
)
def test_versions_count_distinct_keys_per_agent(
    tmp_path_factory: pytest.TempPathFactory, deliveries: list[tuple[str, int]]
) -> None:
    """Whatever the order and the redeliveries, agent X's releases are v1..vK, K its distinct
    keys, and each key's first delivery fixed its version."""
    store = GitReleaseStore(tmp_path_factory.mktemp("prop") / "r.git", fsync=False, gc_every=None)
    first_version: dict[str, int] = {}
    for slug, n in deliveries:
        key = f"{slug}-{n}"
        version = deploy(store, slug, key=key)
        assert first_version.setdefault(key, version) == version
    for slug in {s for s, _ in deliveries}:
        keys = {f"{slug}-{n}" for s, n in deliveries if s == slug}
        history = store.history(slug)
        assert [h.version for h in history] == list(range(1, len(keys) + 1))
        assert {h.key for h in history} == keys
