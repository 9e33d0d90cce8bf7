"""Slugs: the DNS-1123 labels that name Recif agents, checked before they can reach a path."""

from __future__ import annotations

import re

from agentfsm._errors import InvalidInput

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
MAX_SLUG_LENGTH = 63


def slug_problem(value: object) -> str | None:
    """Why ``value`` is not a DNS-1123 label, or ``None`` when it is one."""
    if not isinstance(value, str):
        return f"a slug must be a string, not {type(value).__name__}"
    if not value:
        return "a slug must not be empty"
    if len(value) > MAX_SLUG_LENGTH:
        return f"the slug {value[:20]!r}... is {len(value)} characters long; at most 63 are allowed"
    if _LABEL.fullmatch(value) is None:
        return (
            f"the slug {value!r} is not a DNS-1123 label: use lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit"
        )
    return None


def check_slug(value: object) -> str:
    """Return ``value`` when it is a DNS-1123 label.

    Raises:
        InvalidInput: it is not one; the message says why.
    """
    problem = slug_problem(value)
    if problem is not None:
        raise InvalidInput(problem)
    assert isinstance(value, str)
    return value
