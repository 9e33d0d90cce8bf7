"""The ``agentfsm`` command: look at the shipped models, check them, and run the demo.

This module only parses arguments and dispatches; what each command does lives in
``agentfsm._cli_commands``. ``main(argv)`` returns the exit status (0 done, 1 a check failed,
2 a usage error) so tests can call it directly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from agentfsm import _cli_commands as commands
from agentfsm import _cli_migrate as migrate
from agentfsm._demo_layout import DEFAULT_DEMO_DIR, demo_db
from agentfsm.models import MACHINES
from agentfsm.render import DEFAULT_DOCS_DIR

_MODELS = ", ".join(MACHINES)
_OWN = "or your own: path/to/file.py:NAME, package.module:NAME"

_EPILOG = f"""\
models: {_MODELS}
  {_OWN}

examples:
  agentfsm demo                      run a small fleet live: real processes, faults, releases
  agentfsm story                     a scripted lifecycle of two agents, printed at once
  agentfsm simulate recif --seed 7   a random walk of Recif agents with faults, as a timeline
  agentfsm show alfe                 the Alfe transition table
  agentfsm diagram recif --format dot | dot -Tsvg > recif.svg
  agentfsm offered alfe stopped      what a stopped Alfe agent offers, and why not the rest
  agentfsm check                     prove every model's invariants
  agentfsm diff alfe agentfsm.migrate.examples:ALFE_V2
  agentfsm check-migration agentfsm.migrate.examples:ALFE_V1_TO_V2
  agentfsm migrate plan --db agents.db --migration agentfsm.migrate.examples:ALFE_V1_TO_V2
  agentfsm check examples/gpu_job.py:MACHINE   check a machine of your own
