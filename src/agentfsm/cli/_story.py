"""The demo: one Alfe agent and one Recif agent through their lifecycles, as a printed timeline.

The story is data: ``STORY`` is a list of scripted beats (when, which agent, which event, who
sends it, and what the script expects). ``run_story`` drives every beat through ``decide`` on a
virtual clock and records what the engine actually did; ``format_timeline`` prints that record.
Nothing is performed: effects are shown, the way a runtime would receive them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

import attrs

from agentfsm import _effects as fx
from agentfsm._engine import decide
from agentfsm._errors import InvalidInput
from agentfsm._machine import Machine
from agentfsm._values import Actor, AnyRole, Context, Event, Refusal, Snapshot
from agentfsm.models import ALFE, RECIF, AlfeAgent, RecifAgent

U, S, T = Actor.USER, Actor.SYSTEM, Actor.TIMER

STORY_START = datetime(2026, 4, 3, 9, 0, tzinfo=UTC)
"""The virtual clock's first reading."""


@attrs.frozen(slots=True)
class Cast:
    """An agent of the story: who it is, which machine runs it, and its first record."""

    key: str
    title: str
    machine: Machine
    data: Any


CAST = (
    Cast("helpdesk", "Alfe managed agent", ALFE, AlfeAgent("agt-7f3a", "helpdesk")),
    Cast("triage", "Recif agent", RECIF, RecifAgent("triage")),
)


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen(slots=True)
class Beat:
    """One scripted moment: at ``at`` after the start, ``actor`` sends ``event`` to ``agent``.

    Attributes:
        at: when, after ``STORY_START``.
        agent: the ``Cast.key`` of the agent.
        event: the event's name.
        actor: who sends it.
        payload: the event's parameters.
        expect: the refusal code the script expects, or ``None`` when it expects a step.
    """

    at: timedelta
    agent: str
    event: str
    actor: Actor
    payload: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen)
    expect: str | None = None


def _b(
    minutes: float, agent: str, event: str, actor: Actor, expect: str | None = None, **payload: Any
) -> Beat:
    return Beat(timedelta(minutes=minutes), agent, event, actor, payload, expect)


_BOT, _RECIF = "helpdesk", "triage"
_DAY = 24 * 60

STORY: tuple[Beat, ...] = (
    _b(0.1, _BOT, "provision", S),
    _b(1.5, _BOT, "host_up", S),
    _b(2, _BOT, "connected", S),
    _b(3, _BOT, "connected", U, "actor_not_allowed"),  # a user cannot speak for the platform
    _b(20, _BOT, "connection_lost", S),
    _b(21, _BOT, "connected", S),
    _b(40, _BOT, "stop", U),
    _b(40.5, _BOT, "shutdown_complete", S),
    _b(60, _BOT, "start", U),
    _b(63, _BOT, "start", U, "not_stuck"),  # impatient: starting for 3 min is not stuck
    _b(64, _BOT, "connected", S),
    _b(120, _BOT, "billing_suspend", S, reason="credits_exhausted"),
    _b(180, _BOT, "billing_resume", S, standing="good"),
    _b(181, _BOT, "connected", S),
    _b(240, _BOT, "recreate", U, "confirmation_mismatch", confirmation="helpdesc"),
    _b(241, _BOT, "recreate", U, confirmation="helpdesk"),
    _b(243, _BOT, "host_up", S),
    _b(244, _BOT, "connected", S),
    _b(300, _BOT, "delete", U),
    _b(300 + _DAY, _BOT, "purge", T, "grace_period_not_over"),
    _b(300 + 30 * _DAY, _BOT, "purge", T),
    _b(0.2, _RECIF, "deploy", U),
    _b(0.7, _RECIF, "pods_ready", S, ready_replicas=1),
    _b(10, _RECIF, "scale", U, "replicas_out_of_range", replicas=12),
    _b(15, _RECIF, "update_config", U, config={"strategy": "react"}),
    _b(16, _RECIF, "pods_unhealthy", S, reason="CrashLoopBackOff"),
    _b(20, _RECIF, "update_config", U, config={"strategy": "simple"}),
    _b(21, _RECIF, "pods_ready", S, ready_replicas=1),
    _b(30, _RECIF, "stop", U),
    _b(31, _RECIF, "deploy", U, "not_allowed_from_status"),
    _b(60, _RECIF, "restart", U),
    _b(60.5, _RECIF, "pods_ready", S, ready_replicas=1),
    _b(90, _RECIF, "delete", U),
)
"""The scripted story, agent by agent, each agent's beats in time order."""


