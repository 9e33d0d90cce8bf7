"""An app on a real store for the HTTP tests: SQLite files, or a schema on the throwaway server."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from agentfsm import Actor
from agentfsm.http import Caller, TokenAuthenticator, create_app
from agentfsm.http._serve import listening_socket
from agentfsm.models import MACHINES
from agentfsm.runtime import AsyncController, AsyncPostgresStore, AsyncSQLiteStore, ManualClock

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)

ALICE = Caller("alice", Actor.USER, tenant="acme")
BOB = Caller("bob", Actor.USER, tenant="acme")
MALLORY = Caller("mallory", Actor.USER, tenant="evil")
PLATFORM = Caller("observer", Actor.SYSTEM)
TOKENS = {"alice-token": ALICE, "bob-token": BOB, "mallory-token": MALLORY, "pf-token": PLATFORM}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_store(kind: str, where: str) -> Any:
    if kind == "sqlite":
        return AsyncSQLiteStore(where)
    return AsyncPostgresStore(where, schema=f"h_{uuid.uuid4().hex[:12]}", max_size=4)


def make_app(kind: str, where: str, clock: ManualClock | None = None) -> FastAPI:
    """The API on a fresh store, opened (on the server's loop) by the app's lifespan."""
    store = make_store(kind, where)
    controller = AsyncController(MACHINES, store, clock or ManualClock(T0))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        try:
            yield
        finally:
            await store.close()

    app = create_app(controller, None, TokenAuthenticator(TOKENS), lifespan=lifespan)
    app.state.controller = controller
    return app


def sqlite_where(tmp_path: Path) -> str:
    return str(tmp_path / f"agents-{uuid.uuid4().hex[:6]}.db")


@contextmanager
def real_server(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn on a loopback port; yields its base URL."""
    import uvicorn

    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


API = "/api/v1"


def create_alfe(client: Any, agent_id: str, token: str = "alice-token") -> Any:
    return client.post(
        f"{API}/agents",
        json={
            "agent_id": agent_id,
            "machine": "alfe",
            "data": {"agent_id": agent_id, "name": "bot"},
        },
        headers=bearer(token),
    )


def running_alfe(client: Any, agent_id: str) -> None:
    """An Alfe agent of alice's, brought to ``running`` by the platform's reports."""
    assert create_alfe(client, agent_id).status_code == 201
    for event in ("provision", "host_up", "connected"):
        answer = client.post(f"{API}/agents/{agent_id}/{event}", headers=bearer("pf-token"))
        assert answer.status_code == 200, answer.text
    assert (
        client.get(f"{API}/agents/{agent_id}", headers=bearer("alice-token")).json()["status"]
        == "running"
    )
