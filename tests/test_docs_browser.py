"""The documentation as a person sees it: every model page opened in headless Chromium, offline.

The site is built (``mkdocs build --strict``), served on loopback, and each page opened at an
800 px wide window with every request to another host blocked and recorded. Each model page must
draw its diagrams (an SVG naming every status), with no label smaller than 11 px, and no page
may reach past the machine. Screenshots land in ``tests-artifacts/docs-browser/``.

Needs the Debian ``chromium`` package (``.ci/run`` installs it) and Playwright for Python; the
test drives the system Chromium and never downloads a browser of its own.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from agentfsm.models import MACHINES
from tests.docs_build import ROOT, build_site, nav_pages, page_url

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTH = 800
SMALLEST_LABEL_PX = 11.0
ARTIFACTS = ROOT / "tests-artifacts" / "docs-browser"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.is_file(),
        reason=f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium)",
    ),
]

# For each diagram on the page: its text labels, and the smallest rendered label height in px
# (the font size times the scale from the SVG's units to the screen).
_MEASURE = """
() => [...document.querySelectorAll('div.diagram svg')].map(svg => {
  const texts = [...svg.querySelectorAll('text')];
  const sizes = texts.map(t => {
    const m = t.getScreenCTM();
    const scale = Math.sqrt(Math.abs(m.a * m.d - m.b * m.c));
    return parseFloat(getComputedStyle(t).fontSize) * scale;
  });
  const box = svg.getBoundingClientRect();
  return {
    labels: texts.map(t => t.textContent),
    smallest: Math.min(...sizes),
    width: box.width,
    height: box.height,
  };
})
"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # the test's output stays readable
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    site = build_site(tmp_path_factory.mktemp("site"))
    handler = functools.partial(_Quiet, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser_page(served: str) -> Iterator[tuple[Any, list[str]]]:
    """One Chromium page with the network cut off; the list collects every blocked request."""
    from playwright.sync_api import Route, sync_playwright

    blocked: list[str] = []

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": WIDTH, "height": 900})
        context.route("**/*", only_loopback)
        try:
            yield context.new_page(), blocked
        finally:
            context.close()
            browser.close()


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_model_page_draws_every_diagram_legibly_offline(
    served: str, browser_page: tuple[Any, list[str]], name: str
) -> None:
    page, blocked = browser_page
    before = len(blocked)
    page.goto(f"{served}models/{name}/", wait_until="load")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    diagram = page.locator("div.diagram").first
    diagram.screenshot(path=str(ARTIFACTS / f"{name}-diagram.png"))
    drawn = page.evaluate(_MEASURE)
    states = MACHINES[name].spec.state_names
    assert len(drawn) == 1 + len(states), "the machine's diagram and one per status"
    whole = drawn[0]
    missing = [s for s in states if s not in whole["labels"]]
    assert not missing, f"the {name} diagram does not show {missing}"
    for i, picture in enumerate(drawn):
        assert picture["width"] > 0, f"diagram {i} has no width"
        assert picture["height"] > 0, f"diagram {i} has no height"
        assert picture["smallest"] >= SMALLEST_LABEL_PX, (
            f"diagram {i} of {name} has labels {picture['smallest']:.1f} px tall "
            f"at a {WIDTH} px window (at least {SMALLEST_LABEL_PX} px wanted)"
        )
    assert blocked[before:] == [], f"the {name} page tried to reach the network"


def test_no_page_reaches_past_the_machine(served: str, browser_page: tuple[Any, list[str]]) -> None:
    from mkdocs.config import load_config

    page, blocked = browser_page
    before = len(blocked)
    nav = list(nav_pages(load_config(str(ROOT / "mkdocs.yml")).nav))
    for doc in nav:
        page.goto(served + page_url(doc), wait_until="load")
    page.screenshot(path=str(ARTIFACTS / "last-page.png"))
    assert blocked[before:] == [], f"pages tried to reach the network: {blocked[before:]}"