@attrs.frozen(slots=True)
class Line:
    """What happened at one beat (or an agent's creation), as the engine decided it.

    Attributes:
        at: the virtual time.
        agent: the agent's key.
        event: the event's name, or ``"(created)"`` for the agent's first line.
        actor: who sent it (``None`` for a creation).
        before: the status before (``""`` for a creation).
        after: the status after (unchanged when refused).
        effects: the effects the step returned.
        refusal: the refusal, when the event was refused.
        expect: the refusal code the script expected, or ``None``.
        payload: the event's parameters.
        note: for a line that is not a decision (a fault injected, a fix), what happened;
            it is printed in the effects column and the status column is left empty.
    """

    at: datetime
    agent: str
    event: str
    actor: AnyRole | None
    before: str
    after: str
    effects: tuple[Any, ...] = ()
    refusal: Refusal | None = None
    expect: str | None = None
    payload: Mapping[str, Any] = attrs.field(factory=dict)
    note: str | None = None

    @property
    def as_expected(self) -> bool:
        """True when the engine did what the script expected."""
        got = self.refusal.code if self.refusal is not None else None
        return got == self.expect


def run_story(
    beats: Sequence[Beat] = STORY, cast: Iterable[Cast] = CAST, start: datetime = STORY_START
) -> tuple[tuple[Line, ...], dict[str, Snapshot]]:
    """Drive every beat through ``decide`` on a virtual clock.

    Args:
        beats: the script; each agent's beats must be in time order.
        cast: the agents the beats name.
        start: the clock's first reading.

    Returns:
        The timeline (a creation line per agent, then one line per beat, agent by agent in cast
        order) and every agent's final snapshot.

    Raises:
        InvalidInput: a beat names an agent not in the cast, or an agent's beats go back in time.
    """
    members = {c.key: c for c in cast}
    for beat in beats:
        if beat.agent not in members:
            raise InvalidInput(f"a beat names {beat.agent!r}; the cast is {', '.join(members)}")
    lines: list[Line] = []
    finals: dict[str, Snapshot] = {}
    for member in members.values():
        snapshot = member.machine.initial(member.data, start)
        lines.append(Line(start, member.key, "(created)", None, "", snapshot.status))
        last = start
        for beat in (b for b in beats if b.agent == member.key):
            now = start + beat.at
            if now < last:
                raise InvalidInput(f"{member.key}'s beats go back in time at {beat.event!r}")
            last = now
            event = Event(beat.event, beat.actor, beat.payload)
            result = decide(member.machine, snapshot, event, Context(now))
            before = snapshot.status
            if isinstance(result, Refusal):
                effects: tuple[Any, ...] = ()
                refusal: Refusal | None = result
            else:
                snapshot, effects, refusal = result.snapshot, result.effects, None
            lines.append(
                Line(
                    now,
                    member.key,
                    beat.event,
                    beat.actor,
                    before,
                    snapshot.status,
                    effects,
                    refusal,
                    beat.expect,
                    beat.payload,
                )
            )
        finals[member.key] = snapshot
    return tuple(lines), finals


# ---------------------------------------------------------------------------------------------
# Printing

_WORDS = re.compile(r"(?<=[a-z])(?=[A-Z])")


