"""``--json`` on check, offered, show and simulate: the records' one JSON form (agentfsm.wire)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from agentfsm import Machine, Offer, offered
from agentfsm.analysis import check
from agentfsm.cli import main
from agentfsm.cli._simulate import simulate
from agentfsm.cli._simulate_stream import line_json
from agentfsm.models import ALFE_IMPLEMENTATIONS, ALFE_SPEC, MACHINES, RECIF
from agentfsm.render import sample_snapshot
from agentfsm.render._samples import sample_context
from agentfsm.wire import dump, load

SCRIPT = Path(sys.executable).with_name("agentfsm")


def _json(capsys: pytest.CaptureFixture[str], *argv: str, code: int = 0) -> object:
    assert main(list(argv)) == code
    out, err = capsys.readouterr()
    assert err == ""
    return json.loads(out)


def test_offered_json_is_the_offer_records(capsys: pytest.CaptureFixture[str]) -> None:
    printed = _json(capsys, "offered", "alfe", "stopped", "--json")
    machine = MACHINES["alfe"]
    people = tuple(r for r in machine.roles if r.person)
    expected = offered(machine, sample_snapshot(machine, "stopped"), sample_context(), actor=people)
    assert printed == dump(expected)
    assert isinstance(printed, list)
    assert [load(Offer, o) for o in printed] == list(expected)
    assert any(o["refusal"] is not None and o["refusal"]["accepted"] is False for o in printed)


def test_show_json_is_the_machine_definition(capsys: pytest.CaptureFixture[str]) -> None:
    printed = _json(capsys, "show", "recif", "--json")
    assert isinstance(printed, dict)
    assert printed["name"] == "recif"
    assert [s["name"] for s in printed["states"]] == list(RECIF.spec.state_names)
    assert len(printed["transitions"]) == len(RECIF.spec.transitions)
    for event, spec in zip(printed["events"], RECIF.spec.events, strict=True):
        assert event["name"] == spec.name
        assert event["actors"] == sorted(a.code for a in spec.actors)


def test_show_json_is_the_same_in_every_process() -> None:
    # Sets (an event's actors) are printed sorted: the hash seed does not show.
    outs = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run(
            [str(SCRIPT), "show", "alfe", "--json"], capture_output=True, text=True,
            timeout=60, check=False, env={**os.environ, "PYTHONHASHSEED": seed},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        outs.add(done.stdout)
    assert len(outs) == 1


def test_check_json_is_the_reports(capsys: pytest.CaptureFixture[str]) -> None:
    printed = _json(capsys, "check", "recif", "--json")
    report = check(RECIF)
    assert printed == [{**dump(report), "ok": True}]


def test_check_json_of_a_failing_model_exits_1_with_its_counterexample(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = tuple(
        attrs.evolve(r, target="stopping") if r.event == "connection_lost" else r
        for r in ALFE_SPEC.transitions
    )
    broken = Machine(attrs.evolve(ALFE_SPEC, transitions=rows), ALFE_IMPLEMENTATIONS)
    monkeypatch.setitem(MACHINES, "alfe", broken)
    [report] = _json(capsys, "check", "alfe", "--json", code=1)  # type: ignore[misc]
    assert report["ok"] is False
    assert report["failures"]
    steps = report["failures"][0]["path"]
    assert any(s["event"] == "connection_lost" and s["actor"] == "S" for s in steps)


def test_simulate_json_is_one_record_a_line_then_the_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["simulate", "recif", "--seed", "5", "--steps", "30", "--faults", "0.2", "--json"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    records = [json.loads(x) for x in out.splitlines()]
    sim = simulate(RECIF, seed=5, steps=30, fault_rate=0.2)
    assert records[:-1] == [json.loads(json.dumps(line_json(x))) for x in sim.lines]
    summary = records[-1]
    assert summary["kind"] == "summary"
    assert summary["steps"] == 30 == sum(1 for r in records if r["kind"] == "event")
    assert summary["agents"] == {k: dump(s) for k, s in sim.finals.items()}
    for r in records[:-1]:
        assert set(r) >= {"at", "agent_id", "actor", "from_status", "to_status", "refusal"}
        if r["kind"] == "event":
            assert r["actor"] in {"U", "S", "T"}
            if r["refusal"] is not None:
                assert r["from_status"] == r["to_status"]


@pytest.mark.parametrize("command", ["check", "offered", "show", "simulate", "history"])
def test_every_command_with_data_takes_json(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    assert main([command, "--help"]) == 0
    assert "--json" in capsys.readouterr().out


def test_a_report_with_no_json_form_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentfsm._errors import InvalidInput

    def unprintable(report: object) -> object:
        raise InvalidInput("the object <Gpu> (Gpu) has no JSON form")

    monkeypatch.setattr("agentfsm.cli._commands.report_json", unprintable)
    assert main(["check", "recif", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "agentfsm: error: the report cannot be printed as JSON: the object <Gpu> (Gpu) has no "
        "JSON form"
    ]
