"""Pushing the release branch to a remote: a local bare repository, fast-forward only."""

from __future__ import annotations

from pathlib import Path

import pytest
from release_helpers import Git, deploy, run_git

from agentfsm import InvalidInput
from agentfsm.releases import GitReleaseStore, PushRejected, ReleaseStoreError


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "remote.git"
    run_git(tmp_path, "init", "-q", "--bare", "-b", "main", str(path))
    return path


def test_push_to_an_empty_remote_then_fast_forward(
    store: GitReleaseStore, remote: Path, git: Git
) -> None:
    deploy(store, key="a")
    assert store.push(remote) == store.tip()
    deploy(store, key="b")
    store.record_deletion("support-agent", at=store.history("support-agent")[0].time, key="c")
    pushed = store.push(str(remote))
    assert run_git(remote, "rev-parse", "main").strip() == pushed == store.tip()
    assert run_git(remote, "log", "--format=%H", "main") == git("log", "--format=%H", "main")
    assert "status: deleted" in run_git(remote, "show", "main:agents/support-agent/current.yaml")
    # the staging ref used to carry the objects is gone, and the remote is sound
    assert run_git(remote, "for-each-ref", "--format=%(refname)").split() == ["refs/heads/main"]
    run_git(remote, "fsck", "--strict")


def test_pushing_again_with_nothing_new_changes_nothing(
    store: GitReleaseStore, remote: Path
) -> None:
    deploy(store, key="a")
    first = store.push(remote)
    assert store.push(remote) == first


def test_push_by_file_url_and_to_another_branch(store: GitReleaseStore, remote: Path) -> None:
    deploy(store, key="a")
    store.push(remote.as_uri(), remote_branch="mirror")
    assert run_git(remote, "rev-parse", "mirror").strip() == store.tip()
    with pytest.raises(InvalidInput, match="branch name"):
        store.push(remote, remote_branch="bad..name")


def test_a_diverged_remote_is_a_clear_error_and_is_left_alone(
    store: GitReleaseStore, remote: Path, tmp_path: Path
) -> None:
    deploy(store, key="a")
    store.push(remote)
    # someone else commits straight to the remote
    other = tmp_path / "other"
    run_git(tmp_path, "clone", "-q", str(remote), str(other))
    (other / "NOTE").write_text("edited elsewhere\n")
    run_git(other, "add", "NOTE")
    run_git(other, "-c", "user.name=x", "-c", "user.email=x@y", "commit", "-q", "-m", "elsewhere")
    run_git(other, "push", "-q", "origin", "main")
    theirs = run_git(remote, "rev-parse", "main").strip()
    deploy(store, key="b")
    with pytest.raises(PushRejected, match=r"diverged.*fetch it and reconcile"):
        store.push(remote)
    assert run_git(remote, "rev-parse", "main").strip() == theirs


def test_a_remote_ahead_of_us_on_our_own_history_is_diverged_too(
    tmp_path: Path, remote: Path
) -> None:
    a = GitReleaseStore(tmp_path / "a.git", fsync=False, gc_every=None)
    deploy(a, key="a")
    a.push(remote)
    b = GitReleaseStore(tmp_path / "b.git", fsync=False, gc_every=None)
    deploy(b, key="b")  # a different v1 in another repository
    with pytest.raises(PushRejected, match="diverged"):
        b.push(remote)


def test_nothing_to_push_is_an_error(store: GitReleaseStore, remote: Path) -> None:
    with pytest.raises(ReleaseStoreError, match="no commits to push"):
        store.push(remote)


def test_an_unreachable_remote_is_an_error(store: GitReleaseStore, tmp_path: Path) -> None:
    deploy(store, key="a")
    with pytest.raises(PushRejected, match="cannot reach the remote"):
        store.push(tmp_path / "nowhere.git")
