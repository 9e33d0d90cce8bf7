"""The exceptions the billing ledgers raise, each one saying what to do about it."""

from __future__ import annotations

from agentfsm._errors import AgentFSMError, InvalidInput


class BillingError(AgentFSMError):
    """The base of every error the billing ledgers raise on purpose."""


class InvalidAmount(BillingError, InvalidInput):
    """An amount of money is not a whole number of minor units of the right sign."""


class UnknownSize(BillingError, InvalidInput):
    """Usage was metered for an agent size the price table has no price for."""


class TopUpConflict(BillingError):
    """A top-up id arrived again with a different amount: the same top-up cannot change."""
