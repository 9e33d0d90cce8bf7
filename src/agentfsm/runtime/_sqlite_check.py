"""Deciding, without writing a byte, whether a SQLite file is one ``SQLiteStore`` may open.

The store's own connections switch the file to WAL mode and take the write lock, and either
changes a file. A file that is not a SQLite database, another program's database, a damaged
schema table or a database of a newer agentfsm must be refused before that, so this check
reads the file read-only first and the refusal leaves it as it was, byte for byte.

A missing or empty file is a new database (SQLite treats a zero-length file as an empty
database), so the store creates its tables there.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from agentfsm.runtime._errors import (
    CorruptDatabase,
    ForeignDatabase,
    SchemaTooNew,
    StoreUnavailable,
)
from agentfsm.runtime._schema import APPLICATION, SCHEMA_VERSION

_MAGIC = b"SQLite format 3\x00"
_WAL = 2  # the header's read and write format versions (bytes 18 and 19) in WAL mode


def check_file_read_only(path: str, busy_timeout: float) -> None:
    """Refuse ``path`` if the store must not open it; write nothing either way.

    Raises:
        CorruptDatabase: the file is not a SQLite database, or its schema table is damaged.
        ForeignDatabase: the file holds another program's tables.
        SchemaTooNew: the file was written by a newer agentfsm.
        StoreUnavailable: the path cannot be read (a directory, permissions).
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreUnavailable(f"cannot open the SQLite database {path!r}: {exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise StoreUnavailable(f"cannot open the SQLite database {path!r}: it is not a file")
    if info.st_size == 0:
        return
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as exc:
        raise StoreUnavailable(f"cannot open the SQLite database {path!r}: {exc}") from exc
    if not head.startswith(_MAGIC):
        raise CorruptDatabase(
            f"{path!r} is not a usable SQLite database (it does not start with the SQLite "
            "header); point the store at a new file or at an agentfsm database"
        )
    uri = read_only_uri(path, head)
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout)
    except sqlite3.Error:
        return  # the store's own open reports why it cannot open the file
    try:
        schema_version(conn, path)
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if "not a database" in text or "malformed" in text:
            raise CorruptDatabase(
                f"{path!r} is not a usable SQLite database ({text}); point the store at a "
                "new file or at an agentfsm database"
            ) from exc
        # Anything else (locked, a journal only a writer may roll back): the store's own
        # open, which may write, is the one that decides.
    finally:
        conn.close()


def read_only_uri(path: str, head: bytes) -> str:
    """The URI to read the SQLite file ``path`` (whose first bytes are ``head``) without
    writing a byte.

    A read-only connection to a WAL database leaves -wal and -shm files behind. When there is
    no -wal file nobody has the database open, and it can be read as an immutable file.
    """
    idle_wal = head[18:20] == bytes((_WAL, _WAL)) and not os.path.exists(path + "-wal")
    return Path(path).resolve().as_uri() + ("?immutable=1" if idle_wal else "?mode=ro")


def schema_version(conn: sqlite3.Connection, path: str) -> int | None:
    """The agentfsm schema version of the database on ``conn``; ``None`` when it is empty.

    Raises:
        ForeignDatabase: it holds tables that are not agentfsm's.
        CorruptDatabase: its schema table is damaged (no row, a version that is not a
            positive whole number).
        SchemaTooNew: it is at a version newer than ``SCHEMA_VERSION``.
    """
    tables = {
        r[0]
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not str(r[0]).startswith("sqlite_")
    }
    if not tables:
        return None
    if "agentfsm_schema" not in tables:
        raise ForeignDatabase(
            f"{path!r} holds tables that are not agentfsm's "
            f"({', '.join(sorted(map(str, tables))[:5])}); give the store a file of its own"
        )
    rows = conn.execute("SELECT version, application FROM agentfsm_schema").fetchall()
    if not rows or rows[0][1] != APPLICATION:
        raise ForeignDatabase(f"{path!r} has a schema table that is not agentfsm's")
    version = rows[0][0]
    if type(version) is not int or version < 1 or len(rows) != 1:
        raise CorruptDatabase(
            f"{path!r} has a damaged agentfsm_schema table (version {version!r} in "
            f"{len(rows)} row(s); it must be one row with a version from 1); restore the "
            "file from a backup"
        )
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{path!r} is at schema version {version}, newer than this agentfsm "
            f"understands ({SCHEMA_VERSION}); upgrade agentfsm to open it"
        )
    return version
