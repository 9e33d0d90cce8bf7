"""The dashboard as a person sees it: headless Chromium against uvicorn on a SQLite file.

Each page is opened with every request to another host blocked and recorded (the dashboard must
work offline), and any error on the browser's console (a script failure, a blocked load) fails
the test. Screenshots land in ``tests-artifacts/dashboard/`` (ignored by Git).

Needs the Debian ``chromium`` package (``.ci/run`` installs it) and Playwright for Python; the
test drives the system Chromium and never downloads a browser of its own.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from agentfsm.runtime import SystemClock
from tests.docs_build import ROOT
from tests.web.support import (
    API,
    bearer,
    create_alfe,
    make_app,
    real_server,
    running_alfe,
    sqlite_where,
)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
ARTIFACTS = ROOT / "tests-artifacts" / "dashboard"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WAIT_MS = 15_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.is_file(),
        reason=f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium)",
    ),
]


class Browser:
    """Chromium with the network cut off; what it blocked and what its console reported."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.blocked: list[str] = []
        self.errors: list[str] = []

    def page(self) -> Any:
        page = self.context.new_page()
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page

    def shot(self, page: Any, name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def browser() -> Iterator[Browser]:
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import Route, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        context = chromium.new_context(viewport={"width": 1100, "height": 900})
        found = Browser(context)

        def only_loopback(route: Route) -> None:
            if urlsplit(route.request.url).hostname in LOOPBACK:
                route.continue_()
            else:
                found.blocked.append(route.request.url)
                route.abort()

        context.route("**/*", only_loopback)
        try:
            yield found
        finally:
            context.close()  # before the server stops: its event streams end with the pages
            chromium.close()
    assert found.blocked == []
    assert found.errors == []


# Every test asks for ``served`` before ``browser``: the browser, set up last, closes first, so
# its event streams end before the server is asked to stop.
@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, httpx.Client]]:
    """A real server on a SQLite file: acme's agent ``acme.one`` running, evil's agent pending."""
    app = make_app("sqlite", sqlite_where(tmp_path), clock=SystemClock())  # type: ignore[arg-type]
    with real_server(app) as url, httpx.Client(base_url=url, timeout=20) as client:
        running_alfe(client, "acme.one")
        assert create_alfe(client, "evil.secret", "mallory-token").status_code == 201
        yield url, client


def signed_in(browser: Browser, url: str, token: str = "alice-token") -> Any:
    page = browser.page()
    page.goto(f"{url}/ui/")
    page.fill("input[name=token]", token)
    page.click("form.sign-in button")
    page.wait_for_selector("table.fleet")
    return page


def badge(page: Any, selector: str, status: str) -> None:
    """Wait until the status badge under ``selector`` reads ``status``."""
    page.wait_for_selector(f'{selector} .status[data-status="{status}"]', timeout=WAIT_MS)


def test_a_stop_reaches_stopped_on_the_open_pages_without_a_reload(
    served: tuple[str, httpx.Client], browser: Browser
) -> None:
    url, client = served
    fleet = signed_in(browser, url)
    row = 'tr[data-agent="acme.one"]'
    badge(fleet, row, "running")
    assert fleet.locator(f"{row} .status").get_attribute("class") == "status tone-ok"
    assert fleet.locator('tr[data-agent="evil.secret"]').count() == 0
    fleet.wait_for_selector("body[data-live=yes]", timeout=WAIT_MS)
    browser.shot(fleet, "fleet")

    agent = browser.page()
    agent.goto(f"{url}/ui/agents/acme.one")
    agent.wait_for_selector("body[data-live=yes]", timeout=WAIT_MS)
    assert agent.locator("svg g.node.current title").text_content() == "running"
    for page in (fleet, agent):
        page.evaluate("window.notReloaded = true")
    agent.click('li[data-event="stop"] button')
    agent.wait_for_selector("#message .message.ok", timeout=WAIT_MS)
    assert "now stopping" in agent.locator("#message").text_content()
    badge(agent, "h1", "stopping")
    badge(fleet, row, "stopping")
    browser.shot(agent, "agent-stopping")

    # The platform reports the host has shut down, as its observer would.
    done = client.post(f"{API}/agents/acme.one/shutdown_complete", headers=bearer("pf-token"))
    assert done.status_code == 200
    badge(agent, "h1", "stopped")
    badge(fleet, row, "stopped")
    agent.wait_for_function(
        "document.querySelector('svg g.node.current title')?.textContent === 'stopped'",
        timeout=WAIT_MS,
    )
    assert agent.locator('li[data-event="start"] button').is_enabled()
    assert agent.locator("ol.timeline li").first.locator(".event").text_content() == (
        "shutdown_complete"
    )
    assert fleet.evaluate("window.notReloaded") is True
    assert agent.evaluate("window.notReloaded") is True
    browser.shot(agent, "agent-stopped")
    browser.shot(fleet, "fleet-stopped")


def _rows(client: httpx.Client, agent_id: str) -> list[str]:
    answer = client.get(f"{API}/agents/{agent_id}/events", headers=bearer("alice-token"))
    return [row["event"] for row in answer.json()["items"]]


