"""A branch moved by compare-and-swap under Git's own lock protocol, flushed to disk.

Git, libgit2 and every other writer of a files-backend repository move a ref the same way: create
``<ref>.lock`` exclusively (whoever creates it holds the ref), check the ref's value, write the
new value into the lock file, then rename the lock file over the ref. Doing it here rather than
through libgit2 lets the store flush the lock file in the same round as its pack (libgit2 flushes
objects and refs in separate steps, one file at a time), and keeps durability a property of each
store instead of libgit2's process-wide switch. Both kinds of writers exclude each other through
the same lock file, so they can share a repository.

A ref is read from its loose file, or else from ``packed-refs`` (where ``git gc`` moves refs);
``git pack-refs`` takes a ref's lock before removing its loose file, so reading under the lock
sees a settled value.
"""

from __future__ import annotations

import os
from pathlib import Path

from agentfsm.releases._errors import ReleaseStoreError


def read_ref(gitdir: Path, name: str) -> str | None:
    """The id (hex) ``name`` (``refs/heads/…``) points at, or ``None`` when it does not exist.

    Raises:
        ReleaseStoreError: the ref is symbolic or its file is not an id.
    """
    try:
        text = (gitdir / name).read_text("ascii").strip()
    except FileNotFoundError:
        return _packed_ref(gitdir, name)
    except IsADirectoryError:
        raise ReleaseStoreError(
            f"{name} is a directory of refs in {gitdir}, not a branch; choose another branch name"
        ) from None
    except UnicodeDecodeError:
        text = ""
    if len(text) != 40 or not all(c in "0123456789abcdef" for c in text):
        raise ReleaseStoreError(
            f"{name} in {gitdir} does not hold a commit id ({text[:60]!r}); the store only "
            "writes to a branch that points straight at a commit"
        )
    return text


def _packed_ref(gitdir: Path, name: str) -> str | None:
    try:
        lines = (gitdir / "packed-refs").read_text("utf-8").splitlines()
    except FileNotFoundError:
        return None
    suffix = " " + name
    for line in lines:
        if line.endswith(suffix) and not line.startswith(("#", "^")):
            return line[:40]
    return None


def fsync_dir(path: Path) -> None:
    """Flush a directory, so that the names created or renamed in it survive a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RefLock:
    """``<ref>.lock``, held: the right to move the ref once.

    ``acquire`` returns ``None`` when another writer holds it. ``write`` then ``commit`` move the
    ref; ``release`` gives the lock up unused (a no-op after ``commit``). Always release.
    """

    def __init__(self, gitdir: Path, name: str, fd: int, made: list[Path]) -> None:
        self.gitdir = gitdir
        self.name = name
        self.path = gitdir / name
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.fd: int | None = fd
        self._made = made  # directories created for the ref: their parents need a flush too
        self._done = False

    @staticmethod
    def acquire(gitdir: Path, name: str) -> RefLock | None:
        """Take the lock of ``name``, or ``None`` when another writer holds it."""
        path = gitdir / name
        made: list[Path] = []
        parent = path.parent
        while not parent.exists() and parent != gitdir:
            made.append(parent)
            parent = parent.parent
        if made:
            os.makedirs(path.parent, exist_ok=True)
        lock = path.with_name(path.name + ".lock")
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return None
        return RefLock(gitdir, name, fd, made)

    def current(self) -> str | None:
        """The ref's value now (we hold the lock, so nobody moves it meanwhile)."""
        return read_ref(self.gitdir, self.name)

    def write(self, target: str) -> None:
        """Write the new value into the lock file (not yet visible)."""
        assert self.fd is not None
        os.write(self.fd, f"{target}\n".encode("ascii"))

    def commit(self, *, fsync: bool) -> None:
        """Rename the lock file over the ref; with ``fsync``, flush the directory after.

        The lock file's content must already be flushed when ``fsync`` is asked for (the caller
        does it together with its pack).
        """
        self._close()
        os.replace(self.lock_path, self.path)
        self._done = True
        if fsync:
            fsync_dir(self.path.parent)
            for made in self._made:
                fsync_dir(made.parent)

    def release(self) -> None:
        """Give the lock up without moving the ref (a no-op once committed)."""
        self._close()
        if not self._done:
            self.lock_path.unlink(missing_ok=True)
            self._done = True

    def _close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)
