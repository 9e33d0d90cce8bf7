"""Every Python example in the README, the docs and ``examples/`` runs, and does what it says."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _markdown_blocks() -> list[tuple[str, str]]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    blocks = []
    for page in pages:
        for i, match in enumerate(_BLOCK.finditer(page.read_text(encoding="utf-8"))):
            blocks.append((f"{page.relative_to(ROOT)}#{i + 1}", match.group(1)))
    return blocks


@pytest.mark.parametrize(("where", "code"), _markdown_blocks(), ids=lambda v: str(v)[:40])
def test_markdown_example_runs(where: str, code: str) -> None:
    exec(compile(code, where, "exec"), {"__name__": "__example__"})


EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_script_runs(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(path)])
    runpy.run_path(str(path), run_name="__main__")


def test_there_are_examples_to_run() -> None:
    assert _markdown_blocks(), "the README lost its quickstart"
    assert EXAMPLES, "examples/ is empty"
