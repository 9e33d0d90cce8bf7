"""What each ``agentfsm`` command does. ``agentfsm.cli`` parses the arguments and calls these.

Every command takes already-parsed values, writes to the given stream, and returns the exit
status: 0 done, 1 a check failed. A value the user got wrong raises ``UsageError`` (exit 2).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TextIO

from agentfsm._engine import offered
from agentfsm._errors import InvalidInput
from agentfsm._machine import Machine
from agentfsm.analysis import check as check_machine
from agentfsm.analysis import profile_for
from agentfsm.cli._demo_layout import DEFAULT_DEMO_DIR, demo_db
from agentfsm.cli._json import report_json, spec_json, write_json
from agentfsm.cli._load import LoadError, is_reference, load_reference
from agentfsm.cli._names import did_you_mean
from agentfsm.cli._story import demo_text
from agentfsm.models import MACHINES
from agentfsm.render import (
    DEFAULT_DOCS_DIR,
    drifted_pages,
    sample_snapshot,
    to_dot,
    to_markdown_table,
    to_mermaid,
    write_pages,
)
from agentfsm.render._samples import sample_context
from agentfsm.wire import dump

FORMATS = {"mermaid": to_mermaid, "dot": to_dot}
"""The diagram formats ``agentfsm diagram`` knows."""


class UsageError(Exception):
    """A command-line value is wrong; the message names the valid choices."""


def machine_named(name: str) -> Machine:
    """The shipped machine called ``name``, or the user's machine it references
    (``path/to/file.py:NAME`` or ``package.module:NAME``; see ``agentfsm.cli._load``).

    Raises:
        UsageError: there is none; the message lists the models.
    """
    if is_reference(name):
        try:
            return load_reference(name)
        except LoadError as error:
            raise UsageError(str(error)) from None
    machine = MACHINES.get(name)
    if machine is None:
        raise UsageError(
            f"unknown model {name!r}{did_you_mean(name, MACHINES)}; choose one of: "
            f"{', '.join(MACHINES)}, or name your own as path/to/file.py:NAME or "
            "package.module:NAME"
        )
    return machine


def show(model: str, out: TextIO, *, as_json: bool = False) -> int:
    """Print the model's transition table (Markdown), or its whole definition as JSON."""
    machine = machine_named(model)
    if as_json:
        write_json(spec_json(machine.spec), out)
        return 0
    out.write(to_markdown_table(machine))
    return 0


def diagram(model: str, fmt: str, out: TextIO) -> int:
    """Print the model's state diagram in ``fmt`` (``mermaid`` or ``dot``)."""
    machine = machine_named(model)
    render = FORMATS.get(fmt)
    if render is None:
        hint = did_you_mean(fmt, FORMATS)
        raise UsageError(f"unknown format {fmt!r}{hint}; choose one of: {', '.join(FORMATS)}")
    out.write(render(machine))
    return 0


def check(model: str | None, out: TextIO, *, as_json: bool = False) -> int:
    """Validate and model-check one model, or every shipped one; 1 when any check fails.

    With ``as_json``, one JSON array of the reports (each with ``"ok"``), printed at the end.
    """
    names = [model] if model is not None else list(MACHINES)
    machines = [machine_named(n) for n in names]  # every name is checked before any work
    failed = False
    reports = []
    for machine in machines:
        report = check_machine(machine)
        if not as_json:
            out.write(report.format() + "\n")
        reports.append(report)
        failed = failed or not report.ok
    if as_json:
        try:
            printed = [report_json(r) for r in reports]
        except InvalidInput as error:  # a value of the user's own check profile, say
            raise UsageError(f"the report cannot be printed as JSON: {error}") from None
        write_json(printed, out)
    return 1 if failed else 0


MAX_WAITED_MINUTES = 10_000_000
"""The longest ``--waited`` (about 19 years): far past every policy duration, and a time the
sample agent's clock can still represent."""


