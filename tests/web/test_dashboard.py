"""The dashboard's routes without a browser: signing in, tenants kept apart, the controls, the
same refusals as the API, writes from other sites refused, the event stream, the assets."""

from __future__ import annotations

import json
import re
import threading
import warnings
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import httpx
import pytest

from agentfsm.http._ui import COOKIE
from agentfsm.http._ui_pages import elapsed, tone
from tests.web.support import (
    API,
    T0,
    bearer,
    create_alfe,
    make_app,
    real_server,
    running_alfe,
    sqlite_where,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[TestClient]:
    """A client of an app on a SQLite file holding acme's running agent and evil's agent."""
    with TestClient(make_app("sqlite", sqlite_where(tmp_path)), raise_server_exceptions=False) as c:
        running_alfe(c, "acme.one")
        assert create_alfe(c, "evil.secret", "mallory-token").status_code == 201
        yield c


def sign_in(client: TestClient, token: str) -> None:
    answer = client.post("/ui/sign-in", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/ui/"


def test_pages_ask_for_a_sign_in_and_a_wrong_token_is_refused(ui: TestClient) -> None:
    for path in ("/ui/", "/ui/agents/acme.one"):
        answer = ui.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/ui/sign-in?next={path}"
    form = ui.get("/ui/sign-in?next=/ui/agents/acme.one")
    assert '<input type="hidden" name="next" value="/ui/agents/acme.one">' in form.text
    for path in ("/ui/?part=live", "/ui/agents/acme.one?part=live"):
        answer = ui.get(path)
        assert answer.status_code == 401
        assert 'action="/ui/sign-in"' in answer.text
        assert "running" not in answer.text
    wrong = ui.post("/ui/sign-in", data={"token": "guess"}, follow_redirects=False)
    assert wrong.status_code == 401
    assert "names no one" in wrong.text
    assert COOKIE not in wrong.headers.get("set-cookie", "")
    assert ui.get("/ui/stream").status_code == 401
    assert ui.post("/ui/agents/acme.one/actions/stop", json={}).status_code == 401
    status = ui.get(f"{API}/agents/acme.one", headers=bearer("alice-token")).json()["status"]
    assert status == "running"


def test_signing_in_returns_to_the_page_asked_for_and_never_to_another_site(
    ui: TestClient,
) -> None:
    def back(wanted: str) -> str:
        answer = ui.post(
            "/ui/sign-in", data={"token": "alice-token", "next": wanted}, follow_redirects=False
        )
        assert answer.status_code == 303
        return answer.headers["location"]

    assert back("/ui/agents/acme.one") == "/ui/agents/acme.one"
    for elsewhere in ("https://evil.example/", "//evil.example/ui/", "/ui//evil", "/api/v1/x"):
        assert back(elsewhere) == "/ui/", elsewhere


def test_the_sign_in_cookie_is_http_only_strict_and_kept_to_the_dashboard(ui: TestClient) -> None:
    answer = ui.post("/ui/sign-in", data={"token": "alice-token"}, follow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=alice-token;")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/ui" in cookie
    # The API itself does not take the cookie: it wants the header, as before.
    assert ui.get(f"{API}/agents").status_code == 401
    out = ui.post("/ui/sign-out", follow_redirects=False)
    assert out.status_code == 303
    assert ui.get("/ui/", follow_redirects=False).status_code == 303


def test_a_bearer_header_works_without_the_cookie(ui: TestClient) -> None:
    answer = ui.get("/ui/", headers=bearer("alice-token"))
    assert answer.status_code == 200
    assert "acme.one" in answer.text


def test_the_fleet_shows_only_the_callers_tenant(ui: TestClient) -> None:
    sign_in(ui, "alice-token")
    page = ui.get("/ui/").text
    assert 'href="/ui/agents/acme.one"' in page
    assert "evil.secret" not in page
    assert '<span class="status tone-ok" data-status="running">running</span>' in page
    sign_in(ui, "mallory-token")
    page = ui.get("/ui/").text
    assert "evil.secret" in page
    assert "acme.one" not in page
    # The platform sees every tenant.
    sign_in(ui, "pf-token")
    page = ui.get("/ui/").text
    assert "evil.secret" in page
    assert "acme.one" in page


def test_another_tenants_agent_by_url_is_answered_as_a_missing_one(ui: TestClient) -> None:
    sign_in(ui, "alice-token")
    theirs = ui.get("/ui/agents/evil.secret")
    nobody = ui.get("/ui/agents/acme.nobody")
    assert theirs.status_code == nobody.status_code == 404
    assert "evil.secret" in theirs.text  # the id asked for, echoed; nothing of the agent
    assert theirs.text.replace("evil.secret", "X") == nobody.text.replace("acme.nobody", "X")
    sent = ui.post("/ui/agents/evil.secret/actions/stop", json={})
    assert sent.status_code == 404
    assert sent.json()["type"].endswith("/unknown-agent")
    assert ui.get("/ui/stream?agent=evil.secret").status_code == 404
    sign_in(ui, "mallory-token")
    assert ui.get("/ui/agents/evil.secret").status_code == 200


def test_the_fleet_filters_by_status(ui: TestClient) -> None:
    running_alfe(ui, "acme.two")
    assert ui.post(f"{API}/agents/acme.two/stop", headers=bearer("alice-token")).status_code == 200
    sign_in(ui, "alice-token")
    stopping = ui.get("/ui/?status=stopping").text
    assert "acme.two" in stopping
    assert "acme.one" not in stopping
    assert '<option value="stopping" selected>' in stopping
    every = ui.get("/ui/").text
    assert "acme.one" in every
    assert "acme.two" in every
    assert ui.get("/ui/?status=failed").text.count("<tr data-agent") == 0


def test_the_agent_page_offers_the_machines_controls(ui: TestClient) -> None:
    sign_in(ui, "alice-token")
    page = ui.get("/ui/agents/acme.one").text
    offered = api_offers(ui, "acme.one")
    for offer in offered:
        button = f'name="do" value="{offer["event"]}"'
        assert button in page
        start = page.index(f'<li class="action {"offered" if offer["offered"] else "refused"}"'
                           f' data-event="{offer["event"]}">')  # fmt: skip
        item = page[start : page.index("</li>", start)]
        if not offer["offered"]:
            assert f'value="{offer["event"]}" disabled>' in item
            assert offer["refusal"]["message"].replace("'", "&#x27;") in item
    recreate = page[page.index('data-event="recreate">') :]
    assert 'data-confirm="bot"' in recreate[: recreate.index("</li>")]
    assert 'value="recreate" disabled>' in recreate  # until the name is typed
    # The diagram marks the current status.
    assert 'class="node current">\n<title>running</title>' in page
    # The history, newest first.
    assert page.index("starting → running") < page.index("pending → provisioning")


def api_offers(client: TestClient, agent_id: str) -> list[dict[str, object]]:
    answer = client.get(f"{API}/agents/{agent_id}", headers=bearer("alice-token"))
    offers: list[dict[str, object]] = answer.json()["offered"]
    assert {o["offered"] for o in offers} == {True, False}  # both kinds are checked
    return offers


def test_a_button_gets_the_same_refusal_as_the_api_and_a_refusal_changes_nothing(
    ui: TestClient,
) -> None:
    sign_in(ui, "alice-token")
    before = ui.get(f"{API}/agents/acme.one", headers=bearer("alice-token")).json()
    by_ui = ui.post("/ui/agents/acme.one/actions/start", json={})
    by_api = ui.post(f"{API}/agents/acme.one/start", headers=bearer("alice-token"))
    assert by_ui.status_code == by_api.status_code == 409
    assert by_ui.headers["content-type"] == "application/problem+json"
    strip = {"instance"}
    assert {k: v for k, v in by_ui.json().items() if k not in strip} == {
        k: v for k, v in by_api.json().items() if k not in strip
    }
    mistyped = ui.post("/ui/agents/acme.one/actions/recreate", json={"confirmation": "bot "})
    assert mistyped.status_code == 409
    assert mistyped.json()["code"] == "confirmation_mismatch"
    after = ui.get(f"{API}/agents/acme.one", headers=bearer("alice-token")).json()
    assert (after["status"], after["version"]) == (before["status"], before["version"])
    forbidden = ui.post("/ui/agents/acme.one/actions/connected", json={})
    assert forbidden.status_code == 403  # a person cannot send the platform's reports here either
    done = ui.post("/ui/agents/acme.one/actions/stop", json={})
    assert done.status_code == 200
    assert done.json()["snapshot"]["status"] == "stopping"
    row = ui.get(f"{API}/agents/acme.one/events", headers=bearer("alice-token")).json()["items"][-1]
    assert (row["event"], row["principal"]) == ("stop", "alice")


def test_an_action_from_another_site_is_refused(ui: TestClient) -> None:
    sign_in(ui, "alice-token")
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        answer = ui.post("/ui/agents/acme.one/actions/stop", json={}, headers=headers)
        assert answer.status_code == 403, headers
    same = ui.post(
        "/ui/agents/acme.one/actions/stop", json={}, headers={"Origin": "http://testserver"}
    )
    assert same.status_code == 200
    status = ui.get(f"{API}/agents/acme.one", headers=bearer("alice-token")).json()["status"]
    assert status == "stopping"


def test_a_button_without_the_script_posts_a_form_and_gets_the_page(ui: TestClient) -> None:
    sign_in(ui, "alice-token")
    refused = ui.post("/ui/agents/acme.one/actions/start", data={"do": "start"})
    assert refused.status_code == 409
    assert "Start is not available: The agent is already running." in refused.text
    mistyped = ui.post(
        "/ui/agents/acme.one/actions/recreate", data={"do": "recreate", "confirmation": "bto"}
    )
    assert mistyped.status_code == 409
    assert "typed exactly to confirm" in mistyped.text
    done = ui.post("/ui/agents/acme.one/actions/stop", data={"do": "stop"}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/ui/agents/acme.one"


def test_the_pages_load_nothing_from_elsewhere(ui: TestClient) -> None:
    sign_in(ui, "alice-token")
    page = ui.get("/ui/agents/acme.one")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    linked = re.findall(
        r'<(?:script|link|img|a|form)\b[^>]*(?:src|href|action)="([^"]*)"', page.text
    )
    assert linked
    assert all(url.startswith("/ui/") for url in linked), linked
    for name, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        asset = ui.get(f"/ui/assets/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(kind)
        shipped = resources.files("agentfsm.http").joinpath("_ui_assets", name).read_bytes()
        assert asset.content == shipped
        assert b"http://" not in shipped
        assert b"https://" not in shipped
    assert ui.get("/ui/assets/../_app.py").status_code == 404
    assert ui.get("/ui/assets/nothing.js").status_code == 404


def test_the_dashboard_is_left_out_of_the_openapi_document_and_can_be_left_out(
    tmp_path: Path,
) -> None:
    from agentfsm.http import create_app
    from tests.web.support import TOKENS, make_store

    with TestClient(make_app("sqlite", sqlite_where(tmp_path))) as client:
        paths = client.get(f"{API}/openapi.json").json()["paths"]
        assert paths
        assert not [p for p in paths if p.startswith("/ui")]
        assert client.get("/ui/sign-in").status_code == 200
    from agentfsm.http import TokenAuthenticator
    from agentfsm.models import MACHINES
    from agentfsm.runtime import AsyncController

    store = make_store("sqlite", sqlite_where(tmp_path))
    bare = create_app(AsyncController(MACHINES, store), None, TokenAuthenticator(TOKENS), ui=False)
    with TestClient(bare) as client:
        assert client.get("/ui/sign-in").status_code == 404
        assert client.get("/ui/assets/dashboard.js").status_code == 404
        assert client.get(f"{API}/machines").status_code == 200


def test_time_in_status_and_colours() -> None:
    from datetime import timedelta

    assert elapsed(T0, T0 + timedelta(seconds=59)) == "59 s"
    assert elapsed(T0, T0 + timedelta(minutes=3, seconds=5)) == "3 min"
    assert elapsed(T0, T0 + timedelta(hours=5)) == "5 h"
    assert elapsed(T0, T0 - timedelta(seconds=5)) == "0 s"
    assert [tone(s) for s in ("running", "failing", "stopped", "waitlisted", "provisioning")] == [
        "ok",
        "bad",
        "off",
        "warn",
        "busy",
    ]
    assert tone("Pending", "Pending") == "busy"
    assert tone("deleted", "Terminated") == "off"


def _read_events(response: httpx.Response, found: list[dict[str, object]], stop: int) -> None:
    kind = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind == "change":
            found.append(json.loads(line[6:]))
            if len(found) >= stop:
                return


def test_the_event_stream_tells_each_tenant_of_its_own_agents_only(
    store_kind: str, where: str
) -> None:
    app = make_app(store_kind, where)
    with real_server(app) as url, httpx.Client(base_url=url, timeout=20) as client:
        running_alfe(client, "acme.live")
        assert create_alfe(client, "evil.live", "mallory-token").status_code == 201
        alice: list[dict[str, object]] = []
        mallory: list[dict[str, object]] = []
        with (
            client.stream("GET", "/ui/stream", headers=bearer("alice-token")) as a,
            client.stream("GET", "/ui/stream", headers=bearer("mallory-token")) as m,
        ):
            assert a.status_code == m.status_code == 200
            assert a.headers["content-type"].startswith("text/event-stream")
            readers = [
                threading.Thread(target=_read_events, args=(a, alice, 2), daemon=True),
                threading.Thread(target=_read_events, args=(m, mallory, 1), daemon=True),
            ]
            for reader in readers:
                reader.start()
            # Give both streams time to subscribe before anything is written.
            threading.Event().wait(0.5)
            sent = client.post(f"{API}/agents/evil.live/provision", headers=bearer("pf-token"))
            assert sent.status_code == 200
            refused = client.post(f"{API}/agents/acme.live/start", headers=bearer("alice-token"))
            assert refused.status_code == 409  # a refusal is not news
            stop = client.post(f"{API}/agents/acme.live/stop", headers=bearer("alice-token"))
            assert stop.status_code == 200
            done = client.post(
                f"{API}/agents/acme.live/shutdown_complete", headers=bearer("pf-token")
            )
            assert done.status_code == 200
            for reader in readers:
                reader.join(15)
        assert [(e["agent_id"], e["status"]) for e in alice] == [
            ("acme.live", "stopping"),
            ("acme.live", "stopped"),
        ]
        assert [(e["agent_id"], e["status"]) for e in mallory] == [("evil.live", "provisioning")]
