"""Bad input to the release store: a documented error, raised before anything is written.

Every refusal is checked against the repository's refs and objects, byte for byte: a refused
write must leave no commit, no object and no moved branch behind.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pygit2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from release_helpers import T0, deploy, run_git

from agentfsm import InvalidInput
from agentfsm.releases import GitReleaseStore, ReleaseDocumentError, ReleaseStoreError

GOOD: dict[str, object] = {
    "event": "AgentDeployed",
    "image": "ghcr.io/recif/corail:1.0",
    "replicas": 1,
    "config": {"model": "gpt-4o"},
    "at": T0,
    "key": "k-good",
}


def repository_state(path: Path) -> dict[str, bytes]:
    """Every ref and object file of the repository, by path: what a refusal must not change."""
    out: dict[str, bytes] = {}
    for file in sorted(path.rglob("*")):
        rel = file.relative_to(path).as_posix()
        if file.is_file() and rel.split("/")[0] in {"refs", "objects", "packed-refs", "HEAD"}:
            out[rel] = file.read_bytes()
    return out


def _open(path: Path) -> GitReleaseStore:
    return GitReleaseStore(path, fsync=False, gc_every=None, repack_every=None)


def _refused(
    store: GitReleaseStore, path: Path, call: Callable[[], object], error: type[Exception]
) -> Exception:
    before = repository_state(path)
    with pytest.raises(error) as caught:
        call()
    assert repository_state(path) == before
    return caught.value


def _release(store: GitReleaseStore, **kw: object) -> object:
    return store.record_release("support-agent", **{**GOOD, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "at",
    [
        datetime.max,
        datetime.max.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=timezone(timedelta(hours=5))),
        datetime.min.replace(tzinfo=timezone(timedelta(hours=-5))),
        datetime(9999, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_regression_datetime_max_writes_the_commit_then_raises(
    repo_path: Path, at: datetime
) -> None:
    store = _open(repo_path)
    deploy(store, key="first")
    _refused(store, repo_path, lambda: _release(store, at=at, key="late"), ReleaseDocumentError)
    _refused(
        store,
        repo_path,
        lambda: store.record_deletion("support-agent", at=at, key="late"),
        InvalidInput,
    )
    # the agent's history still reads, in this store and in a fresh one
    assert [i.version for i in store.history("support-agent")] == [1]
    assert [i.version for i in _open(repo_path).history("support-agent")] == [1]


def test_regression_author_time_rounds_up_into_the_next_second(repo_path: Path) -> None:
    # int(at.timestamp()) goes through a float, which rounds .999999 up late in the calendar.
    store = _open(repo_path)
    at = datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    info = store.record_release("support-agent", **{**GOOD, "at": at})  # type: ignore[arg-type]
    assert info.time == at.replace(microsecond=0)
    assert store.history("support-agent")[0].time == at.replace(microsecond=0)
    assert run_git(repo_path, "log", "-1", "--format=%at").strip() == str(
        int((at.replace(microsecond=0) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    )


def test_regression_a_commit_with_an_impossible_time_breaks_history(repo_path: Path) -> None:
    # Such a commit (written before times were checked, or by hand) is a documented error now.
    store = _open(repo_path)
    deploy(store, key="first")
    repo = pygit2.Repository(str(repo_path))
    tip = repo.references["refs/heads/main"].target
    late = "a <a@b> 253402300800 +0000"  # 10000-01-01T00:00:00Z, as the store once wrote it
    raw = (
        f"tree {repo[tip].tree_id}\nauthor {late}\ncommitter {late}\n\n"
        "support-agent: release v1 (AgentDeployed)\n\n"
        "Agent: support-agent\nRelease: 1\nIdempotency-Key: first\n"
    )
    # written raw: pygit2.Signature cannot hold a time that late
    rewritten = repo.odb.write(pygit2.enums.ObjectType.COMMIT, raw.encode())
    repo.references["refs/heads/main"].set_target(rewritten)
    fresh = _open(repo_path)
    with pytest.raises(ReleaseStoreError, match="author time"):
        fresh.history("support-agent")


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"at": 0}, ReleaseDocumentError, "datetime"),
        ({"at": "2026-04-03T10:00:00Z"}, ReleaseDocumentError, "datetime"),
        ({"at": T0.date()}, ReleaseDocumentError, "datetime"),
        ({"at": None}, ReleaseDocumentError, "datetime"),
    ],
)
def test_regression_at_zero_raises_a_bare_error(
    repo_path: Path, kw: dict[str, object], error: type[Exception], match: str
) -> None:
    store = _open(repo_path)
    assert match in str(_refused(store, repo_path, lambda: _release(store, **kw), error))
    _refused(
        store,
        repo_path,
        lambda: store.record_deletion("support-agent", at=kw["at"], key="d"),  # type: ignore[arg-type]
        InvalidInput,
    )


@pytest.mark.parametrize(
    "config", [None, "str", ["a", "b"], 3, {"a": None}, {"a b": "x"}, {"k": "\udcff"}]
)
def test_regression_config_none_or_str_raises_a_bare_error(repo_path: Path, config: object) -> None:
    store = _open(repo_path)
    error = _refused(store, repo_path, lambda: _release(store, config=config), ReleaseDocumentError)
    assert "config" in str(error)


@pytest.mark.parametrize(
    "replicas", ["3", True, 3.0, None, 0, 11, pytest.param(10**5000, id="huge")]
)
def test_regression_replicas_string_is_accepted(repo_path: Path, replicas: object) -> None:
    store = _open(repo_path)
    error = _refused(
        store, repo_path, lambda: _release(store, replicas=replicas), ReleaseDocumentError
    )
    assert "replicas" in str(error)
    assert len(str(error)) < 200


@pytest.mark.parametrize("changelog", [3, b"bytes", "\udcff", "x" * 4097, ["a"]])
def test_a_changelog_that_is_not_bounded_text_is_refused(
    repo_path: Path, changelog: object
) -> None:
    store = _open(repo_path)
    _refused(store, repo_path, lambda: _release(store, changelog=changelog), ReleaseDocumentError)


@pytest.mark.parametrize("version", ["1", True, 1.0, None, [1]])
def test_a_release_version_is_a_whole_number(repo_path: Path, version: object) -> None:
    store = _open(repo_path)
    deploy(store, key="first")
    with pytest.raises(InvalidInput, match="version"):
        store.release("support-agent", version)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [0, -1, 2, 10**19, pytest.param(-(10**5000), id="huge")])
def test_a_release_that_is_not_there_is_not_found(repo_path: Path, version: int) -> None:
    store = _open(repo_path)
    deploy(store, key="first")
    with pytest.raises(ReleaseStoreError, match="no release") as caught:
        store.release("support-agent", version)
    assert len(str(caught.value)) < 200


# -- fuzz ---------------------------------------------------------------------------------------

_hostile_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
_hostile = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.just(5000).map(lambda digits: 10**digits)
    | st.floats()
    | _hostile_text
    | st.binary(max_size=8)
    | st.datetimes(timezones=st.none() | st.timezones())
    | st.sampled_from([datetime.max, datetime.min, T0.date(), timedelta(days=1)]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(_hostile_text | st.integers(), inner, max_size=3)
    ),
    max_leaves=6,
)
_WRITE_ARGS = ("slug", "event", "image", "replicas", "config", "at", "key", "changelog")


@st.composite
def _calls(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    method = draw(
        st.sampled_from(["record_release", "record_deletion", "history", "current", "release"])
    )
    args: dict[str, object] = {
        "slug": "support-agent",
        **GOOD,
        "key": draw(st.sampled_from(["k1", "k2", "k3"])),
    }
    if method == "record_deletion":
        args = {"slug": args["slug"], "at": args["at"], "key": args["key"]}
    elif method in ("history", "current"):
        args = {"slug": args["slug"]}
    elif method == "release":
        args = {"slug": args["slug"], "version": 1}
    for name in draw(st.sets(st.sampled_from(sorted(args)), max_size=3)):
        args[name] = draw(_hostile)
    return method, args


@settings(max_examples=80, deadline=None)
@given(st.lists(_calls(), min_size=1, max_size=4))
def test_hostile_values_get_documented_errors_and_a_refusal_changes_nothing(
    calls: list[tuple[str, dict[str, object]]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.git"
        store = _open(path)
        deploy(store, key="k0")
        for method, args in calls:
            slug = args.pop("slug")
            before = repository_state(path)
            try:
                getattr(store, method)(slug, **args)
            except (InvalidInput, ReleaseStoreError):
                assert repository_state(path) == before, (method, args)
            # whatever happened, the repository still reads, here and in a fresh store
            for reader in (store, _open(path)):
                reader.history("support-agent")
                reader.current("support-agent")
                reader.agents()


@pytest.mark.parametrize(
    "kw",
    [
        {"gc_every": -(10**5000)},
        {"repack_every": -(10**5000)},
        {"author": (10**5000, "bot@example.com")},
        {"branch": 10**5000},
    ],
    ids=["gc_every", "repack_every", "author", "branch"],
)
def test_a_huge_number_in_the_settings_is_refused_with_a_sentence(
    tmp_path: Path, kw: dict[str, object]
) -> None:
    with pytest.raises(InvalidInput) as caught:
        GitReleaseStore(tmp_path / "r", fsync=False, **kw)  # type: ignore[arg-type]
    assert "too large to show" in str(caught.value)
    assert not (tmp_path / "r").exists()
