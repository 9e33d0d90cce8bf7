"""Hostile values of every type, as hypothesis strategies.

What real callers send when they are careless or malicious: lone surrogates (``json.loads``
hands them out for ``"\\udcff"``), NUL, ints beyond the 4,300-digit conversion limit, lists and
dicts nested far past the recursion limit, NaN and infinities, the ends of ``datetime``, naive
datetimes, bytes, ``None``, the wrong record for a machine, str subclasses that behave oddly,
very long strings, and mappings whose keys are not strings.

Values that cannot be printed cheaply (a 5,000-digit int, a 100,000-deep list, a 100,000
character string) are drawn as ``Danger`` markers and turned into the real thing by ``real``
inside the test: hypothesis prints every example it reports, and printing those would raise or
take minutes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from hypothesis import strategies as st

from agentfsm import Actor, Context, Event, Snapshot
from agentfsm.models import AlfeAgent, RecifAgent

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)


class LoudStr(str):
    """A str whose ``str()`` is something else."""

    __slots__ = ()

    def __str__(self) -> str:
        return self.upper() + "!"


class SameStr(str):
    """A str equal to every other value (its hash is a plain str's)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


class OddMapping(Mapping[Any, Any]):
    """A read-only mapping that is not a dict."""

    def __init__(self, items: dict[Any, Any]) -> None:
        self._items = items

    def __getitem__(self, key: Any) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class Danger:
    """A marker for a value too big to print; ``real`` builds it."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Danger({self.name!r})"


def deep_list(depth: int) -> list[Any]:
    """``[[[...]]]`` nested ``depth`` times, built without recursion."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def deep_dict(depth: int) -> dict[str, Any]:
    """``{"a": {"a": ...}}`` nested ``depth`` times."""
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


HUGE_INT = 10**5000  # past sys.int_info.str_digits_check_threshold's default limit (4,300)

_DANGERS: dict[str, Any] = {
    "huge_int": lambda: HUGE_INT,
    "negative_huge_int": lambda: -HUGE_INT,
    "deep_list_2000": lambda: deep_list(2_000),
    "deep_list_100000": lambda: deep_list(100_000),
    "deep_dict_2000": lambda: deep_dict(2_000),
    "deep_dict_100000": lambda: deep_dict(100_000),
    "long_text": lambda: "x" * 100_000,
    "long_accented_text": lambda: "é" * 5_000,
    "huge_int_mapping": lambda: OddMapping({"reason": HUGE_INT}),
}


def real(value: Any) -> Any:
    """``value`` with every ``Danger`` marker (also inside lists, tuples and dicts) built."""
    if isinstance(value, Danger):
        return _DANGERS[value.name]()
    if type(value) is list:
        return [real(v) for v in value]
    if type(value) is tuple:
        return tuple(real(v) for v in value)
    if type(value) is dict:
        return {real(k): real(v) for k, v in value.items()}
    return value


def dangers() -> st.SearchStrategy[Danger]:
    return st.sampled_from(sorted(_DANGERS)).map(Danger)


FAR_OFFSET = timezone(timedelta(hours=23, minutes=59))

SURROGATES = ("\udcff", "\ud800", "a\udfffb", "\ud83d")
SPECIAL_TEXT = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\n",
    "x:1\n\nAgent: victim\nRelease: 1\nIdempotency-Key: v-2\n---",
    "'; DROP TABLE agents; --",
    "@type",
    '{"@type": "AlfeAgent"}',
    "../../etc/passwd",
    "\u202e\u0301",
    "💥" * 3,
    *SURROGATES,
)

_naive = (datetime.min, datetime.max, datetime(2026, 4, 3, 10, 0))
_aware_ends = (
    datetime.min.replace(tzinfo=UTC),
    datetime.max.replace(tzinfo=UTC),
    datetime.min.replace(tzinfo=FAR_OFFSET),
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-23, minutes=-59))),
)


def text() -> st.SearchStrategy[Any]:
    """Strings: the special ones, str subclasses, and random text with surrogates allowed."""
    anything_goes = st.characters(codec=None, exclude_categories=())
    return st.one_of(
        st.sampled_from(SPECIAL_TEXT),
        st.sampled_from(("long_text", "long_accented_text")).map(Danger),
        st.text(anything_goes, max_size=40),
        st.builds(LoudStr, st.sampled_from(("start", "x", "\udcff"))),
        st.builds(SameStr, st.sampled_from(("start", "running", "small"))),
    )


def ints() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from((0, -1, 1, 2**31, 2**63, -(2**63) - 1, 2**64)),
        st.sampled_from(("huge_int", "negative_huge_int")).map(Danger),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.booleans(),
    )


