"""``agentfsm simulate``: the printed walk is what the engine decided, and a seed replays it."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import Actor, Context, Event, Refusal, decide
from agentfsm._errors import InvalidInput
from agentfsm.cli import main
from agentfsm.cli._simulate import Simulation, format_simulation, simulate
from agentfsm.cli._simulate_stream import stream_simulation
from agentfsm.models import ALFE, MACHINES, RECIF


def _replay_check(sim: Simulation) -> None:
    """Decide every line again from the agent's first snapshot: the same outcome each time."""
    machine = MACHINES[sim.model]
    current = dict(sim.initials)
    seen_created = set()
    for line in sim.lines:
        if line.event == "(created)":
            assert line.agent not in seen_created
            seen_created.add(line.agent)
            assert line.after == machine.spec.initial == current[line.agent].status
            continue
        assert line.agent in seen_created, f"{line.agent} acts before it is created"
        if line.note is not None:
            continue
        assert line.actor is not None
        before = current[line.agent]
        assert line.before == before.status
        result = decide(machine, before, Event(line.event, line.actor, line.payload),
                        Context(line.at))  # fmt: skip
        if isinstance(result, Refusal):
            assert line.refusal == result
            assert line.after == before.status
            assert line.effects == ()
        else:
            assert line.refusal is None
            assert line.after == result.snapshot.status
            assert line.effects == result.effects
            current[line.agent] = result.snapshot
    assert {k: s.status for k, s in current.items()} == {k: s.status for k, s in sim.finals.items()}


@settings(max_examples=30, deadline=None)
@given(
    model=st.sampled_from(sorted(MACHINES)),
    seed=st.integers(0, 10**6),
    steps=st.integers(1, 80),
    rate=st.floats(0, 1),
    agents=st.integers(1, 4),
)
def test_the_timeline_is_what_the_engine_decided(
    model: str, seed: int, steps: int, rate: float, agents: int
) -> None:
    sim = simulate(MACHINES[model], seed=seed, steps=steps, fault_rate=rate, agents=agents)
    assert len(sim.decisions) == steps
    _replay_check(sim)
    times = [x.at for x in sim.lines]
    assert times == sorted(times)  # the clock never goes back


@pytest.mark.parametrize("model", sorted(MACHINES))
def test_a_seed_replays_exactly_and_seeds_differ(model: str) -> None:
    machine = MACHINES[model]
    one = format_simulation(simulate(machine, seed=11, steps=60, fault_rate=0.3), machine)
    again = format_simulation(simulate(machine, seed=11, steps=60, fault_rate=0.3), machine)
    other = format_simulation(simulate(machine, seed=12, steps=60, fault_rate=0.3), machine)
    assert one == again
    assert one != other


_ALFE_FAULT_EVENTS = {
    "capacity_unavailable",
    "provisioning_failed",
    "connection_lost",
    "billing_suspend",
}


def test_without_faults_nothing_goes_wrong_on_the_alfe_host() -> None:
    for seed in range(5):
        sim = simulate(ALFE, seed=seed, steps=80, fault_rate=0.0)
        names = {x.event for x in sim.decisions}
        assert not names & _ALFE_FAULT_EVENTS, (seed, names & _ALFE_FAULT_EVENTS)
        assert all(x.note is None for x in sim.lines)


def test_alfe_faults_are_injected_and_the_fleet_recovers() -> None:
    events: Counter[str] = Counter()
    recovered = 0
    for seed in range(6):
        sim = simulate(ALFE, seed=seed, steps=120, fault_rate=0.3)
        _replay_check(sim)
        events.update(x.event for x in sim.decisions if x.refusal is None)
        moves = [(x.before, x.after) for x in sim.decisions if x.refusal is None]
        recovered += moves.count(("failing", "running"))
    assert events["billing_suspend"] >= 1
    assert events["billing_resume"] >= 1
    assert events["connection_lost"] + events["capacity_unavailable"] >= 1
    assert recovered >= 1


def test_recif_pods_fail_and_come_back_once_fixed() -> None:
    back = 0
    for seed in range(6):
        sim = simulate(RECIF, seed=seed, steps=120, fault_rate=0.4)
        moves = [(x.before, x.event, x.after) for x in sim.decisions if x.refusal is None]
        assert ("Running", "pods_unhealthy", "Failed") in moves or (
            "Pending",
            "pods_unhealthy",
            "Failed",
        ) in moves
        back += moves.count(("Failed", "pods_ready", "Running"))
        assert any(x.note is not None and x.note.startswith("fault:") for x in sim.lines)
    assert back >= 1


