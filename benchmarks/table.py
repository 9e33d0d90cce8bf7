"""The performance table of issue 14 in one run: every row, its peers, each figure twice.

    python benchmarks/table.py             # the table, sized for stable figures (~20 minutes)
    python benchmarks/table.py --quick     # small sizes, a minute or two
    python benchmarks/table.py --json      # the rows (and every raw figure) as JSON

The measuring is ``core.py``'s (the engine rows: the Alfe walk, the plain table, ``offered``,
memory) and ``runtime.py``'s (SQLite and PostgreSQL beside bare SQL on the same database, a
redelivered event at several lengths of history); this script runs both twice in one process
and puts the figures of the two runs side by side with the goals.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import core
from _plain import PlainWalk
from _walk import Walk

import runtime  # benchmarks/runtime.py (ruff sorts it here: tests/runtime has its name)
from agentfsm.runtime import StoreUnavailable

# Sizes: (defaults, --quick). Each can be set on its own from the command line.
SIZES: dict[str, tuple[Any, Any]] = {
    "events": (1_000_000, 100_000),
    "agents": (10_000, 1_000),
    "psm_events": (50_000, 5_000),
    "memory_agents": (100_000, 100_000),
    "peer_memory_agents": (10_000, 1_000),
    "psm_memory_agents": (2_000, 200),
    "repeat": (3, 1),
    "sqlite_events": (20_000, 3_000),
    "sqlite_repeat": (3, 1),
    "pg_events": (10_000, 2_000),
    "history": ("10,1000,100000", "10,1000,10000"),
}


def _options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a minute or two)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON on stdout")
    parser.add_argument("--runs", type=int, default=2, help="whole runs, side by side (2)")
    parser.add_argument("--seed", type=int, default=2026, help="the walks' seed (2026)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL row")
    helps = {
        "events": "Alfe-walk and plain-walk length",
        "agents": "agents in the walks",
        "psm_events": "first steps python-statemachine replays",
        "memory_agents": "agents tracked for memory",
        "peer_memory_agents": "agents tracked for transitions' memory",
        "psm_memory_agents": "agents tracked for python-statemachine's memory",
        "repeat": "replays of the baseline and agentfsm, the best kept",
        "sqlite_events": "events per SQLite figure",
        "sqlite_repeat": "SQLite runs per figure, the best kept",
        "pg_events": "events per PostgreSQL figure",
        "history": "comma-separated history lengths for the duplicate rows",
    }
    for name, (default, quick) in SIZES.items():
        kind = str if name == "history" else int
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=None,
            help=f"{helps[name]} ({default}; --quick {quick})",
        )
    args = parser.parse_args(argv)
    for name, (default, quick) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else default)
    args.history = tuple(int(h) for h in str(args.history).split(","))
    args.only = ""  # core.one_run: every Alfe-walk implementation
    return args


def one_run(
    args: argparse.Namespace, walk: Walk, plain: PlainWalk, say: Callable[[str], None]
) -> dict[str, Any]:
    """The engine figures, then the durable ones, each from the benchmark that owns them."""
    engine = core.one_run(args, walk, plain, say)
    engine["ratios"] = core.ratios(engine)
    durable: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="agentfsm-table-") as tmp:
        say(f"SQLite: {args.sqlite_events:,} events per figure, beside bare SQL…")
        durable.update(runtime.sqlite_figures(Path(tmp), args.sqlite_events, say,
                                              args.sqlite_repeat))  # fmt: skip
        if args.no_postgres:
            durable["postgres_skipped"] = "--no-postgres"
        else:
            say(f"PostgreSQL: one writer, {args.pg_events:,} events, beside bare SQL…")
            try:
                durable.update(runtime.postgres_figures(args.pg_events, say, (1,)))
            except StoreUnavailable as exc:
                durable["postgres_skipped"] = str(exc).splitlines()[0]
        say(f"duplicates at {', '.join(f'{h:,}' for h in args.history)} events of history…")
        durable["duplicates"] = runtime.duplicate_figures(Path(tmp), args.history, say)
    return {"engine": engine, "durable": durable}


# -- the rows --------------------------------------------------------------------------------
# Each row: its label, its goal (a comparison and a bound), how to read its figure from one run,
# and its peers (name, how to read the peer's figure from one run).

Getter = Callable[[dict[str, Any]], float | None]


def _engine(key: str) -> Getter:
    return lambda run: run["engine"]["ratios"].get(key)


def _alfe_bytes(name: str) -> Getter:
    return lambda run: run["engine"]["alfe"].get(name, {}).get("bytes_per_agent")


def _durable(*path: str) -> Getter:
    def get(run: dict[str, Any]) -> float | None:
        value: Any = run["durable"]
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return float(value)

    return get


def rows(history: Sequence[int]) -> list[dict[str, Any]]:
    """The issue's table, in its order, then a row per length of history for duplicates."""
    out: list[dict[str, Any]] = [
        {
            "row": "full Alfe walk, decide+apply, × baseline",
            "unit": "×",
            "goal": ("<=", 3.5),
            "figure": _engine("alfe_walk_ratio"),
            "peers": [
                ("transitions", _engine("alfe_walk_transitions_ratio"), "×"),
                ("python-statemachine", _engine("alfe_walk_python-statemachine_ratio"), "×"),
            ],
        },
        {
            "row": "plain 12-status table, × baseline",
            "unit": "×",
            "goal": ("<=", 2.0),
            "figure": _engine("plain_ratio"),
            "peers": [
                ("transitions", _engine("plain_transitions_ratio"), "×"),
                ("python-statemachine", _engine("plain_python-statemachine_ratio"), "×"),
            ],
        },
        {
            "row": "the same, each event built by name, × baseline",
            "unit": "×",
            "goal": ("<=", 3.0),
            "figure": _engine("plain_named_ratio"),
            "peers": [("decide by name", _engine("plain_by_name_ratio"), "×")],
        },
        {
            "row": "offered (guard-aware), × baseline's listing",
            "unit": "×",
            "goal": ("<=", 4.0),
            "figure": _engine("offered_ratio"),
            "peers": [("transitions get_triggers", _engine("offered_transitions_ratio"), "×")],
        },
        {
            "row": "SQLite, 100 events/txn, × bare SQL",
            "unit": "%",
            "goal": (">=", 0.70),
            "figure": _durable("sqlite_batch_100", "same_work", "ratio"),
            "peers": [
                ("bare SQL", _durable("sqlite_batch_100", "bare_sql_per_s"), "/s"),
                ("ours", _durable("sqlite_batch_100", "same_work", "events_per_s"), "/s"),
                ("per CPU s", _durable("sqlite_batch_100", "same_work", "cpu_ratio"), "%"),
            ],
        },
        {
            "row": "SQLite, 1 event/txn, × bare SQL",
            "unit": "%",
            "goal": (">=", 0.85),
            "figure": _durable("sqlite_batch_1", "same_work", "ratio"),
            "peers": [
                ("bare SQL", _durable("sqlite_batch_1", "bare_sql_per_s"), "/s"),
                ("ours", _durable("sqlite_batch_1", "same_work", "events_per_s"), "/s"),
                ("per CPU s", _durable("sqlite_batch_1", "same_work", "cpu_ratio"), "%"),
            ],
        },
        {
            "row": "PostgreSQL, one writer, × one-statement bare SQL",
            "unit": "%",
            "goal": (">=", 0.75),
            "figure": _durable("postgres_writers_1", "ratio_to_one_statement"),
            "peers": [
                ("bare SQL", _durable("postgres_writers_1", "bare_sql_one_statement_per_s"), "/s"),
                ("ours", _durable("postgres_writers_1", "events_per_s"), "/s"),
                ("× BEGIN/COMMIT bare", _durable("postgres_writers_1", "ratio"), "%"),
            ],
        },
        {
            "row": "memory per tracked agent, bytes",
            "unit": "B",
            "goal": ("<=", 150.0),
            "figure": _engine("bytes_per_agent"),
            "peers": [
                ("baseline", _alfe_bytes("baseline"), "B"),
                ("transitions", _alfe_bytes("transitions"), "B"),
                ("python-statemachine", _alfe_bytes("python-statemachine"), "B"),
            ],
        },
    ]
    smallest = min(history)
    for size in history:
        row: dict[str, Any] = {
            "row": f"duplicate, {size:,} events of history, µs",
            "unit": "µs",
            "goal": None,
            "figure": _durable("duplicates", f"history_{size}", "lookup_us"),
            "peers": [("by replay", _durable("duplicates", f"history_{size}", "replay_us"), "µs")],
        }
        if size != smallest:
            # "A duplicate costs what a lookup costs": flat in the length of history.
            row["goal"] = ("<=", 2.0)
            row["relative_to"] = _durable("duplicates", f"history_{smallest}", "lookup_us")
            row["goal_text"] = f"≤ 2× at {smallest:,}"
        out.append(row)
    return out


