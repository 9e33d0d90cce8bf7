"""The runtime's logic without its I/O: generators that yield what they need done.

The controller's decisions (load, decide, compare-and-set, retry, recognise a duplicate) and
the workers' handling of an item are written once, as generators that yield requests (call a
store method, pause, run an effect handler) and are sent the results, or have the errors thrown
in at the ``yield``. A driver carries the requests out: ``run_steps`` with blocking calls for
``Controller`` and the thread workers, ``run_steps_async`` with ``await`` for
``AsyncController`` and the asyncio workers. Only the drivers differ between the two.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Generator
from typing import Any, NamedTuple, TypeVar

T = TypeVar("T")


class Call(NamedTuple):
    """Call ``method`` on the store with ``args`` (a coroutine method on an async store)."""

    method: str
    args: tuple[Any, ...] = ()


class Pause(NamedTuple):
    """Wait ``seconds`` (``time.sleep``, or ``asyncio.sleep``)."""

    seconds: float


class Invoke(NamedTuple):
    """Call ``func`` with ``args``; the async driver awaits what it returns if it is awaitable
    (an effect handler may be a coroutine function)."""

    func: Callable[..., Any]
    args: tuple[Any, ...] = ()


Request = Call | Pause | Invoke
Steps = Generator[Request, Any, T]
"""A computation that yields requests and returns a ``T``."""


def run_steps(steps: Steps[T], store: Any) -> T:
    """Carry ``steps`` out with blocking calls on ``store``.

    Raises:
        TypeError: an ``Invoke`` returned an awaitable (a coroutine handler needs the async
            driver).
    """
    value: Any = None
    error: Exception | None = None
    while True:
        try:
            request = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            if isinstance(request, Call):
                value = getattr(store, request.method)(*request.args)
            elif isinstance(request, Pause):
                time.sleep(request.seconds)
            else:
                value = request.func(*request.args)
                if inspect.isawaitable(value):
                    close = getattr(value, "close", None)
                    if close is not None:
                        close()  # never awaited: say so here, not in a warning at exit
                    raise TypeError(
                        f"{request.func!r} returned an awaitable; use the asyncio runtime "
                        "(AsyncController, AsyncOutboxWorker) for coroutine handlers"
                    )
        except Exception as exc:
            error = exc


async def run_steps_async(steps: Steps[T], store: Any) -> T:
    """Carry ``steps`` out with ``await`` on ``store``'s coroutine methods.

    A cancellation at an ``await`` closes the generator (its ``finally`` blocks run) and
    propagates; a store write is one transaction, so it happened whole or not at all.
    """
    value: Any = None
    error: Exception | None = None
    try:
        while True:
            try:
                request = steps.send(value) if error is None else steps.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            value, error = None, None
            try:
                if isinstance(request, Call):
                    value = await getattr(store, request.method)(*request.args)
                elif isinstance(request, Pause):
                    await asyncio.sleep(request.seconds)
                else:
                    value = request.func(*request.args)
                    if inspect.isawaitable(value):
                        value = await value
            except Exception as exc:
                if cancelling():
                    # Some drivers answer a cancellation with another error (psycopg raises
                    # the cancelled query's error); the task is still being cancelled.
                    raise asyncio.CancelledError() from exc
                error = exc
    finally:
        steps.close()


def cancelling() -> bool:
    """Whether the running task has been asked to cancel (and has not given that up)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