def offered_actions(
    model: str, status: str, waited_minutes: float, out: TextIO, *, as_json: bool = False
) -> int:
    """Print which user actions a representative agent in ``status`` is offered, and why not.

    With ``as_json``, the ``Offer`` records as one JSON array.
    """
    machine = machine_named(model)
    if status not in machine.states:
        names = machine.spec.state_names
        hint = did_you_mean(status, names)
        raise UsageError(
            f"the {model} model has no status {status!r}{hint}; choose one of: {', '.join(names)}"
        )
    # Written so that nan fails it too (every comparison with nan is false).
    if not 0 <= waited_minutes <= MAX_WAITED_MINUTES:
        raise UsageError(
            f"--waited must be a number of minutes from 0 to {MAX_WAITED_MINUTES:,}, "
            f"not {waited_minutes:g}"
        )
    # A machine of the user's own has no sample agent: its check profile's first agent serves.
    data_for = None if machine.name in MACHINES else (lambda _: profile_for(machine).initial_data)
    snapshot = sample_snapshot(machine, status, data_for)
    people = tuple(r for r in machine.roles if r.person)  # every role a person may act in
    context = sample_context(timedelta(minutes=waited_minutes))
    offers = offered(machine, snapshot, context, actor=people)
    if as_json:
        write_json(dump(offers), out)
        return 0
    out.write(f"An agent of the {model} model, {status} for {waited_minutes:g} min, is offered:\n")
    width = max(len(o.label) for o in offers) if offers else 0
    for o in offers:
        if o.offered:
            extra = f" (needs {', '.join(o.needs)}: {' '.join(o.requirements)})" if o.needs else ""
            out.write(f"  {o.label.ljust(width)}  yes{extra}\n")
        else:
            assert o.refusal is not None
            out.write(f"  {o.label.ljust(width)}  no   [{o.refusal.code}] {o.refusal.message}\n")
    if not offers:
        out.write("  (this model has no user actions)\n")
    return 0


def docs(write: str | None, check_dir: str | None, out: TextIO) -> int:
    """Write the generated pages into ``write``, or list the pages in ``check_dir`` that drifted."""
    if write is not None:
        try:
            written = write_pages(Path(write))
        except OSError as error:
            raise UsageError(f"cannot write the pages into {write}: {error}") from error
        for path in written:
            out.write(f"wrote {path}\n")
        return 0
    directory = Path(check_dir) if check_dir is not None else DEFAULT_DOCS_DIR
    drifted = drifted_pages(directory)
    if not drifted:
        out.write(f"the pages in {directory} are up to date\n")
        return 0
    for line in drifted:
        out.write(f"drifted: {line}\n")
    out.write(f"regenerate them with:  agentfsm docs --write {directory}\n")
    return 1


def story(out: TextIO) -> int:
    """Print the scripted story: one Alfe and one Recif agent through their lifecycles."""
    out.write(demo_text())
    return 0


def demo(directory: str | None, agents: int, seconds: float, live: bool, out: TextIO) -> int:
    """Run a small fleet live (see ``agentfsm.cli._demo``); 130 when interrupted."""
    # Imported in each command: the runtime, the adapters and the platform weigh on the start
    # of every other command.
    from agentfsm.cli._demo import DemoError, DemoOptions, run_demo

    folder = Path(directory) if directory is not None else DEFAULT_DEMO_DIR
    options = DemoOptions(folder, agents, seconds, live)
    try:
        return run_demo(options, out)
    except DemoError as error:
        raise UsageError(str(error)) from error


def simulate(
    model: str,
    seed: int,
    steps: int,
    faults: float,
    agents: int,
    out: TextIO,
    *,
    as_json: bool = False,
) -> int:
    """Print a seeded random walk of a small fleet of ``model`` agents, with faults, as it runs.

    The timeline is written line by line while the walk goes on; when standard error is a
    terminal a progress bar there says how far it is. With ``as_json``, one JSON object per
    line instead (see ``agentfsm.cli._simulate_stream``).
    """
    from agentfsm.cli._simulate_stream import stream_simulation  # the simulated host and cluster

    machine = machine_named(model)
    try:
        stream_simulation(machine, seed, steps, faults, agents, out, as_json=as_json)
    except InvalidInput as error:
        raise UsageError(str(error)) from error
    return 0


def history(agent: str, db: str | None, as_json: bool, out: TextIO) -> int:
    """Print an agent's audit log from a SQLite store (default: the demo's database)."""
    from agentfsm.cli._history import HistoryError, history_text  # the runtime's store

    path = Path(db) if db is not None else demo_db()
    try:
        text = history_text(path, agent, as_json=as_json)
    except HistoryError as error:
        raise UsageError(str(error)) from error
    out.write(text)
    return 0
