"""The ledger contract, run against InMemoryLedger and SQLiteLedger."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from billing_helpers import PRICES, T0
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import InvalidInput
from agentfsm.billing import (
    BillingAdapter,
    InMemoryLedger,
    InvalidAmount,
    PriceTable,
    SQLiteLedger,
    Standing,
    TopUpConflict,
    UnknownSize,
)


def test_both_are_billing_adapters(ledger: BillingAdapter) -> None:
    assert isinstance(ledger, BillingAdapter)


def test_a_new_pool_is_empty_and_credits_are_exhausted(ledger: BillingAdapter) -> None:
    assert ledger.balance() == 0
    assert ledger.standing() == Standing("credits_exhausted", 0)


def test_top_ups_count_once_per_id(ledger: BillingAdapter) -> None:
    assert ledger.top_up("tu-1", 1000, T0) is True
    assert ledger.top_up("tu-1", 1000, T0 + timedelta(minutes=1)) is False
    assert ledger.top_up("tu-2", 250, T0) is True
    assert ledger.balance() == 1250
    assert ledger.standing().good


def test_a_top_up_id_cannot_change_its_amount(ledger: BillingAdapter) -> None:
    ledger.top_up("tu-1", 1000, T0)
    with pytest.raises(TopUpConflict, match="already counted 1000, not 999"):
        ledger.top_up("tu-1", 999, T0)
    assert ledger.balance() == 1000


@pytest.mark.parametrize("amount", [10.0, Decimal("10"), True, "10", 0, -5, None])
def test_money_is_a_positive_int_of_minor_units(ledger: BillingAdapter, amount: object) -> None:
    with pytest.raises(InvalidAmount):
        ledger.top_up("tu", amount, T0)  # type: ignore[arg-type]
    assert ledger.balance() == 0


def test_usage_is_charged_once_per_agent_hour_at_the_size_price(ledger: BillingAdapter) -> None:
    ledger.top_up("tu", 1000, T0)
    assert ledger.record_usage("ag-1", "medium", T0 + timedelta(minutes=5)) == 12
    assert ledger.record_usage("ag-1", "medium", T0 + timedelta(minutes=55)) == 0  # same hour
    assert ledger.record_usage("ag-1", "medium", T0 + timedelta(hours=1)) == 12
    assert ledger.record_usage("ag-2", "large", T0) == 40
    assert ledger.balance() == 1000 - 12 - 12 - 40


def test_usage_goes_on_below_zero_and_exhausts_the_credits(ledger: BillingAdapter) -> None:
    ledger.top_up("tu", 10, T0)
    ledger.record_usage("ag-1", "medium", T0)
    assert ledger.balance() == -2
    assert ledger.standing() == Standing("credits_exhausted", -2)
    ledger.top_up("tu-2", 2, T0)
    assert ledger.standing().reason == "credits_exhausted"  # exactly zero is not enough
    ledger.top_up("tu-3", 1, T0)
    assert ledger.standing().good


def test_an_unknown_size_is_a_clear_error(ledger: BillingAdapter) -> None:
    with pytest.raises(UnknownSize, match=r"'huge'.*has large, medium, small"):
        ledger.record_usage("ag-1", "huge", T0)


def test_a_lapsed_subscription_is_bad_standing_until_renewed(ledger: BillingAdapter) -> None:
    ledger.top_up("tu", 1000, T0)
    ledger.set_subscription(False, T0)
    assert ledger.standing().reason == "subscription_lapsed"
    ledger.set_subscription(True, T0 + timedelta(days=1))
    assert ledger.standing().good


def test_payment_issues_stay_bad_until_each_is_resolved(ledger: BillingAdapter) -> None:
    ledger.top_up("tu", 1000, T0)
    assert ledger.report_payment_issue("pi-1", T0, "card declined") is True
    assert ledger.report_payment_issue("pi-1", T0) is False
    assert ledger.report_payment_issue("pi-2", T0) is True
    ledger.set_subscription(False, T0)
    assert ledger.standing().reason == "payment_issue"  # reported first of several
    assert ledger.resolve_payment_issue("pi-1", T0) is True
    assert ledger.resolve_payment_issue("pi-1", T0) is False
    assert ledger.resolve_payment_issue("unknown", T0) is False
    assert ledger.standing().reason == "payment_issue"
    ledger.resolve_payment_issue("pi-2", T0)
    assert ledger.standing().reason == "subscription_lapsed"
    ledger.set_subscription(True, T0)
    assert ledger.standing().good


def test_a_naive_time_is_refused(ledger: BillingAdapter) -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        ledger.top_up("tu", 1, datetime(2026, 4, 3, 10, 0))
    with pytest.raises(InvalidInput, match="timezone-aware"):
        ledger.record_usage("ag", "small", datetime(2026, 4, 3, 10, 0))


def test_the_sqlite_ledger_keeps_everything_in_its_file(tmp_path: Path) -> None:
    path = tmp_path / "billing.sqlite3"
    with SQLiteLedger(path, PRICES) as first:
        first.top_up("tu-1", 500, T0)
        first.record_usage("ag-1", "small", T0)
        first.set_subscription(False, T0)
        first.report_payment_issue("pi", T0)
    with SQLiteLedger(path, PRICES, subscription_active=True) as again:
        assert again.balance() == 495
        assert again.top_up("tu-1", 500, T0) is False  # still remembered
        assert again.record_usage("ag-1", "small", T0) == 0
        assert again.standing() == Standing("payment_issue", 495)
        again.resolve_payment_issue("pi", T0)
        assert again.standing().reason == "subscription_lapsed"  # the file's state, not the arg


def test_two_sqlite_ledgers_on_one_file_count_a_duplicate_once(tmp_path: Path) -> None:
    path = tmp_path / "billing.sqlite3"
    with SQLiteLedger(path, PRICES) as a, SQLiteLedger(path, PRICES) as b:
        assert a.top_up("tu", 100, T0) is True
        assert b.top_up("tu", 100, T0) is False
        assert b.record_usage("ag", "small", T0) == 5
        assert a.record_usage("ag", "small", T0) == 0
        assert a.balance() == b.balance() == 95


@pytest.mark.parametrize(
    "table",
    [{}, {"small": 1.5}, {"small": -1}, {"": 1}, {"small": True}],
)
def test_a_bad_price_table_is_refused(table: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        PriceTable(table)  # type: ignore[arg-type]


def test_a_bad_currency_is_refused() -> None:
    with pytest.raises(InvalidInput, match="ISO 4217"):
        PriceTable({"small": 1}, currency="euro")


# -- properties ---------------------------------------------------------------------------

_ids = st.sampled_from([f"tu-{n}" for n in range(8)])
_agents = st.sampled_from(["ag-1", "ag-2", "ag-3"])
_sizes = st.sampled_from(sorted(PRICES.hourly))
_hours = st.integers(0, 30)
_amounts = {f"tu-{n}": 100 * (n + 1) + n for n in range(8)}  # one amount per id
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("top_up"), _ids),
        st.tuples(st.just("usage"), st.tuples(_agents, _sizes, _hours)),
    ),
    max_size=40,
)


def _ledgers(tmp: Path) -> list[BillingAdapter]:
    return [InMemoryLedger(PRICES), SQLiteLedger(tmp / "p.sqlite3", PRICES)]


@settings(max_examples=40, deadline=None)
@given(ops=_ops)
def test_balance_is_top_ups_minus_usage_exactly(ops: list[tuple[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for ledger in _ledgers(Path(tmp)):
            counted_top_ups: dict[str, int] = {}
            charged: dict[tuple[str, int], int] = {}
            for kind, arg in ops:
                if kind == "top_up":
                    assert isinstance(arg, str)
                    fresh = ledger.top_up(arg, _amounts[arg], T0)
                    assert fresh == (arg not in counted_top_ups)  # a duplicate counts once
                    counted_top_ups[arg] = _amounts[arg]
                else:
                    agent, size, hour = arg  # type: ignore[misc]
                    got = ledger.record_usage(agent, size, T0 + timedelta(hours=hour))
                    expected = 0 if (agent, hour) in charged else PRICES.price(size)
                    assert got == expected
                    charged.setdefault((agent, hour), PRICES.price(size))
            balance = ledger.balance()
            assert isinstance(balance, int)
            assert balance == sum(counted_top_ups.values()) - sum(charged.values())
            assert ledger.standing().good == (balance > 0)
            if isinstance(ledger, SQLiteLedger):
                ledger.close()
