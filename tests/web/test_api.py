"""The HTTP API on a real store (a SQLite file, and PostgreSQL): routes, errors, paging."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from agentfsm import Actor
from agentfsm.http import PROBLEM_BASE
from tests.web.support import API, bearer, create_alfe, running_alfe

ALICE = bearer("alice-token")
PF = bearer("pf-token")


def _problem(answer: Any, status: int, name: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["type"] == PROBLEM_BASE + name
    assert body["status"] == status
    assert body["detail"]
    return body


def test_create_then_get_shows_status_version_since_and_offers(client: TestClient) -> None:
    made = create_alfe(client, "acme.a1")
    assert made.status_code == 201
    agent = client.get(f"{API}/agents/acme.a1", headers=ALICE).json()
    assert (agent["status"], agent["version"], agent["machine"]) == ("pending", 0, "alfe")
    offers = {o["event"]: o for o in agent["offered"]}
    assert offers["delete"]["offered"] is True
    assert offers["stop"]["offered"] is False
    assert offers["stop"]["refusal"]["code"] == "not_allowed_from_status"
    assert "provision" not in offers  # a user is offered user actions only


def test_a_running_agent_stops_through_the_api(client: TestClient) -> None:
    running_alfe(client, "acme.a2")
    step = client.post(f"{API}/agents/acme.a2/stop", headers=ALICE)
    assert step.status_code == 200
    body = step.json()
    assert body["accepted"] is True
    assert body["snapshot"]["status"] == "stopping"
    assert any(e["@type"] == "ShutdownHost" for e in body["effects"])
    rows = client.get(f"{API}/agents/acme.a2/events", headers=ALICE).json()["items"]
    assert [r["event"] for r in rows][-1] == "stop"
    assert rows[-1]["principal"] == "alice"
    assert rows[-1]["actor"] == "U"


def test_recif_agents_show_their_phase_and_conditions(client: TestClient) -> None:
    made = client.post(
        f"{API}/agents",
        json={"agent_id": "acme.r1", "machine": "recif", "data": {"slug": "support"}},
        headers=ALICE,
    )
    assert made.status_code == 201, made.text
    assert client.post(f"{API}/agents/acme.r1/deploy", headers=ALICE).status_code == 200
    ready = client.post(f"{API}/agents/acme.r1/pods_ready", json={"ready_replicas": 1}, headers=PF)
    assert ready.status_code == 200, ready.text
    agent = client.get(f"{API}/agents/acme.r1", headers=ALICE).json()
    assert agent["phase"] == "Running"
    assert {c["type"] for c in agent["conditions"]} >= {"Ready"}


def test_a_refusal_is_409_with_code_sentence_and_guard_and_changes_nothing(
    client: TestClient,
) -> None:
    running_alfe(client, "acme.a3")
    assert client.post(f"{API}/agents/acme.a3/stop", headers=ALICE).status_code == 200
    assert client.post(f"{API}/agents/acme.a3/shutdown_complete", headers=PF).status_code == 200
    before = client.get(f"{API}/agents/acme.a3", headers=ALICE).json()
    answer = client.post(
        f"{API}/agents/acme.a3/recreate", json={"confirmation": "not-its-name"}, headers=ALICE
    )
    body = _problem(answer, 409, "refused")
    assert body["code"] == "confirmation_mismatch"
    assert body["guard"] == "confirmation_matches"
    assert body["event"] == "recreate"
    after = client.get(f"{API}/agents/acme.a3", headers=ALICE).json()
    assert (after["status"], after["version"]) == (before["status"], before["version"])


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("recreate", {"confirmation": 3}, "confirmation"),
        ("recreate", {}, "confirmation"),
        ("recreate", {"confirmation": "bot", "colour": "red"}, "colour"),
        ("recreate", {"confirmation": "bot", "size": None}, "size"),
    ],
)
def test_a_bad_payload_is_422_naming_the_field(
    sqlite_client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    running_alfe(sqlite_client, "acme.p")
    answer = sqlite_client.post(f"{API}/agents/acme.p/{path}", json=body, headers=ALICE)
    assert _problem(answer, 422, "invalid-request")["field"] == field
    rows = sqlite_client.get(f"{API}/agents/acme.p/events", headers=ALICE).json()["items"]
    assert rows[-1]["event"] == "connected"  # nothing was decided, or recorded


@pytest.mark.parametrize("body", [b"{not json", b"[" * 100_000 + b"]" * 100_000])
def test_a_body_that_is_not_json_is_422(sqlite_client: TestClient, body: bytes) -> None:
    create_alfe(sqlite_client, "acme.j")
    answer = sqlite_client.post(
        f"{API}/agents/acme.j/recreate",
        content=body,
        headers={**ALICE, "content-type": "application/json"},
    )
    _problem(answer, 422, "invalid-request")


def test_regression_a_body_nested_too_deep_was_answered_not_found(
    sqlite_client: TestClient,
) -> None:
    create_alfe(sqlite_client, "acme.deep")
    answer = sqlite_client.post(
        f"{API}/agents/acme.deep/recreate",
        content=b"[" * 100_000 + b"]" * 100_000,
        headers={**ALICE, "content-type": "application/json"},
    )
    assert _problem(answer, 422, "invalid-request")["field"] == "body"


def test_unknown_agents_routes_and_methods_are_problems(sqlite_client: TestClient) -> None:
    _problem(sqlite_client.get(f"{API}/agents/acme.nobody", headers=ALICE), 404, "unknown-agent")
    _problem(
        sqlite_client.post(f"{API}/agents/acme.nobody/stop", headers=ALICE), 404, "unknown-agent"
    )
    _problem(
        sqlite_client.get(f"{API}/agents/acme.nobody/events", headers=ALICE),
        404,
        "unknown-agent",
    )
    _problem(sqlite_client.get(f"{API}/nothing-here", headers=ALICE), 404, "not-found")
    _problem(sqlite_client.put(f"{API}/agents", headers=ALICE), 405, "method-not-allowed")
    _problem(sqlite_client.get(f"{API}/machines/nope"), 404, "not-found")


def test_no_or_unknown_credentials_are_401(sqlite_client: TestClient) -> None:
    _problem(sqlite_client.get(f"{API}/agents"), 401, "unauthenticated")
    _problem(sqlite_client.get(f"{API}/agents", headers=bearer("guess")), 401, "unauthenticated")
    _problem(
        sqlite_client.get(f"{API}/agents", headers={"Authorization": "Basic YWxpY2U="}),
        401,
        "unauthenticated",
    )


def test_creating_an_existing_agent_is_409_and_bad_data_is_422(sqlite_client: TestClient) -> None:
    assert create_alfe(sqlite_client, "acme.dup").status_code == 201
    _problem(create_alfe(sqlite_client, "acme.dup"), 409, "agent-exists")
    bad = sqlite_client.post(
        f"{API}/agents",
        json={"agent_id": "acme.x", "machine": "alfe", "data": {"name": 5}},
        headers=ALICE,
    )
    assert _problem(bad, 422, "invalid-request")["field"] == "data"
    unknown = sqlite_client.post(
        f"{API}/agents", json={"agent_id": "acme.y", "machine": "zz", "data": {}}, headers=ALICE
    )
    assert _problem(unknown, 422, "invalid-request")["field"] == "machine"


def test_a_version_conflict_after_retries_is_503_with_retry_after(
    sqlite_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentfsm.runtime import VersionConflict

    running_alfe(sqlite_client, "acme.busy")
    store = sqlite_client.app.state.controller.store  # type: ignore[attr-defined]

    async def always_moved(writes: Any) -> None:
        raise VersionConflict("acme.busy", 3)

    monkeypatch.setattr(store, "commit", always_moved)
    answer = sqlite_client.post(f"{API}/agents/acme.busy/stop", headers=ALICE)
    _problem(answer, 503, "busy")
    assert answer.headers["retry-after"] == "1"
    assert sqlite_client.app.state.controller.stats.conflicts > 1  # type: ignore[attr-defined]


def test_the_agent_list_is_cursor_paged_and_filtered(client: TestClient) -> None:
    ids = [f"acme.l{i}" for i in range(5)]
    for agent_id in ids:
        assert create_alfe(client, agent_id).status_code == 201
    client.post(f"{API}/agents/acme.l2/provision", headers=PF)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{API}/agents", params=params, headers=ALICE).json()
        seen += [a["agent_id"] for a in page["items"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 3
    only = client.get(f"{API}/agents", params={"status": "provisioning"}, headers=ALICE).json()
    assert [a["agent_id"] for a in only["items"]] == ["acme.l2"]
    recif = client.get(f"{API}/agents", params={"model": "recif"}, headers=ALICE).json()
    assert recif["items"] == []
    bad = client.get(f"{API}/agents", params={"cursor": "%%%"}, headers=ALICE)
    assert _problem(bad, 422, "invalid-request")["field"] == "cursor"


def test_the_audit_log_is_cursor_paged(client: TestClient) -> None:
    running_alfe(client, "acme.log")
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{API}/agents/acme.log/events", params=params, headers=ALICE).json()
        rows += page["items"]
        cursor = page["next"]
        if cursor is None:
            break
    assert [r["event"] for r in rows] == ["alfe", "provision", "host_up", "connected"]
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)


def test_the_machine_document_has_each_actions_schema_codes_and_diagram(
    sqlite_client: TestClient,
) -> None:
    doc = sqlite_client.get(f"{API}/machines/alfe").json()
    actions = {a["event"]: a for a in doc["actions"]}
    assert actions["recreate"]["schema"]["required"] == ["confirmation"]
    assert "confirmation_mismatch" in actions["recreate"]["refusal_codes"]
    assert "purge" not in actions  # timers are never sent over HTTP
    assert doc["diagram"]["mermaid"].startswith("stateDiagram-v2")
    assert doc["machine"]["name"] == "alfe"
    if doc["diagram"]["svg"] is not None:
        drawn = sqlite_client.get(doc["diagram"]["svg"])
        assert drawn.headers["content-type"] == "image/svg+xml"
        assert b"<svg" in drawn.content
    names = [m["name"] for m in sqlite_client.get(f"{API}/machines").json()["items"]]
    assert {"alfe", "recif"} <= set(names)


def test_the_openapi_document_lists_each_actions_refusal_codes_and_body(
    sqlite_client: TestClient,
) -> None:
    doc = sqlite_client.get(f"{API}/openapi.json").json()
    paths = doc["paths"]
    recreate = paths[f"{API}/agents/{{agent_id}}/recreate"]["post"]
    assert "confirmation_mismatch" in recreate["x-refusal-codes"]
    assert "confirmation_mismatch" in recreate["description"]
    assert "409" in recreate["responses"]
    assert "422" in recreate["responses"]
    problem = recreate["responses"]["409"]["content"]["application/problem+json"]["schema"]
    assert PROBLEM_BASE + "refused" in problem["properties"]["type"]["enum"]
    scale = paths[f"{API}/agents/{{agent_id}}/scale"]["post"]
    ref = scale["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert body["properties"]["replicas"]["type"] == "integer"
    assert body["required"] == ["replicas"]
    assert f"{API}/agents/{{agent_id}}/purge" not in paths
    assert {"get", "delete"} <= set(paths[f"{API}/agents/{{agent_id}}"])
    headers = [p["name"] for p in recreate["parameters"] if p["in"] == "header"]
    assert headers == ["Idempotency-Key"]


def test_what_the_api_sends_validates_against_the_wire_schemas(client: TestClient) -> None:
    from agentfsm import Offer, Step, wire
    from agentfsm.runtime import AuditRow
    from tests.json_schema_check import problems

    running_alfe(client, "acme.w")
    step = client.post(f"{API}/agents/acme.w/stop", headers=ALICE).json()
    assert problems(step, wire.schema(Step)) == []
    rows = client.get(f"{API}/agents/acme.w/events", headers=ALICE).json()["items"]
    assert len(rows) == 5
    for row in rows:
        assert problems(row, wire.schema(AuditRow)) == []
        assert wire.dump(wire.load(AuditRow, row)) == row
    for offer in client.get(f"{API}/agents/acme.w", headers=ALICE).json()["offered"]:
        assert problems(offer, wire.schema(Offer)) == []


def test_the_openapi_document_describes_the_agent_and_the_pages(sqlite_client: TestClient) -> None:
    from tests.json_schema_check import problems

    doc = sqlite_client.get(f"{API}/openapi.json").json()
    one = doc["paths"][f"{API}/agents/{{agent_id}}"]["get"]["responses"]["200"]
    schema = one["content"]["application/json"]["schema"]
    running_alfe(sqlite_client, "acme.doc")
    agent = sqlite_client.get(f"{API}/agents/acme.doc", headers=ALICE).json()
    assert problems(agent, schema) == []
    log = doc["paths"][f"{API}/agents/{{agent_id}}/events"]["get"]["responses"]["200"]
    page = sqlite_client.get(f"{API}/agents/acme.doc/events", headers=ALICE).json()
    assert problems(page, log["content"]["application/json"]["schema"]) == []


def test_a_listing_pages_through_the_store_when_few_agents_are_visible(tmp_path: Any) -> None:
    # An authenticator with no id prefix: the listing reads the store page by page until it
    # has a page of visible agents, and its cursor carries on from there.
    from starlette.testclient import TestClient

    from agentfsm.http import Caller, create_app
    from agentfsm.models import MACHINES, AlfeAgent
    from agentfsm.runtime import AsyncController, AsyncSQLiteStore, ManualClock
    from tests.web.support import T0

    class Sevens:
        async def authenticate(self, request: Any) -> Caller | None:
            return Caller("seven", Actor.SYSTEM)

        def may_see(self, caller: Caller, agent_id: str) -> bool:
            return agent_id.endswith("7")

    store = AsyncSQLiteStore(str(tmp_path / "agents.db"))
    controller = AsyncController(MACHINES, store, ManualClock(T0))
    ids = [f"a{i:03d}" for i in range(60)]

    async def fill() -> None:
        await store.open()
        await controller.create_many([(a, "alfe", AlfeAgent(a, "n")) for a in ids])
        await store.close()

    import asyncio

    asyncio.run(fill())
    app = create_app(controller, None, Sevens(), lifespan=_opened(store))
    with TestClient(app) as client:
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor is not None:
                params["cursor"] = cursor
            body = client.get(f"{API}/agents", params=params).json()
            assert len(body["items"]) <= 2
            seen += [item["agent_id"] for item in body["items"]]
            cursor = body["next"]
            if cursor is None:
                break
    assert seen == [a for a in ids if a.endswith("7")]


def _opened(store: Any) -> Any:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        await store.open()
        try:
            yield
        finally:
            await store.close()

    return lifespan
