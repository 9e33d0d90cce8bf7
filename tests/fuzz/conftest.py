"""Fixtures and hooks of the fuzz suite: the throwaway PostgreSQL server, and the counting mode.

With ``AGENTFSM_FUZZ_REPORT=path`` set, probes tally problems instead of failing at the first
one; each test then fails at its end if it found any, and the session writes the JSON summary
to ``path`` (see ``README.md``).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator

import pytest

from agentfsm.runtime import ThrowawayPostgres
from agentfsm.runtime._pgserver import INSTALL_HINT, find_pg_bin

from ._tally import REPORT_ENV, TALLY, counting


@pytest.fixture(scope="session")
def fuzz_pg() -> Iterator[ThrowawayPostgres]:
    """One PostgreSQL server for the fuzz tests; in CI its absence is a failure."""
    if find_pg_bin() is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    server = ThrowawayPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, None, None]:
    """In counting mode, fail a test at its end when it tallied any problem."""
    TALLY.current_test = pyfuncitem.nodeid
    before = TALLY.by_test[pyfuncitem.nodeid]
    outcome = yield
    found = TALLY.by_test[pyfuncitem.nodeid] - before
    if counting() and found and outcome.excinfo is None:
        outcome.force_exception(
            AssertionError(f"{found} hostile inputs escaped or changed state (see the report)")
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the tally when counting mode asked for it."""
    path = os.environ.get(REPORT_ENV)
    if path and TALLY.tried:
        TALLY.write(path)
