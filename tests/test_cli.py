"""The command line: every command through main(), and once through the installed script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from agentfsm import Machine, offered
from agentfsm.analysis import check
from agentfsm.cli import main
from agentfsm.cli._story import demo_text
from agentfsm.models import ALFE_IMPLEMENTATIONS, ALFE_SPEC, MACHINES
from agentfsm.render import sample_snapshot, to_dot, to_markdown_table, to_mermaid
from agentfsm.render._samples import sample_context


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("model", sorted(MACHINES))
def test_show_and_diagram_print_the_renderers_output(
    capsys: pytest.CaptureFixture[str], model: str
) -> None:
    machine = MACHINES[model]
    assert _run(capsys, "show", model) == (0, to_markdown_table(machine), "")
    assert _run(capsys, "diagram", model) == (0, to_mermaid(machine), "")
    assert _run(capsys, "diagram", model, "--format", "dot") == (0, to_dot(machine), "")


def test_check_proves_every_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "check")
    assert code == 0
    for name in MACHINES:
        assert f"{name}: ok:" in out
    code, out, _ = _run(capsys, "check", "recif")
    assert code == 0
    assert out.startswith("recif: ok:")
    assert "alfe" not in out


def _platform_stops_running_agents() -> Machine:
    """A faulty Alfe: a lost connection stops the agent, which the platform must never do."""
    rows = tuple(
        attrs.evolve(r, target="stopping") if r.event == "connection_lost" else r
        for r in ALFE_SPEC.transitions
    )
    return Machine(attrs.evolve(ALFE_SPEC, transitions=rows), ALFE_IMPLEMENTATIONS)


def test_check_fails_with_a_counterexample(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = _platform_stops_running_agents()
    assert not check(broken).ok
    monkeypatch.setitem(MACHINES, "alfe", broken)
    code, out, _ = _run(capsys, "check", "alfe")
    assert code == 1
    assert "FAILED" in out
    assert "counterexample" in out
    assert "connection_lost by platform" in out


def test_offered_lists_every_user_action(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "offered", "alfe", "stopped")
    assert code == 0
    snapshot = sample_snapshot(MACHINES["alfe"], "stopped")
    for offer in offered(MACHINES["alfe"], snapshot, sample_context()):
        line = next(x for x in out.splitlines() if x.strip().startswith(offer.label + " "))
        if offer.offered:
            assert " yes" in line
        else:
            assert offer.refusal is not None
            assert f"[{offer.refusal.code}] {offer.refusal.message}" in line


def test_offered_waits_for_the_stuck_rule(capsys: pytest.CaptureFixture[str]) -> None:
    _, fresh, _ = _run(capsys, "offered", "alfe", "starting")
    _, later, _ = _run(capsys, "offered", "alfe", "starting", "--waited", "11")
    assert "[not_stuck]" in fresh
    start = next(x for x in later.splitlines() if x.strip().startswith("Start "))
    assert start.split()[1] == "yes"


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["show", "alfee"], ["alfe", "alfe-self-hosted", "recif"]),
        (["check", "nope"], ["alfe", "recif"]),
        (["diagram", "alfe", "--format", "svg"], ["mermaid", "dot"]),
        (["offered", "recif", "running"], ["created", "Pending", "Running", "Terminated"]),
        (["offered", "alfe", "running", "--waited", "-1"], ["from 0 to 10,000,000"]),
        (["bogus"], ["demo", "show", "check"]),
        (["docs"], ["--write", "--check"]),
        (["offered", "alfe", "running", "--waited", "soon"], ["invalid float"]),
    ],
)
def test_bad_input_is_one_line_naming_the_choices(
    capsys: pytest.CaptureFixture[str], argv: list[str], names: list[str]
) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "error" in err
    for name in names:
        assert name in err


def test_help_explains_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    commands = ("demo", "story", "simulate", "history", "show", "diagram", "check", "offered")
    for command in (*commands, "docs"):
        assert command in out
    for command in (*commands, "docs"):
        code, out, _ = _run(capsys, command, "--help")
        assert code == 0
        assert "usage: agentfsm" in out


def test_docs_write_then_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = _run(capsys, "docs", "--write", str(tmp_path))
    assert code == 0
    pages = [f"{m}.md" for m in MACHINES] + ["refusal-codes.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(pages)
    assert _run(capsys, "docs", "--check", str(tmp_path))[0] == 0
    (tmp_path / "alfe.md").write_text("stale\n", encoding="utf-8")
    code, out, _ = _run(capsys, "docs", "--check", str(tmp_path))
    assert code == 1
    assert "drifted:" in out
    assert "alfe.md" in out
    assert "agentfsm docs --write" in out


def test_docs_write_into_a_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    code, _out, err = _run(capsys, "docs", "--write", str(blocker))
    assert code == 2
    assert err.startswith("agentfsm: error: cannot write the pages into")
    assert err.count("\n") == 1


def test_docs_default_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _run(capsys, "docs", "--write")[0] == 0
    assert (tmp_path / "docs" / "models" / "recif.md").is_file()
    assert _run(capsys, "docs", "--check")[0] == 0


def test_story_prints_the_scripted_story(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "story") == (0, demo_text(), "")


def test_the_installed_script_tells_the_story() -> None:
    script = Path(sys.executable).with_name("agentfsm")
    assert script.is_file(), f"the agentfsm script is not installed beside {sys.executable}"
    done = subprocess.run(
        [str(script), "story"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == demo_text()
    bad = subprocess.run(
        [str(script), "show", "nope"], capture_output=True, text=True, timeout=60, check=False
    )
    assert bad.returncode == 2
    assert "choose one of" in bad.stderr


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from agentfsm import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"agentfsm {__version__}\n"


@pytest.mark.parametrize("module", ["agentfsm", "agentfsm.cli"])
def test_python_dash_m_runs_the_command(module: str) -> None:
    helped = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: agentfsm")
    told = subprocess.run(
        [sys.executable, "-m", module, "story"], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert (told.returncode, told.stdout) == (0, demo_text())


def test_every_command_is_one_row_of_the_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse
    from typing import Any, TextIO

    from agentfsm.cli import _app

    names = [name for name, _, _ in _app.COMMANDS]
    assert len(set(names)) == len(names)
    for name in names:
        assert main([name, "--help"]) == 0
        assert capsys.readouterr().out.startswith(f"usage: agentfsm {name}")

    def register(sub: Any, name: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help="say hello")
        p.add_argument("who")
        return p

    def run(args: argparse.Namespace, out: TextIO) -> int:
        out.write(f"hello {args.who}\n")
        return 0

    monkeypatch.setattr(_app, "COMMANDS", [*_app.COMMANDS, ("hello", register, run)])
    assert main(["hello", "world"]) == 0
    assert capsys.readouterr().out == "hello world\n"
