"""Who may do what over HTTP: tenants apart, platform events for the platform only, and
idempotency keys scoped to their caller."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from agentfsm.http import PROBLEM_BASE
from tests.web.support import API, bearer, create_alfe, running_alfe

ALICE = bearer("alice-token")
BOB = bearer("bob-token")
MALLORY = bearer("mallory-token")
PF = bearer("pf-token")


def _log(client: TestClient, agent_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.get(f"{API}/agents/{agent_id}/events", headers=PF).json()[
        "items"
    ]
    return rows


def _type(answer: Any) -> str:
    return str(answer.json()["type"]).removeprefix(PROBLEM_BASE)


def test_a_user_cannot_see_or_touch_another_tenants_agent(client: TestClient) -> None:
    running_alfe(client, "acme.t1")
    before = _log(client, "acme.t1")
    tries = [
        client.get(f"{API}/agents/acme.t1", headers=MALLORY),
        client.get(f"{API}/agents/acme.t1/events", headers=MALLORY),
        client.post(f"{API}/agents/acme.t1/stop", headers=MALLORY),
        client.post(f"{API}/agents/acme.t1/connected", headers=MALLORY),
        client.delete(f"{API}/agents/acme.t1", headers=MALLORY),
    ]
    # Answered exactly as an agent that does not exist: the id does not leak.
    assert [(a.status_code, _type(a)) for a in tries] == [(404, "unknown-agent")] * 5
    nobody = client.get(f"{API}/agents/acme.none", headers=MALLORY)
    assert tries[0].json()["detail"].replace("t1", "none") == nobody.json()["detail"]
    listed = client.get(f"{API}/agents", headers=MALLORY).json()["items"]
    assert listed == []
    assert _log(client, "acme.t1") == before


def test_a_user_cannot_create_an_agent_in_another_tenant(client: TestClient) -> None:
    answer = create_alfe(client, "acme.planted", token="mallory-token")
    assert (answer.status_code, _type(answer)) == (403, "forbidden")
    assert client.get(f"{API}/agents/acme.planted", headers=ALICE).status_code == 404


def test_a_user_cannot_send_a_platform_event(client: TestClient) -> None:
    assert create_alfe(client, "acme.t2").status_code == 201
    before = _log(client, "acme.t2")
    for event in ("provision", "connected", "billing_suspend"):
        answer = client.post(f"{API}/agents/acme.t2/{event}", headers=ALICE, json={"reason": "x"})
        assert (answer.status_code, _type(answer)) == (403, "forbidden")
        assert answer.json()["code"] == "actor_not_allowed"
    # Timer events have no route at all.
    assert client.post(f"{API}/agents/acme.t2/purge", headers=PF).status_code == 404
    assert _log(client, "acme.t2") == before


def test_the_platform_reports_through_the_same_api(client: TestClient) -> None:
    running_alfe(client, "acme.t3")  # provision, host_up, connected, all with the platform token
    rows = _log(client, "acme.t3")
    assert [(r["event"], r["actor"], r["principal"]) for r in rows[1:]] == [
        ("provision", "S", "observer"),
        ("host_up", "S", "observer"),
        ("connected", "S", "observer"),
    ]


def test_the_same_key_and_request_is_answered_once(client: TestClient) -> None:
    running_alfe(client, "acme.k1")
    key = {"Idempotency-Key": "stop-1"}
    first = client.post(f"{API}/agents/acme.k1/stop", headers={**ALICE, **key})
    again = client.post(f"{API}/agents/acme.k1/stop", headers={**ALICE, **key})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert [r["event"] for r in _log(client, "acme.k1")].count("stop") == 1


def test_the_same_key_with_another_request_is_422(client: TestClient) -> None:
    running_alfe(client, "acme.k2")
    key = {"Idempotency-Key": "mine"}
    assert client.post(f"{API}/agents/acme.k2/stop", headers={**ALICE, **key}).status_code == 200
    before = _log(client, "acme.k2")
    other = client.post(f"{API}/agents/acme.k2/restart", headers={**ALICE, **key})
    assert (other.status_code, _type(other)) == (422, "idempotency-key-reused")
    assert other.json()["field"] == "Idempotency-Key"
    assert _log(client, "acme.k2") == before


def test_a_user_cannot_forge_another_callers_key(client: TestClient) -> None:
    assert create_alfe(client, "acme.k3").status_code == 201
    key = {"Idempotency-Key": "provision-acme.k3"}
    assert client.post(f"{API}/agents/acme.k3/provision", headers={**PF, **key}).status_code == 200
    # Alice's key of the same text is hers: it is neither the platform's outcome nor a
    # mismatch with it. Her delete is decided on its own.
    mine = client.delete(f"{API}/agents/acme.k3", headers={**ALICE, **key})
    assert mine.status_code == 200, mine.text
    assert mine.json()["snapshot"]["status"] != "provisioning"
    # And Bob's key of the text Alice used is Bob's own.
    bobs = client.post(f"{API}/agents/acme.k3/start", headers={**BOB, **key})
    assert _type(bobs) == "refused"
    scopes = [(r["event"], r["actor"], r["principal"]) for r in _log(client, "acme.k3")[1:]]
    assert scopes == [
        ("provision", "S", "observer"),
        ("delete", "U", "alice"),
        ("start", "U", "bob"),
    ]


def test_a_key_that_is_no_key_is_422(client: TestClient) -> None:
    running_alfe(client, "acme.k4")
    long = client.post(
        f"{API}/agents/acme.k4/stop", headers={**ALICE, "Idempotency-Key": "k" * 1025}
    )
    assert (long.status_code, _type(long)) == (422, "invalid-request")


def _listed(client: TestClient, headers: dict[str, str], **query: Any) -> list[str]:
    """Every id a caller lists, page by page, following ``next``."""
    ids: list[str] = []
    params: dict[str, Any] = dict(query)
    while True:
        answer = client.get(f"{API}/agents", headers=headers, params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["items"]) <= params.get("limit", 50)
        ids += [item["agent_id"] for item in body["items"]]
        if body["next"] is None:
            return ids
        params["cursor"] = body["next"]


def test_each_tenant_lists_its_own_agents_page_by_page(client: TestClient) -> None:
    acme = [f"acme.p{i}" for i in range(7)]
    evil = [f"evil.p{i}" for i in range(3)]
    for a in acme:
        assert create_alfe(client, a).status_code == 201
    for a in evil:
        assert create_alfe(client, a, token="mallory-token").status_code == 201
    assert client.post(f"{API}/agents/acme.p3/provision", headers=PF).status_code == 200
    for size in (1, 2, 3, 50):
        assert _listed(client, ALICE, limit=size) == sorted(acme)
        assert _listed(client, MALLORY, limit=size) == sorted(evil)
        assert sorted(_listed(client, PF, limit=size)) == sorted(acme + evil)
    assert _listed(client, ALICE, status="provisioning") == ["acme.p3"]
    assert _listed(client, MALLORY, status="provisioning") == []
    assert _listed(client, ALICE, model="recif") == []
