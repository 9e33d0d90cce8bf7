"""Money as integer minor units (cents), never a float, and the hourly price of each agent size.

An amount is an ``int`` count of the currency's smallest unit; ``bool`` is refused although
Python counts it as an ``int``. A price table maps each agent size to what one hour of it costs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

import attrs

from agentfsm._errors import InvalidInput
from agentfsm.billing._errors import InvalidAmount, UnknownSize


def check_amount(value: object, what: str, *, positive: bool = True) -> int:
    """``value`` when it is a whole number of minor units (> 0, or >= 0 if not ``positive``).

    Raises:
        InvalidAmount: a float, a ``Decimal``, a bool, a string, or the wrong sign.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(
            f"{what} must be a whole number of minor units (cents) as an int, not "
            f"{type(value).__name__} {value!r}; money is never a float"
        )
    if value < 0 or (positive and value == 0):
        sign = "greater than 0" if positive else "0 or more"
        raise InvalidAmount(f"{what} must be {sign}, not {value}")
    return value


def check_time(value: object, what: str) -> datetime:
    """``value`` in UTC when it is a timezone-aware datetime.

    Raises:
        InvalidInput: not a datetime, or a naive one.
    """
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(f"{what} must be a timezone-aware datetime, not {value!r}")
    return value.astimezone(UTC)


def hour_of(value: datetime) -> datetime:
    """The start of the UTC hour ``value`` falls in: the unit usage is metered by."""
    return check_time(value, "the usage time").replace(minute=0, second=0, microsecond=0)


def check_text(value: object, what: str) -> str:
    """``value`` when it is a non-empty string of at most 200 characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise InvalidInput(f"{what} must be a non-empty string of at most 200 characters")
    return value


def _prices(value: object) -> Mapping[str, int]:
    if not isinstance(value, Mapping) or not value:
        raise InvalidInput(
            "a price table needs a mapping of size -> hourly price, e.g. {'small': 5}"
        )
    checked = {
        check_text(size, "a size"): check_amount(
            price, f"the hourly price of {size!r}", positive=False
        )
        for size, price in value.items()
    }
    return MappingProxyType(checked)


def _currency(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha() or not value.isupper():
        raise InvalidInput(f"currency must be an ISO 4217 code such as 'EUR', not {value!r}")


@attrs.frozen
class PriceTable:
    """What one hour of each agent size costs, in minor units of ``currency``.

    Attributes:
        hourly: ``size -> price per hour`` (ints, 0 allowed for a free size).
        currency: an ISO 4217 code; amounts are in its minor unit (cents for EUR).
    """

    hourly: Mapping[str, int] = attrs.field(converter=_prices)
    currency: str = attrs.field(default="EUR", validator=_currency)

    def price(self, size: str) -> int:
        """The hourly price of ``size``.

        Raises:
            UnknownSize: the table has no price for it; the message lists the sizes it has.
        """
        try:
            return self.hourly[size]
        except (KeyError, TypeError):
            known = ", ".join(sorted(self.hourly))
            raise UnknownSize(
                f"no price for the agent size {size!r}; the price table has {known}"
            ) from None
