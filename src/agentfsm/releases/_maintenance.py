"""Durability and housekeeping: fsync in libgit2, and ``git gc`` every so many commits.

libgit2 has no garbage collector: every commit the store makes adds a handful of loose objects
(two blobs, four trees, the commit), and a repository of loose objects grows slow to read and
large on disk. We hand that job to ``git gc --auto``, the git command line's own maintenance:
it does nothing until git's thresholds say a repack is due, then packs objects and refs safely
beside concurrent writers (it never prunes recent unreachable objects, so a writer's objects not
yet on the branch are safe). It runs in the foreground (``gc.autoDetach=false``) so that no
background process outlives the store. Without a ``git`` executable, housekeeping is skipped with
a warning; writing releases does not depend on it.
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import pygit2


def enable_fsync() -> None:
    """Turn on libgit2's fsync of objects and refs (a process-wide libgit2 option).

    With it, a commit the store reports as written survives a power loss: the object files, the
    ref file and their directories are flushed before the ref update is considered done.
    """
    pygit2.settings.enable_fsync_gitdir(True)


def collect_garbage(path: Path, *, auto: bool = True, timeout: float = 300.0) -> bool:
    """Run ``git gc`` (``--auto`` by default) on the repository at ``path``.

    Returns:
        True when git ran and succeeded; False when no ``git`` executable was found or it failed
        (a warning says which). Housekeeping never fails a write.
    """
    git = shutil.which("git")
    if git is None:
        warnings.warn(
            "no 'git' executable on PATH: the release repository is not garbage-collected; "
            "install git or run 'git gc' on it from time to time",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    args = [git, "-c", "gc.autoDetach=false", "-C", str(path), "gc", "--quiet"]
    if auto:
        args.append("--auto")
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        warnings.warn(f"git gc on {path} did not finish: {exc}", RuntimeWarning, stacklevel=3)
        return False
    if done.returncode != 0:
        warnings.warn(
            f"git gc on {path} failed ({done.returncode}): {done.stderr.strip()}",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    return True
