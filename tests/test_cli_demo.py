"""``agentfsm demo``: a real fleet in a subprocess, its output against the store, and Ctrl-C.

The slow tests run the installed ``agentfsm`` script in a fresh folder and then read what it
left behind with the library (the SQLite store, the Git release repository), so the printed
timeline and summary are checked against the durable record, not against themselves.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentfsm._values import Refusal
from agentfsm.cli import main
from agentfsm.cli._demo import MARKER, prepare_directory
from agentfsm.cli._demo_display import event_text
from agentfsm.cli._demo_script import MAX_AGENTS, MIN_AGENTS, cast_for
from agentfsm.releases import GitReleaseStore
from agentfsm.runtime import AuditRow, SQLiteStore

SCRIPT = Path(sys.executable).with_name("agentfsm")
_STAMP = re.compile(r"^\[\s*\d+\.\ds\] {3}(?! )")


def _processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line mentions ``text`` (the demo's folder)."""
    if not Path("/proc").is_dir():
        pytest.skip("needs /proc to look for leftover processes")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def _run_demo(folder: Path, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "demo", "--dir", str(folder), *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# -- quick checks ------------------------------------------------------------------------------


def test_the_cast_fits_the_fleet_size() -> None:
    for n in range(MIN_AGENTS, MAX_AGENTS + 1):
        cast = cast_for(n)
        assert len(cast.everyone) == n
        assert len(set(cast.everyone)) == n
    for bad in (MIN_AGENTS - 1, MAX_AGENTS + 1):
        with pytest.raises(ValueError, match="agents"):
            cast_for(bad)


def test_a_demo_folder_is_created_then_cleared_but_a_foreign_one_is_refused(
    tmp_path: Path,
) -> None:
    folder = prepare_directory(tmp_path / "demo")
    assert (folder / MARKER).is_file()
    (folder / "agentfsm.db").write_text("old", encoding="utf-8")
    (folder / "hosts").mkdir()
    (folder / "notes.txt").write_text("mine", encoding="utf-8")
    prepare_directory(folder)
    assert not (folder / "agentfsm.db").exists()
    assert not (folder / "hosts").exists()
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "mine"  # not ours: kept


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--agents", "3"], ["5 to 12"]),
        (["--agents", "13"], ["5 to 12"]),
        (["--agents", "many"], ["invalid int"]),
        (["--seconds", "-1"], ["--seconds", "0 to 600"]),
        (["--seconds", "nan"], ["--seconds"]),
    ],
)
def test_bad_arguments_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], words: list[str]
) -> None:
    code = main(["demo", "--dir", str(tmp_path / "d"), "--no-live", *argv])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    for word in words:
        assert word in err
    assert not (tmp_path / "d").exists()  # nothing was started