def short_effect(effect: object, today: datetime) -> str:
    """A few words for one effect: ``issue credentials 2``, ``timer purge at May 03 14:00``."""
    if isinstance(effect, fx.ScheduleTimer):
        when = "%H:%M" if effect.at.date() == today.date() else "%b %d %H:%M"
        return f"timer {effect.event} at {effect.at.strftime(when)}"
    if isinstance(effect, fx.CancelTimer):
        return f"cancel {effect.event}"
    if isinstance(effect, fx.Emit):
        return f"emit {type(effect.event).__name__}"
    if isinstance(effect, fx.ProvisionHost):
        return f"provision host {effect.host}"
    if isinstance(effect, fx.IssueCredentials | fx.RevokeCredentials):
        verb = "issue" if isinstance(effect, fx.IssueCredentials) else "revoke"
        return f"{verb} credentials {effect.credentials}"
    if isinstance(effect, fx.DestroyHost):
        return f"destroy host {effect.host}"
    if isinstance(effect, fx.CreateDeployment):
        return f"create Deployment ({effect.replicas} replica)"
    if isinstance(effect, fx.CreateService | fx.CreateConfigMap | fx.RecreateConfigMap):
        verb = "recreate" if isinstance(effect, fx.RecreateConfigMap) else "create"
        kind = "Service" if isinstance(effect, fx.CreateService) else "ConfigMap"
        return f"{verb} {kind}"
    if isinstance(effect, fx.ScaleDeployment):
        return f"scale to {effect.replicas}"
    if isinstance(effect, fx.RecordEvents):
        return f"record {effect.reason}"
    return _WORDS.sub(" ", type(effect).__name__).lower()


def _effects_text(line: Line) -> str:
    words: list[str] = []
    for effect in line.effects:
        text = short_effect(effect, line.at)
        if text.startswith("cancel ") and words and words[-1].startswith("cancel "):
            words[-1] = "cancel timers"  # the boot and recovery deadlines, cancelled together
        else:
            words.append(text)
    return ", ".join(words) or "-"


def _payload_text(payload: Mapping[str, Any]) -> str:
    parts = []
    for key, value in payload.items():
        if isinstance(value, Mapping):
            value = ",".join(f"{k}:{v}" for k, v in value.items())
        parts.append(f"{key}={value}")
    return " ".join(parts)


def _wrap(text: str, width: int) -> list[str]:
    out: list[str] = []
    current = ""
    for word in text.split(" "):
        if current and len(current) + 1 + len(word) > width:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    return [*out, current]


_HEADER = ("time", "agent", "event (actor)", "from -> to", "effects")


def _clock(at: datetime, start: datetime, fmt: str = "%H:%M") -> str:
    days = (at.date() - start.date()).days
    return at.strftime(fmt) if days == 0 else f"+{days}d {at.strftime(fmt)}"


def timeline_cells(line: Line, start: datetime, fmt: str) -> tuple[str, str, str, str, str]:
    """One line's five cells: time, agent, event (actor), from -> to, effects (or outcome)."""
    actor = f" ({line.actor.value})" if line.actor is not None else ""
    # What a person typed explains the outcome; what the platform reports is shown by it.
    given = _payload_text(line.payload) if line.actor is Actor.USER else ""
    if line.note is not None:
        move, outcome = "", line.note
    elif line.refusal is not None:
        move, outcome = f"{line.before} (stays)", f"REFUSED {line.refusal.code}"
    else:
        move = f"{line.before} -> {line.after}" if line.before else f"-> {line.after}"
        outcome = _effects_text(line)
    outcome += f" ({given})" if given else ""
    return (_clock(line.at, start, fmt), line.agent, line.event + actor, move, outcome)


def timeline_header(widths: Sequence[int]) -> str:
    """The header row for columns of ``widths`` (the first four; the last is free)."""
    return "  ".join(c.ljust(w) for c, w in zip(_HEADER, (*widths, 0), strict=True)).rstrip()


