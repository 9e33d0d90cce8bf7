"""``agentfsm history``: an agent's audit log from a real SQLite store, and clear errors."""

from __future__ import annotations

import itertools
import json
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentfsm import Actor, Event
from agentfsm.cli import main
from agentfsm.cli._history import history_text
from agentfsm.models import ALFE, MACHINES, AlfeAgent, RecifAgent
from agentfsm.runtime import AuditRow, Controller, ManualClock, SQLiteStore
from agentfsm.testing import events
from agentfsm.wire import dump, load

START = datetime(2026, 4, 3, 9, 0, tzinfo=UTC)
LABELS = {"U": "user", "S": "platform", "T": "timer", None: "runtime"}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with an Alfe agent (accepted and refused events) and a Recif agent."""
    path = tmp_path / "agents.db"
    store = SQLiteStore(path)
    clock = ManualClock(START)
    controller = Controller(MACHINES, store, clock)
    controller.create("agt-1", "alfe", AlfeAgent("agt-1", "helpdesk"))
    controller.create("triage", "recif", RecifAgent("triage"))
    for actor, name, payload in [
        ("S", "provision", {}),
        ("S", "host_up", {}),
        ("U", "connected", {}),  # a user cannot speak for the platform
        ("S", "connected", {}),
        ("U", "recreate", {"confirmation": "helpdesc"}),
        ("U", "stop", {}),
    ]:
        clock.advance(timedelta(seconds=7))
        controller.handle("agt-1", Event(name, actor, payload))
    controller.handle("triage", Event("deploy", "U"))
    store.close()
    return path


def _rows(path: Path, agent: str) -> list[tuple[object, ...]]:
    """The audit rows, read with plain SQL (not through the store the command uses)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT seq, actor, event, from_status, to_status, refusal_code FROM audit "
            "WHERE agent_id = ? ORDER BY seq",
            (agent,),
        ).fetchall()
    finally:
        conn.close()


