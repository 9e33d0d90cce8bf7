"""The ``agentfsm`` argument parser and its dispatch.

``COMMANDS`` is the table of commands: a name, the function that adds its arguments and the
one that runs it (``agentfsm.cli._arguments``); a new command is one more row. What each command
does lives in ``agentfsm.cli._commands``. ``main(argv)`` returns the exit status (0 done, 1 a
check failed, 2 a usage error, 130 interrupted) so tests can call it directly.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from agentfsm import __version__
from agentfsm.cli import _arguments as parts
from agentfsm.cli import _commands as commands
from agentfsm.cli import _migrate as migrate
from agentfsm.cli._names import did_you_mean

_EPILOG = f"""\
models: {parts.MODELS}
  {parts.OWN}

examples:
  agentfsm demo                      run a small fleet live: real processes, faults, releases
  agentfsm serve                     the HTTP API over a live fleet
  agentfsm story                     a scripted lifecycle of two agents, printed at once
  agentfsm simulate recif --seed 7   a random walk of Recif agents with faults, as a timeline
  agentfsm show alfe                 the Alfe transition table
  agentfsm diagram recif --format dot | dot -Tsvg > recif.svg
  agentfsm offered alfe stopped      what a stopped Alfe agent offers, and why not the rest
  agentfsm offered recif Running --json   a Running Recif agent's offers, as JSON records
                                          (check, show, simulate, history take --json too)
  agentfsm check                     prove every model's invariants
  agentfsm diff alfe agentfsm.migrate.examples:ALFE_V2
  agentfsm check-migration agentfsm.migrate.examples:ALFE_V1_TO_V2
  agentfsm migrate plan --db agents.db --migration agentfsm.migrate.examples:ALFE_V1_TO_V2
  agentfsm check examples/gpu_job.py:MACHINE   check a machine of your own
"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (exit status 2), with a closest-name hint."""

    def error(self, message: str) -> NoReturn:
        hint = _choice_hint(message)
        self.exit(2, f"{self.prog}: error: {message}{hint} (see {self.prog} --help)\n")


_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<typed>[^']*)' \(choose from (?P<names>.*)\)")


def _choice_hint(message: str) -> str:
    """For argparse's ``invalid choice`` message (a mistyped command), the closest choice."""
    found = _INVALID_CHOICE.search(message)
    if found is None:
        return ""
    names = [n.strip().strip("'") for n in found.group("names").split(",")]
    return did_you_mean(found.group("typed"), names)


COMMANDS: list[tuple[str, parts.Register, parts.Run]] = [
    ("demo", parts.register_demo, parts.run_demo),
    ("story", parts.register_story, parts.run_story),
    ("simulate", parts.register_simulate, parts.run_simulate),
    ("history", parts.register_history, parts.run_history),
    ("show", parts.register_show, parts.run_show),
    ("diagram", parts.register_diagram, parts.run_diagram),
    ("check", parts.register_check, parts.run_check),
    ("offered", parts.register_offered, parts.run_offered),
    ("diff", parts.register_diff, parts.run_diff),
    ("check-migration", parts.register_check_migration, parts.run_check_migration),
    ("migrate", parts.register_migrate, parts.run_migrate),
    ("serve", parts.register_serve, parts.run_serve),
    ("docs", parts.register_docs, parts.run_docs),
]
"""Every ``agentfsm`` command, in the order ``--help`` lists them: its name, the function that
adds its sub-parser, and the function that runs it. A new command is one more row."""


def build_parser() -> argparse.ArgumentParser:
    """The ``agentfsm`` argument parser, with one sub-command per row of ``COMMANDS``."""
    parser = _Parser(
        prog="agentfsm",
        description="The lifecycle of hosted AI agents as explicit, checked state machines.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"agentfsm {__version__}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, register, _ in COMMANDS:
        register(sub, name)
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    runs = {name: run for name, _, run in COMMANDS}
    return runs[args.command](args, sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``agentfsm`` command line.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 done, 1 a check failed, 2 a usage error (a one-line message on
        standard error names the valid choices), 130 interrupted by Ctrl-C (one line on
        standard error).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a parse error already reported
        return stop.code if isinstance(stop.code, int) else 2
    try:
        return _dispatch(args)
    except (commands.UsageError, migrate.MigrateUsageError) as error:
        sys.stderr.write(f"agentfsm: error: {error}\n")
        return 2
    except BrokenPipeError:  # `agentfsm demo | head`: the reader left; that is not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:  # Ctrl-C: the user asked to stop; no traceback, the shell's code
        sys.stderr.write("agentfsm: interrupted\n")
        return 130
