"""``InMemoryLedger``: the billing adapter in a few dicts, for tests, simulations and embedders
who keep the account elsewhere. Thread-safe; forgets everything when the process ends."""

from __future__ import annotations

import threading
from datetime import datetime

from agentfsm.billing._errors import TopUpConflict
from agentfsm.billing._ledger import Standing, standing_of
from agentfsm.billing._money import PriceTable, check_amount, check_text, check_time, hour_of


class InMemoryLedger:
    """A credit pool, a subscription and payment issues, held in memory.

    Args:
        prices: the hourly price of each agent size.
        subscription_active: whether the subscription starts active.
    """

    def __init__(self, prices: PriceTable, *, subscription_active: bool = True) -> None:
        self._prices = prices
        self._top_ups: dict[str, int] = {}
        self._usage: dict[tuple[str, datetime], int] = {}
        self._subscription_active = bool(subscription_active)
        self._issues: dict[str, datetime | None] = {}  # id -> resolved at (None: open)
        self._lock = threading.Lock()

    @property
    def prices(self) -> PriceTable:
        """The hourly price of each agent size."""
        return self._prices

    def top_up(self, top_up_id: str, amount: int, at: datetime) -> bool:
        """Add ``amount`` minor units to the pool, once per ``top_up_id``.

        Returns:
            True when it counted now; False when this id had already counted.

        Raises:
            InvalidAmount: ``amount`` is not an int greater than 0.
            TopUpConflict: the id already counted with another amount.
        """
        check_text(top_up_id, "a top-up id")
        check_amount(amount, "a top-up")
        check_time(at, "the top-up time")
        with self._lock:
            known = self._top_ups.get(top_up_id)
            if known is not None:
                if known != amount:
                    raise TopUpConflict(
                        f"the top-up {top_up_id!r} already counted {known}, not {amount}; "
                        "a new top-up needs a new id"
                    )
                return False
            self._top_ups[top_up_id] = amount
            return True

    def record_usage(self, agent_id: str, size: str, at: datetime) -> int:
        """Charge the hour of ``size`` containing ``at`` to the pool, once per agent-hour.

        Returns:
            The amount charged now; 0 when this agent-hour was already charged.

        Raises:
            UnknownSize: no price for ``size``.
        """
        check_text(agent_id, "an agent id")
        price = self._prices.price(size)
        hour = hour_of(at)
        with self._lock:
            if (agent_id, hour) in self._usage:
                return 0
            self._usage[(agent_id, hour)] = price
            return price

    def set_subscription(self, active: bool, at: datetime) -> None:
        """Record whether the subscription is active."""
        check_time(at, "the subscription change time")
        with self._lock:
            self._subscription_active = bool(active)

    def report_payment_issue(self, issue_id: str, at: datetime, detail: str = "") -> bool:
        """Open a payment issue; False when this id is already known (open or resolved).

        Raises:
            InvalidInput: a bad id or time, or a ``detail`` that is not a string of at most
                2,000 characters.
        """
        check_text(issue_id, "a payment issue id")
        check_text(detail, "a payment issue's detail", limit=2000, empty=True)
        check_time(at, "the payment issue time")
        with self._lock:
            if issue_id in self._issues:
                return False
            self._issues[issue_id] = None
            return True

    def resolve_payment_issue(self, issue_id: str, at: datetime) -> bool:
        """Close a payment issue; False when it was not open."""
        check_text(issue_id, "a payment issue id")
        when = check_time(at, "the resolution time")
        with self._lock:
            if self._issues.get(issue_id, when) is not None:
                return False
            self._issues[issue_id] = when
            return True

    def balance(self) -> int:
        """Top-ups minus usage, in minor units."""
        with self._lock:
            return sum(self._top_ups.values()) - sum(self._usage.values())

    def standing(self) -> Standing:
        """The account's standing now."""
        with self._lock:
            balance = sum(self._top_ups.values()) - sum(self._usage.values())
            open_issues = sum(1 for resolved in self._issues.values() if resolved is None)
            return standing_of(balance, self._subscription_active, open_issues)
