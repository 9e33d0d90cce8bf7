"""New database files are created readable by their owner only.

A store file holds every agent's record and its whole audit log (who asked for what, with the
payloads); a ledger holds balances. Left to ``sqlite3.connect``, a new file takes the process's
umask (usually world-readable). Creating it empty first, with mode 0600, keeps it private: SQLite
gives its ``-wal`` and ``-shm`` files the database file's permissions. An existing file keeps
the permissions its owner gave it.

It lives outside ``agentfsm.runtime`` so that the billing package can use it without
importing the runtime.
"""

from __future__ import annotations

import os


def create_owner_only(path: str) -> None:
    """Create ``path`` empty with mode 0600 when it does not exist; leave an existing file alone.

    Raises:
        OSError: the file cannot be created (missing directory, permissions).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
