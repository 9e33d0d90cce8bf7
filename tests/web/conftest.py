"""Fixtures of the HTTP tests: a client of the API on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentfsm.runtime import ThrowawayPostgres
from agentfsm.runtime._pgserver import INSTALL_HINT, find_pg_bin
from tests.web.support import make_app, sqlite_where

with warnings.catch_warnings():
    # Starlette's TestClient warns that it will move to another HTTP client; it is the
    # in-process transport these tests use on purpose.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ThrowawayPostgres]:
    if find_pg_bin() is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    server = ThrowawayPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def where(store_kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if store_kind == "sqlite":
        return sqlite_where(tmp_path)
    server: ThrowawayPostgres = request.getfixturevalue("pg_server")
    return server.dsn


@pytest.fixture
def client(store_kind: str, where: str) -> Iterator[TestClient]:
    """A client of the API (in-process ASGI transport) on a fresh store of each kind."""
    with TestClient(make_app(store_kind, where), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def sqlite_client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(make_app("sqlite", sqlite_where(tmp_path)), raise_server_exceptions=False) as c:
        yield c
