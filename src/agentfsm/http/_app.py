"""``create_app``: the HTTP API, its routes generated from the machines, on ``AsyncController``.

FastAPI (on Starlette) is used rather than Starlette alone because the API's OpenAPI document is
then generated from the same typed bodies that check the requests, so the document cannot
disagree with what the server accepts; the cost is one pydantic model per action.
"""

from __future__ import annotations

import inspect
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import Body, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from agentfsm import wire
from agentfsm._errors import AgentFSMError, InvalidInput
from agentfsm._machine import Machine
from agentfsm._spec import EventSpec
from agentfsm._values import AnyRole, Event, Refusal, Step
from agentfsm.http._auth import Authenticator, Caller
from agentfsm.http._bodies import CreateBody, body_model, payload_problem
from agentfsm.http._machines_doc import http_events, machine_document, refusal_codes, svg
from agentfsm.http._openapi import problem_responses, wire_response
from agentfsm.http._problems import Problem
from agentfsm.http._ui import add_ui
from agentfsm.http._views import agent_view, cursor_after, next_cursor
from agentfsm.runtime._async_controller import AsyncController
from agentfsm.runtime._errors import (
    AgentExists,
    CodecError,
    IdempotencyKeyMismatch,
    StoreError,
    UnknownAgent,
    VersionConflict,
)

log = logging.getLogger("agentfsm.http")

_MACHINE_CACHE = 65_536


