"""The ``agentfsm`` command line under hostile arguments, in-process (``main(argv)``) and, for
the cases only a real process shows, in a subprocess.

Contract (``agentfsm.cli.main``): it returns 0, 1 or 2 and never raises; a value the user got
wrong is a one-line message (exit 2), never a traceback. ``history`` only reads its database:
a foreign, damaged or non-SQLite file is left byte-for-byte as it was.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from agentfsm.cli import main
from agentfsm.models import MACHINES

from . import _hostile as h
from ._tally import attempt, expect, fuzz_settings, unchanged
from .test_fuzz_store_files import DAMAGE, _damage, _real_store_file

FUZZ = fuzz_settings(40)

_MODELS = st.one_of(st.sampled_from(sorted(MACHINES)), h.text())
_STATUSES = st.one_of(
    st.sampled_from(sorted({s for m in MACHINES.values() for s in m.spec.state_names})), h.text()
)
_NUMBERS = st.sampled_from(
    ("0", "1", "3", "-1", "nan", "inf", "-inf", "1e20", "1e309", "0x10", "", " ", "9" * 5000)
)
_SMALL = st.sampled_from(("0", "1", "2", "5", "-1", "nan", "", "9" * 5000, "1e3"))
_TOKENS = st.one_of(
    h.text(), st.sampled_from(("--help", "-h", "--json", "--version", "--", "-", "--db"))
)


def _argv(draw: st.DrawFn) -> list[Any]:
    command = draw(st.sampled_from(("show", "diagram", "offered", "simulate", "check", "story")))
    argv: list[Any] = [command]
    if command in ("show", "diagram", "offered", "simulate"):
        argv.append(draw(_MODELS))
    elif command == "check":
        argv.append(draw(h.text()))  # a real model name would run the whole model check
    if command == "offered":
        argv += [draw(_STATUSES), "--waited", draw(_NUMBERS)]
    if command == "diagram":
        argv += ["--format", draw(st.one_of(st.sampled_from(("mermaid", "dot")), h.text()))]
    if command == "simulate":
        argv += ["--seed", draw(_NUMBERS), "--steps", draw(_SMALL), "--faults", draw(_NUMBERS),
                 "--agents", draw(_SMALL)]  # fmt: skip
    argv += draw(st.lists(_TOKENS, max_size=2))
    return argv


arguments = st.composite(_argv)()


def _run(argv: list[str], entry: str) -> None:
    # The streams a real process has: stdout strict UTF-8, stderr with backslashreplace.
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err_stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err_stream
    try:
        code = attempt(entry, (), lambda: main(argv), argv)
    finally:
        sys.stdout, sys.stderr = saved
        err_stream.flush()
    err = err_stream.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]
    if isinstance(code, BaseException):
        return
    expect(entry, code in (0, 1, 2), f"exit status {code!r}", argv)
    expect(entry, "Traceback" not in err, "printed a traceback", argv)


@FUZZ
@given(argv=arguments)
@example(argv=["offered", "alfe", "running", "--waited", "nan"])
@example(argv=["simulate", "recif", "--seed", "9" * 5000, "--faults", "inf"])
def test_fuzz_cli_arguments(argv: list[Any]) -> None:
    """Hostile arguments to every quick command: 0, 1 or 2, a message, never a traceback."""
    _run([h.real(a) for a in argv], "cli.main")


def _database(folder: Path, kind: str, damage: tuple[str, str, str]) -> Path:
    if kind == "damaged":
        path = _real_store_file(folder)
        _damage(path, *damage, True)
        return path
    path = folder / "their.db"
    if kind == "foreign":
        import sqlite3

        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
        conn.commit()
        conn.close()
    elif kind == "not sqlite":
        path.write_bytes(b"not a database\n" * 3)
    return path


@FUZZ
@given(
    kind=st.sampled_from(("damaged", "foreign", "not sqlite", "missing", "real")),
    damage=st.sampled_from(DAMAGE),
    agent=st.one_of(st.sampled_from(("a-1", "r-1")), h.text()),
    as_json=st.booleans(),
)
def test_fuzz_cli_history(
    tmp_path: Path,
    kind: str,
    damage: tuple[str, str, str],
    agent: Any,
    as_json: bool,
) -> None:
    """``agentfsm history`` on every kind of file: a message, never a traceback, and the file
    left as it was."""
    folder = tmp_path / uuid.uuid4().hex[:10]
    folder.mkdir()
    path = _database(folder, kind, damage) if kind != "real" else _real_store_file(folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    argv = ["history", h.real(agent), "--db", str(path), *(["--json"] if as_json else [])]
    _run(argv, "cli.main(history)")
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    unchanged("cli.main(history)", before, after, kind, damage)


def _cli(*args: str) -> subprocess.Popen[str]:
    code = "import sys; from agentfsm.cli import main; sys.exit(main())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(process: subprocess.Popen[str], timeout: float) -> tuple[str, str, Any]:
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:  # never leave the process behind
            process.kill()
            process.communicate()
    return out, err, process


@pytest.mark.parametrize("waited", ["nan", "inf", "1e20"])
def test_fuzz_cli_offered_waited_out_of_range_in_a_process(waited: str) -> None:
    """``agentfsm offered alfe running --waited nan`` (inf, 1e20): a usage error, exit 2."""
    _, err, process = _finish(_cli("offered", "alfe", "running", "--waited", waited), 60)
    entry = "cli(process)"
    attempt(entry, (), lambda: None)
    expect(entry, "Traceback" not in err, f"printed a traceback for --waited {waited}", err[-300:])
    if "Traceback" not in err:
        expect(entry, process.returncode == 2, f"exit status {process.returncode}", waited)


def test_fuzz_cli_interrupted_simulate_in_a_process() -> None:
    """Ctrl-C during ``simulate``: no ``KeyboardInterrupt`` traceback."""
    process = _cli("simulate", "alfe", "--steps", "100000", "--agents", "8")  # about 30 s
    # Signal only once the timeline has begun: on a loaded machine start-up alone can outlast a
    # fixed sleep, and the interrupt must land inside the walk, which is what this tests.
    assert process.stdout is not None
    first = process.stdout.readline()
    process.send_signal(signal.SIGINT)
    out, err, process = _finish(process, 120)
    out = first + out
    entry = "cli(process)"
    attempt(entry, (), lambda: None)
    expect(entry, process.returncode != 0, "Ctrl-C ended simulate with exit status 0", out[-80:])
    expect(entry, "Traceback" not in err, "printed a traceback on Ctrl-C", err[-300:])
