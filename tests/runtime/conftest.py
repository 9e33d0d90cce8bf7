"""Fixtures for the runtime tests: stores of both kinds, one throwaway PostgreSQL server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_support import T0, StoreSpec

from agentfsm.models import MACHINES
from agentfsm.runtime import Controller, ManualClock, Store, ThrowawayPostgres
from agentfsm.runtime._pgserver import INSTALL_HINT, find_pg_bin

STORE_KINDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ThrowawayPostgres]:
    """One PostgreSQL server for the whole session; in CI its absence is a failure."""
    if find_pg_bin() is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    server = ThrowawayPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_dsn(pg_server: ThrowawayPostgres) -> str:
    return pg_server.dsn


def new_schema() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=STORE_KINDS)
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    """A fresh database of each kind: a SQLite file, or a new schema on the session server."""
    if request.param == "sqlite":
        return StoreSpec("sqlite", str(tmp_path / "agents.db"))
    server: ThrowawayPostgres = request.getfixturevalue("pg_server")
    return StoreSpec("postgres", server.dsn, new_schema())


@pytest.fixture
def store(store_spec: StoreSpec) -> Iterator[Store]:
    s = store_spec.open()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def controller(store: Store, clock: ManualClock) -> Controller:
    return Controller(MACHINES, store, clock)
