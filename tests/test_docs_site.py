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
            "wire",
            "http",
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


# Every reference page's role headings, in page order. A page's public names each sit under
# exactly one of them; a name added to a package must be placed in a role on its page.
PAGE_ROLES = {
    "agentfsm": ROLES,
    "agentfsm.models": (
        "the-machines",
        "the-machines-as-data",
        "the-records",
        "the-things-you-call",
        "the-vocabulary-and-the-limits",
    ),
    "agentfsm.effects": (
        "host-work-alfe",
        "kubernetes-work-recif",
        "timers-and-retained-data",
        "domain-events",
    ),
    "agentfsm.analysis": (
        "the-things-you-call",
        "the-things-you-get-back",
        "declaring-invariants",
        "tuning-the-checker",
    ),
    "agentfsm.render": (
        "the-things-you-call",
        "the-generated-pages",
        "what-each-status-offers",
        "the-vocabulary",
    ),
    "agentfsm.define": ("the-things-you-call", "the-parts-of-a-table", "the-things-you-get-back"),
    "agentfsm.migrate": ("describing-a-migration", "checking-it", "running-it", "the-errors"),
    "agentfsm.interop": ("exporting", "loading", "the-things-you-get-back"),
    "agentfsm.testing": ("strategies", "lifecycle-tests", "invariants"),
    "agentfsm.recif": ("the-things-you-call", "the-things-you-pass-in", "the-things-you-get-back"),
    "agentfsm.runtime": (
        "stores",
        "the-controller",
        "workers",
        "the-reconcile-loop",
        "replay",
        "telemetry",
        "records",
        "the-errors",
        "the-schema",
    ),
    "agentfsm.hosts": ("the-contract", "the-hosts", "faults", "clocks-and-sinks", "the-errors"),
    "agentfsm.releases": (
        "the-store",
        "the-things-you-get-back",
        "the-document-format",
        "the-errors",
    ),
    "agentfsm.billing": ("ledgers", "the-monitor", "the-things-you-get-back", "the-errors"),
    "agentfsm.platform": ("the-control-plane", "recif-on-a-simulated-cluster"),
    "agentfsm.kubernetes": (
        "the-host",
        "the-manifests",
        "names-and-paths",
        "the-cluster-api",
        "the-errors",
    ),
    "agentfsm.wire": ("the-things-you-call", "the-vocabulary"),
    "agentfsm.http": ("the-app", "who-is-calling", "the-errors"),
}

# Where an exception may be documented: among the errors (the runtime's schema errors also
# under its schema).
ERROR_ROLES = ("the-errors", "the-schema")

_HEADING = re.compile(r'<h([1-6])[^>]*\bid="([^"]+)"[^>]*>')


def _roles_of(page: str, roles: tuple[str, ...]) -> dict[str, list[str]]:
    """Each entry id on the page -> the role headings it appears under (once each time)."""
    under: dict[str, list[str]] = {}
    current = None
    for match in _HEADING.finditer(page):
        ident = match[2]
        if ident in roles:
            current = ident
        elif ident.startswith("agentfsm."):
            under.setdefault(ident, []).append(current or "(before any role)")
    return under


def test_every_reference_page_has_its_roles() -> None:
    assert set(PAGE_ROLES) == set(API_PAGES)


@pytest.mark.parametrize("module", sorted(API_PAGES))
def test_reference_pages_are_grouped_by_role(site: Path, module: str) -> None:
    page = _built(site, API_PAGES[module]).read_text(encoding="utf-8")
    roles = PAGE_ROLES[module]
    ids = [m[2] for m in _HEADING.finditer(page)]
    assert [i for i in ids if i in roles] == list(roles), "the role headings, in order"
    package = importlib.import_module(module)
    under = _roles_of(page, roles)
    for name in package.__all__:
        placed = under.get(f"{module}.{name}", [])
        assert len(placed) == 1, f"{name} should sit under exactly one role, not {placed}"
        assert placed[0] in roles, f"{name} comes before the first role heading"
        value = getattr(package, name)
        if inspect.isclass(value) and issubclass(value, BaseException):
            assert placed[0] in ERROR_ROLES, f"the exception {name} is under {placed[0]}"


@pytest.mark.parametrize("module", sorted(API_PAGES))
def test_each_role_is_introduced_by_a_sentence(site: Path, module: str) -> None:
    page = _built(site, API_PAGES[module]).read_text(encoding="utf-8")
    for role in PAGE_ROLES[module]:
        after = page.split(f'id="{role}"', 1)[1].split("</h", 1)[1]
        first = re.search(r"<(p|div)\b", after)
        assert first is not None, f"the role {role} is the end of the page"
        assert first[1] == "p", f"the role {role} has no introduction"
        sentence = re.sub(r"<[^>]+>", "", after[first.end() :].split("</p>", 1)[0])
        assert len(sentence.split()) >= 4, f"the role {role} is introduced by {sentence!r}"


@pytest.mark.parametrize("module", sorted(API_PAGES))
def test_every_public_name_is_described(site: Path, module: str) -> None:
    page = _built(site, API_PAGES[module]).read_text(encoding="utf-8")
    package = importlib.import_module(module)
    bare = []
    for name in package.__all__:
        entry = page.split(f'id="{module}.{name}"', 1)[1].split("</h", 1)[1]
        body = entry.split('class="doc doc-heading"', 1)[0]  # up to the next entry
        paragraph = re.search(r"<p>(.*?)</p>", body, re.DOTALL)
        if paragraph is None or not re.sub(r"<[^>]+>", "", paragraph[1]).strip():
            bare.append(name)
    assert not bare, f"names on the {module} reference page with no description: {bare}"
