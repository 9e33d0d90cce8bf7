"""The filters of ``Store.agents``, checked once for every store.

A page of agents is read by id: ``after`` the last id of the previous page, at most ``limit``.
``machine``, ``status`` and ``prefix`` narrow it. A filter value no row could be stored under
(a lone surrogate; U+0000 on PostgreSQL) matches nothing, as a lookup by such a key finds
nothing; ``after`` is a position, not a key, so each store places it where it falls.
"""

from __future__ import annotations

from typing import NamedTuple

from agentfsm._errors import InvalidInput
from agentfsm._words import quote
from agentfsm.runtime._arguments import check_count, check_filter
from agentfsm.runtime._storable import storable_key

_SURROGATES = range(0xD800, 0xE000)


class AgentFilters(NamedTuple):
    """``Store.agents``'s arguments, checked."""

    machine: str | None
    status: str | None
    prefix: str | None
    after: str | None
    limit: int | None


def agent_filters(
    machine: object, status: object, prefix: object, after: object, limit: object
) -> AgentFilters | None:
    """The checked filters, or ``None`` when no stored agent can match them.

    Raises:
        InvalidInput: a filter is neither a string nor ``None``, ``after`` has no UTF-8 form
            (a lone surrogate), or ``limit`` is not a count.
    """
    check_filter("machine", machine)
    check_filter("status", status)
    check_filter("prefix", prefix)
    check_filter("after", after)
    check_count("limit", limit, optional=True)
    if after is not None and not storable_key(after):
        raise InvalidInput(f"after must be a string with a UTF-8 form, not {quote(after)}")
    if any(v is not None and not storable_key(v) for v in (machine, status, prefix)):
        return None
    return AgentFilters(machine, status, prefix, after, limit)  # type: ignore[arg-type]


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix``, in code point order
    (which is UTF-8's byte order, SQLite's ``BINARY``); ``None`` when there is none.

    ``id >= prefix AND id < prefix_end(prefix)`` is then exactly "starts with ``prefix``", and
    reads one stretch of the primary key.
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop()) + 1
        if last in _SURROGATES:
            last = _SURROGATES.stop  # no stored text holds a surrogate
        if last <= 0x10FFFF:
            return "".join(chars) + chr(last)
    return None
