"""Build the documentation site the way the docs tests need it: strict, quiet, warnings fatal."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "mkdocs.yml"


def build_site(out: Path) -> Path:
    """Build the site into ``out`` with ``mkdocs build --strict``; fail the test on any warning.

    Skips when Graphviz's ``dot`` is missing: the build draws the diagrams with it.
    """
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's `dot` is not installed (Debian: apt-get install graphviz)")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--config-file",
         str(CONFIG), "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    report = f"{done.stdout}\n{done.stderr}".strip()
    assert done.returncode == 0, f"the strict docs build failed:\n{report}"
    assert "WARNING" not in report, f"the docs build warned:\n{report}"
    return out


def nav_pages(nav: Any) -> Iterator[str]:
    """Every Markdown file the navigation names, however deeply nested."""
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from nav_pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from nav_pages(value)


def page_url(page: str) -> str:
    """The page's URL relative to the site root (directory URLs: ``a/b.md`` -> ``a/b/``)."""
    path = Path(page)
    folder = path.parent if path.name == "index.md" else path.with_suffix("")
    return "" if folder == Path(".") else folder.as_posix() + "/"
