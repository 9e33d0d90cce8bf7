"""Driving the asyncio runtime from synchronous tests: one event loop on a thread of its own,
and sync facades over an async store or controller, so one test suite runs against all four
stores (sync and async, SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """An event loop running on a daemon thread; ``run`` waits for a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class SyncFacade:
    """The blocking face of an async object: its coroutine methods run on ``loop`` and are
    waited for; everything else (attributes, plain methods) is the object's own."""

    def __init__(self, inner: Any, loop: LoopThread) -> None:
        self.inner = inner
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.inner, name)
        if inspect.iscoroutinefunction(value):

            def blocking(*args: Any, **kwargs: Any) -> Any:
                return self._loop.run(value(*args, **kwargs))

            return blocking
        return value