class _Api:
    """The state every route shares: the controller, the machines, who is calling."""

    def __init__(
        self,
        controller: AsyncController,
        machines: Sequence[Machine],
        authenticator: Authenticator,
        retry_after: int,
    ) -> None:
        self.controller = controller
        self.machines = {m.name: m for m in sorted(machines, key=lambda m: m.version)}
        self.auth = authenticator
        self.retry_after = str(retry_after)
        # An agent's machine never changes (a migration changes its version, not its name),
        # so it is remembered: sending an event then needs no read before the controller's.
        self._machine_of: OrderedDict[str, str] = OrderedDict()

    async def caller(self, request: Request) -> Caller:
        caller = await self.auth.authenticate(request)
        if caller is None:
            raise Problem(
                "unauthenticated",
                "send a credential the server knows (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return caller

    def visible(self, caller: Caller, agent_id: str) -> None:
        if not self.auth.may_see(caller, agent_id):
            raise _unknown(agent_id)

    async def machine_of(self, agent_id: str) -> Machine:
        name = self._machine_of.get(agent_id)
        if name is None:
            record = await self.guarded(self.controller.get(agent_id), agent_id)
            name = record.machine
            self.remember(agent_id, name)
        return self.machines[name]

    def remember(self, agent_id: str, machine: str) -> None:
        known = self._machine_of
        if agent_id not in known and len(known) >= _MACHINE_CACHE:
            known.popitem(last=False)
        known[agent_id] = machine

    async def guarded(self, call: Awaitable[Any], agent_id: str = "") -> Any:
        """Await a controller call, turning its documented errors into problems."""
        try:
            return await call
        except UnknownAgent:
            raise _unknown(agent_id) from None
        except IdempotencyKeyMismatch as exc:
            raise Problem(
                "idempotency-key-reused",
                str(exc),
                {"field": "Idempotency-Key"},
            ) from None
        except AgentExists as exc:
            raise Problem("agent-exists", str(exc)) from None
        except VersionConflict:
            raise Problem(
                "busy",
                "other writers kept changing the agent; nothing was written",
                headers={"Retry-After": self.retry_after},
            ) from None
        except CodecError as exc:
            raise Problem("invalid-request", str(exc)) from None
        except StoreError as exc:
            if exc.retryable:
                raise Problem(
                    "unavailable", "the store is unavailable", headers={"Retry-After": "1"}
                ) from None
            raise
        except InvalidInput as exc:
            raise Problem("invalid-request", str(exc)) from None

    async def send(
        self,
        request: Request,
        agent_id: str,
        name: str,
        payload: Mapping[str, Any],
        key: str | None,
    ) -> Response:
        caller = await self.caller(request)
        self.visible(caller, agent_id)
        machine = await self.machine_of(agent_id)
        try:
            spec = machine.spec.event(name)
        except KeyError:
            raise Problem(
                "not-found", f"the {machine.name} machine has no action {name!r}"
            ) from None
        role = _sender(caller, spec)
        bad = payload_problem(spec.fields, payload)
        if bad is not None:
            raise Problem("invalid-request", bad[1], {"field": bad[0]})
        try:
            event = Event(name, role, payload, key)
        except InvalidInput as exc:
            raise Problem("invalid-request", str(exc), {"field": "Idempotency-Key"}) from None
        result: Step | Refusal = await self.guarded(
            self.controller.handle(agent_id, event, principal=caller.principal), agent_id
        )
        if isinstance(result, Refusal):
            raise Problem(
                "refused",
                result.message,
                {
                    "code": result.code,
                    "guard": result.guard,
                    "event": result.event,
                    "status_name": result.status,
                },
            )
        return JSONResponse(wire.dump(result))


def _unknown(agent_id: str) -> Problem:
    return Problem("unknown-agent", f"there is no agent {agent_id!r} you may see")


def _sender(caller: Caller, spec: EventSpec) -> AnyRole:
    for role in caller.roles:
        if role in spec.actors:
            return role
    allowed = ", ".join(sorted(a.label for a in spec.actors))
    raise Problem(
        "forbidden",
        f"{spec.label or spec.name} is sent by {allowed}, which this caller is not",
        {"code": "actor_not_allowed", "event": spec.name},
    )


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
    api = _Api(controller, given, authenticator, retry_after)
    app = FastAPI(title=title, version="1", openapi_url=f"{prefix}/openapi.json", docs_url=None,
                  redoc_url=None, lifespan=lifespan)  # fmt: skip
    app.state.agentfsm = api
    _handlers(app)
    _agent_routes(app, api, prefix)
    _event_routes(app, api, prefix)
    _machine_routes(app, api, prefix)
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


def _agent_routes(app: FastAPI, api: _Api, prefix: str) -> None:
    controller = api.controller

    @app.post(
        f"{prefix}/agents",
        status_code=201,
        summary="Create an agent",
        tags=["agents"],
        responses=problem_responses(409, 422, 401, 403) | wire_response(201, "the agent"),
    )
    async def create_agent(request: Request, body: CreateBody) -> Response:
        caller = await api.caller(request)
        machine = api.machines.get(body.machine)
        if machine is None:
            raise Problem("invalid-request", f"no machine {body.machine!r}", {"field": "machine"})
        if not api.auth.may_see(caller, body.agent_id):
            raise Problem(
                "forbidden", f"this caller may not create {body.agent_id!r}", {"field": "agent_id"}
            )
        try:
            data = body.data if machine.record is None else wire.load(machine.record, body.data)
        except InvalidInput as exc:
            raise Problem("invalid-request", str(exc), {"field": "data"}) from None
        await api.guarded(controller.create(body.agent_id, machine.name, data))
        api.remember(body.agent_id, machine.name)
        record = await api.guarded(controller.get(body.agent_id))
        return JSONResponse(agent_view(machine, record, caller, controller.clock.now()), 201)

    @app.get(
        f"{prefix}/agents",
        summary="List the agents the caller may see",
        tags=["agents"],
        responses=problem_responses(401, 422),
    )
    async def list_agents(
        request: Request,
        model: str | None = Query(None, description="only agents of this machine"),
        status: str | None = Query(None, description="only agents in this status"),
        cursor: str | None = Query(None, description="the `next` of the previous page"),
        limit: int = Query(50, ge=1, le=500),
    ) -> Response:
        caller = await api.caller(request)
        after = cursor_after(cursor)
        records = await api.guarded(controller.store.agents())
        chosen = sorted(
            (
                r
                for r in records
                if api.auth.may_see(caller, r.agent_id)
                and (model is None or r.machine == model)
                and (status is None or r.snapshot.status == status)
                and (after is None or r.agent_id > after)
                and r.machine in api.machines
            ),
            key=lambda r: r.agent_id,
        )
        page = chosen[:limit]
        items = [
            {
                "agent_id": r.agent_id,
                "machine": r.machine,
                "status": r.snapshot.status,
                "phase": _phase(api.machines[r.machine], r.snapshot.status),
                "version": r.snapshot.version,
                "since": wire.dump(r.snapshot.since),
            }
            for r in page
        ]
        more = len(chosen) > limit
        return JSONResponse(
            {"items": items, "next": next_cursor(page[-1].agent_id) if more else None}
        )

    @app.get(
        f"{prefix}/agents/{{agent_id}}",
        summary="An agent: status, version, since, and the actions offered to the caller",
        tags=["agents"],
        responses=problem_responses(401, 404),
    )
    async def get_agent(request: Request, agent_id: str) -> Response:
        caller = await api.caller(request)
        api.visible(caller, agent_id)
        record = await api.guarded(controller.get(agent_id), agent_id)
        machine = api.machines.get(record.machine)
        if machine is None:
            raise _unknown(agent_id)
        api.remember(agent_id, record.machine)
        return JSONResponse(agent_view(machine, record, caller, controller.clock.now()))

    @app.get(
        f"{prefix}/agents/{{agent_id}}/events",
        summary="The agent's audit log, oldest first",
        tags=["agents"],
        responses=problem_responses(401, 404, 422),
    )
    async def agent_events(
        request: Request,
        agent_id: str,
        cursor: str | None = Query(None, description="the `next` of the previous page"),
        limit: int = Query(100, ge=1, le=1000),
    ) -> Response:
        caller = await api.caller(request)
        api.visible(caller, agent_id)
        after = cursor_after(cursor)
        seq = 0
        if after is not None:
            if not after.isdigit() or len(after) > 19:
                raise Problem("invalid-request", "not a cursor of this log", {"field": "cursor"})
            seq = int(after)
        rows = await api.guarded(controller.history(agent_id), agent_id)
        if not rows:
            await api.guarded(
                controller.get(agent_id), agent_id
            )  # 404 for an agent that is not there
        later = [r for r in rows if r.seq > seq]
        page = later[:limit]
        more = len(later) > limit
        return JSONResponse(
            {
                "items": [wire.dump(r) for r in page],
                "next": next_cursor(str(page[-1].seq)) if more else None,
            }
        )

    @app.delete(
        f"{prefix}/agents/{{agent_id}}",
        summary="Delete the agent (its machine's delete action)",
        tags=["agents"],
        responses=problem_responses(401, 403, 404, 409, 422, 503) | wire_response(200, "a step"),
    )
    async def delete_agent(
        request: Request,
        agent_id: str,
        idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
    ) -> Response:
        return await api.send(request, agent_id, "delete", {}, idempotency_key)


def _phase(machine: Machine, status: str) -> str | None:
    try:
        return machine.spec.state(status).phase
    except KeyError:
        return None


def _event_routes(app: FastAPI, api: _Api, prefix: str) -> None:
    declared: dict[str, list[EventSpec]] = {}
    codes: dict[str, list[str]] = {}
    for machine in api.machines.values():
        for ev in http_events(machine.spec):
            declared.setdefault(ev.name, []).append(ev)
            found = codes.setdefault(ev.name, [])
            found.extend(c for c in refusal_codes(machine.spec, ev.name) if c not in found)
    for name, events in declared.items():
        model = body_model(name, events)
        first = events[0]
        person = any(e.is_user_action for e in events)
        endpoint = _endpoint(api, name, model)
        description = (first.description or "") + (
            "\n\nRefusal codes (409 `refused`, member `code`): "
            + ", ".join(f"`{c}`" for c in codes[name])
        )
        app.add_api_route(
            f"{prefix}/agents/{{agent_id}}/{name}",
            endpoint,
            methods=["POST"],
            summary=first.label or name,
            description=description,
            tags=["actions" if person else "platform events"],
            name=f"send_{name}",
            responses=problem_responses(401, 403, 404, 409, 422, 503)
            | wire_response(200, "the step: the agent after the event, and its effects"),
            openapi_extra={"x-refusal-codes": codes[name]},
        )


def _endpoint(api: _Api, name: str, model: Any) -> Callable[..., Awaitable[Response]]:
    async def endpoint(
        request: Request, agent_id: str, idempotency_key: str | None = None, body: Any = None
    ) -> Response:
        payload = {} if body is None else body.model_dump(exclude_unset=True)
        return await api.send(request, agent_id, name, payload, idempotency_key)

    params = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
        inspect.Parameter("agent_id", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
        inspect.Parameter(
            "idempotency_key",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=Header(None, alias="Idempotency-Key", max_length=1024),
            annotation=str | None,
        ),
    ]
    if model is not None:
        required = any(f.is_required() for f in model.model_fields.values())
        params.append(
            inspect.Parameter(
                "body",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=Body(...) if required else Body(None),
                annotation=model if required else model | None,
            )
        )
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = f"send_{name}"
    return endpoint


def _machine_routes(app: FastAPI, api: _Api, prefix: str) -> None:
    @app.get(f"{prefix}/machines", summary="The machines served", tags=["machines"])
    async def list_machines() -> Response:
        return JSONResponse(
            {"items": [{"name": m.name, "version": m.version} for m in api.machines.values()]}
        )

    @app.get(
        f"{prefix}/machines/{{name}}",
        summary="A machine: its document, each action's payload schema and refusal codes",
        tags=["machines"],
        responses=problem_responses(404),
    )
    async def get_machine(name: str) -> Response:
        machine = _served(api, name)
        url = f"{prefix}/machines/{name}/diagram.svg" if svg(machine) is not None else None
        return JSONResponse(machine_document(machine, url))

    @app.get(
        f"{prefix}/machines/{{name}}/diagram.svg",
        summary="The machine's diagram as SVG (when Graphviz is installed)",
        tags=["machines"],
        responses=problem_responses(404),
    )
    async def machine_svg(name: str) -> Response:
        drawn = svg(_served(api, name))
        if drawn is None:
            raise Problem("not-found", "no SVG diagram: Graphviz (dot) is not installed")
        return Response(drawn, media_type="image/svg+xml")


def _served(api: _Api, name: str) -> Machine:
    machine = api.machines.get(name)
    if machine is None:
        raise Problem("not-found", f"no machine {name!r} is served here")
    return machine
