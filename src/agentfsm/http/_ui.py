"""The dashboard at ``/ui``: the fleet, each agent's controls, history and diagram, kept live.

The pages are rendered on the server from the same view the API answers (``agent_view``: the
machine's ``offered``), and every button goes through the API's own path (``Api.send``: the
same caller, the same checks, the same refusals as RFC 9457 problems). A browser signs in once
with its bearer token, which it then keeps in an ``HttpOnly``, ``SameSite=Strict`` cookie read
only under the dashboard's path; the cookie is handed to the authenticator as the
``Authorization`` header it would otherwise have sent, so a team's own ``Authenticator`` sees
dashboard requests exactly as API requests. Writes also refuse a request another site sent
(``Origin`` / ``Sec-Fetch-Site``). Live updates are server-sent events from ``AuditWatch``.

Nothing is fetched from elsewhere: the stylesheet and the script ship in the package
(``_ui_assets``) and the diagram is drawn on the server, so the dashboard works offline.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from fastapi import APIRouter, FastAPI, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from agentfsm.http import _ui_pages as pages
from agentfsm.http._auth import Caller
from agentfsm.http._machines_doc import svg
from agentfsm.http._problems import PROBLEM_TYPES, Problem
from agentfsm.http._ui_watch import AuditWatch
from agentfsm.http._views import agent_view

if TYPE_CHECKING:
    from agentfsm.http._api import Api

COOKIE = "agentfsm_ui"
"""The cookie the dashboard keeps the browser's token in."""

