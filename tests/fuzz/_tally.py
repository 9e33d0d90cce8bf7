"""Counting what the fuzz suite tried, what escaped and what a refusal changed.

Every probe goes through ``attempt`` (one call of one entry point with one hostile input) and,
where state can move, ``unchanged``. By default a problem fails the test at once, so hypothesis
shrinks it to a small example. With ``AGENTFSM_FUZZ_REPORT=path`` set, problems are tallied
instead, each test fails at its end if it found any (see ``conftest.py``), and the session writes
a JSON summary to ``path``.
"""

from __future__ import annotations

import json
import os
import reprlib
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, settings

REPORT_ENV = "AGENTFSM_FUZZ_REPORT"
SCALE_ENV = "AGENTFSM_FUZZ_SCALE"

T = TypeVar("T")

_short = reprlib.Repr()
_short.maxstring = 80
_short.maxother = 80
_short.maxlevel = 3
_short.maxlist = _short.maxtuple = _short.maxdict = 4


def describe(value: object) -> str:
    """A short, always-printable description of a hostile value (repr can itself fail)."""
    try:
        text = _short.repr(value)
    except Exception as exc:  # a 100,000-deep list or a 5,000-digit int has no cheap repr
        text = f"<{type(value).__name__}: repr failed with {type(exc).__name__}>"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def counting() -> bool:
    """True when the session tallies problems instead of failing on the first one."""
    return bool(os.environ.get(REPORT_ENV))


def examples(base: int) -> int:
    """``base`` examples, times ``AGENTFSM_FUZZ_SCALE`` (default 1) for a longer run."""
    try:
        scale = float(os.environ.get(SCALE_ENV, "1"))
    except ValueError:
        scale = 1.0
    return max(1, int(base * scale))


def fuzz_settings(base: int, **overrides: Any) -> settings:
    """The suite's hypothesis settings: ``examples(base)`` examples, no deadline (the machine
    is shared), no explain phase (it re-runs failing examples many times)."""
    options: dict[str, Any] = {
        "max_examples": examples(base),
        "deadline": None,
        # One bug per test, shrunk: shrinking several at once is what makes a failing run slow.
        "report_multiple_bugs": False,
        "phases": (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        "suppress_health_check": [
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
        ],
    }
    options.update(overrides)
    return settings(**options)


class Escaped(AssertionError):
    """An entry point let out an exception its documentation does not promise."""


class Changed(AssertionError):
    """Refused input changed state (a store, a ledger, a repository or a file)."""


class Broken(AssertionError):
    """An entry point answered, but not as documented (a wrong record accepted…)."""


class Tally:
    """Counts per entry point, and a few examples of each problem for the report."""

    def __init__(self) -> None:
        self.tried: Counter[str] = Counter()
        self.unhandled: Counter[str] = Counter()
        self.changed: Counter[str] = Counter()
        self.contract: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.samples: dict[str, str] = {}
        self.current_test = ""
        self.by_test: Counter[str] = Counter()
        self._lock = threading.Lock()

    def note(self, problem: str, entry: str, kind: str, sample: str) -> None:
        with self._lock:
            {"unhandled": self.unhandled, "changed": self.changed, "contract": self.contract}[
                problem
            ][entry] += 1
            key = f"{problem}: {entry}: {kind}"
            self.kinds[key] += 1
            self.samples.setdefault(key, sample)
            self.by_test[self.current_test] += 1

    def summary(self) -> dict[str, Any]:
        entries = sorted(
            set(self.tried) | set(self.unhandled) | set(self.changed) | set(self.contract)
        )
        return {
            "inputs_tried": sum(self.tried.values()),
            "unhandled_exceptions": sum(self.unhandled.values()),
            "state_changes_from_refused_input": sum(self.changed.values()),
            "other_contract_violations": sum(self.contract.values()),
            "by_entry_point": {
                e: {
                    "tried": self.tried[e],
                    "unhandled": self.unhandled[e],
                    "state_changes": self.changed[e],
                    "contract_violations": self.contract[e],
                }
                for e in entries
            },
            "problems": [
                {"problem": key, "count": n, "example": self.samples[key]}
                for key, n in sorted(self.kinds.items())
            ],
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(self.summary(), indent=2, ensure_ascii=True) + "\n")


TALLY = Tally()


def attempt(
    entry: str,
    allowed: tuple[type[BaseException], ...],
    call: Callable[[], T],
    *inputs: object,
) -> T | BaseException:
    """Call one entry point with hostile input; return its result or the allowed exception.

    An exception outside ``allowed`` is an escape: it fails the test (or, when counting, is
    tallied and handed back like an allowed one so the run goes on).
    """
    return observe(entry, allowed, call, *inputs, count=True)


def observe(
    entry: str,
    allowed: tuple[type[BaseException], ...],
    call: Callable[[], T],
    *inputs: object,
    count: bool = False,
) -> T | BaseException:
    """Like ``attempt``, for a call that is not itself a hostile input (reading a store back
    to compare it): an escape is still one, but nothing is added to the inputs tried."""
    if count:
        TALLY.tried[entry] += 1
    try:
        return call()
    except allowed as exc:
        return exc
    except RecursionError as exc:  # never allowed, and never re-raised deep in the stack
        return _escaped(entry, exc, inputs)
    except Exception as exc:
        return _escaped(entry, exc, inputs)


def _escaped(entry: str, exc: BaseException, inputs: tuple[object, ...]) -> BaseException:
    message = str(exc).splitlines()[0][:160] if str(exc) else ""
    kind = type(exc).__name__
    sample = f"{kind}: {message} <- {', '.join(describe(i) for i in inputs)}"
    if counting():
        TALLY.note("unhandled", entry, kind, sample)
        return exc
    raise Escaped(f"{entry} let out {sample}") from exc


def unchanged(entry: str, before: object, after: object, *inputs: object) -> None:
    """Refused input must leave state as it was; ``before``/``after`` are comparable dumps."""
    if before == after:
        return
    sample = ", ".join(describe(i) for i in inputs)
    if counting():
        TALLY.note("changed", entry, "state changed", sample)
        return
    raise Changed(f"{entry} refused {sample} but the state changed")


def expect(entry: str, ok: bool, what: str, *inputs: object) -> None:
    """A documented contract that is not about exceptions (e.g. a wrong record is refused)."""
    if ok:
        return
    sample = f"{what} <- {', '.join(describe(i) for i in inputs)}"
    if counting():
        TALLY.note("contract", entry, what, sample)
        return
    raise Broken(f"{entry}: {sample}")