def test_the_table_shows_every_row_of_the_log(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    code, out, err = _run(capsys, "history", "agt-1", "--db", str(db))
    assert (code, err) == (0, "")
    rows = _rows(db, "agt-1")
    printed = [x for x in out.splitlines() if x[:1].isdigit()]
    assert len(printed) == len(rows) == 7
    for (seq, actor, event, before, after, refusal), line in zip(rows, printed, strict=True):
        cells = line.split()
        assert cells[0] == str(seq)
        assert cells[3] == LABELS[actor]  # type: ignore[index]
        if before is None:
            assert f"-> {after}" in line
        elif refusal is not None:
            assert f"{before} (stays)" in line
            assert f"{refusal}: " in line
        else:
            assert f"{before} -> {after}" in line
            assert str(event) in line
    assert "7 events, 2 refused; now stopping" in out
    assert 'recreate (confirmation="helpdesc")' in out


def test_json_is_the_events_endpoint(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    code, out, _ = _run(capsys, "history", "agt-1", "--db", str(db), "--json")
    assert code == 0
    events_out = json.loads(out)
    rows = _rows(db, "agt-1")
    assert [e["seq"] for e in events_out] == [r[0] for r in rows]
    for e, (_, actor, event, before, after, refusal) in zip(events_out, rows, strict=True):
        assert e["actor"] == actor
        assert (e["event"], e["from_status"], e["to_status"]) == (event, before, after)
        assert (e["refusal"] or {}).get("code") == refusal
        assert datetime.fromisoformat(e["at"]).tzinfo is not None
    assert events_out[5]["payload"] == {"confirmation": "helpdesc"}
    assert events_out[0]["payload"]["data"]["name"] == "helpdesk"


def test_regression_history_json_used_from_to_and_platform(
    capsys: pytest.CaptureFixture[str], db: Path
) -> None:
    # It printed its own shape ("from"/"to", actor "platform"), not the library's AuditRow.
    code, out, _ = _run(capsys, "history", "agt-1", "--db", str(db), "--json")
    assert code == 0
    printed = json.loads(out)
    store = SQLiteStore(db)
    try:
        rows = store.history("agt-1")
    finally:
        store.close()
    assert printed == [dump(row) for row in rows]
    assert [load(AuditRow, e) for e in printed] == rows
    assert not any("from" in e or "to" in e for e in printed)
    assert {e["actor"] for e in printed} >= {"S", "U"}


def test_the_default_database_is_the_demos(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    (work / ".agentfsm-demo").mkdir(parents=True)
    db.rename(work / ".agentfsm-demo" / "agentfsm.db")
    monkeypatch.chdir(work)
    code, out, _ = _run(capsys, "history", "triage")
    assert code == 0
    assert "deploy" in out
    assert "created -> Pending" in out


def _one_line_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("agentfsm: error: ")
    assert "Traceback" not in err
    return err


def test_unknown_agent_names_the_known_ones(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    err = _one_line_error(capsys, "history", "agt-9", "--db", str(db))
    assert "no agent 'agt-9'" in err
    assert "agt-1" in err
    assert "triage" in err


def test_an_empty_store_says_it_holds_no_agents(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    assert "holds no agents" in _one_line_error(capsys, "history", "x", "--db", str(path))


def test_a_missing_database_is_not_created(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    err = _one_line_error(capsys, "history", "agt-1")
    assert "agentfsm demo" in err
    assert "--db" in err
    missing = tmp_path / "nope.db"
    _one_line_error(capsys, "history", "agt-1", "--db", str(missing))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["directory", "empty", "text", "foreign", "too-new"])
def test_a_file_that_is_not_an_agentfsm_database_is_left_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db: Path, kind: str
) -> None:
    path = tmp_path / "other"
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("agent,status\nagt-1,running\n", encoding="utf-8")
    elif kind == "foreign":
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE invoices (id INTEGER)")
        conn.commit()
        conn.close()
    else:
        path = db
        conn = sqlite3.connect(path)
        conn.execute("UPDATE agentfsm_schema SET version = 99")
        conn.commit()
        conn.close()
    before = path.read_bytes() if path.is_file() else None
    err = _one_line_error(capsys, "history", "agt-1", "--db", str(path))
    assert str(path) in err
    if kind == "too-new":
        assert "newer" in err or "upgrade" in err
    if before is not None:
        assert path.read_bytes() == before


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_stream_of_events_reads_back_in_order(data: st.DataObject) -> None:
    """Whatever was decided, the history chains: each row starts where the previous ended."""
    with tempfile.TemporaryDirectory() as folder:
        _stream_reads_back(Path(folder) / "h.db", data)


def _stream_reads_back(path: Path, data: st.DataObject) -> None:
    store = SQLiteStore(path)
    clock = ManualClock(START)
    controller = Controller(MACHINES, store, clock)
    snap = controller.create("a", "alfe", AlfeAgent("a", "bot"))
    sent = 0
    for _ in range(data.draw(st.integers(0, 15))):
        event = data.draw(events(ALFE, snap, actors=tuple(Actor)))
        clock.advance(timedelta(minutes=data.draw(st.integers(0, 30))))
        controller.handle("a", event)
        snap = controller.get("a").snapshot
        sent += 1
    store.close()
    rows = json.loads(history_text(path, "a", as_json=True))
    assert len(rows) == sent + 1
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    for previous, row in itertools.pairwise(rows):
        assert row["from_status"] == previous["to_status"]
        if row["refusal"] is not None:
            assert row["to_status"] == row["from_status"]
            assert row["version"] == previous["version"]
    assert rows[-1]["to_status"] == snap.status


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE audit SET actor = 'no role!'",
        "UPDATE audit SET at = 'noon'",
        "UPDATE agents SET since = 'yesterday'",
        "UPDATE audit SET payload = '{not json'",
        "UPDATE audit SET event = CAST(X'FF0A0AFF' AS TEXT)",  # not UTF-8, with line breaks
        "UPDATE agentfsm_schema SET version = 0",
        "UPDATE agentfsm_schema SET version = 'two'",
    ],
)
def test_regression_damaged_store_shown_as_a_traceback(
    capsys: pytest.CaptureFixture[str], db: Path, damage: str
) -> None:
    conn = sqlite3.connect(db)
    conn.execute(damage)
    conn.commit()
    conn.close()
    for json_flag in ([], ["--json"]):
        err = _one_line_error(capsys, "history", "agt-1", "--db", str(db), *json_flag)
        assert str(db) in err
        assert "damaged" in err


def test_regression_history_of_a_damaged_store_left_wal_and_shm_files_beside_it(
    capsys: pytest.CaptureFixture[str], db: Path
) -> None:
    # A store file is in WAL mode; the check before opening it read it with ?mode=ro, which
    # makes -wal and -shm files that nobody removes once the store refuses the file.
    conn = sqlite3.connect(db)
    conn.execute("UPDATE agentfsm_schema SET version = -1")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = {p.name: p.read_bytes() for p in db.parent.iterdir()}
    assert not any(name.endswith(("-wal", "-shm")) for name in before)
    err = _one_line_error(capsys, "history", "agt-1", "--db", str(db))
    assert "damaged" in err
    assert {p.name: p.read_bytes() for p in db.parent.iterdir()} == before