def _met(row: dict[str, Any], run: dict[str, Any], figure: float | None) -> bool | None:
    if row["goal"] is None or figure is None:
        return None
    op, bound = row["goal"]
    if "relative_to" in row:
        base = row["relative_to"](run)
        if not base:
            return None
        figure = figure / base
    return figure <= bound if op == "<=" else figure >= bound


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{value:.0%}"
    if unit == "×":
        return f"{value:.2f}×" if value < 10 else f"{value:,.0f}×"
    if unit == "/s":
        return f"{value:,.0f}/s"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:,.1f} {unit}"


def _goal_text(row: dict[str, Any]) -> str:
    if row["goal"] is None:
        return "(reference)"
    if "goal_text" in row:
        return str(row["goal_text"])
    op, bound = row["goal"]
    sign = "≤" if op == "<=" else "≥"
    return f"{sign} {_format(bound, row['unit'])}"


def _verdict(met: list[bool | None]) -> str:
    known = [m for m in met if m is not None]
    if not known:
        return "—"
    if all(known):
        return "met"
    if not any(known):
        return "not met"
    return f"met {sum(known)} of {len(known)}"


def table(runs: list[dict[str, Any]], history: Sequence[int]) -> list[dict[str, Any]]:
    """Every row with its goal, one figure per run, the verdict and the peers' figures."""
    out = []
    for row in rows(history):
        figures = [row["figure"](run) for run in runs]
        met = [_met(row, run, f) for run, f in zip(runs, figures, strict=True)]
        out.append(
            {
                "row": row["row"],
                "unit": row["unit"],
                "goal": _goal_text(row),
                "runs": figures,
                "met": met,
                "verdict": _verdict(met),
                "peers": {
                    name: {"unit": unit, "runs": [get(run) for run in runs]}
                    for name, get, unit in row["peers"]
                },
            }
        )
    return out


