"""Helpers shared by the billing tests."""

from __future__ import annotations

from datetime import UTC, datetime

from agentfsm.billing import PriceTable

PRICES = PriceTable({"small": 5, "medium": 12, "large": 40})
T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
