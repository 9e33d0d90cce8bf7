"""The routes generated from the machines: one per action or platform report, and the
machines' own documents.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Body, FastAPI, Header, Request
from starlette.responses import JSONResponse, Response

from agentfsm._machine import Machine
from agentfsm._spec import EventSpec
from agentfsm._words import quote
from agentfsm.http._api import Api
from agentfsm.http._bodies import body_model
from agentfsm.http._machines_doc import http_events, machine_document, refusal_codes, svg
from agentfsm.http._openapi import (
    problem_responses,
    wire_response,
)
from agentfsm.http._problems import Problem


def add_action_routes(app: FastAPI, api: Api, prefix: str) -> None:
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


def _endpoint(api: Api, name: str, model: Any) -> Callable[..., Awaitable[Response]]:
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


def add_machine_routes(app: FastAPI, api: Api, prefix: str) -> None:
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


def _served(api: Api, name: str) -> Machine:
    machine = api.machines.get(name)
    if machine is None:
        raise Problem("not-found", f"no machine {quote(name)} is served here")
    return machine
