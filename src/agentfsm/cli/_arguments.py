"""Each ``agentfsm`` command's arguments and the call that runs it, as a pair of functions.

``register_<command>(subparsers, name)`` adds the command's sub-parser; ``run_<command>(args,
out)`` calls what the command does (``agentfsm.cli._commands``, ``agentfsm.cli._migrate``) with
the parsed values and returns its exit status. ``agentfsm.cli._app.COMMANDS`` lists the pairs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TextIO

from agentfsm.cli import _commands as commands
from agentfsm.cli import _migrate as migrate
from agentfsm.cli._demo_layout import DEFAULT_DEMO_DIR, demo_db
from agentfsm.models import MACHINES
from agentfsm.render import DEFAULT_DOCS_DIR

MODELS = ", ".join(MACHINES)
"""The shipped models' names, for help texts."""

OWN = "or your own: path/to/file.py:NAME, package.module:NAME"
"""How a machine of the user's own is named, for help texts."""

Register = Callable[[Any, str], argparse.ArgumentParser]
"""Adds a command's sub-parser: ``register(subparsers, name)`` returns the new parser."""

Run = Callable[[argparse.Namespace, TextIO], int]
"""Runs a command from its parsed arguments, writing to the stream; returns the exit status."""


def _model_help() -> str:
    return f"the model: {MODELS} ({OWN})"


