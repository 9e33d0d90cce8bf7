"""``agentfsm simulate`` as it runs: the timeline printed line by line, with a progress bar.

A walk of 100,000 steps takes about a minute; printing it only at the end left the terminal
silent all that time. Here every line is formatted as soon as the walk makes it (the column
widths are fixed before it starts, see ``timeline_widths``) and written out a few times a
second. When standard error is a terminal, a one-line progress bar is drawn there and cleared
before each batch of lines, so the two never mix; piped or redirected, standard error gets
nothing. Ctrl-C stops the walk: the lines written so far are whole, and the command's one
``interrupted`` line follows.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any, TextIO

from agentfsm._machine import Machine
from agentfsm.cli._json import json_line
from agentfsm.cli._simulate import Simulation, heading, start_walk, summary, timeline_widths
from agentfsm.cli._story import Line, _wrap, timeline_cells, timeline_header, timeline_row
from agentfsm.wire import dump

_EVERY = 0.1  # seconds between two writes (and two redraws of the bar)
_BAR = 30  # the bar's width in characters


class Progress:
    """A progress bar on a terminal, or nothing.

    Args:
        total: the count that means done.
        stream: where to draw it; nothing is drawn unless it is a terminal.
    """

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.stream = total, stream
        self.enabled = _is_terminal(stream)
        self.shown = False

    def draw(self, done: int) -> None:
        """Draw the bar at ``done`` of ``total``."""
        if not self.enabled:
            return
        filled = _BAR * done // self.total
        bar = "#" * filled + "." * (_BAR - filled)
        self.stream.write(f"\r[{bar}] {done:,}/{self.total:,} events\x1b[K")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the bar, leaving the cursor at the start of its line."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a stream without a file, or a closed one
        return False


def line_json(line: Line) -> dict[str, Any]:
    """One timeline line in the records' one JSON form, named as an ``AuditRow`` names them.

    ``kind`` is ``create`` (the agent was made), ``event`` (an event was decided: ``refusal``
    is set when it was refused) or ``note`` (something the world did: ``note`` says what).
    """
    kind = "note" if line.note is not None else "event" if line.actor is not None else "create"
    return {
        "kind": kind,
        "at": dump(line.at),
        "agent_id": line.agent,
        "actor": None if line.actor is None else line.actor.code,
        "event": None if kind != "event" else line.event,
        "payload": dump(line.payload),
        "from_status": line.before or None,
        "to_status": line.after,
        "effects": dump(line.effects),
        "refusal": None if line.refusal is None else dump(line.refusal),
        "note": line.note,
    }


def summary_json(sim: Simulation, machine: Machine) -> dict[str, Any]:
    """The closing record of ``--json``: the run's arguments, what it visited, its counts."""
    decisions = sim.decisions
    entered = {x.after for x in sim.lines if x.refusal is None and x.note is None}
    refused = Counter(x.refusal.code for x in decisions if x.refusal is not None)
    return {
        "kind": "summary",
        "model": sim.model,
        "seed": sim.seed,
        "steps": len(decisions),
        "fault_rate": sim.fault_rate,
        "agents": {key: dump(snapshot) for key, snapshot in sim.finals.items()},
        "visited": [s for s in machine.spec.state_names if s in entered],
        "never_visited": [s for s in machine.spec.state_names if s not in entered],
        "accepted": sum(1 for x in decisions if x.refusal is None),
        "refused": dict(sorted(refused.items())),
        "notes": sum(1 for x in sim.lines if x.note is not None),
    }


def stream_simulation(
    machine: Machine,
    seed: int,
    steps: int,
    fault_rate: float,
    agents: int,
    out: TextIO,
    *,
    as_json: bool = False,
    progress_to: TextIO | None = None,
) -> Simulation:
    """Walk and print at once: the heading, each timeline line as it is made, the summary.

    Args:
        machine, seed, steps, fault_rate, agents: as ``simulate`` takes them.
        out: where the timeline goes.
        as_json: one JSON object per line instead (``line_json`` for each line, then
            ``summary_json``).
        progress_to: where the bar is drawn when it is a terminal (default: standard error).

    Returns:
        The whole ``Simulation``.

    Raises:
        InvalidInput: a number is out of range; nothing has been written.
    """
    walk = start_walk(machine, seed=seed, steps=steps, fault_rate=fault_rate, agents=agents)
    progress = Progress(steps, sys.stderr if progress_to is None else progress_to)
    widths = timeline_widths(machine)
    start = walk.clock()
    pending: list[str] = []
    if not as_json:
        pending += [*heading(machine.name, seed, steps, fault_rate), "", timeline_header(widths)]
    last = time.monotonic()
    try:
        for line in walk.run(steps):
            if as_json:
                pending.append(json_line(line_json(line)))
            else:
                cells = timeline_cells(line, start, "%H:%M:%S")
                pending += timeline_row(line, cells, widths)
            now = time.monotonic()
            if now - last >= _EVERY:
                _flush(pending, out, progress)
                progress.draw(walk.decided)
                last = now
        sim = walk.result()
        if as_json:
            pending.append(json_line(summary_json(sim, machine)))
        else:
            pending += ["", *[part for text in summary(sim, machine) for part in _wrap(text, 118)]]
        _flush(pending, out, progress)
        return sim
    except KeyboardInterrupt:
        _flush(pending, out, progress)  # whole lines only: the walk stopped between two
        raise
    finally:
        progress.clear()


def _flush(pending: list[str], out: TextIO, progress: Progress) -> None:
    if not pending:
        return
    progress.clear()
    out.write("\n".join(pending) + "\n")
    out.flush()
    pending.clear()
