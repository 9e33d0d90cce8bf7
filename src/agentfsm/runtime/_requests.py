"""When two requests under one idempotency key are the same request.

A key names one request: the same event, from the same sender, with the same payload. The
sender is part of the key's scope; the event and payload are compared here, against the row
the store gave back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def same_request(
    name: str, payload: Mapping[str, Any], event_name: str, event_payload: Any
) -> bool:
    """Whether a recorded event (``name``, ``payload``) and a new one are the same request."""
    return name == event_name and same_value(payload, event_payload)


def same_value(a: object, b: object) -> bool:
    """Whether two payload values are the same request, however the store gave them back.

    Stores read arrays back as tuples and may give numbers back as another numeric type
    (PostgreSQL's ``jsonb``), so sequences compare by items and numbers by value; a boolean
    is never the same as a number.
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping | list | tuple) or isinstance(b, Mapping | list | tuple):
        return False
    return bool(a == b)