@pytest.mark.parametrize("kind", ["file", "foreign folder"])
def test_a_folder_that_is_not_the_demos_is_left_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str
) -> None:
    target = tmp_path / "target"
    if kind == "file":
        target.write_text("data", encoding="utf-8")
    else:
        target.mkdir()
        (target / "agentfsm.db").write_text("someone else's", encoding="utf-8")
    code = main(["demo", "--dir", str(target), "--no-live"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1
    assert str(target) in err
    if kind == "file":
        assert target.read_text(encoding="utf-8") == "data"
    else:
        assert sorted(p.name for p in target.iterdir()) == ["agentfsm.db"]
        assert (target / "agentfsm.db").read_text(encoding="utf-8") == "someone else's"


def test_an_event_line_says_what_was_decided() -> None:
    at = datetime(2026, 4, 3, tzinfo=UTC)
    refusal = Refusal("confirmation_mismatch", "Type the name.", "recreate", "running")
    payload = {"confirmation": "helpdek"}
    refused = AuditRow(7, "e7", "helpdesk", "event", "U", "recreate", payload,
                       "running", "running", 4, refusal, at, None)  # fmt: skip
    text = event_text(refused)
    assert text.startswith("helpdesk")
    assert "recreate (user) confirmation='helpdek'" in text
    assert text.endswith("running (stays)  REFUSED confirmation_mismatch: Type the name.")
    moved = refused._replace(actor="S", event="connection_lost", payload={}, refusal=None,
                             to_status="failing")  # fmt: skip
    assert event_text(moved).endswith("connection_lost (platform)  running -> failing")


# -- the real thing ----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_demo_tells_every_story_and_prints_what_the_store_holds(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    done = _run_demo(folder, "--no-live", "--seconds", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    out = done.stdout
    assert "every beat reached" in out

    store = SQLiteStore(folder / "agentfsm.db")
    try:
        rows = store.audit_log()
        # Every row the platform wrote is printed, in order, and nothing else is.
        printed = [_STAMP.sub("", x) for x in out.splitlines() if _STAMP.match(x)]
        printed = [x for x in printed if not x.startswith("fleet:")]
        assert printed == [event_text(r) for r in rows]

        # The summary table is the store's final state.
        for record in store.agents():
            history = store.history(record.agent_id)
            codes = [r.refusal.code for r in history if r.refusal is not None]
            line = next(x for x in out.splitlines() if x.startswith(f"  {record.agent_id} "))
            cells = line.split()
            assert cells[1:5] == [
                record.machine,
                record.snapshot.status,
                str(record.snapshot.version),
                str(len(history)),
            ]
            assert cells[5] == str(len(codes))
            for code in codes:
                assert code in line

        def moves(agent: str) -> list[tuple[str | None, str, str]]:
            return [(r.from_status, r.event, r.to_status) for r in store.history(agent)
                    if r.refusal is None]  # fmt: skip

        bot = moves("helpdesk")
        assert ("running", "connection_lost", "failing") in bot
        assert ("failing", "connected", "running") in bot
        assert ("billing_suspended", "billing_resume", "starting") in bot
        assert ("running", "recreate", "provisioning") in bot
        assert store.load("helpdesk").snapshot.data.credentials == 2
        refusals = {r.refusal.code for r in store.audit_log() if r.refusal is not None}
        assert {"confirmation_mismatch", "replicas_out_of_range"} <= refusals
        triage = moves("triage")
        assert triage.index(("Running", "pods_unhealthy", "Failed")) < triage.index(
            ("Failed", "pods_ready", "Running")
        )
        suspended = {r.agent_id for r in store.audit_log() if r.event == "billing_suspend"}
        assert {"helpdesk", "courier"} <= suspended
        assert store.load("relay").snapshot.status == "deleted"
        assert store.load("scribe").snapshot.status == "deleted"
    finally:
        store.close()

    releases = GitReleaseStore(folder / "recif-state", create=False)
    assert releases.history("relay")[-1].is_tombstone
    assert [i.version for i in releases.history("triage")] == [1, 2, 3]
    assert "Agent processes left running: 0" in out
    assert f"git -C {folder / 'recif-state'} log --oneline" in out
    assert _processes_mentioning(str(folder)) == []

    # What the summary points at works.
    again = subprocess.run(
        [str(SCRIPT), "history", "helpdesk", "--db", str(folder / "agentfsm.db")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert again.returncode == 0
    assert "confirmation_mismatch" in again.stdout


@pytest.mark.slow
def test_a_second_run_in_the_same_folder_starts_afresh(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    for _ in range(2):
        done = _run_demo(folder, "--no-live", "--seconds", "0")
        assert done.returncode == 0, done.stdout + done.stderr
    store = SQLiteStore(folder / "agentfsm.db")
    try:
        creations = [r for r in store.audit_log() if r.kind == "create"]
        assert len(creations) == len({r.agent_id for r in creations}) == 5
    finally:
        store.close()


def _read_until(process: subprocess.Popen[str], needle: str, timeout: float) -> str:
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} did not appear in {timeout} s; got:\n{seen}"
        ready, _, _ = select.select([process.stdout], [], [], left)
        if ready:
            line = process.stdout.readline()
            assert line, f"the demo ended before {needle!r}:\n{seen}"
            seen += line
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_it_cleanly_with_no_process_left(tmp_path: Path, signum: int) -> None:
    folder = tmp_path / "demo"
    process = subprocess.Popen(
        [str(SCRIPT), "demo", "--dir", str(folder), "--no-live", "--seconds", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _read_until(process, "2/11", timeout=30)  # the fleet is up: agent processes run
        assert _processes_mentioning(str(folder)), "expected live agent processes"
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, out + err
    assert "interrupted after" in out
    assert "no agent process is left" in out
    assert "Traceback" not in err
    assert _processes_mentioning(str(folder)) == []
