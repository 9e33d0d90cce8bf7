"""The README's and the docs' Python blocks, and ``examples/``, pass ``mypy --strict``.

``tests/typing/`` joins them: ``assert_type`` lines that fail if a record type turns to ``Any``.

A reader copies these into their own strictly typed code, so they must type-check there too:
``agent.data.credentials`` has to be an ``int`` to mypy, not ``Any``. Every block becomes one
module in a temporary directory and one mypy run checks them all (one run is a few seconds;
one per block would be minutes).

A block that is not a whole program (a fragment shown for its shape) is skipped by putting the
line ``<!-- fragment -->`` right above its fence. A page whose blocks are one program, run in
order (it says so with the comment ``tests/test_examples.py`` reads), is checked as one module.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRAGMENT = "<!-- fragment -->"
ONE_PROGRAM = "<!-- agentfsm: the python blocks of this page run as one program -->"
_FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line of its first code line, code)`` for each Python block not marked a fragment."""
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if before.strip() == FRAGMENT:
            continue
        first_line = text.count("\n", 0, match.start(1)) + 1
        blocks.append((first_line, match.group(1)))
    return blocks


def _sources() -> dict[str, tuple[str, list[int], str]]:
    """module name -> (the file it comes from, each module line's line there, code)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found: dict[str, tuple[str, list[int], str]] = {}
    for page in pages:
        where = page.relative_to(ROOT).as_posix()
        stem = re.sub(r"\W", "_", where.removesuffix(".md"))
        text = page.read_text(encoding="utf-8")
        blocks = python_blocks(text)
        if ONE_PROGRAM in text and blocks:
            lines = [first + i for first, code in blocks for i in range(code.count("\n"))]
            found[stem] = (where, lines, "".join(code for _, code in blocks))
            continue
        for first, code in blocks:
            lines = [first + i for i in range(code.count("\n") + 1)]
            found[f"{stem}_line{first}"] = (where, lines, code)
    files = [
        *(("examples", p) for p in sorted((ROOT / "examples").glob("*.py"))),
        # Checks of the types users see, which only mypy runs (a value typed Any passes anything).
        *(("typing", p) for p in sorted((ROOT / "tests" / "typing").glob("*.py"))),
    ]
    for prefix, path in files:
        code = path.read_text("utf-8")
        where = path.relative_to(ROOT).as_posix()
        found[f"{prefix}_{path.stem}"] = (where, list(range(1, code.count("\n") + 2)), code)
    return found


_CONFIG = """\
[mypy]
strict = True
python_version = 3.11
mypy_path = {src}
cache_dir = {cache}
warn_unused_configs = True

[mypy-transitions.*,pygit2.*,psycopg_pool.*]
ignore_missing_imports = True
"""

# mypy names a file relative to the working directory when it is below it, absolute otherwise.
_ERROR = re.compile(r"^(?P<path>[^:]*?(?P<module>\w+)\.py):(?P<line>\d+):(?P<rest>.*)$")


def test_the_fragment_convention_skips_only_marked_blocks() -> None:
    text = "x\n```python\na = 1\n```\n<!-- fragment -->\n```python\nb\n```\n```python\nc = 2\n```\n"
    assert python_blocks(text) == [(3, "a = 1\n"), (10, "c = 2\n")]


def test_docs_and_examples_pass_mypy_strict() -> None:
    api = pytest.importorskip("mypy.api", reason="mypy is not installed: pip install -e '.[dev]'")
    sources = _sources()
    assert len(sources) > 10, "the docs lost their Python blocks"
    # The modules and mypy's cache outlive the run, in a folder git ignores, so the library is
    # analysed once rather than on every run; the modules keep one path, as the cache expects.
    work = ROOT / ".mypy_cache" / "docs-code"
    shutil.rmtree(work / "modules", ignore_errors=True)
    (work / "modules").mkdir(parents=True)
    for module, (_, _, code) in sources.items():
        (work / "modules" / f"{module}.py").write_text(code, encoding="utf-8")
    config = work / "mypy.ini"
    config.write_text(_CONFIG.format(src=ROOT / "src", cache=work / "cache"), encoding="utf-8")
    files = sorted(str(p) for p in (work / "modules").glob("*.py"))
    out, err, status = api.run(["--config-file", str(config), "--no-error-summary", *files])
    errors = []
    for line in out.splitlines():
        match = _ERROR.match(line)
        if match and match["module"] in sources:
            where, lines, _ = sources[match["module"]]
            line = int(match["line"])
            at = lines[line - 1] if 0 < line <= len(lines) else line
            errors.append(f"{where}:{at}:{match['rest']}")
        elif line.strip():
            errors.append(line)
    assert not errors, (
        f"mypy --strict finds {sum(': error:' in e for e in errors)} errors in the docs' code:\n"
        + "\n".join(errors)
        + err
    )
    assert status == 0, f"mypy failed without naming an error:\n{out}{err}"
