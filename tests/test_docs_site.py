"""The documentation site builds with warnings as errors, and shows what it should.

One strict build (``mkdocs build --strict``) into a temporary directory serves every test here:
every page in the navigation is there, every hand-written page is in the navigation and linked
from the home page, each model page draws its machine's diagram with the Mermaid script loaded,
and each public package's reference page documents its classes and functions.
"""

from __future__ import annotations

import html
import importlib
import inspect
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentfsm.models import MACHINES

pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[dev]'")

from mkdocs.config import load_config  # only once mkdocs is known to be there

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONFIG = ROOT / "mkdocs.yml"

# The public packages and the reference page that documents each.
API_PAGES = {
    "agentfsm": "api/index.md",
    **{
        f"agentfsm.{name}": f"api/{name}.md"
        for name in (
            "models",
            "effects",
            "analysis",
            "migrate",
            "render",
            "interop",
            "testing",
            "recif",
            "runtime",
            "hosts",
            "releases",
            "billing",
            "platform",
            "kubernetes",
        )
    },
}


def _nav_pages(nav: Any) -> Iterator[str]:
    """Every Markdown file the navigation names, however deeply nested."""
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from _nav_pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from _nav_pages(value)


def _url(page: str) -> str:
    """The page's URL relative to the site root (directory URLs: ``a/b.md`` -> ``a/b/``)."""
    path = Path(page)
    folder = path.parent if path.name == "index.md" else path.with_suffix("")
    return "" if folder == Path(".") else folder.as_posix() + "/"


def _built(site: Path, page: str) -> Path:
    """Where the build writes ``page``."""
    return site / _url(page) / "index.html"


@pytest.fixture(scope="module")
def nav() -> list[str]:
    return list(_nav_pages(load_config(str(CONFIG)).nav))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--config-file",
         str(CONFIG), "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    report = f"{done.stdout}\n{done.stderr}".strip()
    assert done.returncode == 0, f"the strict docs build failed:\n{report}"
    assert "WARNING" not in report, f"the docs build warned:\n{report}"
    return out


def test_every_page_in_the_nav_is_built(site: Path, nav: list[str]) -> None:
    missing = [page for page in nav if not _built(site, page).is_file()]
    assert not missing, f"pages in the nav that were not built: {missing}"


def test_every_page_is_in_the_nav(nav: list[str]) -> None:
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages - set(nav) == set(), "pages missing from the nav in mkdocs.yml"
    assert set(nav) - pages == set(), "the nav names pages that do not exist"


def test_the_home_page_links_every_guide_and_model(site: Path, nav: list[str]) -> None:
    home = _built(site, "index.md").read_text(encoding="utf-8")
    links = set(re.findall(r'href="([^"#]+)"', home))
    # The subpackage reference pages hang off the reference's own index.
    wanted = [p for p in nav if p != "index.md" and (p == "api/index.md" or "api/" not in p)]
    unlinked = [page for page in wanted if _url(page) not in links]
    assert not unlinked, f"the home page does not link: {unlinked}"


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_model_pages_draw_their_diagram(site: Path, name: str) -> None:
    page = _built(site, f"models/{name}.md").read_text(encoding="utf-8")
    assert re.search(r'<script src="[^"]*mermaid[^"]*\.js"', page), "the Mermaid script is missing"
    diagrams = re.findall(r'<div class="mermaid">(.*?)</div>', page, re.DOTALL)
    assert diagrams, "no Mermaid diagram was rendered (is the superfences mermaid fence set?)"
    diagram = html.unescape(diagrams[0])
    assert diagram.startswith("stateDiagram-v2")
    for state in MACHINES[name].spec.states:
        assert re.search(rf"\b{re.escape(state.name)}\b", diagram), f"{state.name} not drawn"
    assert "-->" in diagram  # unescaped: the browser hands Mermaid the arrows as written


@pytest.mark.parametrize("module", sorted(API_PAGES))
def test_reference_pages_document_every_public_class_and_function(
    site: Path, nav: list[str], module: str
) -> None:
    page = API_PAGES[module]
    assert page in nav
    anchors = set(re.findall(r'id="([^"]+)"', _built(site, page).read_text(encoding="utf-8")))
    package = importlib.import_module(module)
    public = [
        name
        for name in package.__all__
        if inspect.isclass(getattr(package, name)) or inspect.isfunction(getattr(package, name))
    ]
    assert public, f"{module} exports no class or function"
    missing = [name for name in public if f"{module}.{name}" not in anchors]
    assert not missing, f"the reference page of {module} lacks {missing}"


def test_a_reference_entry_shows_its_docstring(site: Path) -> None:
    from agentfsm.hosts import HostEffectHandler

    page = _built(site, "api/hosts.md").read_text(encoding="utf-8")
    doc = inspect.getdoc(HostEffectHandler)
    assert doc is not None
    first_line = doc.splitlines()[0].replace("``", "")  # the literals are rendered as code
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert " ".join(first_line.split()) in " ".join(text.split())
