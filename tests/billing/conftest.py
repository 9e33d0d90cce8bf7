"""Fixtures for the billing tests: a price table, and each ledger the contract runs against."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from billing_helpers import PRICES

from agentfsm.billing import BillingAdapter, InMemoryLedger, PriceTable, SQLiteLedger


@pytest.fixture
def prices() -> PriceTable:
    """Cents per hour for each size."""
    return PRICES


@pytest.fixture(params=["memory", "sqlite"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BillingAdapter]:
    """Each ledger in turn: the same contract holds for both."""
    if request.param == "memory":
        yield InMemoryLedger(PRICES)
    else:
        with SQLiteLedger(tmp_path / "billing.sqlite3", PRICES) as sqlite:
            yield sqlite
