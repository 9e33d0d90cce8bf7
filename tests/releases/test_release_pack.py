"""The store's own object encoding, pack writer and ref lock, checked with the git CLI."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from release_helpers import Git, deploy, run_git

from agentfsm.releases import GitReleaseStore, ReleaseStoreError
from agentfsm.releases._maintenance import repack
from agentfsm.releases._objects import (
    BLOB,
    FILE_MODE,
    TREE,
    TREE_MODE,
    GitObject,
    TreeCache,
    TreeEntries,
    make_commit,
    make_object,
    write_tree,
)
from agentfsm.releases._pack import StagedPack, encode_pack
from agentfsm.releases._publish import publish
from agentfsm.releases._refs import RefLock, read_ref

_SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _bare(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path


def _install(repo: Path, objects: list[GitObject]) -> StagedPack:
    staged = StagedPack(repo / "objects" / "pack", objects)
    staged.close()
    staged.install()
    return staged


def _hash_object(kind: str, data: bytes) -> str:
    done = subprocess.run(
        ["git", "hash-object", "-t", kind, "--literally", "--stdin"],
        input=data,
        capture_output=True,
        check=True,
    )
    return done.stdout.decode().strip()


@given(data=st.binary(max_size=3000))
@settings(max_examples=25, deadline=None)
def test_blob_ids_are_the_ids_git_computes(data: bytes) -> None:
    assert make_object(BLOB, data).hex == _hash_object("blob", data)


_names = st.text(alphabet="abcAB-._019/é", min_size=1, max_size=8).filter(
    lambda n: "/" not in n and n not in (".", "..")
)


@given(entries=st.dictionaries(_names, st.booleans(), min_size=1, max_size=12))
@_SETTINGS
def test_trees_are_sorted_and_hashed_as_git_mktree_does(
    tmp_path: Path, entries: dict[str, bool]
) -> None:
    """Names like ``a``, ``a.b`` and a directory ``a`` sort in Git's order (``a/`` > ``a.b``)."""
    repo = tmp_path / "r.git"
    if not repo.exists():
        _bare(repo)
    blob = make_object(BLOB, b"x\n")
    sub = make_object(TREE, b"")
    tree = TreeEntries((), ())
    for name, is_dir in entries.items():
        mode, oid = (TREE_MODE, sub.id) if is_dir else (FILE_MODE, blob.id)
        tree = tree.with_entry(mode, name.encode(), oid)
    mine = make_object(TREE, tree.encode())
    _install(repo, [blob, sub])
    listing = "".join(
        f"{'040000 tree ' + sub.hex if d else '100644 blob ' + blob.hex}\t{n}\n"
        for n, d in entries.items()
    )
    done = subprocess.run(
        ["git", "-C", str(repo), "mktree"], input=listing.encode(), capture_output=True, check=True
    )
    assert mine.hex == done.stdout.decode().strip()
    assert TreeEntries.parse(tree.encode()) == tree