"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``agentfsm`` argument parser, with one sub-command per command."""
    parser = _Parser(
        prog="agentfsm",
        description="The lifecycle of hosted AI agents as explicit, checked state machines.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    model_help = f"the model: {_MODELS} ({_OWN})"

    p = sub.add_parser("demo", help="run a small fleet live, with injected faults")
    p.description = (
        "Run a small fleet on the embedded defaults: a SQLite store and a Git release "
        "repository in DIR, Alfe agents as real processes on this machine, Recif agents on a "
        "simulated cluster. It drives the lifecycle stories (a lost connection, a crash into "
        "Failed and back, a credit pool that runs dry then a top-up, a recreate, deletes), "
        "shows the fleet live, and ends with a summary and where to look. Ctrl-C stops it "
        "cleanly."
    )
    p.add_argument(
        "--dir",
        metavar="DIR",
        help=f"the folder for its files (default: {DEFAULT_DEMO_DIR}/; cleared on each run)",
    )
    p.add_argument(
        "--agents", type=int, default=5, metavar="N", help="the fleet's size, 5 to 12 (default: 5)"
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=20.0,
        metavar="S",
        help="spread the stories over about S seconds (default: 20; 0: as fast as possible)",
    )
    p.add_argument(
        "--no-live",
        dest="live",
        action="store_false",
        help="print plain lines instead of a live table (the default when not a terminal)",
    )

    p = sub.add_parser("story", help="print a scripted lifecycle of two agents (instant)")
    p.description = (
        "Drive one Alfe agent and one Recif agent through a scripted lifecycle on a virtual "
        "clock and print the timeline: every event, who sent it, the status change, the "
        "effects, and the refusals. Nothing is performed; it runs in a fraction of a second."
    )

    p = sub.add_parser("simulate", help="a seeded random walk of a small fleet, with faults")
    p.description = (
        "Walk a small fleet of MODEL agents through random user actions, platform reports and "
        "timers on a virtual clock, with injected faults (Alfe: a simulated host and billing; "
        "Recif: a simulated cluster driven by reconcile). Every event is decided by the pure "
        "engine and printed as a timeline, refusals marked, then a summary. The same seed "
        "prints the same run."
    )
    p.add_argument("model", metavar="MODEL", help=model_help)
    p.add_argument("--seed", type=int, default=1, metavar="N", help="the seed (default: 1)")
    p.add_argument(
        "--steps", type=int, default=50, metavar="K", help="events to decide (default: 50)"
    )
    p.add_argument(
        "--faults",
        type=float,
        default=0.1,
        metavar="RATE",
        help="the probability an occasion goes wrong, 0 to 1 (default: 0.1)",
    )
    p.add_argument(
        "--agents", type=int, default=2, metavar="N", help="the fleet's size (default: 2)"
    )

    p = sub.add_parser("history", help="an agent's audit log from a SQLite store")
    p.description = (
        "Print every event decided for AGENT, oldest first: when, who sent it, the status "
        "before and after, and the refusal code when it was refused (what GET "
        "/agents/{id}/events returns). Reads the demo's database unless --db names another. "
        "Exit status 2, with one line on standard error, when the database is missing, is not "
        "an agentfsm database, is damaged or locked, or holds no such agent."
    )
    p.add_argument("agent", metavar="AGENT", help="the agent's id")
    p.add_argument(
        "--db",
        metavar="PATH",
        help=f"the SQLite database (default: {demo_db()})",
    )
    p.add_argument("--json", action="store_true", help="print the events as a JSON array")

    p = sub.add_parser("show", help="print a model's transition table (Markdown)")
    p.description = "Print every transition of MODEL: event, actor, from, to, guard, effects."
    p.add_argument("model", metavar="MODEL", help=model_help)

    p = sub.add_parser("diagram", help="print a model's state diagram (Mermaid or DOT)")
    p.description = "Print MODEL's state diagram, as Mermaid (default) or Graphviz DOT source."
    p.add_argument("model", metavar="MODEL", help=model_help)
    p.add_argument(
        "--format",
        default="mermaid",
        metavar="FORMAT",
        help=f"{' or '.join(commands.FORMATS)} (default: mermaid)",
    )

    p = sub.add_parser("check", help="validate and model-check the models (exit 1 on failure)")
    p.description = (
        "Validate MODEL (or every model) and explore all its reachable abstract states, "
        "checking every invariant on every transition. Exits 1 and prints a shortest "
        "counterexample when an invariant fails."
    )
    p.add_argument("model", metavar="MODEL", nargs="?", help=f"{model_help} (default: all)")

    p = sub.add_parser("offered", help="which actions a status offers, and why not the others")
    p.description = (
        "For a representative agent of MODEL in STATUS, list every user action: offered, or "
        "refused with its code and the sentence a dashboard would show."
    )
    p.add_argument("model", metavar="MODEL", help=model_help)
    p.add_argument("status", metavar="STATUS", help="one of the model's statuses")
    p.add_argument(
        "--waited",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="how long the agent has been in STATUS (default: 0; Alfe's stuck limit is 10)",
    )

    _add_migration_commands(sub)

    p = sub.add_parser("docs", help="write or check the generated docs pages")
    p.description = (
        "Generate one Markdown page per model (diagram, tables, offered actions, invariants). "
        f"--write writes them; --check exits 1 when a committed page differs. DIR defaults to "
        f"{DEFAULT_DOCS_DIR}."
    )
    mode = p.add_mutually_exclusive_group(required=True)
    default_dir = str(DEFAULT_DOCS_DIR)
    mode.add_argument("--write", nargs="?", const=default_dir, metavar="DIR", help="write pages")
    mode.add_argument("--check", nargs="?", const=default_dir, metavar="DIR", help="check pages")
    return parser


def _add_migration_commands(sub: Any) -> None:
    ref = "a Migration, as package.module:NAME"
    p = sub.add_parser("diff", help="what changed between two versions of a model")
    p.description = (
        "Print what changed from MODEL_A to MODEL_B: statuses and events added, removed or "
        "renamed, transitions whose target, guard or effects changed, and the user actions "
        "each status offers before and after. A model is a shipped model's name or a Machine "
        "as package.module:NAME."
    )
    p.add_argument("model_a", metavar="MODEL_A")
    p.add_argument("model_b", metavar="MODEL_B")
    p.add_argument("--format", default="text", metavar="FORMAT", help="text, mermaid or dot")
    p.add_argument("--migration", metavar="REF", help=f"{ref}: its status map names renames")

    p = sub.add_parser("check-migration", help="prove a migration (exit 1 on failure)")
    p.description = (
        "Explore both machines' finite abstractions and check that every reachable old agent "
        "maps to one the new machine can reach and whose events keep its invariants, that no "
        "pending timer is left with nothing to deliver, and that no user action is lost "
        "unless the migration lists it. Prints a shortest counterexample for each failure."
    )
    p.add_argument("migration", metavar="MIGRATION", help=ref)

    p = sub.add_parser("migrate", help="plan or apply a migration on a store")
    p.description = (
        "plan: count, by status, the stored agents each rule moves and the pending timers "
        "that change. apply: check the migration, then migrate in batches (one transaction "
        "each, one audit row per agent); a rerun after a crash migrates only the rest."
    )
    p.add_argument("action", choices=("plan", "apply"))
    p.add_argument("--db", required=True, metavar="DB", help="a SQLite file or PostgreSQL DSN")
    p.add_argument("--schema", default="agentfsm", help="the PostgreSQL schema (default: agentfsm)")
    p.add_argument("--migration", required=True, metavar="REF", help=ref)
    p.add_argument("--batch", type=int, default=1000, metavar="N", help="agents per transaction")
    p.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
    p.add_argument("--unchecked", action="store_true", help="apply without running the check")


def _dispatch_migration(args: argparse.Namespace) -> int | None:
    out = sys.stdout
    if args.command == "diff":
        return migrate.diff_command(args.model_a, args.model_b, args.format, args.migration, out)
    if args.command == "check-migration":
        return migrate.check_command(args.migration, out)
    if args.command == "migrate":
        return migrate.migrate_command(
            args.action, args.db, args.schema, args.migration, args.batch, args.dry_run,
            args.unchecked, out,
        )  # fmt: skip
    return None


def _dispatch(args: argparse.Namespace) -> int:
    out = sys.stdout
    handled = _dispatch_migration(args)
    if handled is not None:
        return handled
    if args.command == "demo":
        return commands.demo(args.dir, args.agents, args.seconds, args.live, out)
    if args.command == "story":
        return commands.story(out)
    if args.command == "simulate":
        return commands.simulate(args.model, args.seed, args.steps, args.faults, args.agents, out)
    if args.command == "history":
        return commands.history(args.agent, args.db, args.json, out)
    if args.command == "show":
        return commands.show(args.model, out)
    if args.command == "diagram":
        return commands.diagram(args.model, args.format, out)
    if args.command == "check":
        return commands.check(args.model, out)
    if args.command == "offered":
        return commands.offered_actions(args.model, args.status, args.waited, out)
    return commands.docs(args.write, args.check, out)


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
    except SystemExit as stop:  # --help, or a parse error already reported
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
