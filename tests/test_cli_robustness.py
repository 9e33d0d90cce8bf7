"""The command line answers bad numbers and Ctrl-C with one line, never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm.cli import main

SCRIPT = Path(sys.executable).with_name("agentfsm")


@pytest.mark.parametrize("waited", ["nan", "inf", "1e20", "-1", "-0.5", "10000001"])
def test_regression_offered_waited_nan_or_inf_printed_a_traceback(
    waited: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["offered", "alfe", "running", f"--waited={waited}"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("agentfsm: error: --waited must be")


@pytest.mark.parametrize("waited", ["0", "11", "10000000"])
def test_offered_takes_any_wait_in_range(waited: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["offered", "alfe", "starting", "--waited", waited]) == 0
    out = capsys.readouterr().out
    start = next(line for line in out.splitlines() if line.strip().startswith("Start"))
    assert ("yes" in start) == (float(waited) > 10)  # the stuck limit is 10 minutes


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_regression_ctrl_c_during_simulate_printed_a_keyboard_interrupt_traceback(
    tmp_path: Path,
) -> None:
    # The timeline streams now: it goes to a file, so a full pipe cannot stall the walk.
    timeline = tmp_path / "timeline.txt"
    with timeline.open("w") as sink:
        process = subprocess.Popen(
            [str(SCRIPT), "simulate", "alfe", "--steps", "100000", "--agents", "8"],
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # Interrupt it well into the walk: past the imports, so main's handler is in place.
            deadline = time.monotonic() + 60
            while _cpu_seconds(process.pid) < 2.0:
                assert process.poll() is None, "the walk ended before it could be interrupted"
                assert time.monotonic() < deadline, "the walk did not get going"
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert err.splitlines() == ["agentfsm: interrupted"]
    out = timeline.read_text()
    assert out.startswith("agentfsm simulate alfe")
    assert out.endswith("\n")  # whole lines only, however far it got
    assert "events decided:" not in out  # cut short: no summary of a walk that did not end


_NAMES = st.one_of(
    st.sampled_from(("alfe", "recif", "Running", "running", "stoped", "", " ", "-x", "a:b")),
    st.text(max_size=12),
)


@st.composite
def _new_options(draw: st.DrawFn) -> list[str]:
    """A command with the options added for people: --json, --version, names to correct."""
    command = draw(st.sampled_from(("offered", "show", "simulate", "check", "diagram", "x")))
    argv = [command]
    if command in ("offered", "show", "simulate", "diagram"):
        argv.append(draw(_NAMES))
    if command == "offered":
        argv.append(draw(_NAMES))
    if command == "check":
        argv.append(draw(st.sampled_from(("alfee", "nope", "Recif"))))  # not a whole check
    if command == "simulate":
        argv += ["--steps", draw(st.sampled_from(("1", "5", "0", "nan", "-2")))]
    if command == "diagram":
        argv += ["--format", draw(_NAMES)]
    argv += draw(st.lists(st.sampled_from(("--json", "--version", "--help", "--")), max_size=2))
    return argv


@settings(max_examples=60, deadline=None)
@given(argv=_new_options())
def test_new_options_answer_bad_input_with_one_line(argv: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert code in (0, 2), (argv, err.getvalue())
    if code == 2:
        assert err.getvalue().count("\n") == 1, (argv, err.getvalue())
        assert "Traceback" not in err.getvalue()
    elif "--json" in argv and "--help" not in argv and "--version" not in argv:
        text = out.getvalue()
        lines = text.splitlines()
        # One JSON document (check, offered, show) or one a line (simulate).
        if argv[0] == "simulate":
            assert all(json.loads(x) for x in lines)
        elif argv[0] != "diagram":
            json.loads(text)
