"""Check mutants of one module in fresh interpreters, against that module's tests.

    python mutation/fresh.py _machine.py                 # every mutant with no verdict, and
                                                         # the survivors not listed equivalent
    python mutation/fresh.py _engine.py NAME [NAME ...]  # these mutants only
    python mutation/fresh.py _machine.py --workers 2

This is the README's check by hand, for many mutants: each one runs in a new interpreter with
``MUTANT_UNDER_TEST`` set, so code that runs at import (the shipped machines are compiled then)
runs mutated. The tests are the module's selection in ``modules.toml``, the quick files first
(``--first``, a mutant failing them is killed at once); a mutant that passes them runs the
whole selection, and only a mutant that passes all of it survives. It works in the scratch copy
of the module's last ``run.py`` run (``mutation/.work/<module>/mutants``) and records each
verdict there as mutmut does (exit code 1: killed, 0: survived), so ``run.py --report-only``
counts it. ``--assume-equivalent`` records the mutants listed in ``equivalent.md`` as survivors
without running them (each would run every test): the raw score can only come out lower.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PACKAGE, WORK, _equivalents, _modules, _slug

# A mutant whose tests run past this many seconds counts as a timeout (caught), as in mutmut.
TIMEOUT = 600.0


def _pytest(mutants: Path, name: str, tests: list[str]) -> int:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(MUTANT_UNDER_TEST=name, HYPOTHESIS_PROFILE="ci", PYTHONPATH="src")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        done = subprocess.run(
            cmd, cwd=mutants, env=env, capture_output=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return -24  # mutmut's code for a mutant stopped for taking too long
    return 0 if done.returncode == 0 else 1


def _verdict(mutants: Path, name: str, first: list[str], tests: list[str]) -> int:
    if first and _pytest(mutants, name, first) != 0:
        return 1
    return _pytest(mutants, name, tests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("module", help="a module as in modules.toml")
    parser.add_argument("names", nargs="*", help="mutant names (default: see above)")
    parser.add_argument("--workers", type=int, default=1, help="mutants checked at once")
    parser.add_argument(
        "--mutants", type=Path, default=None, help="another mutmut folder (default: the last run's)"
    )
    parser.add_argument(
        "--first",
        action="append",
        default=None,
        help="a quick test file to run first (repeatable; default: the selection's first two)",
    )
    parser.add_argument(
        "--assume-equivalent",
        action="store_true",
        help="record the mutants listed in equivalent.md as survivors without running them",
    )
    args = parser.parse_intermixed_args()
    modules = _modules()
    if args.module not in modules:
        parser.error(f"not in mutation/modules.toml: {args.module}")
    mutants = args.mutants or WORK / _slug(args.module) / "mutants"
    meta_path = mutants / PACKAGE / f"{args.module}.meta"
    if not meta_path.exists():
        parser.error(f"{args.module} has no run to check: run mutation/run.py {args.module}")
    meta = json.loads(meta_path.read_text("utf-8"))
    codes: dict[str, int | None] = meta["exit_code_by_key"]
    equivalent = _equivalents()
    names = args.names or [
        k for k, v in codes.items() if v is None or (v in (0, 33) and k not in equivalent)
    ]
    if args.assume_equivalent:
        # Counted as surviving, which is what equivalent.md says of them: the raw score can
        # only come out lower for it, and the score without the equivalents is the same.
        for n in [n for n in names if n in equivalent]:
            codes[n] = 0
        names = [n for n in names if n not in equivalent]
        meta_path.write_text(json.dumps(meta), "utf-8")
    unknown = [n for n in names if n not in codes]
    if unknown:
        parser.error(f"not mutants of {args.module}: {', '.join(unknown)}")
    tests = [t for t in modules[args.module] if t.endswith(".py")]
    options = [t for t in modules[args.module] if not t.endswith(".py")]
    first = args.first if args.first is not None else tests[:2]
    began = time.monotonic()
    done = 0

    def check(name: str) -> tuple[str, int]:
        return name, _verdict(mutants, name, [*options, *first], [*options, *tests])

    with ThreadPoolExecutor(args.workers) as pool:
        for name, code in pool.map(check, names):
            codes[name] = code
            done += 1
            meta_path.write_text(json.dumps(meta), "utf-8")  # each verdict kept as it comes
            word = {0: "survived", 1: "killed"}.get(code, "timeout")
            took = time.monotonic() - began
            print(f"[{done}/{len(names)} {took:5.0f} s] {word}: {name}", flush=True)
    left = sorted(n for n in names if codes[n] == 0)
    print(f"{len(names)} checked, {len(left)} survived", flush=True)
    for name in left:
        print(f"survived: {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
