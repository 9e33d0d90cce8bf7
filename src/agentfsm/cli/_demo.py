"""``agentfsm demo``: a small fleet on the embedded defaults, live, with injected faults.

Everything lives in one folder it names (``./.agentfsm-demo/`` by default): a SQLite store for
the agents and their audit log, a SQLite credit-pool ledger, a Git release repository for the
Recif agents, and the working directories of the Alfe agents, which run as real processes on
this machine (``LocalProcessHost``). Recif agents run on a ``SimulatedCluster`` that the
platform's reconcile loop drives. A ``Platform`` ticks in a background thread while the main
thread plays the beats of ``agentfsm.cli._demo_script`` on a schedule and draws the fleet.

Ctrl-C (or SIGTERM) stops it cleanly: the platform stops ticking and the host adapter kills
every agent process before the command returns (exit status 130).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, TextIO

import attrs

from agentfsm._errors import InvalidInput, MissingExtra
from agentfsm.billing import PriceTable, SQLiteLedger
from agentfsm.cli._demo_display import AgentRow, Display, make_display
from agentfsm.cli._demo_layout import DB_FILE, HOSTS_DIR, LEDGER_FILE, RELEASES_DIR
from agentfsm.cli._demo_script import PRICE_SMALL, Beat, Cast, Stage, beats, cast_for
from agentfsm.hosts import EventSink, LocalProcessHost
from agentfsm.platform import Platform, SimulatedCluster
from agentfsm.runtime import AuditRow, SQLiteStore, StoreError, UnknownAgent

if TYPE_CHECKING:
    from agentfsm.releases import GitReleaseStore

MARKER = ".agentfsm-demo-folder"
"""The file that marks a folder as the demo's own, so a second run may clear it."""

BEAT_TIMEOUT = 20.0
"""Seconds a beat may take before the demo says so and moves on."""

_OURS = (
    DB_FILE,
    f"{DB_FILE}-wal",
    f"{DB_FILE}-shm",
    LEDGER_FILE,
    f"{LEDGER_FILE}-wal",
    f"{LEDGER_FILE}-shm",
    RELEASES_DIR,
    HOSTS_DIR,
    "demo.log",
)


class DemoError(Exception):
    """The demo cannot start; the message says why and what to do."""


@attrs.frozen(slots=True)
class DemoOptions:
    """How to run the demo.

    Attributes:
        directory: the folder for its files (created; cleared when it is a demo folder).
        agents: the fleet's size (5 to 12).
        seconds: how long the beats are spread over (0: as fast as the agents go).
        live: draw a live table when the output is a terminal.
    """

    directory: Path
    agents: int = 5
    seconds: float = 20.0
    live: bool = True