def _add_json(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def register_demo(sub: Any, name: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help="run a small fleet live, with injected faults"
    )
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
    return p


def run_demo(args: argparse.Namespace, out: TextIO) -> int:
    return commands.demo(args.dir, args.agents, args.seconds, args.live, out)


def register_story(sub: Any, name: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help="print a scripted lifecycle of two agents (instant)"
    )
    p.description = (
        "Drive one Alfe agent and one Recif agent through a scripted lifecycle on a virtual "
        "clock and print the timeline: every event, who sent it, the status change, the "
        "effects, and the refusals. Nothing is performed; it runs in a fraction of a second."
    )
    return p


def run_story(args: argparse.Namespace, out: TextIO) -> int:
    return commands.story(out)


def register_simulate(sub: Any, name: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help="a seeded random walk of a small fleet, with faults"
    )
    p.description = (
        "Walk a small fleet of MODEL agents through random user actions, platform reports and "
        "timers on a virtual clock, with injected faults (Alfe: a simulated host and billing; "
        "Recif: a simulated cluster driven by reconcile). Every event is decided by the pure "
        "engine and printed as it is decided, refusals marked, then a summary; on a terminal a "
        "progress bar on standard error shows how far the walk is. The same seed prints the "
        "same run."
    )
    p.add_argument("model", metavar="MODEL", help=_model_help())
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
    _add_json(p, "one JSON object per line (each decision, then the summary)")
    return p


def run_simulate(args: argparse.Namespace, out: TextIO) -> int:
    return commands.simulate(
        args.model, args.seed, args.steps, args.faults, args.agents, out, as_json=args.json
    )


def register_history(sub: Any, name: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help="an agent's audit log from a SQLite store"
    )
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
    _add_json(p, "the events (a JSON array of audit rows)")
    return p


def run_history(args: argparse.Namespace, out: TextIO) -> int:
    return commands.history(args.agent, args.db, args.json, out)


def register_show(sub: Any, name: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help="print a model's transition table (Markdown)"
    )
    p.description = "Print every transition of MODEL: event, actor, from, to, guard, effects."
    p.add_argument("model", metavar="MODEL", help=_model_help())
    _add_json(p, "the machine's definition")
    return p


def run_show(args: argparse.Namespace, out: TextIO) -> int:
    return commands.show(args.model, out, as_json=args.json)


def register_diagram(sub: Any, name: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help="print a model's state diagram (Mermaid or DOT)"
    )
    p.description = "Print MODEL's state diagram, as Mermaid (default) or Graphviz DOT source."
    p.add_argument("model", metavar="MODEL", help=_model_help())
    p.add_argument(
        "--format",
        default="mermaid",
        metavar="FORMAT",
        help=f"{' or '.join(commands.FORMATS)} (default: mermaid)",
    )
    return p


def run_diagram(args: argparse.Namespace, out: TextIO) -> int:
    return commands.diagram(args.model, args.format, out)


def register_check(sub: Any, name: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help="validate and model-check the models (exit 1 on failure)"
    )
    p.description = (
        "Validate MODEL (or every model) and explore all its reachable abstract states, "
        "checking every invariant on every transition. Exits 1 and prints a shortest "
        "counterexample when an invariant fails."
    )
    p.add_argument("model", metavar="MODEL", nargs="?", help=f"{_model_help()} (default: all)")
    _add_json(p, "each model's report")
    return p


def run_check(args: argparse.Namespace, out: TextIO) -> int:
    return commands.check(args.model, out, as_json=args.json)


def register_offered(sub: Any, name: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help="which actions a status offers, and why not the others"
    )
    p.description = (
        "For a representative agent of MODEL in STATUS, list every user action: offered, or "
        "refused with its code and the sentence a dashboard would show."
    )
    p.add_argument("model", metavar="MODEL", help=_model_help())
    p.add_argument("status", metavar="STATUS", help="one of the model's statuses")
    p.add_argument(
        "--waited",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="how long the agent has been in STATUS (default: 0; Alfe's stuck limit is 10)",
    )
    _add_json(p, "the offers (a JSON array)")
    return p


def run_offered(args: argparse.Namespace, out: TextIO) -> int:
    return commands.offered_actions(args.model, args.status, args.waited, out, as_json=args.json)


_MIGRATION_REF = "a Migration, as package.module:NAME"


def register_diff(sub: Any, name: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help="what changed between two versions of a model"
    )
    p.description = (
        "Print what changed from MODEL_A to MODEL_B: statuses and events added, removed or "
        "renamed, transitions whose target, guard or effects changed, and the user actions "
        "each status offers before and after. A model is a shipped model's name or a Machine "
        "as package.module:NAME."
    )
    p.add_argument("model_a", metavar="MODEL_A")
    p.add_argument("model_b", metavar="MODEL_B")
    p.add_argument("--format", default="text", metavar="FORMAT", help="text, mermaid or dot")
    p.add_argument(
        "--migration", metavar="REF", help=f"{_MIGRATION_REF}: its status map names renames"
    )
    return p


def run_diff(args: argparse.Namespace, out: TextIO) -> int:
    return migrate.diff_command(args.model_a, args.model_b, args.format, args.migration, out)


def register_check_migration(sub: Any, name: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help="prove a migration (exit 1 on failure)")
    p.description = (
        "Explore both machines' finite abstractions and check that every reachable old agent "
        "maps to one the new machine can reach and whose events keep its invariants, that no "
        "pending timer is left with nothing to deliver, and that no user action is lost "
        "unless the migration lists it. Prints a shortest counterexample for each failure."
    )
    p.add_argument("migration", metavar="MIGRATION", help=_MIGRATION_REF)
    return p


def run_check_migration(args: argparse.Namespace, out: TextIO) -> int:
    return migrate.check_command(args.migration, out)


def register_migrate(sub: Any, name: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help="plan or apply a migration on a store")
    p.description = (
        "plan: count, by status, the stored agents each rule moves and the pending timers "
        "that change. apply: check the migration, then migrate in batches (one transaction "
        "each, one audit row per agent); a rerun after a crash migrates only the rest."
    )
    p.add_argument("action", choices=("plan", "apply"))
    p.add_argument("--db", required=True, metavar="DB", help="a SQLite file or PostgreSQL DSN")
    p.add_argument("--schema", default="agentfsm", help="the PostgreSQL schema (default: agentfsm)")
    p.add_argument("--migration", required=True, metavar="REF", help=_MIGRATION_REF)
    p.add_argument("--batch", type=int, default=1000, metavar="N", help="agents per transaction")
    p.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
    p.add_argument("--unchecked", action="store_true", help="apply without running the check")
    return p


def run_migrate(args: argparse.Namespace, out: TextIO) -> int:
    return migrate.migrate_command(
        args.action, args.db, args.schema, args.migration, args.batch, args.dry_run,
        args.unchecked, out,
    )  # fmt: skip


def register_serve(sub: Any, name: str) -> argparse.ArgumentParser:
    # Imported here: the HTTP API's module stays out of every other command's start-up.
    from agentfsm.http import _serve

    return _serve.register(sub)


def run_serve(args: argparse.Namespace, out: TextIO) -> int:
    from agentfsm.http import _serve

    return _serve.run(args, out)


def register_docs(sub: Any, name: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        name, help="write or check the generated docs pages"
    )
    p.description = (
        "Generate one Markdown page per model (diagram, tables, offered actions, invariants). "
        f"--write writes them; --check exits 1 when a committed page differs. DIR defaults to "
        f"{DEFAULT_DOCS_DIR}."
    )
    mode = p.add_mutually_exclusive_group(required=True)
    default_dir = str(DEFAULT_DOCS_DIR)
    mode.add_argument("--write", nargs="?", const=default_dir, metavar="DIR", help="write pages")
    mode.add_argument("--check", nargs="?", const=default_dir, metavar="DIR", help="check pages")
    return p


def run_docs(args: argparse.Namespace, out: TextIO) -> int:
    return commands.docs(args.write, args.check, out)
