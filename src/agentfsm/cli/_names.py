"""Closest-name hints for the command line: ``did you mean Running?``.

A name the user typed (a model, a status, an event, a command, a format) is compared with the
names that exist, case aside; the closest ones are suggested. Case counts for the answer: a
typed ``running`` is suggested ``Running`` when that is how the model spells it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(typed: str, names: Iterable[str], *, limit: int = 1) -> list[str]:
    """The names nearest to ``typed``, nearest first (at most ``limit``; none when none is near).

    A name spelled as ``typed`` comes first, then one equal to it but for case.
    """
    choices = list(dict.fromkeys(names))
    if typed in choices:
        return [typed][:limit]
    by_folded: dict[str, str] = {}
    for name in choices:
        by_folded.setdefault(name.casefold(), name)
    folded = typed.casefold()
    exact = [by_folded[folded]] if folded in by_folded else []
    near = difflib.get_close_matches(folded, list(by_folded), n=limit + 1, cutoff=0.6)
    found = exact + [by_folded[n] for n in near if by_folded[n] not in exact]
    return found[:limit]


def did_you_mean(typed: str, names: Iterable[str]) -> str:
    """``" (did you mean Running?)"`` for the closest name, or ``""`` when none is close."""
    found = closest(typed, names)
    return f" (did you mean {found[0]}?)" if found else ""
