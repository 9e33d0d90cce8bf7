"""Billing: a credit-pool ledger and the monitor that suspends and resumes agents from it.

Money is an ``int`` of minor units (cents), never a float. ``InMemoryLedger`` and
``SQLiteLedger`` implement the ``BillingAdapter`` Protocol; ``BillingMonitor`` meters billable
agent-hours into a ledger and turns its standing into ``billing_suspend`` / ``billing_resume``
events for the Alfe machine. Needs nothing beyond the standard library and attrs.
"""

from agentfsm.billing._errors import BillingError, InvalidAmount, TopUpConflict, UnknownSize
from agentfsm.billing._ledger import (
    CREDITS_EXHAUSTED,
    PAYMENT_ISSUE,
    SUBSCRIPTION_LAPSED,
    BillingAdapter,
    Standing,
)
from agentfsm.billing._memory import InMemoryLedger
from agentfsm.billing._money import PriceTable
from agentfsm.billing._monitor import BILLABLE_STATUSES, BillingEvent, BillingMonitor, ManagedAgent
from agentfsm.billing._sqlite import SQLiteLedger

__all__ = [
    "BILLABLE_STATUSES",
    "CREDITS_EXHAUSTED",
    "PAYMENT_ISSUE",
    "SUBSCRIPTION_LAPSED",
    "BillingAdapter",
    "BillingError",
    "BillingEvent",
    "BillingMonitor",
    "InMemoryLedger",
    "InvalidAmount",
    "ManagedAgent",
    "PriceTable",
    "SQLiteLedger",
    "Standing",
    "TopUpConflict",
    "UnknownSize",
]
