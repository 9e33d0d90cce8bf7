"""Housekeeping with the git command line: folding small packs together, and ``git gc``.

The store writes one small pack per commit (``_pack``). Left alone, packs pile up and every read
has to look through more of them, so every so many commits the store runs
``git repack -d -l --geometric=2``: it rolls the smallest packs into one so that each remaining
pack holds at least twice the objects of the next smaller one. The pack count then stays near
log2 of the object count, and each object is rewritten only a logarithmic number of times, where
a full ``git gc`` repack would rewrite the whole repository every time. Git flushes the packs it
writes (its default ``core.fsync`` covers packs), and deletes the old ones only after.

Repacking beside writers is safe: a pack still being written has a temporary name that repack
ignores; a writer's new pack appears whole (renamed into place) and is either rolled up or left
alone; repack never deletes objects, only packs whose objects it has rewritten. Two repacks at
once would race on the same packs, so they are serialised with an advisory lock held by the
repacking process (released by the kernel if it dies).

``git gc --auto`` still runs now and then (packing refs, and any loose objects that other
tools wrote). Both run in the foreground, so no background process outlives the store. Without a
``git`` executable, housekeeping is skipped with a warning; writing releases does not depend on
it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import warnings
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: repacks are not serialised
    fcntl = None  # type: ignore[assignment]

_LOCK_NAME = "agentfsm-repack.lock"


def _git(path: Path, args: list[str], what: str, timeout: float) -> bool:
    git = shutil.which("git")
    if git is None:
        warnings.warn(
            "no 'git' executable on PATH: the release repository is not repacked nor "
            "garbage-collected; install git or run 'git gc' on it from time to time",
            RuntimeWarning,
            stacklevel=4,
        )
        return False
    command = [git, "-c", "gc.autoDetach=false", "-C", str(path), *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        warnings.warn(f"{what} on {path} did not finish: {exc}", RuntimeWarning, stacklevel=4)
        return False
    if done.returncode != 0:
        warnings.warn(
            f"{what} on {path} failed ({done.returncode}): {done.stderr.strip()}",
            RuntimeWarning,
            stacklevel=4,
        )
        return False
    return True


def _serialised(gitdir: Path, args: list[str], what: str, timeout: float, *, wait: bool) -> bool:
    """Run git under the repository's maintenance lock; without ``wait``, skip (True) when it
    is held: another process is doing the same housekeeping right now."""
    if fcntl is None:  # pragma: no cover
        return _git(gitdir, args, what, timeout)
    fd = os.open(gitdir / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return True
        return _git(gitdir, args, what, timeout)
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def repack(gitdir: Path, *, timeout: float = 300.0) -> bool:
    """Fold the repository's small packs together (``git repack -d -l --geometric=2``).

    Skipped (True returned) when another process is repacking the same repository right now.

    Returns:
        True when the packs are in order; False when git is missing or failed (a warning says
        which). Housekeeping never fails a write.
    """
    args = ["repack", "-d", "-l", "-q", "--geometric=2"]
    return _serialised(gitdir, args, "git repack", timeout, wait=False)


def collect_garbage(gitdir: Path, *, auto: bool = True, timeout: float = 300.0) -> bool:
    """Run ``git gc`` (``--auto`` by default) on the repository, after any repack under way.

    Returns:
        True when git ran and succeeded; False when no ``git`` executable was found or it failed
        (a warning says which). Housekeeping never fails a write.
    """
    args = ["gc", "--quiet"] + (["--auto"] if auto else [])
    return _serialised(gitdir, args, "git gc", timeout, wait=True)


class Housekeeper:
    """Counts a store's commits and runs its housekeeping every so many of them.

    Args:
        gitdir: the repository's Git directory.
        gc_every: run ``git gc --auto`` after every this many commits (0: never).
        repack_every: start a repack in a thread after every this many commits (0: never).
    """

    def __init__(self, gitdir: Path, gc_every: int, repack_every: int) -> None:
        self._gitdir = gitdir
        self._gc_every = gc_every
        self._repack_every = repack_every
        self._commits = 0
        self._repacker: threading.Thread | None = None

    def after_commit(self) -> None:
        """Count one commit made by the store; repack or collect garbage when it is time."""
        self._commits += 1
        if self._repack_every and self._commits % self._repack_every == 0:
            self._start_repack()
        if self._gc_every and self._commits % self._gc_every == 0:
            collect_garbage(self._gitdir, auto=True)

    def _start_repack(self) -> None:
        """Fold the small packs together in a thread, so that no commit waits for it.

        Commits go on meanwhile (see the module's docstring for why that is safe). One repack at
        a time: when the last one is still running, this one is skipped (the next will catch
        up). ``wait()`` waits for it; the interpreter does too at exit.
        """
        running = self._repacker
        if running is not None and running.is_alive():
            return
        self._repacker = threading.Thread(
            target=repack, args=(self._gitdir,), name="agentfsm-repack"
        )
        self._repacker.start()

    def wait(self) -> None:
        """Wait for a repack running in a thread, if any."""
        running = self._repacker
        if running is not None:
            running.join()
