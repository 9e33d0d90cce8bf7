"""The documentation site builds with warnings as errors, and shows what it should.

One strict build (``mkdocs build --strict``) into a temporary directory serves every test here:
every page in the navigation is there, every hand-written page is in the navigation and linked
from the home page, each model page draws its diagrams as inline SVG, no page loads anything
from the network, and each public package's reference page documents its classes and functions.
"""

from __future__ import annotations

import html
import importlib
import inspect
import re
from pathlib import Path

import pytest

from agentfsm.models import MACHINES

pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[dev]'")

from mkdocs.config import load_config  # only once mkdocs is known to be there

from tests.docs_build import build_site, nav_pages, page_url

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
            "define",
            "effects",
            "analysis",
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


def _built(site: Path, page: str) -> Path:
    """Where the build writes ``page``."""
    return site / page_url(page) / "index.html"


@pytest.fixture(scope="module")
def nav() -> list[str]:
    return list(nav_pages(load_config(str(CONFIG)).nav))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(tmp_path_factory.mktemp("site"))


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
    unlinked = [page for page in wanted if page_url(page) not in links]
    assert not unlinked, f"the home page does not link: {unlinked}"


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_model_pages_draw_their_diagrams_as_inline_svg(site: Path, name: str) -> None:
    page = _built(site, f"models/{name}.md").read_text(encoding="utf-8")
    diagrams = re.findall(r'<div class="diagram">\s*(<svg\b.*?</svg>)', page, re.DOTALL)
    states = MACHINES[name].spec.states
    # The whole machine, then one neighbourhood per status.
    assert len(diagrams) == 1 + len(states), "a diagram was not drawn (is the dot hook set?)"
    labels = {html.unescape(t) for t in re.findall(r"<text\b[^>]*>([^<]*)</text>", diagrams[0])}
    for state in states:
        assert state.name in labels, f"{state.name} is not drawn in the {name} diagram"
    assert "```dot" not in page
    assert "digraph" not in page.split("<svg", 1)[0]


def test_no_page_loads_anything_from_the_network(site: Path) -> None:
    remote = re.compile(r'<(?:script|link|img)\b[^>]*(?:src|href)="(?:https?:)?//', re.I)
    offenders = [
        p.relative_to(site).as_posix()
        for p in site.rglob("*.html")
        if remote.search(p.read_text(encoding="utf-8"))
    ]
    assert not offenders, f"pages that load a remote script, stylesheet or image: {offenders}"


def test_code_is_highlighted_by_pygments_with_a_local_stylesheet(site: Path) -> None:
    page = _built(site, "quickstart.md").read_text(encoding="utf-8")
    assert 'class="highlight"' in page
    assert '<span class="k">' in page
    assert re.search(r'<link href="[^"]*css/pygments\.css"', page)
    assert (site / "css" / "pygments.css").is_file()


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


ROLES = (
    "the-things-you-call",
    "the-things-you-pass-in",
    "the-things-you-get-back",
    "describing-a-machine",
    "the-errors",
)


def test_the_core_reference_is_grouped_by_role(site: Path) -> None:
    import agentfsm

    page = _built(site, "api/index.md").read_text(encoding="utf-8")
    ids = re.findall(r'<h[2-6][^>]*id="([^"]+)"', page)
    assert [i for i in ids if i in ROLES] == list(ROLES)
    missing = [name for name in agentfsm.__all__ if f"agentfsm.{name}" not in ids]
    assert not missing, f"the core reference lacks {missing}"
    # Each name sits under exactly one role heading.
    for name in agentfsm.__all__:
        assert ids.count(f"agentfsm.{name}") == 1, name


@pytest.mark.parametrize("module", sorted(API_PAGES))
def test_reference_pages_hide_private_names_and_values(site: Path, module: str) -> None:
    page = _built(site, API_PAGES[module]).read_text(encoding="utf-8")
    private = [i for i in re.findall(r'id="([^"]+)"', page) if re.search(r"\._[^_]", i)]
    assert not private, f"private names on the {module} reference page: {private}"
    assert "_default_types()" not in page


def test_the_core_constants_are_described(site: Path) -> None:
    page = _built(site, "api/index.md").read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "The policy a Context uses unless given one" in " ".join(text.split())
    assert "The installed agentfsm version" in text
