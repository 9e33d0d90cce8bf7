"""Every Python example in the README, the docs and ``examples/`` runs, and does what it says."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


# A page carrying this comment is a tutorial: its blocks build on each other, and run as one
# program, in order.
ONE_PROGRAM = "<!-- agentfsm: the python blocks of this page run as one program -->"


def _markdown_blocks() -> list[tuple[str, str]]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    blocks = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        found = [m.group(1) for m in _BLOCK.finditer(text)]
        if ONE_PROGRAM in text and found:
            blocks.append((f"{page.relative_to(ROOT)}#all", "\n".join(found)))
            continue
        for i, code in enumerate(found):
            blocks.append((f"{page.relative_to(ROOT)}#{i + 1}", code))
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
