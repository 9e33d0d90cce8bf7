"""What ``Machine`` builds and promises, pinned one behaviour at a time: merged implementations,
new agents' snapshots, the payload field kinds word for word, refusal sentences, policy
variants and the tables compiled for each row.

The small machine here (a kettle) declares a field of every kind, so each kind's check and
sentence can be seen on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from agentfsm import (
    Actor,
    Context,
    Event,
    EventSpec,
    FieldSpec,
    Implementations,
    InvalidInput,
    Machine,
    MachineSpec,
    Refusal,
    Snapshot,
    StateSpec,
    Step,
    TransitionSpec,
    decide,
)

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
CTX = Context(T0)


@attrs.frozen
class Kettle:
    litres: int = 1


_FILL_FIELDS = (
    FieldSpec("litres", "int"),
    FieldSpec("brand", "str", required=False),
    FieldSpec("filtered", "bool", required=False),
    FieldSpec("at", "datetime", required=False),
    FieldSpec("extras", "mapping", required=False),
)

KETTLE_SPEC = MachineSpec(
    name="kettle",
    initial="empty",
    states=(StateSpec("empty"), StateSpec("full")),
    events=(
        EventSpec("fill", frozenset({Actor.USER}), "Fill", fields=_FILL_FIELDS),
        EventSpec("pour", frozenset({Actor.USER}), "Pour"),
    ),
    transitions=(
        TransitionSpec("fill", "empty", "full"),
        TransitionSpec("pour", "full", "empty"),
    ),
    explanations=(("full", "fill", "A full kettle takes no more."), ("empty", "pour", "Empty.")),
)

KETTLE = Machine(KETTLE_SPEC, Implementations(), record=Kettle)
EMPTY = KETTLE.initial(Kettle(), T0)


def _fill(payload: Mapping[str, Any]) -> Step | Refusal:
    return decide(KETTLE, EMPTY, Event("fill", Actor.USER, payload), CTX)


# -- Implementations.merged ------------------------------------------------------------------


def _impl(tag: str) -> Implementations:
    def fn(*_: object) -> str:
        return tag

    return Implementations(
        guards={"shared": fn, f"guard_{tag}": fn},
        updates={"shared": fn, f"update_{tag}": fn},
        effects={"shared": fn, f"effect_{tag}": fn},
        choosers={"shared": fn, f"chooser_{tag}": fn},
    )


def test_merged_implementations_keep_both_sides_of_every_kind_and_the_other_wins() -> None:
    merged = _impl("mine").merged(_impl("theirs"))
    for kind in ("guard", "update", "effect", "chooser"):
        table = getattr(merged, f"{kind}s")
        assert sorted(table) == sorted({"shared", f"{kind}_mine", f"{kind}_theirs"}), kind
        assert table["shared"]() == "theirs", kind
        assert table[f"{kind}_mine"]() == "mine", kind


# -- Machine.initial ---------------------------------------------------------------------------

_UNTIMED = Machine(KETTLE_SPEC, Implementations(), record=Kettle, timed=False)


def test_an_untimed_machines_new_agent_keeps_its_data_version_zero_and_no_since() -> None:
    data = Kettle(litres=3)
    assert _UNTIMED.initial(data) == Snapshot("empty", 0, None, data)


@pytest.mark.parametrize("now", [T0, Context(T0)])
def test_an_untimed_machine_given_the_time_records_it(now: datetime | Context) -> None:
    data = Kettle(litres=3)
    assert _UNTIMED.initial(data, now) == Snapshot("empty", 0, T0, data)


def test_a_timed_machines_new_agent_needs_the_time() -> None:
    with pytest.raises(InvalidInput):
        KETTLE.initial(Kettle())


# -- payload fields: each kind's check, word for word -----------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("litres", "two", "litres must be a whole number, not 'two'"),
        ("litres", True, "litres must be a whole number, not True"),
        ("brand", 7, "brand must be a string, not 7"),
        ("filtered", 1, "filtered must be true or false, not 1"),
        (
            "at",
            datetime(2026, 4, 3, 10, 0),
            "at must be a timezone-aware datetime, not datetime.datetime(2026, 4, 3, 10, 0)",
        ),
        ("at", "noon", "at must be a timezone-aware datetime, not 'noon'"),
        ("extras", ["a"], "extras must be a mapping, not ['a']"),
    ],
)
def test_a_field_of_the_wrong_kind_is_refused_in_words(
    name: str, value: object, words: str
) -> None:
    payload = {"litres": 2, name: value}
    result = _fill(payload)
    assert isinstance(result, Refusal)
    assert result.code == "invalid_payload"
    assert result.message == f"Fill was sent with a bad payload: {words}."


class _Litres(int):
    """An ``int`` subclass: a whole number, though not of the exact type."""


class _Extras(Mapping[str, object]):
    """A mapping that is not a ``dict``."""

    def __getitem__(self, key: str) -> object:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class _Brand(str):
    """A ``str`` subclass: a string, though not of the exact type."""


# Values of every kind that fit, of exact and of other types: an aware datetime in another zone,
# an int subclass, a mapping that is no dict.
_GOOD = {
    "litres": _Litres(2),
    "brand": _Brand("acme"),
    "filtered": False,
    "at": datetime(2026, 4, 3, 12, 0, tzinfo=timezone(timedelta(hours=2))),
    "extras": _Extras(),
}


def test_fields_of_every_kind_that_fit_are_accepted() -> None:
    assert isinstance(_fill(_GOOD), Step)
    assert isinstance(_fill({"litres": 2, "brand": "acme", "filtered": True, "extras": {}}), Step)


def test_beside_an_unexpected_field_only_that_field_is_named() -> None:
    # The full check looks at every field: fitting values of every kind must not be named.
    for good in (_GOOD, {"litres": 2, "brand": "acme", "filtered": True, "at": T0, "extras": {}}):
        result = _fill({**good, "colour": "red"})
        assert isinstance(result, Refusal)
        assert result.message == "Fill was sent with a bad payload: unexpected field 'colour'."