def _print(result: dict[str, Any]) -> None:
    runs = result["runs"]
    print(
        f"\nPython {result['python']}; load average {result['load_before']} before, "
        f"{result['load_after']} after; walk {result['sizes']['events']:,} events over "
        f"{result['sizes']['agents']:,} agents"
    )
    for run_no, run in enumerate(runs, 1):
        skipped = run["durable"].get("postgres_skipped")
        if skipped:
            print(f"run {run_no}: the PostgreSQL row is skipped: {skipped}")
    heads = "".join(f"{'run ' + str(i + 1):>11}" for i in range(len(runs)))
    print(f"\n{'row':<50}{'goal':>14}{heads}  {'verdict':<12}peers (run 1 / run 2)")
    for row in result["table"]:
        cells = "".join(f"{_format(f, row['unit']):>11}" for f in row["runs"])
        peers = "; ".join(
            f"{name} " + " / ".join(_format(v, p["unit"]) for v in p["runs"])
            for name, p in row["peers"].items()
        )
        print(f"{row['row']:<50}{row['goal']:>14}{cells}  {row['verdict']:<12}{peers}")


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    args = _options(argv)
    say: Callable[[str], None] = (
        (lambda m: print(m, file=sys.stderr, flush=True))
        if args.json
        else (lambda m: print(m, flush=True))
    )
    load_before = _load()
    say(f"generating walks of {args.events:,} events over {args.agents:,} agents…")
    walk = Walk(args.events, args.agents, args.seed)
    plain = PlainWalk(args.events, args.agents, args.seed)
    runs = []
    for i in range(args.runs):
        say(f"-- run {i + 1} of {args.runs}")
        runs.append(one_run(args, walk, plain, say))
    sizes = {name: getattr(args, name) for name in SIZES}
    result = {
        "python": platform.python_version(),
        "load_before": load_before,
        "load_after": _load(),
        "sizes": sizes,
        "table": table(runs, args.history),
        "runs": runs,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