def timeline_row(
    line: Line, cells: Sequence[str], widths: Sequence[int], width: int = 120
) -> list[str]:
    """The printed rows of one line: its cells padded to ``widths``, long text wrapped under
    the event column, a refusal's sentence on the rows after. A cell wider than its column
    pushes the rest of its row along rather than being cut."""
    indent = " " * (widths[0] + widths[1] + 4)
    head = "  ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=False))
    first, *more = _wrap(cells[4], max(width - len(head) - 2, 30))
    out = [f"{head}  {first}"]
    rest = " ".join(more)
    if line.refusal is not None:
        rest = f"{rest} {line.refusal.message}".strip()
    out += [indent + part for part in _wrap(rest, width - len(indent))] if rest else []
    return out


def format_timeline(
    lines: Sequence[Line],
    start: datetime = STORY_START,
    width: int = 120,
    *,
    by_agent: bool = True,
    seconds: bool = False,
    widths: Sequence[int] | None = None,
) -> str:
    """The timeline as aligned plain text: a header, then one row per line.

    Columns: time (``+30d 14:00`` on later days), agent, event (actor), from -> to, effects.
    A refused event shows ``REFUSED``
    and its code, with the refusal's sentence on the next line; long effect lists wrap under the
    event column. A note line (``Line.note``) shows its note in the effects column.

    Args:
        lines: what happened, in the order to print.
        start: the day ``+Nd`` counts from.
        width: the widest a printed row may be (long effect lists wrap).
        by_agent: the lines are grouped by agent; a blank line separates agents.
        seconds: print the time to the second (``09:01:37``).
        widths: the first four columns' widths (default: the widest cell of each), for a
            timeline printed as it is made, before its widest cell is known.
    """
    fmt = "%H:%M:%S" if seconds else "%H:%M"
    rows = [timeline_cells(line, start, fmt) for line in lines]
    if widths is None:
        widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(4)]
    out = [timeline_header(widths)]
    for i, (line, row) in enumerate(zip(lines, rows, strict=True)):
        if by_agent and i and line.agent != lines[i - 1].agent:
            out.append("")
        out += timeline_row(line, row, widths, width)
    return "\n".join(out) + "\n"


def summary(
    lines: Sequence[Line], finals: Mapping[str, Snapshot], cast: Iterable[Cast] = CAST
) -> list[str]:
    """A closing sentence per agent, from its final snapshot and the effects it produced."""
    members = {c.key: c for c in cast}
    out = []
    for key, snap in finals.items():
        data, first = snap.data, members[key].data
        head = f"{key} ({members[key].title}): {snap.status}"
        if isinstance(data, AlfeAgent):
            purged = f", purged {data.purged_at:%b %d}" if data.purged_at else ""
            same = (data.agent_id, data.name) == (first.agent_id, first.name)
            identity = "same id and name" if same else "id or name CHANGED"
            out.append(
                f"{head}{purged}; {identity} ({data.agent_id}, {data.name}); "
                f"host {data.host}, credentials {data.credentials}."
            )
        else:
            emitted = [
                type(e.event).__name__
                for line in lines
                if line.agent == key
                for e in line.effects
                if isinstance(e, fx.Emit)
            ]
            counts = ", ".join(f"{name} x{emitted.count(name)}" for name in dict.fromkeys(emitted))
            out.append(f"{head}; release events: {counts or 'none'}.")
    return out


INTRO = (
    "A virtual clock drives one Alfe and one Recif agent through the pure engine (decide).",
    "Actors: U user, S platform, T timer. Effects are listed, not performed; a refusal changes "
    "nothing.",
)


def demo_text() -> str:
    """The whole demo: the introduction, the timeline of ``STORY`` and the closing summary."""
    lines, finals = run_story()
    closing = [part for text in summary(lines, finals) for part in _wrap(text, 118)]
    timeline = format_timeline(lines).rstrip("\n")
    return "\n".join([*INTRO, "", timeline, "", *closing]) + "\n"
