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

MAX_AMOUNT = 10**12
"""The largest single amount, in minor units (ten billion of a currency with cents). A bound
keeps every sum a ledger computes inside SQLite's 64-bit integers, so the balance is exact."""


def shown(value: object) -> str:
    """``repr(value)`` for an error message, short, and safe for values that have no cheap repr
    (a 5,000-digit int, a list nested 100,000 deep)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= 80 else f"{text[:77]}..."


def check_amount(value: object, what: str, *, positive: bool = True) -> int:
    """``value`` when it is a whole number of minor units (> 0, or >= 0 if not ``positive``),
    at most ``MAX_AMOUNT``.

    Raises:
        InvalidAmount: a float, a ``Decimal``, a bool, a string, the wrong sign, or too large.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(
            f"{what} must be a whole number of minor units (cents) as an int, not "
            f"{type(value).__name__} {shown(value)}; money is never a float"
        )
    if value < 0 or (positive and value == 0):
        sign = "greater than 0" if positive else "0 or more"
        raise InvalidAmount(f"{what} must be {sign}, not {shown(value)}")
    if value > MAX_AMOUNT:
        raise InvalidAmount(f"{what} must be at most {MAX_AMOUNT} minor units, not {shown(value)}")
    return value


def check_time(value: object, what: str) -> datetime:
    """``value`` in UTC when it is a timezone-aware datetime that UTC can represent.

    Raises:
        InvalidInput: not a datetime, a naive one, or one whose UTC time is out of range
            (``datetime.min`` at a positive offset).
    """
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(f"{what} must be a timezone-aware datetime, not {shown(value)}")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{what} {value.isoformat()} has no UTC time in range") from None


def hour_of(value: datetime) -> datetime:
    """The start of the UTC hour ``value`` falls in: the unit usage is metered by."""
    return check_time(value, "the usage time").replace(minute=0, second=0, microsecond=0)


def check_text(value: object, what: str, *, limit: int = 200, empty: bool = False) -> str:
    """``value`` when it is a string of at most ``limit`` characters that UTF-8 can encode
    (no lone surrogates), and not blank unless ``empty``.

    Raises:
        InvalidInput: any other value.
    """
    if (
        not isinstance(value, str)
        or (not empty and not value.strip())
        or len(value) > limit
        or not _encodable(value)
    ):
        blank = "" if empty else "non-empty "
        raise InvalidInput(
            f"{what} must be a {blank}string of at most {limit} characters, without lone surrogates"
        )
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _prices(value: object) -> Mapping[str, int]:
    if not isinstance(value, Mapping) or not value:
        raise InvalidInput(
            "a price table needs a mapping of size -> hourly price, e.g. {'small': 5}"
        )
    checked = {
        check_text(size, "a size"): check_amount(
            price, f"the hourly price of {shown(size)}", positive=False
        )
        for size, price in value.items()
    }
    return MappingProxyType(checked)


def _currency(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha() or not value.isupper():
        raise InvalidInput(f"currency must be an ISO 4217 code such as 'EUR', not {shown(value)}")


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
                f"no price for the agent size {shown(size)}; the price table has {known}"
            ) from None
