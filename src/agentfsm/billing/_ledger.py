"""The billing adapter's role, as a Protocol, and the account standing it reports.

A ledger keeps one credit pool: top-ups add to it, metered usage takes from it, one agent-hour
at a time. Beside the pool it keeps the subscription state and open payment issues. Standing is
good when none of the three reasons of the Alfe model holds; otherwise it names one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from agentfsm.billing._money import PriceTable

PAYMENT_ISSUE = "payment_issue"
"""Standing reason: a payment failed and is not settled."""
SUBSCRIPTION_LAPSED = "subscription_lapsed"
"""Standing reason: the subscription is not active."""
CREDITS_EXHAUSTED = "credits_exhausted"
"""Standing reason: the credit pool is spent."""


@attrs.frozen
class Standing:
    """The account's billing standing.

    Attributes:
        reason: ``None`` when standing is good; otherwise ``payment_issue``,
            ``subscription_lapsed`` or ``credits_exhausted`` (when several hold, the first of
            these, the one a person must act on first).
        balance: the credit pool's balance in minor units (may be negative: usage that already
            happened is recorded even when the pool could not cover it).
    """

    reason: str | None
    balance: int

    @property
    def good(self) -> bool:
        """True when nothing stands in the way of running agents."""
        return self.reason is None


def standing_of(balance: int, subscription_active: bool, open_issues: int) -> Standing:
    """The standing that follows from the ledger's facts (the rule both ledgers share)."""
    if open_issues:
        return Standing(PAYMENT_ISSUE, balance)
    if not subscription_active:
        return Standing(SUBSCRIPTION_LAPSED, balance)
    if balance <= 0:
        return Standing(CREDITS_EXHAUSTED, balance)
    return Standing(None, balance)


@runtime_checkable
class BillingAdapter(Protocol):
    """A credit-pool ledger with the subscription state and payment issues.

    Money is an ``int`` of minor units throughout. Writes are idempotent by their ids: a top-up
    id counts once, an agent-hour is charged once, a payment issue id is opened once.
    """

    @property
    def prices(self) -> PriceTable:
        """The hourly price of each agent size."""
        ...

    def top_up(self, top_up_id: str, amount: int, at: datetime) -> bool:
        """Add ``amount`` to the pool; True if it counted now, False if the id already had."""
        ...

    def record_usage(self, agent_id: str, size: str, at: datetime) -> int:
        """Charge one hour of ``size`` for the agent's hour containing ``at``; the amount
        charged now (0 when that agent-hour was already charged)."""
        ...

    def set_subscription(self, active: bool, at: datetime) -> None:
        """Record whether the subscription is active (paid up) or lapsed."""
        ...

    def report_payment_issue(self, issue_id: str, at: datetime, detail: str = "") -> bool:
        """Open a payment issue (a failed charge…); False if ``issue_id`` was already known."""
        ...

    def resolve_payment_issue(self, issue_id: str, at: datetime) -> bool:
        """Close a payment issue; False if it was not open."""
        ...

    def balance(self) -> int:
        """Top-ups minus usage, in minor units, exactly."""
        ...

    def standing(self) -> Standing:
        """The account's standing now."""
        ...
