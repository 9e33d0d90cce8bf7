"""The demo story: what it prints is what the engine decided, and it tells the whole lifecycle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import Actor, Context, Event, InvalidInput, Refusal, Step, decide, effects
from agentfsm.cli._story import (
    CAST,
    STORY,
    STORY_START,
    Beat,
    Line,
    demo_text,
    format_timeline,
    run_story,
)


def _replay(beats: Sequence[Beat]) -> dict[str, list[tuple[str, Step | Refusal]]]:
    """Each agent's (status before, result) per beat, decided here without the story module."""
    out: dict[str, list[tuple[str, Step | Refusal]]] = {}
    for member in CAST:
        snap = member.machine.initial(member.data, STORY_START)
        results = out.setdefault(member.key, [])
        for beat in (b for b in beats if b.agent == member.key):
            event = Event(beat.event, beat.actor, dict(beat.payload))
            result = decide(member.machine, snap, event, Context(STORY_START + beat.at))
            results.append((snap.status, result))
            if isinstance(result, Step):
                snap = result.snapshot
    return out


def _check_lines_against_replay(lines: Sequence[Line], beats: Sequence[Beat]) -> None:
    replay = _replay(beats)
    for member in CAST:
        mine = [x for x in lines if x.agent == member.key]
        assert mine[0].event == "(created)"
        assert mine[0].after == member.machine.spec.initial
        assert len(mine) - 1 == len(replay[member.key])
        for line, (before, result) in zip(mine[1:], replay[member.key], strict=True):
            assert line.before == before
            if isinstance(result, Refusal):
                assert line.refusal == result
                assert line.after == before
                assert line.effects == ()
            else:
                assert line.refusal is None
                assert line.after == result.snapshot.status
                assert line.effects == result.effects


def test_every_beat_does_what_the_script_expects() -> None:
    lines, _ = run_story()
    wrong = [(x.agent, x.event, x.expect, x.refusal) for x in lines if not x.as_expected]
    assert wrong == []


def test_the_timeline_is_what_the_engine_decided() -> None:
    lines, _ = run_story()
    _check_lines_against_replay(lines, STORY)


def test_the_printed_timeline_shows_each_outcome() -> None:
    lines, _ = run_story()
    printed = format_timeline(lines).splitlines()
    beat_rows = [x for x in printed if x[:1].isdigit() or x.startswith("+")]
    assert len(beat_rows) == len(lines)
    for line, row in zip(lines, beat_rows, strict=True):
        assert f" {line.agent} " in row
        if line.refusal is not None:
            assert f"{line.before} (stays)" in row
            assert f"REFUSED {line.refusal.code}" in row
            following = printed[printed.index(row) + 1]
            assert line.refusal.message.split()[0] in following
        elif line.before:
            assert f"{line.before} -> {line.after}" in row
        actor = f"({line.actor.value})" if line.actor else ""
        assert f"{line.event} {actor}".strip() in row


def test_the_story_tells_both_lifecycles() -> None:
    lines, finals = run_story()
    refusals = {x.refusal.code for x in lines if x.refusal is not None}
    assert {"actor_not_allowed", "not_stuck", "confirmation_mismatch"} <= refusals
    alfe_path = [x.after for x in lines if x.agent == "helpdesk" and x.refusal is None]
    for status in ("provisioning", "running", "failing", "stopped", "billing_suspended"):
        assert status in alfe_path
    emitted = [
        type(e.event).__name__ for x in lines for e in x.effects if isinstance(e, effects.Emit)
    ]
    assert emitted.count("AgentDeployed") == 2
    assert {"AgentConfigChanged", "AgentDeleted"} <= set(emitted)
    recif_path = [x.after for x in lines if x.agent == "triage" and x.refusal is None]
    assert recif_path.index("Failed") < len(recif_path) - 1 - recif_path[::-1].index("Running")
    bot, triage = finals["helpdesk"], finals["triage"]
    assert bot.status == "deleted"
    assert bot.data.purged_at is not None
    assert triage.status == "deleted"


def test_recreate_keeps_identity_and_renews_credentials() -> None:
    lines, finals = run_story()
    recreate = next(x for x in lines if x.event == "recreate" and x.refusal is None)
    assert effects.RevokeCredentials(1) in recreate.effects
    assert effects.IssueCredentials(2) in recreate.effects
    start = next(c.data for c in CAST if c.key == "helpdesk")
    final = finals["helpdesk"].data
    assert (final.agent_id, final.name) == (start.agent_id, start.name)
    assert final.credentials == 2
    assert "helpdesk (Alfe managed agent): deleted" in demo_text()
    assert "same id and name (agt-7f3a, helpdesk); host 2, credentials 2." in demo_text()


def test_the_demo_is_short_aligned_and_deterministic() -> None:
    text = demo_text()
    assert text == demo_text()
    rows = text.splitlines()
    assert 40 <= len(rows) <= 60
    assert max(len(r) for r in rows) <= 120
    assert text.isascii()  # readable on any terminal, with or without colour
    header = next(r for r in rows if r.startswith("time"))
    for column in ("agent", "event (actor)", "from -> to", "effects"):
        assert column in header


def test_bad_scripts_are_refused() -> None:
    with pytest.raises(InvalidInput, match="cast is"):
        run_story([Beat(timedelta(0), "nobody", "deploy", Actor.USER)])
    back = [
        Beat(timedelta(minutes=5), "triage", "deploy", Actor.USER),
        Beat(timedelta(minutes=1), "triage", "stop", Actor.USER),
    ]
    with pytest.raises(InvalidInput, match="back in time"):
        run_story(back)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=len(STORY), max_size=len(STORY)))
def test_any_cut_of_the_script_is_reported_faithfully(keep: list[bool]) -> None:
    """Drop any beats: the timeline still matches an independent replay, beat for beat."""
    beats = [b for b, k in zip(STORY, keep, strict=True) if k]
    lines, _ = run_story(beats)
    _check_lines_against_replay(lines, beats)
    assert len(format_timeline(lines).splitlines()) >= len(lines) + 1
