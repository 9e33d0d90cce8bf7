"""Several writers on one repository: no release lost, none written twice, keys honoured."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pygit2
import pytest
from release_helpers import Git, deploy

from agentfsm.releases import Backoff, GitReleaseStore, ReleaseStoreBusy


def _check_history(store: GitReleaseStore, slug: str, keys: set[str], git: Git) -> None:
    """v1..vN with N the number of distinct keys, each key once, and git agrees."""
    history = store.history(slug)
    assert [h.version for h in history] == list(range(1, len(keys) + 1))
    assert sorted(h.key or "" for h in history) == sorted(keys)
    trailers = git("log", "--format=%(trailers:key=Idempotency-Key,valueonly)", "main").split()
    assert sorted(trailers) == sorted(keys)  # one commit per key, no more
    git("fsck", "--strict", "--no-dangling")


class FaultyInterleavingStore(GitReleaseStore):
    """Fault injection: just before its first commit is built, another writer commits."""

    def __init__(self, path: Path, rival: GitReleaseStore) -> None:
        super().__init__(path, fsync=False, gc_every=None)
        self._rival: GitReleaseStore | None = rival

    def _commit(self, *args: object, **kwargs: object) -> pygit2.Oid:  # type: ignore[override]
        rival, self._rival = self._rival, None
        if rival is not None:
            deploy(rival, key="rival", image="img:rival")
        return super()._commit(*args, **kwargs)  # type: ignore[arg-type]


def test_a_writer_that_loses_the_branch_rebuilds_on_the_new_tip(repo_path: Path, git: Git) -> None:
    rival = GitReleaseStore(repo_path, fsync=False, gc_every=None)
    store = FaultyInterleavingStore(repo_path, rival)
    mine = deploy(store, key="mine", image="img:mine")
    assert mine == 2  # v1 went to the rival, which won the race
    history = store.history("support-agent")
    assert [(h.version, h.release.image) for h in history] == [(1, "img:rival"), (2, "img:mine")]
    assert git("rev-parse", "main^").strip() == history[0].commit  # built on the rival's commit


def test_two_threads_lose_nothing_and_duplicate_nothing(repo_path: Path, git: Git) -> None:
    GitReleaseStore(repo_path, fsync=False, gc_every=None)  # create the repository once
    per_writer, shared = 25, 10
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            store = GitReleaseStore(repo_path, fsync=False, gc_every=None)
            barrier.wait()
            for n in range(per_writer):
                deploy(store, key=f"{name}-{n}")
                if n < shared:
                    deploy(store, key=f"both-{n}")  # the other thread delivers it too
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    keys = {f"{w}-{n}" for w in "ab" for n in range(per_writer)} | {
        f"both-{n}" for n in range(shared)
    }
    _check_history(
        GitReleaseStore(repo_path, fsync=False, gc_every=None), "support-agent", keys, git
    )


def test_one_store_shared_by_threads(store: GitReleaseStore, git: Git) -> None:
    keys = [f"k{n}" for n in range(30)]

    def writer(offset: int) -> None:
        for key in keys[offset::3]:
            deploy(store, key=key)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    _check_history(store, "support-agent", set(keys), git)


_WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from agentfsm.releases import GitReleaseStore

    repo, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[5])
    count, shared = int(sys.argv[3]), int(sys.argv[4])
    store = GitReleaseStore(repo, fsync=False, gc_every=7)
    while not go.exists():
        time.sleep(0.005)
    at = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
    for n in range(count):
        keys = [f"{name}-{n}"] + ([f"both-{n}"] if n < shared else [])
        for key in keys:
            store.record_release(
                "support-agent", event="AgentDeployed", image="img", replicas=1,
                config={}, at=at, key=key,
            )
    """
)


def test_two_processes_lose_nothing_and_duplicate_nothing(
    repo_path: Path, tmp_path: Path, git: Git
) -> None:
    GitReleaseStore(repo_path, fsync=False, gc_every=None)
    go = tmp_path / "go"
    count, shared = 25, 10
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(repo_path), name, str(count), str(shared), str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("p", "q")
    ]
    try:
        time.sleep(0.3)  # both started and waiting
        go.touch()
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:  # pragma: no cover - only on a hang
                proc.kill()
                proc.wait()
    keys = {f"{w}-{n}" for w in "pq" for n in range(count)} | {f"both-{n}" for n in range(shared)}
    _check_history(
        GitReleaseStore(repo_path, fsync=False, gc_every=None), "support-agent", keys, git
    )


def test_a_held_lock_is_waited_for(store: GitReleaseStore, repo_path: Path, git: Git) -> None:
    deploy(store, key="first")
    lock = repo_path / "refs" / "heads" / "main.lock"
    lock.write_text("held by another writer\n")
    threading.Timer(0.3, lock.unlink).start()
    started = time.monotonic()
    assert deploy(store, key="second") == 2
    assert time.monotonic() - started >= 0.25
    _check_history(store, "support-agent", {"first", "second"}, git)


def test_a_lock_held_through_every_retry_is_reported_busy(repo_path: Path, git: Git) -> None:
    store = GitReleaseStore(
        repo_path, fsync=False, gc_every=None, backoff=Backoff(attempts=4, base=0.001)
    )
    deploy(store, key="first")
    lock = repo_path / "refs" / "heads" / "main.lock"
    lock.write_text("stuck\n")
    try:
        with pytest.raises(ReleaseStoreBusy, match=r"4 attempts.*same key"):
            deploy(store, key="second")
    finally:
        lock.unlink()
    assert [h.version for h in store.history("support-agent")] == [1]
    assert deploy(store, key="second") == 2  # the same key goes through once the lock is gone