def floats() -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from((math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324, 1e20)),
        st.floats(allow_nan=True, allow_infinity=True),
    )


def datetimes() -> st.SearchStrategy[datetime]:
    """Naive datetimes, the aware ends of the range, odd offsets, and ordinary aware times."""
    return st.one_of(
        st.sampled_from(_naive + _aware_ends),
        st.datetimes(timezones=st.just(UTC)),
        st.datetimes(timezones=st.sampled_from((FAR_OFFSET, timezone(-timedelta(hours=12))))),
        st.datetimes(),
    )


def nested() -> st.SearchStrategy[Any]:
    return st.sampled_from(
        ("deep_list_2000", "deep_list_100000", "deep_dict_2000", "deep_dict_100000")
    ).map(Danger)


def odd_mappings() -> st.SearchStrategy[Any]:
    """Mappings with keys that are not strings, and mappings that are not dicts."""
    return st.just(Danger("huge_int_mapping")) | st.sampled_from(
        (
            {1: "x"},
            {None: None},
            {("a", "b"): 1},
            {b"k": "v"},
            {"ok": 1, 2: "two"},
            {"@type": "AlfeAgent", "agent_id": "a"},
            {"@map": 1},
            MappingProxyType({"confirmation": "\udcff"}),
            OddMapping({3.5: "float key"}),
        )
    )


def records() -> st.SearchStrategy[Any]:
    """Records of the shipped models and things that are not records at all."""
    return st.sampled_from(
        (
            AlfeAgent("a-1", "Agent"),
            RecifAgent("support-agent"),
            {"agent_id": "a-1", "name": "Agent"},
            None,
            object(),
            Snapshot("pending", 0, T0, None),
            "AlfeAgent",
        )
    )


def scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        text(),
        ints(),
        floats(),
        datetimes(),
        st.binary(max_size=20),
        st.sampled_from(
            (
                b"\xff\xfe",
                bytearray(b"\x00"),
                memoryview(b"abc"),
                Decimal("NaN"),
                Decimal("1e5000"),
                Fraction(1, 3),
                complex(1, 2),
                date(2026, 4, 3),
                timedelta.max,
                timedelta(-1),
                {1, 2},
                frozenset(),
                object(),
                Actor.USER,
                Ellipsis,
                NotImplemented,
                int,
                len,
            )
        ),
    )


def anything() -> st.SearchStrategy[Any]:
    """Any hostile value: scalars, odd mappings, records, deep nesting, small containers."""
    leaves = st.one_of(scalars(), odd_mappings(), records(), nested())
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.tuples(inner, inner),
            st.dictionaries(text(), inner, max_size=3),
        ),
        max_leaves=6,
    )


PAYLOAD_KEYS = (
    "confirmation",
    "size",
    "reason",
    "standing",
    "image",
    "replicas",
    "ready_replicas",
    "endpoint",
    "message",
    "config",
    "x",
)


def payloads() -> st.SearchStrategy[Any]:
    """Event payloads: mostly mappings with string keys (so ``Event`` accepts them)."""
    return st.one_of(
        st.dictionaries(
            st.sampled_from(PAYLOAD_KEYS),
            anything(),
            max_size=3,
        ),
        odd_mappings(),
        anything(),
    )


def actors() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(list(Actor)), st.sampled_from(("U", "S", "T", "user")), anything()
    )


def events(names: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[tuple[Any, ...]]:
    """Recipes ``(name, actor, payload, id)`` for ``event``: hostile names, payloads and ids."""
    name = names if names is not None else st.one_of(text(), st.sampled_from(EVENT_NAMES))
    return st.tuples(
        name,
        st.sampled_from(list(Actor)),
        payloads(),
        st.one_of(st.none(), text(), anything()),
    )


def event(recipe: tuple[Any, ...]) -> Event:
    """The ``Event`` of a recipe, or, when ``Event`` refuses its values, the closest valid one."""
    name, actor, payload, ident = (real(v) for v in recipe)
    try:
        return Event(name, actor, payload, ident)
    except Exception:
        pass
    try:
        return Event(name, actor, None, ident)
    except Exception:
        return Event("start", actor, None, None)


def contexts() -> st.SearchStrategy[Context]:
    """Contexts at the aware ends of time and at ordinary times."""
    return st.one_of(
        st.sampled_from(_aware_ends).map(Context),
        st.datetimes(timezones=st.just(UTC)).map(Context),
        st.just(Context(T0)),
    )


EVENT_NAMES = (
    "start",
    "stop",
    "restart",
    "recreate",
    "delete",
    "host_up",
    "connected",
    "billing_suspend",
    "billing_resume",
    "purge",
    "deploy",
    "update_config",
    "scale",
    "start_canary",
    "pods_ready",
    "pods_unhealthy",
)
