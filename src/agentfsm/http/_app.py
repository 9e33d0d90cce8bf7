"""``create_app``: the HTTP API, its routes generated from the machines, on ``AsyncController``.

FastAPI (on Starlette) is used rather than Starlette alone because the API's OpenAPI document is
then generated from the same typed bodies that check the requests, so the document cannot
disagree with what the server accepts; the cost is one pydantic model per action.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from agentfsm._errors import AgentFSMError, InvalidInput
from agentfsm._machine import Machine
from agentfsm.http._action_routes import add_action_routes, add_machine_routes
from agentfsm.http._agent_routes import add_agent_routes
from agentfsm.http._api import Api
from agentfsm.http._auth import Authenticator
from agentfsm.http._problems import Problem
from agentfsm.http._ui import add_ui
from agentfsm.runtime._async_controller import AsyncController

log = logging.getLogger("agentfsm.http")


def build_app(
    controller: AsyncController,
    machines: Machine | Mapping[str, Machine] | Sequence[Machine] | None,
    authenticator: Authenticator,
    *,
    prefix: str = "/api/v1",
    title: str = "agentfsm",
    retry_after: int = 1,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    ui: bool = True,
) -> FastAPI:
    """``agentfsm.http.create_app``, once FastAPI is known to be installed."""
    given = _machines(controller, machines)
    api = Api(controller, given, authenticator, retry_after)
    app = FastAPI(title=title, version="1", openapi_url=f"{prefix}/openapi.json", docs_url=None,
                  redoc_url=None, lifespan=lifespan)  # fmt: skip
    app.state.agentfsm = api
    _handlers(app)
    add_agent_routes(app, api, prefix)
    add_action_routes(app, api, prefix)
    add_machine_routes(app, api, prefix)
    if ui:
        add_ui(app, api)  # the dashboard at /ui (docs/dashboard.md)
    return app


def _machines(
    controller: AsyncController,
    machines: Machine | Mapping[str, Machine] | Sequence[Machine] | None,
) -> list[Machine]:
    if machines is None:
        return list(controller.machines.values())
    if isinstance(machines, Machine):
        found = [machines]
    elif isinstance(machines, Mapping):
        found = list(machines.values())
    else:
        found = list(machines)
    for m in found:
        if controller.machines.get(m.name) is None:
            raise InvalidInput(f"the machine {m.name!r} is not one of the controller's")
    return found


def _handlers(app: FastAPI) -> None:
    async def problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return exc.response(request.url.path)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ())]
        field = ".".join(loc[1:]) or (loc[0] if loc else "body")
        detail = f"{field}: {first.get('msg', 'is not valid')}"
        return Problem("invalid-request", detail, {"field": field}).response(request.url.path)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 405:
            found = Problem("method-not-allowed", f"{request.method} is not allowed here")
        elif exc.status_code == 404:
            found = Problem("not-found", f"nothing is served at {request.url.path}")
        else:  # FastAPI's 400 for a body it could not parse (nested too deep to read, say)
            found = Problem("invalid-request", "the body could not be read", {"field": "body"})
        return found.response(request.url.path)

    async def crashed(request: Request, exc: Exception) -> Response:
        log.error("the HTTP API failed on %s %s", request.method, request.url.path, exc_info=exc)
        detail = "the server could not answer; the failure is logged"
        return Problem("server-error", detail).response(request.url.path)

    app.add_exception_handler(Problem, problem)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, crashed)
    app.add_exception_handler(AgentFSMError, crashed)
