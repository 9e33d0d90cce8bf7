"""The committed model pages are exactly what the machines generate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agentfsm.models import MACHINES
from agentfsm.render import ENGINE_CODES, drifted_pages, expected_pages, write_pages

DOCS = Path(__file__).resolve().parents[1] / "docs" / "models"
HOW = "regenerate the pages with `agentfsm docs --write` (from the repository root) and commit them"


@pytest.mark.parametrize("filename", sorted(expected_pages()))
def test_committed_page_matches_its_machine(filename: str) -> None:
    path = DOCS / filename
    assert path.is_file(), f"{path} is missing: {HOW}"
    committed = path.read_text(encoding="utf-8")
    generated = expected_pages()[filename]
    if committed != generated:
        changed = [
            f"line {i}: {a!r} != {b!r}"
            for i, (a, b) in enumerate(
                zip(committed.splitlines(), generated.splitlines(), strict=False), 1
            )
            if a != b
        ]
        pytest.fail(
            f"{path} drifted from its machine ({'; '.join(changed[:3]) or 'length'}): {HOW}"
        )


def test_one_page_per_shipped_machine_and_the_refusal_codes() -> None:
    assert list(expected_pages()) == [f"{name}.md" for name in MACHINES] + ["refusal-codes.md"]


def test_drift_is_found_and_named(tmp_path: Path) -> None:
    written = write_pages(tmp_path)
    assert [p.name for p in written] == [f"{name}.md" for name in MACHINES] + ["refusal-codes.md"]
    assert drifted_pages(tmp_path) == []
    (tmp_path / "recif.md").write_text("edited by hand\n", encoding="utf-8")
    (tmp_path / "alfe.md").unlink()
    drifted = drifted_pages(tmp_path)
    assert len(drifted) == 2
    assert any("alfe.md is missing" in d for d in drifted)
    assert any("recif.md differs from the recif machine" in d for d in drifted)
    (tmp_path / "refusal-codes.md").write_text("| `stale` | |\n", encoding="utf-8")
    assert any("refusal-codes.md differs from the engine" in d for d in drifted_pages(tmp_path))


def test_pages_are_deterministic() -> None:
    assert expected_pages() == expected_pages()


def test_every_refusal_code_the_engine_can_give_is_documented() -> None:
    """Every ``code="..."`` the engine and the machine compiler write is in the generated table."""
    src = Path(__file__).resolve().parents[1] / "src" / "agentfsm"
    written = {
        code
        for module in ("_engine.py", "_machine.py")
        for code in re.findall(r'\bcode="(\w+)"', (src / module).read_text(encoding="utf-8"))
    }
    assert written, "no refusal code found in the engine: has the code moved?"
    assert written <= set(ENGINE_CODES), f"undocumented codes: {written - set(ENGINE_CODES)}"
    page = expected_pages()["refusal-codes.md"]
    for code in ENGINE_CODES:
        assert f"| `{code}` |" in page
    for machine in MACHINES.values():
        for guard in machine.spec.guards:
            assert f"| `{guard.code}` | {machine.name} | `{guard.name}` |" in page


def test_regression_the_runtime_guide_named_an_old_schema_version() -> None:
    # docs/runtime.md said SCHEMA_VERSION was 5 after versions 6 and 7 had shipped.
    from agentfsm.runtime._schema import SCHEMA_VERSION

    text = (Path(__file__).parent.parent / "docs" / "runtime.md").read_text(encoding="utf-8")
    said = re.findall(r"`SCHEMA_VERSION` is (\d+)", text)
    assert said == [str(SCHEMA_VERSION)]
    for version in range(3, SCHEMA_VERSION + 1):
        assert f"version {version} " in text, f"docs/runtime.md does not say what {version} did"
