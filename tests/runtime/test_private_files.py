"""A new store file is readable by its owner only; an existing file keeps its permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from runtime_support import T0

from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import Controller, ManualClock, SQLiteStore, StoreUnavailable


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_regression_new_store_file_was_world_readable(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask: files readable by everyone
    try:
        path = tmp_path / "agents.db"
        store = SQLiteStore(path)
        Controller(MACHINES, store, ManualClock(T0)).create("a1", "alfe", AlfeAgent("a1", "x"))
        assert _mode(path) == 0o600
        for extra in (tmp_path / "agents.db-wal", tmp_path / "agents.db-shm"):
            if extra.exists():  # SQLite gives them the database file's permissions
                assert _mode(extra) & 0o077 == 0
        store.close()
    finally:
        os.umask(old)


def test_an_existing_store_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "agents.db"
    SQLiteStore(path).close()
    os.chmod(path, 0o640)  # its owner chose to share it with a group
    SQLiteStore(path).close()
    assert _mode(path) == 0o640


def test_a_store_file_in_a_missing_directory_is_store_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        SQLiteStore(tmp_path / "missing" / "agents.db")
    assert not (tmp_path / "missing").exists()