def test_refusals_are_printed_with_their_code_and_sentence() -> None:
    sim = simulate(ALFE, seed=4, steps=150, fault_rate=0.2)
    text = format_simulation(sim, ALFE)
    refused = [x for x in sim.decisions if x.refusal is not None]
    assert refused, "a walk of 150 steps is expected to hold a user's mistake"
    for line in refused:
        assert line.refusal is not None
        assert f"REFUSED {line.refusal.code}" in text
    codes = Counter(x.refusal.code for x in refused if x.refusal is not None)
    for code, count in codes.items():
        assert f"{code} x{count}" in text
    accepted = len(sim.decisions) - len(refused)
    assert f"events decided: 150: {accepted} accepted, {len(refused)} refused" in text


def test_summary_lists_the_statuses_visited_in_model_order() -> None:
    sim = simulate(RECIF, seed=2, steps=100, fault_rate=0.3)
    text = format_simulation(sim, RECIF)
    visited_line = next(r for r in text.splitlines() if r.startswith("statuses visited:"))
    visited = visited_line.split(": ", 1)[1].split(", ")
    entered = {x.after for x in sim.lines if x.refusal is None and x.note is None}
    assert set(visited) == entered
    order = list(RECIF.spec.state_names)
    assert visited == sorted(visited, key=order.index)


def test_users_act_only_as_users_and_the_world_only_as_platform_or_timer() -> None:
    sim = simulate(ALFE, seed=9, steps=200, fault_rate=0.3)
    for line in sim.decisions:
        spec = next(e for e in ALFE.spec.events if e.name == line.event)
        if line.actor is Actor.USER:
            assert Actor.USER in spec.actors or line.refusal is not None
        else:
            assert line.actor in spec.actors


def test_the_command_prints_the_simulation(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", "recif", "--seed", "5", "--steps", "30", "--faults", "0.2"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    sim = simulate(RECIF, seed=5, steps=30, fault_rate=0.2)
    assert out == format_simulation(sim, RECIF)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["simulate", "alfee"], ["unknown model", "alfe"]),
        (["simulate", "alfe", "--steps", "0"], ["steps", "1 to"]),
        (["simulate", "alfe", "--steps", "many"], ["invalid int"]),
        (["simulate", "alfe", "--faults", "1.5"], ["probability"]),
        (["simulate", "alfe", "--faults", "nan"], ["probability"]),
        (["simulate", "alfe", "--seed", "-3"], ["seed"]),
        (["simulate", "alfe", "--agents", "0"], ["agents"]),
        (["simulate", "alfe", "--agents", "99"], ["agents"]),
        (["simulate"], ["MODEL"]),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: list[str]
) -> None:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    for word in words:
        assert word in err


def test_the_library_call_checks_its_numbers_too() -> None:
    with pytest.raises(InvalidInput, match="steps"):
        simulate(ALFE, seed=1, steps=True, fault_rate=0.1)
    with pytest.raises(InvalidInput, match="seed"):
        simulate(ALFE, seed=1.5, steps=3, fault_rate=0.1)  # type: ignore[arg-type]


class _Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_streamed_output_is_the_whole_printout(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    sim = stream_simulation(ALFE, 3, 80, 0.3, 3, out, progress_to=io.StringIO())
    assert out.getvalue() == format_simulation(sim, ALFE)
    assert sim == simulate(ALFE, seed=3, steps=80, fault_rate=0.3, agents=3)


def test_a_progress_bar_is_drawn_on_a_terminal_and_cleared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("agentfsm.cli._simulate_stream._EVERY", 0.0)  # draw after every line
    bar = _Terminal()
    out = io.StringIO()
    stream_simulation(RECIF, 1, 40, 0.2, 2, out, progress_to=bar)
    drawn = bar.getvalue()
    assert "\r[" in drawn
    assert "/40 events" in drawn
    assert drawn.endswith("\r\x1b[K")  # nothing of the bar is left on the screen
    assert "\r" not in out.getvalue()  # the timeline never gets a piece of the bar


def test_no_progress_bar_when_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agentfsm.cli._simulate_stream._EVERY", 0.0)
    quiet = io.StringIO()
    stream_simulation(RECIF, 1, 40, 0.2, 2, io.StringIO(), progress_to=quiet)
    assert quiet.getvalue() == ""


def test_regression_simulate_printed_nothing_until_the_walk_ended(tmp_path: Path) -> None:
    # 100,000 steps: the first rows must be on disk while the walk is still going.
    timeline = tmp_path / "timeline.txt"
    script = Path(sys.executable).with_name("agentfsm")
    with timeline.open("w") as sink:
        process = subprocess.Popen(
            [str(script), "simulate", "alfe", "--steps", "100000", "--agents", "8"],
            stdout=sink, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while timeline.read_text().count("\n") < 20:
                assert process.poll() is None, "the walk ended before printing anything"
                assert time.monotonic() < deadline, "nothing printed while the walk ran"
                time.sleep(0.05)
            assert process.poll() is None  # still walking: the rows came as they were made
        finally:
            process.kill()
            process.communicate()
    assert "from -> to" in timeline.read_text()
