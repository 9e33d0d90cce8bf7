"""What the demo says: its short columns explained, its last frame named for what it is, its
header wrapped at word boundaries, and no promise of releases an install cannot record."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from agentfsm._errors import MissingExtra
from agentfsm.cli import main
from agentfsm.cli._demo import ENDED, LEGEND, _Fleet
from agentfsm.cli._demo_display import CAPTION
from agentfsm.models import AlfeAgent


def _demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["demo", "--dir", str(tmp_path / "demo"), "--seconds", "0", "--no-live"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), out
    return out


def _intro(out: str) -> list[str]:
    lines = out.splitlines()
    return lines[: next(i for i, x in enumerate(lines) if x.startswith("["))]


@pytest.mark.slow
def test_regression_demo_header_wrapped_mid_word_at_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = _demo(tmp_path, capsys)
    intro = _intro(out)
    assert len(intro) > 3
    assert all(len(line) < 80 for line in intro), intro
    # Broken only between words: the paragraphs read back whole.
    assert LEGEND in " ".join(line.strip() for line in intro)
    # The last frame says what it shows, right before the summary.
    lines = out.splitlines()
    ended = next(i for i, x in enumerate(lines) if ENDED in x)
    assert lines[ended + 2].startswith("Done in")


@pytest.mark.slow
def test_regression_core_only_demo_announced_releases_it_would_not_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # An install without the git extra: importing the release store names the extra.
    def missing(name: str) -> object:
        raise MissingExtra("the Git release store", "git", "pygit2")

    stub = types.ModuleType("agentfsm.releases")
    stub.__getattr__ = missing  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "agentfsm.releases", stub)
    out = _demo(tmp_path, capsys)
    intro = " ".join(_intro(out))
    assert "recif-state" not in intro
    assert "pip install 'agentfsm[git]'" in intro
    assert "tombstone" not in out
    assert "git -C" not in out
    assert "Releases: none recorded" in out
    assert not (tmp_path / "demo" / "recif-state").exists()


def test_regression_demo_v_and_ref_columns_were_unexplained() -> None:
    for word in ("v5", "version", "ref", "refused", "world"):
        assert word in LEGEND
    for word in ("v:", "ref:", "world:"):
        assert word in CAPTION


def test_regression_demo_last_frame_showed_running_agents_with_no_process() -> None:
    class _ClosedHost:
        def pid(self, name: str) -> None:
            return None

    fleet = _Fleet(types.SimpleNamespace(host=_ClosedHost()))  # type: ignore[arg-type]
    data = AlfeAgent("agt-1", "helpdesk", host=2, credentials=2)
    assert fleet._detail("helpdesk", "alfe", data, "running") == "h2 c2 no process"
    fleet.ended = True  # the platform is closed: the frame is the last one
    assert fleet._detail("helpdesk", "alfe", data, "running") == "h2 c2 process ended"
    assert "running" in ENDED
    assert "ended" in ENDED
