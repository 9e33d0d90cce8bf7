"""Fixtures shared by every test module."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agentfsm import Context

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    """A fixed, aware point in time."""
    return T0


@pytest.fixture
def ctx() -> Context:
    """A context at ``T0`` with the default policy."""
    return Context(T0)
