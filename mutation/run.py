"""Run mutmut on the modules in mutation/modules.toml and print the score of each.

Run by hand from the repository root, never in CI (see mutation/README.md):

    python mutation/run.py                          # every module (hours on a small machine)
    python mutation/run.py _validate.py             # one module
    python mutation/run.py --survivors recif/_reconcile.py
    python mutation/run.py --report-only            # the table of the last runs, no new run

Each module runs in its own scratch copy of the repository (mutation/.work/<module>/), with a
setup.cfg that tells mutmut the one file to mutate and the tests that pin it, so runs do not
see each other's results and the checkout is never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "mutation"
WORK = HERE / ".work"
PACKAGE = "src/agentfsm"

# Statuses counted as caught: a mutant that makes the tests fail, hang, or not type-check.
CAUGHT = {"killed", "timeout", "caught by type check"}
# A mutant no selected test reaches is a gap as much as one that survives them.
MISSED = {"survived", "no tests"}


def _modules() -> dict[str, list[str]]:
    config = tomllib.loads((HERE / "modules.toml").read_text("utf-8"))
    return {name: list(entry["tests"]) for name, entry in config["modules"].items()}


def _equivalents() -> set[str]:
    """Mutant names listed in equivalent.md (lines starting with a backquoted name)."""
    text = (HERE / "equivalent.md").read_text("utf-8")
    return set(re.findall(r"^- `([\w.]+__mutmut_\d+)`", text, flags=re.MULTILINE))


def _slug(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def _prepare(module: str, tests: list[str]) -> Path:
    work = WORK / _slug(module)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
    selection = "\n    ".join(tests)
    (work / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths = src\n"
        f"only_mutate = {PACKAGE}/{module}\n"
        f"pytest_add_cli_args_test_selection =\n    {selection}\n"
        "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -x\n    -q\n",
        "utf-8",
    )
    return work


# mutmut forks every mutant's test run from a process that has already imported the package
# and collected the tests, so code that runs at import (the shipped machines are compiled then,
# offer plans cached) runs unmutated and its mutants look like survivors. Survivors are run
# again with a fork server that imports nothing before forking: slower, but each mutant then
# imports the package itself, with the mutant active.
FRESH = "process_isolation = forkserver\nforkserver_warmup = none\n"


def _run(work: Path, children: int, budget: float, names: list[str] | None = None) -> bool:
    """Run mutmut in ``work`` (only ``names`` when given); False when the budget ran out."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # mutants/src, not src
    env["HYPOTHESIS_PROFILE"] = "ci"  # the same examples for every mutant
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(children), *(names or ())]
    log_name = "mutmut-fresh.log" if names else "mutmut.log"
    # mutmut draws a progress line many times a second: keep it in a log, not on the terminal.
    with (work / log_name).open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            return False
    return True


def _statuses(module: str) -> dict[str, str]:
    """Each checked mutant of ``module`` and its status, as mutmut names them."""
    from mutmut.stats import status_by_exit_code  # only needed once mutmut has run

    meta = WORK / _slug(module) / "mutants" / PACKAGE / f"{module}.meta"
    if not meta.exists():
        return {}
    exit_codes: dict[str, int | None] = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
    return {k: status_by_exit_code[v] for k, v in exit_codes.items() if v is not None}


def _score_row(module: str, equivalent: set[str]) -> tuple[str, ...] | None:
    statuses = _statuses(module)
    if not statuses:
        return None
    caught = sum(1 for s in statuses.values() if s in CAUGHT)
    timeout = sum(1 for s in statuses.values() if s == "timeout")
    survivors = {k for k, s in statuses.items() if s in MISSED}
    other = len(statuses) - caught - len(survivors)  # skipped, suspicious, segfault
    equiv = len(survivors & equivalent)
    live = len(survivors) - equiv
    raw = 100.0 * caught / len(statuses)
    adjusted = 100.0 * caught / max(1, len(statuses) - equiv)
    return (
        module,
        str(len(statuses)),
        str(caught - timeout),
        str(timeout),
        str(live),
        str(equiv),
        str(other),
        f"{raw:.1f}",
        f"{adjusted:.1f}",
    )


def _print_table(rows: list[tuple[str, ...]]) -> None:
    head = ("module", "mutants", "killed", "timeout", "survived", "equiv.", "other", "%", "% eq.")
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    for row in (head, *rows):
        numbers = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in numbers]
        print("  ".join(cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules as in modules.toml (default: all)")
    parser.add_argument("--children", type=int, default=1, help="mutmut workers (default 1)")
    parser.add_argument("--minutes", type=float, default=60.0, help="time budget per module")
    parser.add_argument("--report-only", action="store_true", help="only print the last runs")
    parser.add_argument("--survivors", action="store_true", help="list surviving mutants")
    parser.add_argument(
        "--no-fresh", action="store_true", help="do not re-run survivors in fresh imports"
    )
    parser.add_argument(
        "--fresh-only",
        action="store_true",
        help="only re-run the last run's survivors in fresh imports (no new first pass)",
    )
    parser.add_argument(
        "--fresh-all",
        action="store_true",
        help="re-run the survivors listed in equivalent.md in fresh imports too",
    )
    args = parser.parse_args()

    modules = _modules()
    chosen = args.modules or list(modules)
    unknown = [m for m in chosen if m not in modules]
    if unknown:
        parser.error(f"not in mutation/modules.toml: {', '.join(unknown)}")
    equivalent = _equivalents()
    for module in chosen:
        if args.report_only:
            continue
        started = time.monotonic()
        budget = args.minutes * 60
        if args.fresh_only:
            work = WORK / _slug(module)
            if not (work / "setup.cfg").exists():
                parser.error(f"{module} has no earlier run to take the survivors of")
            finished = True
        else:
            work = _prepare(module, modules[module])
            finished = _run(work, args.children, budget)
        # A survivor already reasoned equivalent (equivalent.md) is not re-run by default: in
        # a fresh import it runs every selected test, and a whole module's tests take minutes.
        survivors = [
            k
            for k, s in _statuses(module).items()
            if s in MISSED and (args.fresh_all or k not in equivalent)
        ]
        if finished and survivors and not args.no_fresh:
            cfg_path = work / "setup.cfg"
            if FRESH not in cfg_path.read_text("utf-8"):
                with cfg_path.open("a", encoding="utf-8") as cfg:
                    cfg.write(FRESH)
            left = budget - (time.monotonic() - started)
            finished = _run(work, args.children, left, survivors)
        took = (time.monotonic() - started) / 60
        state = "done" if finished else "stopped at the time budget"
        log = work.relative_to(ROOT) / "mutmut.log"
        print(f"== {module}: {state} after {took:.1f} min (log: {log})", file=sys.stderr)
    rows = [row for m in chosen if (row := _score_row(m, equivalent)) is not None]
    _print_table(rows)
    if args.survivors:
        for module in chosen:
            for name, status in sorted(_statuses(module).items()):
                if status in MISSED and name not in equivalent:
                    print(f"survived: {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
