"""The routes of the agents themselves: create, list, read, delete, and the audit log."""

from __future__ import annotations

from typing import Any

import attrs
from fastapi import FastAPI, Header, Query, Request
from starlette.responses import JSONResponse, Response

from agentfsm import wire
from agentfsm._errors import InvalidInput
from agentfsm._machine import Machine
from agentfsm._words import quote
from agentfsm.http._api import Api, unknown_agent
from agentfsm.http._bodies import CreateBody
from agentfsm.http._openapi import (
    agent_schema,
    audit_row_schema,
    json_response,
    listed_agent_schema,
    page_schema,
    problem_responses,
    wire_response,
)
from agentfsm.http._problems import Problem
from agentfsm.http._views import agent_view, cursor_after, next_cursor
from agentfsm.runtime._errors import (
    AgentExists,
    StoreError,
)


def add_agent_routes(app: FastAPI, api: Api, prefix: str) -> None:
    controller = api.controller

    @app.post(
        f"{prefix}/agents",
        status_code=201,
        summary="Create an agent",
        tags=["agents"],
        responses=problem_responses(409, 422, 401, 403)
        | json_response(201, "the agent", agent_schema()),
    )
    async def create_agent(request: Request, body: CreateBody) -> Response:
        caller = await api.caller(request)
        machine = api.machines.get(body.machine)
        if machine is None:
            raise Problem(
                "invalid-request", f"no machine {quote(body.machine)}", {"field": "machine"}
            )
        if not api.auth.may_see(caller, body.agent_id):
            raise Problem(
                "forbidden",
                f"this caller may not create {quote(body.agent_id)}",
                {"field": "agent_id"},
            )
        try:
            data = _record(machine, body.data)
            await controller.create(body.agent_id, machine.name, data)
        except InvalidInput as exc:  # not the machine's record: nothing was written
            raise Problem("invalid-request", str(exc), {"field": "data"}) from None
        except AgentExists as exc:
            raise Problem("agent-exists", str(exc)) from None
        except StoreError as exc:
            await api.guarded(_raise(exc))
        api.remember(body.agent_id, machine.name)
        record = await api.guarded(controller.get(body.agent_id))
        return JSONResponse(agent_view(machine, record, caller, controller.clock.now()), 201)

    @app.get(
        f"{prefix}/agents",
        summary="List the agents the caller may see",
        tags=["agents"],
        responses=problem_responses(401, 422)
        | json_response(200, "a page of agents", page_schema(listed_agent_schema())),
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
        page, more = await api.visible_agents(
            caller, machine=model, status=status, after=after, limit=limit
        )
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
        return JSONResponse(
            {"items": items, "next": next_cursor(page[-1].agent_id) if more else None}
        )

    @app.get(
        f"{prefix}/agents/{{agent_id}}",
        summary="An agent: status, version, since, and the actions offered to the caller",
        tags=["agents"],
        responses=problem_responses(401, 404) | json_response(200, "the agent", agent_schema()),
    )
    async def get_agent(request: Request, agent_id: str) -> Response:
        caller = await api.caller(request)
        api.visible(caller, agent_id)
        record = await api.guarded(controller.get(agent_id), agent_id)
        machine = api.machines.get(record.machine)
        if machine is None:
            raise unknown_agent(agent_id)
        api.remember(agent_id, record.machine)
        return JSONResponse(agent_view(machine, record, caller, controller.clock.now()))

    @app.get(
        f"{prefix}/agents/{{agent_id}}/events",
        summary="The agent's audit log, oldest first",
        tags=["agents"],
        responses=problem_responses(401, 404, 422)
        | json_response(200, "a page of audit rows", page_schema(audit_row_schema())),
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


def _record(machine: Machine, data: Any) -> Any:
    """The agent's record from its JSON form: an attrs record through ``agentfsm.wire``, a
    plain record (a number, a string) as it is; ``Machine.initial`` checks either."""
    kind = machine.record
    if isinstance(kind, type) and attrs.has(kind):
        return wire.load(kind, data)
    return data


async def _raise(exc: BaseException) -> None:
    raise exc


def _phase(machine: Machine, status: str) -> str | None:
    try:
        return machine.spec.state(status).phase
    except KeyError:
        return None
