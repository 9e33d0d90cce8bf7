"""Fixtures shared by every test module."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from hypothesis import settings

from agentfsm import Context

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE (see tests/README.md). Tests that pass their
# own settings keep every field they do not name from the loaded profile.
settings.register_profile(
    # .ci/run: the same examples on every run (a red build replays), no example database to
    # carry between runs, and a failure prints the blob that reproduces it.
    "ci",
    max_examples=50,
    derandomize=True,
    database=None,
    print_blob=True,
    deadline=None,
)
settings.register_profile(
    # On demand: random and long. Tests that name max_examples get THOROUGH_FACTOR times theirs.
    "thorough",
    max_examples=1000,
    derandomize=False,
    print_blob=True,
    deadline=None,
)
settings.register_profile(
    # Everyday local runs: random, with the example database so a failure found is tried first.
    "dev",
    max_examples=100,
    print_blob=True,
    deadline=None,
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
THOROUGH_FACTOR = 10
if PROFILE not in ("ci", "thorough", "dev"):
    raise pytest.UsageError(f"HYPOTHESIS_PROFILE={PROFILE!r}: use ci, thorough or dev")
settings.load_profile(PROFILE)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``thorough``, give every property test THOROUGH_FACTOR times its own examples."""
    if PROFILE != "thorough":
        return
    scaled: set[int] = set()
    for item in items:
        test = getattr(item, "obj", None)
        # Parametrized items share one function: scale it once.
        if getattr(test, "hypothesis", None) is None or id(test) in scaled:
            continue
        scaled.add(id(test))
        # @given reads its settings from this attribute each time the test runs.
        own = test._hypothesis_internal_use_settings  # type: ignore[union-attr]
        test._hypothesis_internal_use_settings = settings(  # type: ignore[union-attr]
            own, max_examples=own.max_examples * THOROUGH_FACTOR
        )


@pytest.fixture
def now() -> datetime:
    """A fixed, aware point in time."""
    return T0


@pytest.fixture
def ctx() -> Context:
    """A context at ``T0`` with the default policy."""
    return Context(T0)