def prepare_directory(directory: Path) -> Path:
    """Create the demo folder, or clear the files a previous run left in it.

    Returns:
        The folder's absolute path.

    Raises:
        DemoError: it is a file, or a folder with other content that is not a demo folder.
    """
    directory = directory.absolute()
    if directory.exists() and not directory.is_dir():
        raise DemoError(f"{directory} is a file; pass --dir with a folder for the demo")
    if directory.is_dir() and any(directory.iterdir()) and not (directory / MARKER).exists():
        raise DemoError(
            f"{directory} is not empty and is not a demo folder; pass --dir with a new or "
            "empty folder"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name in _OURS:
            path = directory / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        (directory / MARKER).write_text(
            "This folder holds the files of `agentfsm demo`; each run clears and rewrites it.\n",
            encoding="utf-8",
        )
    except OSError as error:
        raise DemoError(f"cannot prepare {directory}: {error.strerror or error}") from error
    return directory


class _FirstHourLedger(SQLiteLedger):
    """A ledger that charges every agent-hour of the demo to the hour the demo began.

    Usage is metered once per agent per hour; a demo that happens to cross the top of the hour
    would charge every agent again, and the pool would run dry before the story says so.
    """

    def __init__(self, path: Path, prices: PriceTable, hour: datetime) -> None:
        super().__init__(path, prices)
        self._hour = hour

    def record_usage(self, agent_id: str, size: str, at: datetime) -> int:
        return super().record_usage(agent_id, size, self._hour)


class _Interrupted(Exception):
    """SIGTERM arrived; handled like Ctrl-C."""


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Interrupted

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while shutting down, so the shutdown itself is not cut short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = (
        signal.signal(signal.SIGINT, signal.SIG_IGN),
        signal.signal(signal.SIGTERM, signal.SIG_IGN),
    )
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """Send agentfsm's log records to ``path`` instead of the terminal while the demo runs."""
    logger = logging.getLogger("agentfsm")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    before = logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.propagate, logger.level = before


class _Fleet:
    """Reads the fleet from the store for the display: statuses, last events, refusals."""

    def __init__(self, stage: Stage) -> None:
        self._stage = stage
        self._seq = 0
        self._last: dict[str, AuditRow] = {}
        self._refused: dict[str, int] = {}
        self.ended = False  # set once the platform is closed: no process runs any more

    def poll(self) -> tuple[list[AgentRow], list[AuditRow]]:
        """The fleet now, and the audit rows written since the last poll (oldest first)."""
        store = self._stage.platform.store
        new = store.audit_log(after_seq=self._seq)
        for row in new:
            self._seq = row.seq
            self._last[row.agent_id] = row
            if row.refusal is not None:
                self._refused[row.agent_id] = self._refused.get(row.agent_id, 0) + 1
        records = {r.agent_id: r for r in store.agents()}
        out = []
        for name in self._stage.cast.everyone:
            record = records.get(name)
            if record is None:
                continue
            snap = record.snapshot
            out.append(
                AgentRow(
                    name,
                    record.machine,
                    snap.status,
                    snap.version,
                    self._detail(name, record.machine, snap.data, snap.status),
                    _last_text(self._last.get(name)),
                    self._refused.get(name, 0),
                )
            )
        return out, new

    def draw(self, display: Display, elapsed: float) -> None:
        """Poll, then hand the new rows and the fleet to ``display``."""
        rows, new = self.poll()
        for row in new:
            display.event(elapsed, row)
        display.show(elapsed, rows)

    def _detail(self, name: str, machine: str, data: object, status: str) -> str:
        if machine == "recif":
            seen = self._stage.cluster.observe(name)
            reason = f", {seen.waiting_reason}" if seen.waiting_reason else ""
            return f"pods {seen.ready_replicas}/{seen.replicas}{reason}"
        try:
            pid = self._stage.host.pid(name)
        except InvalidInput:  # the host is closed: the demo is ending
            pid = None
        host = getattr(data, "host", 0)
        creds = getattr(data, "credentials", 0)
        if self.ended:  # the platform is closed: every process was ended with it
            return f"h{host} c{creds} process ended"
        proc = f"pid {pid}" if pid is not None else "no process"
        return f"h{host} c{creds} {proc}"


LEGEND = (
    "In the fleet: v5 is the agent's stored version (one more per accepted event); in the "
    "live table, ref counts its refused events and world shows h<host> c<credentials> "
    "(their generations) with the agent's process id, or a Recif agent's pods ready/wanted."
)
"""What the fleet lines' and the live table's short columns mean (printed with the intro)."""

ENDED = (
    "the platform has stopped: the statuses are the last ones stored (an agent left running "
    "stays running in the store), and every agent process was ended with the demo"
)
"""Said under the last frame, whose agents may show running with no process."""


def _last_text(row: AuditRow | None) -> str:
    if row is None:
        return ""
    text = f"{row.event} ({row.actor or '-'})" if row.kind != "create" else "(created)"
    return f"{text} REFUSED {row.refusal.code}" if row.refusal is not None else text


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is inside it (shorter to copy)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _Run:
    """One run of the demo: builds the platform, plays the beats, and always cleans up."""

    def __init__(self, options: DemoOptions, out: TextIO) -> None:
        self.options = options
        self.out = out
        self.cast: Cast = cast_for(options.agents)
        self.dir = prepare_directory(options.directory)
        self.started = time.monotonic()
        self.missed: list[str] = []
        self.host: LocalProcessHost | None = None
        self.releases: GitReleaseStore | None = None
        self.release_note = ""

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _host(self, sink: EventSink) -> LocalProcessHost:
        self.host = LocalProcessHost(
            sink,
            base_dir=self.dir / HOSTS_DIR,
            heartbeat_interval=0.2,
            missed_heartbeats=3,
            stop_timeout=1.0,
        )
        return self.host

    def _release_store(self) -> GitReleaseStore | None:
        try:
            from agentfsm.releases import GitReleaseStore
        except MissingExtra:
            self.release_note = "releases are not recorded: pip install 'agentfsm[git]'"
            return None
        return GitReleaseStore(self.dir / RELEASES_DIR, gc_every=None, repack_every=None)

    def play(self) -> int:
        now = datetime.now(UTC)
        prices = PriceTable({"small": PRICE_SMALL, "large": 4 * PRICE_SMALL})
        hour = now.replace(minute=0, second=0, microsecond=0)
        store = SQLiteStore(self.dir / DB_FILE)
        ledger: _FirstHourLedger | None = None
        platform: Platform | None = None
        display: Display | None = None
        try:
            ledger = _FirstHourLedger(self.dir / LEDGER_FILE, prices, hour)
            # The pool covers the first hour of the agents there from the start, and a little:
            # the late joiner's first hour overdraws it.
            ledger.top_up("demo-initial", PRICE_SMALL * len(self.cast.alfe) + 50, now)
            cluster = SimulatedCluster()
            self.releases = self._release_store()
            platform = Platform(
                store,
                host=self._host,
                cluster=cluster,
                releases=self.releases,
                ledger=ledger,
            )
            assert self.host is not None
            stage = Stage(platform, self.host, cluster, ledger, self.cast)
            self._intro()
            display = make_display(self.out, self.options.live)
            platform.start(interval=0.05)
            fleet = _Fleet(stage)
            self._beats(stage, display, fleet, beats(self.cast, releases=self.releases is not None))
            self._settle(stage, display, fleet)
            platform.close()  # stop ticking and end every agent process
            fleet.ended = True
            fleet.draw(display, self.elapsed())  # the last rows the platform wrote
            display.say(self.elapsed(), ENDED)
            display.close()
            display = None
            self._summary(store)
            return 1 if self.missed else 0
        finally:
            with _no_interrupts():
                if display is not None:
                    display.close()
                if platform is not None:
                    platform.close()
                elif self.host is not None:
                    self.host.close()
                store.close()
                if ledger is not None:
                    ledger.close()

    def _intro(self) -> None:
        releases = f", releases {RELEASES_DIR}/" if self.releases is not None else ""
        paragraphs = [
            f"Alfe agents ({', '.join((*self.cast.alfe, self.cast.late))}) run as real "
            "processes on this machine; Recif agents "
            f"({', '.join(self.cast.recif)}) on a simulated cluster.",
            f"Store {DB_FILE}, ledger {LEDGER_FILE}{releases}, agent processes under "
            f"{HOSTS_DIR}/. Ctrl-C stops it cleanly.",
            LEGEND,
        ]
        if self.release_note:
            paragraphs.append(f"Note: {self.release_note}")
        width = max(min(shutil.get_terminal_size((80, 24)).columns, 100), 40)
        head = f"agentfsm demo: a fleet of {len(self.cast.everyone)} agents in {_shown(self.dir)}/"
        lines = textwrap.wrap(head, width - 1, break_long_words=False, break_on_hyphens=False)
        for text in paragraphs:
            lines += textwrap.wrap(
                text, width - 1, initial_indent="  ", subsequent_indent="    ",
                break_long_words=False, break_on_hyphens=False,
            )  # fmt: skip
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()

    def _watch(self, stage: Stage, display: Display, fleet: _Fleet, until: float) -> None:
        """Draw the fleet until ``until`` (monotonic seconds)."""
        while True:
            fleet.draw(display, self.elapsed())
            left = until - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.1, left))

    def _wait(self, stage: Stage, display: Display, fleet: _Fleet, beat: Beat) -> bool:
        deadline = time.monotonic() + BEAT_TIMEOUT
        while True:
            fleet.draw(display, self.elapsed())
            try:
                if beat.until(stage):
                    return True
            except (UnknownAgent, StoreError):
                pass  # not created yet, or the store is busy: look again
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _beats(self, stage: Stage, display: Display, fleet: _Fleet, script: Sequence[Beat]) -> None:
        pace = max(self.options.seconds, 0.0) / len(script)
        for i, beat in enumerate(script):
            self._watch(stage, display, fleet, self.started + i * pace)
            stage.begin()
            display.say(self.elapsed(), f"{i + 1}/{len(script)} {beat.title}")
            for line in beat.act(stage):
                display.say(self.elapsed(), f"      {line}")
            if not self._wait(stage, display, fleet, beat):
                self.missed.append(beat.awaiting)
                display.say(
                    self.elapsed(), f"      not reached in {BEAT_TIMEOUT:g} s: {beat.awaiting}"
                )

    def _settle(self, stage: Stage, display: Display, fleet: _Fleet) -> None:
        """Let the outbox drain, so the summary shows a quiet fleet."""
        deadline = time.monotonic() + 5.0
        store = stage.platform.store
        while store.outbox(state="pending") and time.monotonic() < deadline:
            fleet.draw(display, self.elapsed())
            time.sleep(0.05)
        fleet.draw(display, self.elapsed())

    def _summary(self, store: SQLiteStore) -> None:
        w = self.out.write
        verdict = (
            "every beat reached"
            if not self.missed
            else f"{len(self.missed)} beat(s) not reached: {'; '.join(self.missed)}"
        )
        w(f"\nDone in {self.elapsed():.1f} s: {verdict}.\n\n")
        table = [("agent", "model", "status", "version", "events", "refused")]
        for name in self.cast.everyone:
            try:
                record = store.load(name)
            except UnknownAgent:
                continue
            rows = store.history(name)
            codes = [r.refusal.code for r in rows if r.refusal is not None]
            refused = f"{len(codes)} ({', '.join(codes)})" if codes else "0"
            table.append(
                (
                    name,
                    record.machine,
                    record.snapshot.status,
                    str(record.snapshot.version),
                    str(len(rows)),
                    refused,
                )
            )
        widths = [max(len(r[i]) for r in table) for i in range(5)]
        for row in table:
            cells = [c.ljust(wd) for c, wd in zip(row, (*widths, 0), strict=True)]
            w(("  " + "  ".join(cells)).rstrip() + "\n")
        w("\n" + self._releases_text() + "\n")
        left = self.host.child_pids() if self.host is not None else []
        w(f"Agent processes left running: {len(left)}\n")
        db = _shown(self.dir / DB_FILE)
        bot, crashy = self.cast.alfe[0], self.cast.recif[0]
        w("\nWhere to look:\n")
        if self.releases is not None:
            w(f"  git -C {_shown(self.dir / RELEASES_DIR)} log --oneline\n")
        w(f"  agentfsm history {bot} --db {db}\n")
        w(f"  agentfsm history {crashy} --db {db} --json\n")
        w(f"  {_shown(self.dir / HOSTS_DIR / bot)}/   (the agent processes' own logs)\n")
        self.out.flush()

    def _releases_text(self) -> str:
        releases = self.releases
        if releases is None:
            return f"Releases: none recorded ({self.release_note})"
        parts = []
        commits = 0
        for name in self.cast.recif:
            infos = releases.history(name)
            commits += len(infos)
            versions = [f"v{i.version}" for i in infos if i.version is not None]
            tomb = " + tombstone" if any(i.is_tombstone for i in infos) else ""
            parts.append(f"{name} {', '.join(versions) or 'none'}{tomb}")
        return f"Releases in {_shown(self.dir / RELEASES_DIR)} ({commits} commits): " + "; ".join(
            parts
        )


def run_demo(options: DemoOptions, out: TextIO) -> int:
    """Run the demo and print its summary.

    Returns:
        0 when every beat was reached, 1 when one was not (the summary says which), 130 when
        interrupted (Ctrl-C or SIGTERM; everything was stopped).

    Raises:
        DemoError: the folder cannot be used, or a number is out of range.
    """
    if not 0 <= options.seconds <= 600:
        raise DemoError(f"--seconds must be from 0 to 600, not {options.seconds:g}")
    try:
        run = _Run(options, out)
    except ValueError as error:
        raise DemoError(str(error)) from error
    with _log_to(run.dir / "demo.log"), _stop_on_sigterm():
        try:
            return run.play()
        except (KeyboardInterrupt, _Interrupted):
            left = run.host.child_pids() if run.host is not None else []
            out.write(
                f"\ninterrupted after {run.elapsed():.1f} s: the platform stopped and "
                f"{'no agent process is left' if not left else f'{len(left)} processes remain'}"
                f"; the files are in {_shown(run.dir)}/\n"
            )
            out.flush()
            return 130
