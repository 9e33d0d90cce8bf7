"""How ``agentfsm demo`` shows the fleet while it runs: a live table, or plain lines.

``LiveDisplay`` redraws a status table in place with ``rich.live`` (the ``cli`` extra), under
the latest beats. ``PlainDisplay`` is for pipes, logs and ``--no-live``: it prints each beat and
its outcome as it happens, and a status line whenever the fleet changed (at most every half
second) or every few seconds otherwise, so the output reads as a timeline.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol, TextIO

import attrs

from agentfsm.runtime import AuditRow


@attrs.frozen(slots=True)
class AgentRow:
    """One agent, as the display shows it.

    Attributes:
        name: the agent's id.
        model: ``alfe`` or ``recif``.
        status: its stored status.
        version: its stored version.
        detail: what its world shows (host and process, or replicas).
        last: its last audit row, in words.
        refused: how many of its events were refused so far.
    """

    name: str
    model: str
    status: str
    version: int
    detail: str
    last: str
    refused: int


class Display(Protocol):
    """Where the demo's progress goes."""

    def say(self, elapsed: float, text: str) -> None:
        """A beat, or something done to the world, as it happens."""
        ...

    def event(self, elapsed: float, row: AuditRow) -> None:
        """A row just written to the audit log (an event decided, or an agent created)."""
        ...

    def show(self, elapsed: float, rows: Sequence[AgentRow]) -> None:
        """The fleet now (called several times a second)."""
        ...

    def close(self) -> None:
        """Stop drawing; what follows is printed plainly."""
        ...


def _stamp(elapsed: float) -> str:
    return f"[{elapsed:5.1f}s]"


_ACTORS = {"U": "user", "S": "platform", "T": "timer"}


def event_text(row: AuditRow) -> str:
    """An audit row on one line: ``helpdesk  connection_lost (platform)  running -> failing``.

    A user's payload is shown (it explains a refusal); a refused row ends with
    ``REFUSED code: sentence``.
    """
    if row.kind == "create":
        return f"{row.agent_id:<9} (created)  -> {row.to_status}"
    actor = _ACTORS.get(row.actor or "", "runtime")
    given = ""
    if row.actor == "U" and row.payload:
        given = " " + " ".join(f"{k}={v!r}" for k, v in row.payload.items())
        given = given if len(given) <= 60 else given[:57] + "..."
    head = f"{row.agent_id:<9} {row.event} ({actor}){given}"
    if row.refusal is not None:
        return (
            f"{head}  {row.from_status} (stays)  REFUSED {row.refusal.code}: {row.refusal.message}"
        )
    return f"{head}  {row.from_status} -> {row.to_status}"


def status_line(rows: Sequence[AgentRow]) -> str:
    """The fleet on one line: ``helpdesk running v5 | triage Running v3 | ...``."""
    return " | ".join(f"{r.name} {r.status} v{r.version}" for r in rows)


class PlainDisplay:
    """Plain lines on a stream: beats, every audit row as it is written, and now and then
    the whole fleet on one line.

    Args:
        out: where to write.
        every: the fewest seconds between two fleet lines (one is printed only when the fleet
            changed since the last).
    """

    def __init__(self, out: TextIO, every: float = 3.0) -> None:
        self._out = out
        self._every = every
        self._last_line = ""
        self._last_at = -1e9

    def say(self, elapsed: float, text: str) -> None:
        self._out.write(f"{_stamp(elapsed)} {text}\n")
        self._out.flush()

    def event(self, elapsed: float, row: AuditRow) -> None:
        self._out.write(f"{_stamp(elapsed)}   {event_text(row)}\n")

    def show(self, elapsed: float, rows: Sequence[AgentRow]) -> None:
        line = status_line(rows)
        if rows and line != self._last_line and elapsed - self._last_at >= self._every:
            self._out.write(f"{_stamp(elapsed)}   fleet: {line}\n")
            self._out.flush()
            self._last_line, self._last_at = line, elapsed

    def close(self) -> None:
        self._out.flush()


_COLOURS = {
    "running": "green",
    "Running": "green",
    "active": "green",
    "failing": "yellow",
    "Failed": "red",
    "failed": "red",
    "billing_suspended": "magenta",
    "deleted": "dim",
    "stopped": "blue",
    "Terminated": "blue",
}


CAPTION = (
    "v: the stored version (one more per accepted event)   ref: events refused   "
    "world: h host and c credentials generation, the process id, or pods ready/wanted"
)
"""Under the live table: what its short column names mean."""


class LiveDisplay:
    """A status table redrawn in place (``rich.live``), above the latest beats.

    Raises:
        ImportError: rich is not installed (``pip install 'agentfsm[cli]'``).
    """

    def __init__(self, out: TextIO, started: float | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self._console = Console(file=out)
        self._log: deque[str] = deque(maxlen=6)
        self._rows: Sequence[AgentRow] = ()
        self._started = time.monotonic() if started is None else started
        self._live = Live(
            self._render(0.0), console=self._console, refresh_per_second=8, transient=False
        )
        self._live.start()

    def _render(self, elapsed: float) -> Any:
        from rich import box
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(
            title=f"agentfsm demo  {elapsed:5.1f}s",
            title_justify="left",
            caption=CAPTION,
            caption_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        for column in ("agent", "status", "v", "world", "last event", "ref"):
            table.add_column(column, no_wrap=column != "last event")
        for r in self._rows:
            colour = _COLOURS.get(r.status, "white")
            table.add_row(
                r.name,
                Text(r.status, style=colour),
                str(r.version),
                r.detail,
                r.last,
                str(r.refused or ""),
            )
        log = Text("\n".join(self._log), style="cyan")
        return Group(table, log)

    def say(self, elapsed: float, text: str) -> None:
        self._log.append(f"{_stamp(elapsed)} {text}")
        self._live.update(self._render(elapsed))

    def event(self, elapsed: float, row: AuditRow) -> None:
        self._log.append(f"{_stamp(elapsed)}   {event_text(row)}")

    def show(self, elapsed: float, rows: Sequence[AgentRow]) -> None:
        self._rows = rows
        self._live.update(self._render(elapsed))

    def close(self) -> None:
        self._live.stop()


def make_display(out: TextIO, live: bool) -> Display:
    """A ``LiveDisplay`` when asked for and possible (a terminal, rich installed), else plain."""
    if live and out.isatty():
        try:
            return LiveDisplay(out)
        except ImportError:
            pass
    return PlainDisplay(out)
