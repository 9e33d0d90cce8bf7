"""No text a user wrote can pass for the trailers the release store reads its record from.

The image reaches the commit message through the default changelog, and the changelog itself is
free text. Both are checked here against a real repository, read back by a freshly opened store
and by the git command line.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pygit2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from release_helpers import T0, Git, run_git

from agentfsm import InvalidInput
from agentfsm.releases import GitReleaseStore, ReleaseDocumentError

ATTACK = "x:1\n\nAgent: victim\nRelease: 1\nIdempotency-Key: v-2\n---"


def _open(path: Path) -> GitReleaseStore:
    return GitReleaseStore(path, fsync=False, gc_every=None, repack_every=None)


def _record(store: GitReleaseStore, slug: str, key: str, **kw: object) -> int | None:
    args: dict[str, object] = {
        "event": "AgentDeployed",
        "image": "ghcr.io/recif/corail:1.0",
        "replicas": 1,
        "config": {},
        "at": T0,
        "key": key,
    }
    args.update(kw)
    return store.record_release(slug, **args).version  # type: ignore[arg-type]


def _keys_by_git(git: Git) -> list[list[str]]:
    """Each commit's idempotency keys as git itself parses the trailers, newest first."""
    out = git("log", "--format=%(trailers:key=Idempotency-Key,valueonly,separator=%x2C)%x00")
    return [entry.strip().split(",") for entry in out.split("\0") if entry.strip()]


def _assert_victim_is_unharmed(repo_path: Path, git: Git) -> None:
    fresh = _open(repo_path)  # a new process: it knows only what the repository says
    commits = len(git("log", "--format=%H").split())
    assert _record(fresh, "victim", "v-2", image="ghcr.io/recif/corail:2.0") == 1
    assert fresh.release("victim", 1).release.image == "ghcr.io/recif/corail:2.0"
    assert fresh.current("victim") is not None
    assert len(git("log", "--format=%H").split()) == commits + 1
    # the attacker's own key, delivered again, is found: nothing new is written
    assert _record(fresh, "attacker", "a-1") == 1
    assert len(git("log", "--format=%H").split()) == commits + 1
    assert _keys_by_git(git) == [["v-2"], ["a-1"]]


def test_regression_image_newline_forges_release_trailers(repo_path: Path, git: Git) -> None:
    store = _open(repo_path)
    with pytest.raises(ReleaseDocumentError, match="image"):
        _record(store, "attacker", "a-1", image=ATTACK)
    assert store.tip() is None  # refused before anything was written
    _record(store, "attacker", "a-1")
    _assert_victim_is_unharmed(repo_path, git)


def test_regression_changelog_newline_forges_release_trailers(repo_path: Path, git: Git) -> None:
    # Even with the image check bypassed, the same text in the free-text changelog forges nothing.
    store = _open(repo_path)
    assert _record(store, "attacker", "a-1", changelog=f"Initial deploy of {ATTACK}") == 1
    message = git("log", "-1", "--format=%B")
    assert message.rstrip("\n").endswith("Agent: attacker\nRelease: 1\nIdempotency-Key: a-1")
    assert "\n---" not in message
    assert "\nAgent: victim" not in message
    assert store.release("attacker", 1).release.changelog == f"Initial deploy of {ATTACK}"
    _assert_victim_is_unharmed(repo_path, git)


def test_regression_forged_trailers_in_an_old_commit_are_not_read(
    repo_path: Path, git: Git
) -> None:
    # A repository written before the changelog was quoted holds the text raw in the body; the
    # store's record is still read from the last lines only, which no body can reach.
    store = _open(repo_path)
    _record(store, "attacker", "a-1")
    tip = git("rev-parse", "main").strip()
    tree = git("rev-parse", "main^{tree}").strip()
    old_message = (
        f"attacker: release v1 (AgentDeployed)\n\nInitial deploy of {ATTACK}\n\n"
        "Agent: attacker\nRelease: 1\nIdempotency-Key: a-1\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".msg", delete=False) as handle:
        handle.write(old_message)
    old = run_git(
        repo_path,
        "-c",
        "user.name=a",
        "-c",
        "user.email=a@b",
        "commit-tree",
        tree,
        "-F",
        handle.name,
    ).strip()
    Path(handle.name).unlink()
    git("update-ref", "refs/heads/main", old, tip)
    # libgit2's trailer parser, which the store used to read, stops at the "---" line and takes
    # the forged paragraph; git's own reads the last one. The store now reads as git does.
    forged = pygit2.Repository(str(repo_path))[old].message_trailers
    assert forged["Agent"] == "victim"
    assert forged["Idempotency-Key"] == "v-2"
    assert _keys_by_git(git) == [["a-1"]]
    fresh = _open(repo_path)
    assert fresh.history("attacker")[0].key == "a-1"
    assert _record(fresh, "victim", "v-2") == 1
    assert [info.version for info in fresh.history("victim")] == [1]
    assert _record(fresh, "attacker", "a-1") == 1
    assert len(git("log", "--format=%H").split()) == 2


_piece = st.text(
    st.characters(codec="utf-8", exclude_categories=()), max_size=12
) | st.sampled_from(
    ["\n", "\n\n", "---", "\n---\n", "Agent: victim", "\nIdempotency-Key: v\n", ":", "\r"]
)
_text = st.lists(_piece, max_size=6).map("".join)


@settings(max_examples=30, deadline=None)
@given(st.lists(_text, min_size=1, max_size=3))
def test_any_changelog_leaves_the_recorded_keys_as_they_were_written(
    changelogs: list[str],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.git"
        store = _open(path)
        keys = [f"k-{n}" for n in range(len(changelogs))]
        for key, changelog in zip(keys, changelogs, strict=True):
            _record(store, "agent", key, changelog=changelog)
        fresh = _open(path)
        assert [info.key for info in fresh.history("agent")] == keys
        assert [info.release.changelog for info in fresh.history("agent")] == changelogs
        git: Git = lambda *args: run_git(path, *args)  # noqa: E731
        assert _keys_by_git(git) == [[key] for key in reversed(keys)]
        for key, version in zip(keys, itertools.count(1), strict=False):
            assert _record(fresh, "agent", key) == version  # found again, not written again
        assert len(git("log", "--format=%H").split()) == len(keys)


@pytest.mark.parametrize(
    "key", ["a\u2028b", "a\u2029b", "a\x85b", "a\udcffb", "a\rb", "\x00", "a\x1bb"]
)
def test_a_key_that_is_not_one_line_of_text_is_refused(repo_path: Path, key: str) -> None:
    store = _open(repo_path)
    with pytest.raises(InvalidInput, match="one line"):
        _record(store, "agent", key)
    assert store.tip() is None


@pytest.mark.parametrize("author", [("bot\udcff", "b@x"), ("bot", "b\u2028@x"), ("b\x00t", "b@x")])
def test_an_author_git_cannot_record_is_refused(tmp_path: Path, author: tuple[str, str]) -> None:
    with pytest.raises(InvalidInput, match="author"):
        GitReleaseStore(tmp_path / "r", author=author)