def test_a_mistyped_recreate_is_blocked(served: tuple[str, httpx.Client], browser: Browser) -> None:
    url, client = served
    page = signed_in(browser, url)
    page.goto(f"{url}/ui/agents/acme.one")
    form = 'li[data-event="recreate"]'
    button = page.locator(f"{form} button")
    typed = page.locator(f"{form} input[name=confirmation]")
    assert button.is_disabled()
    for wrong in ("bto", "Bot", "bot ", "bo"):
        typed.fill(wrong)
        assert button.is_disabled(), wrong
    typed.fill("bto")
    typed.press("Enter")  # the form's default button is disabled: nothing is sent
    page.evaluate(f"document.querySelector('{form} form').requestSubmit()")
    page.wait_for_selector("#message .message.bad", timeout=WAIT_MS)
    assert "bot typed exactly" in page.locator("#message").text_content()
    browser.shot(page, "recreate-mistyped")
    assert "recreate" not in _rows(client, "acme.one")

    typed.fill("bot")
    assert button.is_enabled()
    button.click()
    page.wait_for_selector("#message .message.ok", timeout=WAIT_MS)
    badge(page, "h1", "provisioning")
    assert _rows(client, "acme.one")[-1] == "recreate"


def test_a_refused_action_shows_its_sentence(
    served: tuple[str, httpx.Client], browser: Browser
) -> None:
    url, client = served
    page = signed_in(browser, url)
    page.goto(f"{url}/ui/agents/acme.one")
    start = page.locator('li[data-event="start"]')
    assert start.locator("button").is_disabled()
    assert start.locator(".refusal").text_content() == (
        "Start is not available: The agent is already running."
    )
    browser.shot(page, "refused-offer")

    # A page left open while someone else acts: with its updates cut off it still offers Stop,
    # and the server's refusal is what the person reads.
    stale = browser.page()
    stale.route("**/ui/stream*", lambda route: route.abort())
    stale.goto(f"{url}/ui/agents/acme.one")
    browser.errors.clear()  # the aborted stream is reported on the console, on purpose
    behind = client.post(f"{API}/agents/acme.one/stop", headers=bearer("bob-token"))
    assert behind.status_code == 200
    stale.click('li[data-event="stop"] button')
    message = stale.locator("#message .message.bad")
    message.wait_for(timeout=WAIT_MS)
    assert message.get_attribute("data-code") == "not_allowed_from_status"
    assert message.text_content() == _api_sentence(client)
    badge(stale, "h1", "stopping")  # the page read itself again after the answer
    assert stale.locator('li[data-event="stop"] button').is_disabled()
    browser.shot(stale, "refused-action")
    stale.close()
    browser.errors.clear()


def _api_sentence(client: httpx.Client) -> str:
    answer = client.post(f"{API}/agents/acme.one/stop", headers=bearer("alice-token"))
    assert answer.status_code == 409
    detail: str = answer.json()["detail"]
    return detail


def test_another_tenants_agent_is_not_found_in_the_browser(
    served: tuple[str, httpx.Client], browser: Browser
) -> None:
    url, _ = served
    page = signed_in(browser, url)
    answer = page.goto(f"{url}/ui/agents/evil.secret")
    assert answer.status == 404
    assert page.locator("h1").text_content() == "Not found"
    browser.errors.clear()  # Chromium reports the 404 on the console


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[str]:
    """``agentfsm serve`` in its own process, without faults; yields the dashboard's URL."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [
        sys.executable, "-c", "from agentfsm.cli import main; raise SystemExit(main())",
        "serve", "--dir", str(tmp_path / "serve"), "--port", "0", "--faults", "0",
        "--user-token", "user-secret", "--platform-token", "platform-secret",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline().decode() for _ in range(3)]
        found = re.search(r"dashboard:\s+(http://\S+/ui/)", "".join(banner))
        assert found, banner
        yield found.group(1)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_serve_shows_a_live_fleet_whose_stop_the_platform_completes(
    serve: str, browser: Browser
) -> None:
    page = browser.page()
    page.goto(serve)
    assert "/ui/sign-in" in page.url
    page.fill("input[name=token]", "user-secret")
    page.click("form.sign-in button")
    page.wait_for_selector("table.fleet")
    page.evaluate("window.notReloaded = true")
    # The simulated hosts bring the fleet up while the page is open.
    for agent_id, status in (("demo.alfe-1", "running"), ("demo.recif-1", "Running")):
        badge(page, f'tr[data-agent="{agent_id}"]', status)
    assert page.locator("tr[data-agent]").count() == 4
    browser.shot(page, "serve-fleet")
    page.click('tr[data-agent="demo.alfe-1"] a')
    page.wait_for_selector("body[data-live=yes]", timeout=WAIT_MS)
    page.evaluate("window.notReloaded = true")
    page.click('li[data-event="stop"] button')
    # No one but the platform acts now: its simulated host shuts the agent down and says so.
    badge(page, "h1", "stopped")
    assert page.evaluate("window.notReloaded") is True
    events = page.locator("ol.timeline li .event").all_text_contents()
    assert events[:2] == ["shutdown_complete", "stop"]
    browser.shot(page, "serve-agent-stopped")
