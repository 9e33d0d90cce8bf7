"""The asyncio stores and controller check their arguments as the blocking ones do: the same
``InvalidInput`` for the same bad argument, raised before anything is read or written."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from runtime_support import T0

from agentfsm import Actor, Event, InvalidInput
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import AsyncController, AsyncPostgresStore, AsyncSQLiteStore, ManualClock

R = TypeVar("R")


def _run(coro: Awaitable[R]) -> R:
    async def main() -> R:
        return await coro

    return asyncio.run(main())


@pytest.mark.parametrize(
    "kwargs",
    [{"path": [1]}, {"path": "a\x00b"}, {"busy_timeout": -1.0}, {"synchronous": 3}],
)
def test_regression_async_sqlite_store_takes_unchecked_open_arguments(
    tmp_path: Path, kwargs: dict[str, Any]
) -> None:
    args: dict[str, Any] = {"path": tmp_path / "a.db", **kwargs}
    with pytest.raises(InvalidInput):
        AsyncSQLiteStore(args.pop("path"), **args)
    assert not (tmp_path / "a.db").exists()  # refused before any file was made


@pytest.mark.parametrize(
    "kwargs",
    [{"dsn": 5}, {"schema": ["s"]}, {"min_size": 3, "max_size": 2}, {"connect_timeout": -1}],
)
def test_regression_async_postgres_store_takes_unchecked_open_arguments(
    kwargs: dict[str, Any],
) -> None:
    args: dict[str, Any] = {"dsn": "host=nowhere.invalid", **kwargs}
    with pytest.raises(InvalidInput):
        AsyncPostgresStore(args.pop("dsn"), **args)


def test_regression_async_stores_read_unchecked_arguments(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with AsyncSQLiteStore(tmp_path / "a.db") as store:
            controller = AsyncController(MACHINES, store, ManualClock(T0))
            await controller.create("a1", "alfe", AlfeAgent("a1", "A"))
            with pytest.raises(InvalidInput):
                await store.load_many("a1")  # one string, not a list of ids
            with pytest.raises(InvalidInput):
                await store.outbox(state=["pending"])  # type: ignore[arg-type]
            with pytest.raises(InvalidInput):
                await store.audit_log(after_seq=2**70)
            with pytest.raises(InvalidInput):
                await store.timers(agent_id=7)  # type: ignore[arg-type]
            with pytest.raises(InvalidInput):
                await controller.handle(["a1"], Event("provision", Actor.SYSTEM))  # type: ignore[arg-type]
            with pytest.raises(InvalidInput):
                await controller.handle("a1", "provision")  # type: ignore[arg-type]
            assert len(await store.history("a1")) == 1  # the refusals wrote nothing
            assert list(await store.load_many(["a1"])) == ["a1"]

    _run(scenario())
