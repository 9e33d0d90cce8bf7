"""``create_app``: the public entry point, importing FastAPI only when an app is made.

``agentfsm.http`` itself stays importable without the ``http`` extra (the command line
registers ``agentfsm serve`` from it), so FastAPI is imported here, on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from agentfsm._errors import MissingExtra
from agentfsm._machine import Machine
from agentfsm.http._auth import Authenticator

if TYPE_CHECKING:
    from fastapi import FastAPI

    from agentfsm.runtime import AsyncController


def create_app(
    controller: AsyncController,
    machines: Machine | Mapping[str, Machine] | Sequence[Machine] | None,
    authenticator: Authenticator,
    *,
    prefix: str = "/api/v1",
    title: str = "agentfsm",
    retry_after: int = 1,
    lifespan: Callable[[Any], AbstractAsyncContextManager[None]] | None = None,
    ui: bool = True,
) -> FastAPI:
    """The HTTP API of ``controller``'s agents, as an ASGI app to serve or mount.

    Routes (under ``prefix``): ``POST /agents``, ``GET /agents`` (cursor-paged, filtered by
    ``model`` and ``status``), ``GET`` and ``DELETE /agents/{id}``, ``POST /agents/{id}/{event}``
    for every event a person or the platform may send, ``GET /agents/{id}/events`` (the audit
    log, cursor-paged), ``GET /machines`` and ``GET /machines/{name}`` (with ``…/diagram.svg``).
    Every error is an RFC 9457 problem document (see docs/http.md).

    Args:
        controller: the controller deciding every event (its store opened by the caller).
        machines: the machines to serve (default: the controller's).
        authenticator: who is calling, and which agents they may see.
        prefix: where the routes live.
        title: the OpenAPI document's title.
        retry_after: the ``Retry-After`` seconds of a 503 after a version conflict.
        lifespan: the app's lifespan (open the store and start the workers in it, on the
            server's event loop: an async store belongs to the loop that opened it).
        ui: also serve the dashboard at ``/ui`` (see docs/dashboard.md), signed in with the
            same credentials as the API.

    Returns:
        A FastAPI application.

    Raises:
        InvalidInput: a machine is not one of the controller's.
        MissingExtra: FastAPI is not installed (``pip install 'agentfsm[http]'``).
    """
    try:
        from agentfsm.http._app import build_app
    except ImportError as exc:
        raise MissingExtra("The HTTP API", "http", exc.name or "fastapi") from exc
    return build_app(
        controller,
        machines,
        authenticator,
        prefix=prefix,
        title=title,
        retry_after=retry_after,
        lifespan=lifespan,
        ui=ui,
    )
