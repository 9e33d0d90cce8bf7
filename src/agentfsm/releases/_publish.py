"""Putting one commit on disk: its objects as one pack, then the branch, in that order.

With ``fsync`` on, a commit that ``publish`` reports as made survives a power loss, and a crash
at any point leaves the repository consistent:

1. take the branch's lock and check it still points at the tip the commit was built on (a writer
   that lost the race writes nothing and rebuilds on the new tip);
2. write the pack and its index under temporary names, and the new tip into the lock file;
3. flush those three files: the only flushes that move data, done in one round;
4. rename the pack and its index into place and flush their directory: the objects are now
   durable and readable;
5. rename the lock file over the branch and flush its directory: the commit is made.

The branch never points at an object that is not durable (4 comes before 5), and nothing is
renamed before its content is flushed (3 before 4 and 5). That is four flushes of which three
are cheap (directories, or files written in the same round), where libgit2 flushes each loose
object, each fan-out directory and the ref one after another. The three file flushes of step 3
are independent, so they are issued together from a few threads: the filesystem then commits
them in one journal transaction instead of three.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agentfsm.releases._objects import GitObject
from agentfsm.releases._pack import StagedPack
from agentfsm.releases._refs import RefLock, fsync_dir

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _flush_together(fds: Sequence[int]) -> None:
    """``fsync`` every descriptor, concurrently (threads release the GIL while flushing)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="agentfsm-fsync")
        pool = _pool
    first, *rest = fds
    pending = [pool.submit(os.fsync, fd) for fd in rest]
    os.fsync(first)
    for future in pending:
        future.result()


def publish(
    gitdir: Path,
    ref: str,
    expected: str | None,
    commit: GitObject,
    objects: Sequence[GitObject],
    *,
    fsync: bool,
) -> bool:
    """Write ``objects`` (which include ``commit``) and move ``ref`` from ``expected`` to it.

    Args:
        gitdir: the repository's Git directory.
        ref: the full ref name (``refs/heads/…``).
        expected: the id (hex) the ref must point at now, ``None`` for "must not exist".
        commit: the new tip.
        objects: every new object, each id once.
        fsync: flush as described in the module's documentation.

    Returns:
        True when the ref now points at ``commit``; False when another writer holds the ref's
        lock or moved it away from ``expected`` (nothing was written: rebuild and retry).
    """
    lock = RefLock.acquire(gitdir, ref)
    if lock is None:
        return False
    try:
        if lock.current() != expected:
            return False
        pack_dir = gitdir / "objects" / "pack"
        pack_dir.mkdir(parents=True, exist_ok=True)
        staged = StagedPack(pack_dir, objects)
        try:
            lock.write(commit.hex)
            if fsync:
                assert lock.fd is not None
                _flush_together([*staged.fds(), lock.fd])
            staged.close()
            staged.install()
        except BaseException:
            staged.discard()
            raise
        if fsync:
            fsync_dir(pack_dir)
        lock.commit(fsync=fsync)
        return True
    finally:
        lock.release()