_ASSETS = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}
_SECURITY = {
    # Only this server's own script and stylesheet may run or load: nothing from a CDN, and
    # nothing injected through an agent's data can execute.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_MAX_FORM = 64 * 1024
_BODY = {"field": "body"}


def add_ui(
    app: FastAPI, api: Api, *, path: str = "/ui", poll: float = 1.0, stream_seconds: float = 25.0
) -> None:
    """Serve the dashboard under ``path`` in ``app``, beside the API (left out of its OpenAPI).

    Args:
        app: the API's application.
        api: the state the API's routes share (controller, machines, authenticator).
        path: where the dashboard lives.
        poll: the longest wait, in seconds, before a write another process made shows.
        stream_seconds: how long one event stream stays open before the browser reconnects
            (and is authenticated again), so a revoked token stops its updates.
    """
    _Dashboard(api, path.rstrip("/"), poll, stream_seconds).mount(app)


def _asset(name: str) -> bytes:
    return resources.files("agentfsm.http").joinpath("_ui_assets", name).read_bytes()


def _with_cookie(request: Request) -> Request:
    """The request as the authenticator should see it: the cookie's token as a bearer header
    when the request carries no ``Authorization`` of its own."""
    if "authorization" in request.headers:
        return request
    token = unquote(request.cookies.get(COOKIE, ""))
    if not token:
        return request
    try:
        header = f"Bearer {token}".encode("latin-1")
    except UnicodeEncodeError:
        return request
    scope = dict(request.scope)
    scope["headers"] = [*request.scope["headers"], (b"authorization", header)]
    return Request(scope, request.receive)


def _html(text: str, status: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(text, status, headers={**_SECURITY, **(headers or {})})


class _Dashboard:
    def __init__(self, api: Api, base: str, poll: float, stream_seconds: float) -> None:
        self.api = api
        self.base = base
        self.stream_seconds = stream_seconds
        self.watch = AuditWatch(api.controller.store, poll)
        self.assets = {name: _asset(name) for name in _ASSETS}
        self.statuses = {m.name: [s.name for s in m.spec.states] for m in api.machines.values()}

    def now(self) -> Any:
        return self.api.controller.clock.now()

    async def caller(self, request: Request) -> Caller | None:
        return await self.api.auth.authenticate(_with_cookie(request))

    def page(
        self,
        title: str,
        live: str,
        *,
        caller: Caller | None,
        part: str | None,
        status: int = 200,
        stream: str | None = None,
    ) -> HTMLResponse:
        if part == "live":
            return _html(live, status)
        who = caller.principal if caller is not None else None
        return _html(
            pages.frame(self.base, title, live, who=who, stream=stream, now=self.now()), status
        )

    def signed_out(self, request: Request, part: str | None) -> Response:
        """A page asked for without a credential: a person is sent to the sign-in form (and
        back afterwards); the script's re-read of a live part gets a plain 401."""
        if part is None and request.method == "GET":
            back = quote(request.url.path, safe="/")
            return RedirectResponse(f"{self.base}/sign-in?next={back}", 303)
        live = pages.sign_in(self.base, None, "Sign in to see the fleet.")
        return self.page("Sign in", live, caller=None, part=part, status=401)

    def back_to(self, wanted: str | None) -> str:
        """Where to go after signing in: a dashboard page asked for, never another site."""
        fleet = f"{self.base}/"
        if not wanted or not wanted.startswith(fleet) or "//" in wanted or "\\" in wanted:
            return fleet
        return wanted

    def missing(self, caller: Caller, agent_id: str, part: str | None) -> HTMLResponse:
        live = pages.not_found(self.base, f"There is no agent {agent_id!r} you may see.")
        return self.page("Not found", live, caller=caller, part=part, status=404)

    def same_site(self, request: Request) -> None:
        """Refuse a write another site's page sent (a cross-site form or script)."""
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise Problem("forbidden", "the dashboard takes actions from its own pages only")
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            raise Problem("forbidden", "the dashboard takes actions from its own pages only")

    # -- the routes ------------------------------------------------------------------------

    def mount(self, app: FastAPI) -> None:
        router = APIRouter(include_in_schema=False)
        base = self.base
        router.add_api_route(base, self.home, methods=["GET"])
        router.add_api_route(f"{base}/", self.fleet, methods=["GET"])
        router.add_api_route(f"{base}/agents/{{agent_id}}", self.agent, methods=["GET"])
        router.add_api_route(
            f"{base}/agents/{{agent_id}}/actions/{{event}}", self.act, methods=["POST"]
        )
        router.add_api_route(f"{base}/stream", self.stream, methods=["GET"])
        router.add_api_route(f"{base}/sign-in", self.sign_in_form, methods=["GET"])
        router.add_api_route(f"{base}/sign-in", self.sign_in, methods=["POST"])
        router.add_api_route(f"{base}/sign-out", self.sign_out, methods=["POST"])
        router.add_api_route(f"{base}/assets/{{name}}", self.asset, methods=["GET"])
        app.include_router(router)

    async def home(self) -> Response:
        return RedirectResponse(f"{self.base}/", 307)

    async def fleet(
        self, request: Request, status: str | None = Query(None), part: str | None = Query(None)
    ) -> Response:
        caller = await self.caller(request)
        if caller is None:
            return self.signed_out(request, part)
        api = self.api
        chosen = status or None
        records, _ = await api.visible_agents(caller, status=chosen)
        items = [
            {
                "agent_id": r.agent_id,
                "machine": r.machine,
                "status": r.snapshot.status,
                "phase": _phase(api, r.machine, r.snapshot.status),
                "version": r.snapshot.version,
                "since": r.snapshot.since,
            }
            for r in records
        ]
        live = pages.fleet(self.base, items, self.statuses, chosen, self.now())
        stream = f"{self.base}/stream"
        return self.page("Fleet", live, caller=caller, part=part, stream=stream)

    async def agent(
        self, request: Request, agent_id: str, part: str | None = Query(None)
    ) -> Response:
        caller = await self.caller(request)
        if caller is None:
            return self.signed_out(request, part)
        live = await self.agent_part(caller, agent_id)
        if live is None:
            return self.missing(caller, agent_id, part)
        stream = f"{self.base}/stream?agent={quote(agent_id, safe='')}"
        return self.page(agent_id, live, caller=caller, part=part, stream=stream)

    async def agent_part(
        self, caller: Caller, agent_id: str, message: tuple[str, str] | None = None
    ) -> str | None:
        api = self.api
        if not api.auth.may_see(caller, agent_id):
            return None
        try:
            record = await api.guarded(api.controller.get(agent_id), agent_id)
        except Problem as problem:
            if problem.name == "unknown-agent":
                return None
            raise  # the store is down, say: the API's problem document
        machine = api.machines.get(record.machine)
        if machine is None:
            return None
        rows = await api.guarded(api.controller.history(agent_id), agent_id)
        view = agent_view(machine, record, caller, self.now())
        drawn = await asyncio.to_thread(svg, machine)  # Graphviz runs once per machine
        return pages.agent(self.base, machine, record, view, rows, drawn, self.now(), message)

    async def act(self, request: Request, agent_id: str, event: str) -> Response:
        self.same_site(request)
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind == "application/json":
            try:
                payload = await request.json()
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                raise Problem("invalid-request", "the body must be a JSON object", _BODY)
            key = request.headers.get("idempotency-key")
            return await self.api.send(_with_cookie(request), agent_id, event, payload, key)
        return await self.act_by_form(request, agent_id, event)

    async def act_by_form(self, request: Request, agent_id: str, event: str) -> Response:
        """A button pressed with the script off: the same send, answered with the page."""
        caller = await self.caller(request)
        if caller is None:
            return self.signed_out(request, None)
        body = await request.body()
        if len(body) > _MAX_FORM:
            raise Problem("invalid-request", "the form is too large", {"field": "body"})
        fields = parse_qs(body.decode("utf-8", "replace"))
        payload = {k: v[0] for k, v in fields.items() if k != "do" and v and v[0] != ""}
        try:
            await self.api.send(_with_cookie(request), agent_id, event, payload, None)
        except Problem as problem:
            live = await self.agent_part(caller, agent_id, ("bad", problem.detail))
            if live is None:
                return self.missing(caller, agent_id, None)
            return self.page(agent_id, live, caller=caller, part=None,
                             status=PROBLEM_TYPES[problem.name][0])  # fmt: skip
        return RedirectResponse(pages.agent_url(self.base, agent_id), 303)

    async def stream(self, request: Request, agent: str | None = Query(None)) -> Response:
        caller = await self.caller(request)
        if caller is None:
            raise Problem("unauthenticated", "sign in to the dashboard first")
        if agent is not None and not self.api.auth.may_see(caller, agent):
            raise Problem("unknown-agent", f"there is no agent {agent!r} you may see")
        return StreamingResponse(
            self.events(caller, agent),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def events(self, caller: Caller, agent: str | None) -> AsyncIterator[str]:
        may_see = self.api.auth.may_see
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stream_seconds
        async with self.watch.subscribe() as sub:
            yield "retry: 1000\n: listening\n\n"
            while (left := deadline - loop.time()) > 0:
                got = await sub.next(min(15.0, left))
                if got is None:
                    yield ": still here\n\n"  # a write, so a closed connection is noticed
                    continue
                rows, dropped = got
                if dropped:
                    yield "event: resync\ndata: {}\n\n"
                for row in rows:
                    if row.refusal is not None:
                        continue  # a refusal changes nothing
                    if agent is not None and row.agent_id != agent:
                        continue
                    if not may_see(caller, row.agent_id):
                        continue
                    data = json.dumps(
                        {
                            "agent_id": row.agent_id,
                            "event": row.event,
                            "status": row.to_status,
                            "version": row.version,
                        }
                    )
                    yield f"id: {row.seq}\nevent: change\ndata: {data}\n\n"

    async def sign_in_form(self, request: Request, next: str | None = Query(None)) -> Response:
        live = pages.sign_in(self.base, self.back_to(next), None)
        return self.page("Sign in", live, caller=None, part=None)

    async def sign_in(self, request: Request) -> Response:
        self.same_site(request)
        body = await request.body()
        form = parse_qs(body[:_MAX_FORM].decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0].strip()
        back = self.back_to((form.get("next") or [""])[0])
        caller = None
        if token:
            scope = dict(request.scope)
            header = ("Bearer " + token).encode("utf-8", "replace")
            scope["headers"] = [
                *(h for h in request.scope["headers"] if h[0] != b"authorization"),
                (b"authorization", header),
            ]
            caller = await self.api.auth.authenticate(Request(scope, request.receive))
        if caller is None:
            live = pages.sign_in(self.base, back, "That token names no one this server knows.")
            return self.page("Sign in", live, caller=None, part=None, status=401)
        answer = RedirectResponse(back, 303)
        answer.set_cookie(
            COOKIE,
            quote(token, safe=""),
            path=self.base or "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return answer

    async def sign_out(self, request: Request) -> Response:
        self.same_site(request)
        answer = RedirectResponse(f"{self.base}/sign-in", 303)
        answer.delete_cookie(COOKIE, path=self.base or "/", httponly=True, samesite="strict")
        return answer

    async def asset(self, name: str) -> Response:
        media = _ASSETS.get(name)
        if media is None:
            raise Problem("not-found", f"the dashboard has no asset {name!r}")
        return Response(
            self.assets[name],
            media_type=media,
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )


def _phase(api: Api, machine: str, status: str) -> str | None:
    try:
        return api.machines[machine].spec.state(status).phase
    except KeyError:
        return None
