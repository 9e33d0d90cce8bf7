"""Closest-name hints: a mistyped model, status, command, format or agent gets ``did you mean``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm.cli import main
from agentfsm.cli._names import closest, did_you_mean
from agentfsm.models import MACHINES


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    return err


def test_regression_offered_recif_running_gave_no_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = _error(capsys, "offered", "recif", "running")
    assert "did you mean Running?" in err
    assert "choose one of" in err


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["show", "alfee"], "alfe"),
        (["simulate", "recf"], "recif"),
        (["check", "Recif"], "recif"),
        (["offered", "alfe", "runing"], "running"),
        (["offered", "alfe", "Stopped"], "stopped"),
        (["diagram", "alfe", "--format", "dott"], "dot"),
        (["simulat", "alfe"], "simulate"),
        (["diff", "alfe", "recfi"], "recif"),
        (["diff", "alfe", "recif", "--format", "txt"], "text"),
    ],
)
def test_every_name_read_gets_the_closest_one(
    capsys: pytest.CaptureFixture[str], argv: list[str], hint: str
) -> None:
    assert f"did you mean {hint}?" in _error(capsys, *argv)


def test_a_name_far_from_every_other_gets_no_guess(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, "show", "zzzzzz")
    assert "did you mean" not in err
    assert "choose one of: alfe" in err


def test_a_machine_in_the_users_file_is_suggested(capsys: pytest.CaptureFixture[str]) -> None:
    source = Path(__file__).parents[1] / "examples" / "gpu_job.py"
    assert "MACHINE = " in source.read_text()
    assert "did you mean MACHINE?" in _error(capsys, "show", f"{source}:machine")


def test_an_agent_missing_from_the_history_gets_the_closest_stored_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from agentfsm.models import AlfeAgent
    from agentfsm.runtime import Controller, ManualClock, SQLiteStore

    db = tmp_path / "agents.db"
    store = SQLiteStore(db)
    controller = Controller(MACHINES, store, ManualClock(datetime(2026, 4, 3, tzinfo=UTC)))
    controller.create("helpdesk", "alfe", AlfeAgent("helpdesk", "helpdesk"))
    store.close()
    assert "did you mean helpdesk?" in _error(capsys, "history", "helpdesc", "--db", str(db))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), flips=st.lists(st.booleans(), min_size=1, max_size=30))
def test_a_name_typed_in_another_case_is_always_found_first(
    data: st.DataObject, flips: list[bool]
) -> None:
    machine = data.draw(st.sampled_from(sorted(MACHINES)))
    names = MACHINES[machine].spec.state_names
    name = data.draw(st.sampled_from(names))
    cycle = (flips * len(name))[: len(name)]
    typed = "".join(c.swapcase() if f else c for c, f in zip(name, cycle, strict=True))
    assert closest(typed, names) == [name]
    assert did_you_mean(typed, names) == f" (did you mean {name}?)"


@settings(max_examples=60, deadline=None)
@given(typed=st.text(max_size=20), names=st.lists(st.text(min_size=1, max_size=12), max_size=8))
def test_a_suggestion_is_always_one_of_the_names(typed: str, names: list[str]) -> None:
    found = closest(typed, names, limit=3)
    assert len(found) <= 3
    assert set(found) <= set(names)
    assert len(set(found)) == len(found)
    hint = did_you_mean(typed, names)
    assert (hint == "") == (not closest(typed, names))


def test_the_same_spelling_wins_over_another_case() -> None:
    assert closest("failed", ["Failed", "failed"]) == ["failed"]
    assert closest("FAILED", ["Failed", "failed"]) == ["Failed"]
    assert did_you_mean("pendng", ["Pending"]) == " (did you mean Pending?)"
    assert did_you_mean("x", []) == ""