def test_a_pack_is_read_by_git_and_passes_verify_pack(tmp_path: Path) -> None:
    repo = _bare(tmp_path / "r.git")
    big = os.urandom(40_000)  # sizes that need several header bytes
    blobs = [make_object(BLOB, data) for data in (b"", b"hello\n", big)]
    out: list[GitObject] = []
    trees = TreeCache(lambda oid: pytest.fail("no tree should be read"))
    root = write_tree(
        trees, None, {"a/b.txt": blobs[1].id, "a/big": blobs[2].id, "e": blobs[0].id}, out
    )
    when = datetime(2026, 4, 3, 10, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
    commit = make_commit(root, None, ("Bot", "bot@example.com"), when, when, "subject\n\nbody\n")
    staged = _install(repo, [*blobs, *out, commit])
    verify = run_git(repo, "verify-pack", "-v", str(staged.idx_path))
    for obj in [*blobs, *out, commit]:
        assert obj.hex in verify
        kind = {BLOB: "blob", TREE: "tree", 1: "commit"}[obj.kind]
        assert run_git(repo, "cat-file", "-t", obj.hex).strip() == kind
    assert (
        subprocess.run(
            ["git", "-C", str(repo), "cat-file", "blob", blobs[2].hex],
            capture_output=True,
            check=True,
        ).stdout
        == big
    )
    assert run_git(repo, "show", f"{commit.hex}:a/b.txt") == "hello\n"
    run_git(repo, "update-ref", "refs/heads/main", commit.hex)
    run_git(repo, "fsck", "--strict", "--no-dangling")
    log = run_git(repo, "log", "-1", "--format=%an <%ae> %ad", "--date=raw", "main")
    assert log.strip() == f"Bot <bot@example.com> {int(when.timestamp())} -0530"


def test_a_pack_refuses_an_object_twice() -> None:
    blob = make_object(BLOB, b"same")
    with pytest.raises(ValueError, match="twice"):
        encode_pack([blob, blob])


def test_a_path_through_a_file_is_refused() -> None:
    blob = make_object(BLOB, b"x")
    out: list[GitObject] = []
    trees = TreeCache(lambda oid: pytest.fail("no read"))
    root = write_tree(trees, None, {"agents": blob.id}, out)
    with pytest.raises(ReleaseStoreError, match="agents is a file"):
        write_tree(trees, root, {"agents/x/current.yaml": blob.id}, out)
    root = write_tree(trees, None, {"a/b": blob.id}, out)
    with pytest.raises(ReleaseStoreError, match="a is a directory"):
        write_tree(trees, root, {"a": blob.id}, out)


# -- the ref lock ------------------------------------------------------------------------


def test_the_ref_lock_excludes_and_compares(tmp_path: Path, git: Git) -> None:
    repo = _bare(tmp_path / "r.git")
    blob = make_object(BLOB, b"x")
    out: list[GitObject] = [blob]
    root = write_tree(TreeCache(lambda oid: b""), None, {"f": blob.id}, out)
    now = datetime.now(UTC)
    first = make_commit(root, None, ("B", "b@x"), now, now, "one\n")
    second = make_commit(root, first.id, ("B", "b@x"), now, now, "two\n")
    assert publish(repo, "refs/heads/main", None, first, [*out, first], fsync=True)
    assert read_ref(repo, "refs/heads/main") == first.hex
    # a stale expectation writes nothing (no pack, no lock left behind)
    packs = sorted((repo / "objects" / "pack").iterdir())
    assert not publish(repo, "refs/heads/main", None, second, [second], fsync=True)
    assert sorted((repo / "objects" / "pack").iterdir()) == packs
    # a held lock makes the writer back off
    held = RefLock.acquire(repo, "refs/heads/main")
    assert held is not None
    assert RefLock.acquire(repo, "refs/heads/main") is None
    assert not publish(repo, "refs/heads/main", first.hex, second, [second], fsync=True)
    held.release()
    assert not (repo / "refs" / "heads" / "main.lock").exists()
    assert publish(repo, "refs/heads/main", first.hex, second, [second], fsync=False)
    assert run_git(repo, "rev-parse", "main").strip() == second.hex
    run_git(repo, "fsck", "--strict", "--no-dangling")


def test_a_branch_in_packed_refs_is_read_and_moved(store: GitReleaseStore, git: Git) -> None:
    deploy(store, key="one")
    git("pack-refs", "--all")
    assert not (store.path / "refs" / "heads" / "main").exists()
    assert deploy(store, key="two") == 2
    assert git("rev-parse", "main").strip() == store.tip()
    git("fsck", "--strict", "--no-dangling")


def test_a_nested_branch_name_gets_its_directories(tmp_path: Path) -> None:
    store = GitReleaseStore(tmp_path / "r.git", branch="releases/prod", fsync=True, gc_every=None)
    assert deploy(store, key="one") == 1
    assert run_git(tmp_path / "r.git", "rev-parse", "releases/prod").strip() == store.tip()


def test_a_symbolic_branch_is_refused(store: GitReleaseStore) -> None:
    deploy(store, key="one")
    (store.path / "refs" / "heads" / "main").write_text("ref: refs/heads/other\n")
    with pytest.raises(ReleaseStoreError, match="does not hold a commit id"):
        read_ref(store.path, "refs/heads/main")


class FaultyStagedPack(StagedPack):
    """Fault injection: the disk fails while the pack is moved into place."""

    def install(self) -> None:
        raise OSError("disk failure (injected)")


def test_a_failure_while_writing_leaves_the_branch_and_no_lock(
    store: GitReleaseStore, git: Git, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(store, key="one")
    tip = store.tip()
    monkeypatch.setattr("agentfsm.releases._publish.StagedPack", FaultyStagedPack)
    with pytest.raises(OSError, match="injected"):
        deploy(store, key="two")
    assert store.tip() == tip
    assert not list(store.path.glob("refs/heads/*.lock"))
    assert not list((store.path / "objects" / "pack").glob("tmp_*"))
    monkeypatch.undo()
    assert deploy(store, key="two") == 2
    git("fsck", "--strict", "--no-dangling")


# -- packs over time ---------------------------------------------------------------------


def test_packs_stay_few_and_the_repository_stays_sound(repo_path: Path, git: Git) -> None:
    with GitReleaseStore(repo_path, fsync=False, gc_every=None, repack_every=5) as store:
        for n in range(60):
            deploy(store, slug=f"agent-{n % 4}", key=f"k{n}", config={"n": str(n)})
    packs = list((repo_path / "objects" / "pack").glob("*.pack"))
    # 60 commits, one pack each, folded in the background every 5 (a fold still running when
    # the next is due is skipped, so the count varies with timing)
    assert 1 <= len(packs) < 30
    assert repack(repo_path)
    assert len(list((repo_path / "objects" / "pack").glob("*.pack"))) <= 7  # about log2(60)
    git("fsck", "--strict", "--no-dangling")
    assert len(git("rev-list", "main").split()) == 60
    assert [h.version for h in store.history("agent-3")] == list(range(1, 16))


def test_a_long_lived_store_keeps_few_descriptors_after_repacks(repo_path: Path) -> None:
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.exists():  # pragma: no cover - not Linux
        pytest.skip("counts descriptors through /proc")

    def deleted() -> int:
        count = 0
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):  # the directory's own descriptor is gone
                count += "(deleted)" in os.readlink(fd)
        return count

    with GitReleaseStore(repo_path, fsync=False, gc_every=None, repack_every=10) as store:
        for n in range(300):
            deploy(store, slug=f"agent-{n % 5}", key=f"k{n}", config={"n": str(n)})
            if n % 10 == 0:
                store.history(f"agent-{n % 5}")
        store.close()
        store.history("agent-0")
        assert deleted() < 30  # without letting them go, libgit2 held about 60 here


def test_the_store_shares_a_repository_with_the_git_cli(store: GitReleaseStore, git: Git) -> None:
    """Loose objects and commits made by git itself sit beside the store's packs."""
    deploy(store, key="one")
    git("update-ref", "refs/heads/side", "main")
    blob = (
        subprocess.run(
            ["git", "-C", str(store.path), "hash-object", "-w", "--stdin"],
            input=b"notes\n",
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    listing = git("ls-tree", "main")
    done = subprocess.run(
        ["git", "-C", str(store.path), "mktree"],
        input=(listing + f"100644 blob {blob}\tNOTES\n").encode(),
        capture_output=True,
        check=True,
    )
    commit = git("commit-tree", done.stdout.decode().strip(), "-p", "main", "-m", "notes").strip()
    git("update-ref", "refs/heads/main", commit)
    assert deploy(store, key="two") == 2
    assert git("show", "main:NOTES") == "notes\n"
    git("fsck", "--strict", "--no-dangling")


_WRITER = """
import sys
from datetime import UTC, datetime
from agentfsm.releases import GitReleaseStore
repo, name = sys.argv[1], sys.argv[2]
with GitReleaseStore(repo, fsync=True, gc_every=None, repack_every=3) as store:
    for n in range(20):
        for key in [f"{name}-{n}", f"both-{n}"]:
            store.record_release(
                "support-agent", event="AgentDeployed", image="img", replicas=1,
                config={}, at=datetime(2026, 4, 3, tzinfo=UTC), key=key,
            )
"""


def test_two_durable_processes_repacking_as_they_go_lose_nothing(repo_path: Path, git: Git) -> None:
    GitReleaseStore(repo_path, fsync=False, gc_every=None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(repo_path), name],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("p", "q")
    ]
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:  # pragma: no cover - only on a hang
                proc.kill()
                proc.wait()
    keys = git("log", "--format=%(trailers:key=Idempotency-Key,valueonly)", "main").split()
    expected = {f"{w}-{n}" for w in "pq" for n in range(20)} | {f"both-{n}" for n in range(20)}
    assert sorted(keys) == sorted(expected)  # each once
    store = GitReleaseStore(repo_path, fsync=False, gc_every=None)
    assert [h.version for h in store.history("support-agent")] == list(range(1, 61))
    git("fsck", "--strict", "--no-dangling")
