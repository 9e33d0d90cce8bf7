"""Hostile values given to ``Controller.create``, ``handle`` and ``handle_many`` on both stores.

Whatever a caller sends, what comes out is a documented error (a ``StoreError`` such as
``CodecError``, or ``InvalidInput``) or an outcome, and an error leaves the store exactly as it
was: the agent, its history, the outbox and the timers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runtime_support import T0

from agentfsm import Actor, Event, InvalidInput
from agentfsm.models import AlfeAgent
from agentfsm.runtime import (
    CodecError,
    Controller,
    Delivery,
    ManualClock,
    Store,
    StoreError,
    UnknownAgent,
)

S = Actor.SYSTEM
SURROGATE = "\udcff"  # what json.loads makes of the JSON text "\udcff"
HUGE = 10**5000  # more digits than Python will turn into text
DOCUMENTED = (StoreError, InvalidInput)


def _deep(depth: int, mapping: bool = False) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = {"k": value} if mapping else [value]
    return value


DEEP = _deep(sys.getrecursionlimit() * 3)
DEEP_DICT = _deep(sys.getrecursionlimit() * 3, mapping=True)


def _state(store: Store, agent_id: str) -> tuple[Any, ...]:
    """Everything a write could change, read back from the store."""
    return (
        store.load(agent_id),
        store.history(agent_id),
        store.outbox(),
        store.timers(),
        [a.agent_id for a in store.agents()],
    )


def _unchanged_after(
    store: Store, controller: Controller, attempt: Callable[[], object]
) -> BaseException:
    """Run ``attempt``, which must fail with a documented error and change nothing."""
    before = _state(store, "a1")
    with pytest.raises(DOCUMENTED) as caught:
        attempt()
    assert _state(store, "a1") == before
    # The controller's cache did not keep anything from the failed write either.
    assert controller.get("a1") == before[0]
    return caught.value


@pytest.fixture
def ready(controller: Controller) -> Controller:
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    return controller


# -- regressions: one per way a bare exception escaped ---------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        Event("provision" + SURROGATE, S),
        Event("provision", S, {"note": SURROGATE}),
        Event("provision", S, {SURROGATE: 1}),
        Event("start", Actor.USER, {"nested": [{"deeper": "x" + SURROGATE}]}),
    ],
    # (An id with a lone surrogate is refused by Event itself: see test_values.py.)
    ids=["name", "payload value", "payload key", "nested payload"],
)
def test_regression_lone_surrogate_raised_unicode_encode_error(
    store: Store, ready: Controller, event: Event
) -> None:
    error = _unchanged_after(store, ready, lambda: ready.handle("a1", event))
    assert isinstance(error, CodecError)
    assert "surrogate" in str(error)
    error = _unchanged_after(store, ready, lambda: ready.handle_many([Delivery("a1", event)]))
    assert isinstance(error, CodecError)


def test_regression_batch_split_one_at_a_time_wrote_deliveries_before_an_unstorable_one(
    store: Store, ready: Controller
) -> None:
    # The same id twice makes the batch go one delivery at a time; the third cannot be stored.
    deliveries = [
        Delivery("a1", Event("provision", S, id="same")),
        Delivery("a1", Event("provision", S, id="same")),
        Delivery("a1", Event("host_up", S, {"note": SURROGATE})),
    ]
    error = _unchanged_after(store, ready, lambda: ready.handle_many(deliveries))
    assert isinstance(error, CodecError)


def test_regression_lone_surrogate_in_correlation_id_raised_unicode_encode_error(
    store: Store, ready: Controller
) -> None:
    error = _unchanged_after(
        store, ready, lambda: ready.handle("a1", Event("provision", S), correlation_id=SURROGATE)
    )
    assert isinstance(error, CodecError)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"n": HUGE}, "4300 digits"),
        ({"n": [1, {"m": HUGE}]}, "4300 digits"),
        ({"n": DEEP}, "nested too deeply"),
        ({"n": DEEP_DICT}, "nested too deeply"),
    ],
    ids=["huge int", "nested huge int", "deep list", "deep dict"],
)
def test_regression_huge_int_or_deep_payload_raised_value_or_recursion_error(
    store: Store, ready: Controller, payload: dict[str, Any], message: str
) -> None:
    event = Event("provision", S, payload)
    error = _unchanged_after(store, ready, lambda: ready.handle("a1", event))
    assert isinstance(error, CodecError)
    assert message in str(error)
    error = _unchanged_after(store, ready, lambda: ready.handle_many([Delivery("a1", event)]))
    assert isinstance(error, CodecError)


def test_regression_circular_payload_raised_recursion_error(
    store: Store, ready: Controller
) -> None:
    loop: list[Any] = []
    loop.append(loop)
    error = _unchanged_after(
        store, ready, lambda: ready.handle("a1", Event("provision", S, {"x": loop}))
    )
    assert isinstance(error, CodecError)


@pytest.mark.parametrize(
    ("agent_id", "data"),
    [
        ("b" + SURROGATE, AlfeAgent("b" + SURROGATE, "Bob")),
        ("b2", AlfeAgent("b2", "Bob" + SURROGATE)),
    ],
    ids=["agent id", "data"],
)
def test_regression_lone_surrogate_in_created_agent_raised_unicode_encode_error(
    store: Store, ready: Controller, agent_id: str, data: AlfeAgent
) -> None:
    error = _unchanged_after(store, ready, lambda: ready.create(agent_id, "alfe", data))
    assert isinstance(error, CodecError)
    with pytest.raises(UnknownAgent):
        ready.get(agent_id)


def test_regression_event_id_of_another_type_reached_the_driver(
    store: Store, ready: Controller
) -> None:
    # Event itself refuses such an id now, so none can reach a store; one forced past it
    # (set on the frozen instance) is still a CodecError from the store's own check.
    for odd in (5, b"bytes", 1.5):
        with pytest.raises(InvalidInput, match="event id must be a non-empty string"):
            Event("provision", S, id=odd)  # type: ignore[arg-type]
        event = Event("provision", S)
        object.__setattr__(event, "id", odd)
        error = _unchanged_after(store, ready, lambda e=event: ready.handle("a1", e))
        assert isinstance(error, CodecError)
        assert "must be a string" in str(error)


def test_regression_lookup_by_an_unstorable_key_raised_unicode_encode_error(
    store: Store, ready: Controller
) -> None:
    # Nothing can be stored under such a key, so nothing is found.
    for key in ("a1" + SURROGATE, 7, None):
        with pytest.raises(UnknownAgent):
            store.load(key)  # type: ignore[arg-type]
        assert store.history(key) == []  # type: ignore[arg-type]
        assert store.audit_row(key, "S", "e") is None  # type: ignore[arg-type]
        assert store.audit_row("a1", "S", key) is None  # type: ignore[arg-type]
        assert store.load_many(["a1", key]).keys() == {"a1"}  # type: ignore[list-item]
        # A string no agent can have is an unknown agent; anything else is a bad argument.
        with pytest.raises(UnknownAgent if isinstance(key, str) else InvalidInput):
            ready.handle(key, Event("provision", S))  # type: ignore[arg-type]


def test_nul_in_text_is_kept_by_sqlite_and_a_codec_error_on_postgres(
    store: Store, ready: Controller
) -> None:
    event = Event("provision", S, {"note": "a\x00b"}, id="nul\x00id")
    if type(store).__name__ == "SQLiteStore":
        ready.handle("a1", event)
        assert store.audit_row("a1", "S", "nul\x00id").payload == {"note": "a\x00b"}  # type: ignore[union-attr]
        return
    error = _unchanged_after(store, ready, lambda: ready.handle("a1", event))
    assert isinstance(error, CodecError)
    assert (
        store.audit_row("a1", "S", "nul\x00id") is None
    )  # a key PostgreSQL cannot hold finds nothing


# -- properties: any hostile value ---------------------------------------------------------

_surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
_texts = st.one_of(
    st.text(max_size=6),
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=3), _surrogates, st.text(max_size=3)),
)
_ODD = (
    b"bytes", bytearray(b"x"), {1, 2}, frozenset(), 1j, Decimal("1.5"), object(), Ellipsis,
    datetime(2026, 1, 1), float("nan"), float("inf"), -float("inf"), HUGE, -HUGE, DEEP,
    DEEP_DICT, {1: "non-string key"}, {"@type": "AlfeAgent"}, {"@dt": "yesterday"},
)  # fmt: skip


class Odd(NamedTuple):
    """Stands for ``_ODD[index]`` until the test runs: the repr of a huge int or a deep list
    fails, and hypothesis prints a failing example's arguments."""

    index: int


def _real(value: Any) -> Any:
    if isinstance(value, Odd):
        return _ODD[value.index]
    if isinstance(value, list):
        return [_real(v) for v in value]
    if isinstance(value, dict):
        return {k: _real(v) for k, v in value.items()}
    return value


_odd = st.builds(Odd, st.sampled_from(range(len(_ODD))))
_scalars = st.one_of(
    _texts, _odd, st.integers(), st.floats(), st.booleans(), st.none(), st.just(2**64)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_texts, inner, max_size=3),
    max_leaves=6,
)
_payloads = st.dictionaries(_texts, _values, max_size=3)
_events = st.tuples(
    st.sampled_from(["provision", "host_up", "start", "stop", "delete"]) | _texts.filter(bool),
    st.sampled_from(list(Actor)),
    _payloads,
    st.none() | _texts | st.sampled_from([5, b"id", "create:a1"]),
)
EventArgs = tuple[str, Actor, dict[str, Any], Any]


def _event(args: EventArgs) -> Event:
    name, actor, payload, event_id = args
    return Event(name, actor, _real(payload), event_id)


_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _outcome_or_documented(
    store: Store, controller: Controller, attempt: Callable[[], object]
) -> None:
    before = _state(store, "a1")
    try:
        attempt()
    except DOCUMENTED:
        assert _state(store, "a1") == before  # a refused write changed nothing
        assert controller.get("a1") == before[0]
    # Any other exception fails the test: it is not a documented error.


@_SETTINGS
@given(event=_events, correlation=st.none() | _texts)
def test_hostile_events_to_handle(
    store: Store, ready: Controller, event: EventArgs, correlation: str | None
) -> None:
    _outcome_or_documented(
        store, ready, lambda: ready.handle("a1", _event(event), correlation_id=correlation)
    )


@_SETTINGS
@given(events=st.lists(_events, min_size=1, max_size=4))
def test_hostile_events_to_handle_many(
    store: Store, ready: Controller, events: list[EventArgs]
) -> None:
    try:
        deliveries = [Delivery("a1", _event(e)) for e in events]
    except InvalidInput:
        return  # Event refused a value (an empty id, say): nothing reached the store
    before = _state(store, "a1")
    try:
        ready.handle_many(deliveries)
    except CodecError:
        # Refused whole, even when the batch went one delivery at a time.
        assert _state(store, "a1") == before
        assert ready.get("a1") == before[0]
    except DOCUMENTED:
        # Another error one at a time (an id recorded for the creation): the deliveries
        # before it may be recorded, nothing else.
        new = store.history("a1")[len(before[1]) :]
        given = {d.event.id for d in deliveries}
        unnamed = sum(1 for d in deliveries if d.event.id is None)  # ids assigned on the way
        assert sum(1 for r in new if r.event_id not in given) <= unnamed
        assert store.load("a1").snapshot.version == store.history("a1")[-1].version


@_SETTINGS
@given(
    agent_id=_texts | st.sampled_from([5, b"x", None]),
    name=_texts,
    data=st.none() | _values,
    use_record=st.booleans(),
)
def test_hostile_agents_to_create(
    store: Store, ready: Controller, agent_id: Any, name: str, data: Any, use_record: bool
) -> None:
    def attempt() -> None:
        record = AlfeAgent(agent_id, name) if use_record else _real(data)
        ready.create(agent_id, "alfe", record)

    before = _state(store, "a1")
    try:
        attempt()
    except DOCUMENTED:
        assert _state(store, "a1") == before
        return
    # Created: the new agent reads back as it was given.
    assert store.load(agent_id).agent_id == agent_id


def test_hostile_runs_touch_only_what_they_say(controller: Controller, clock: ManualClock) -> None:
    # The properties above, sanity-checked: an accepted event does change the store, so the
    # comparison they rely on can fail.
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    before = _state(controller.store, "a1")
    controller.handle("a1", Event("provision", S))
    assert _state(controller.store, "a1") != before
    assert clock.now() == T0


# -- regressions: arguments the stores and the controller now check at the boundary ---------

FAR_EAST = timezone(timedelta(hours=23, minutes=59))


def test_regression_unhashable_agent_id_raised_type_error(store: Store, ready: Controller) -> None:
    for odd in ({"a": 1}, ["a1"], {1, 2}):
        error = _unchanged_after(store, ready, lambda o=odd: ready.handle(o, Event("start")))
        assert isinstance(error, InvalidInput)
        error = _unchanged_after(
            store, ready, lambda o=odd: ready.handle_many([Delivery(o, Event("start"))])
        )
        assert isinstance(error, InvalidInput)
        error = _unchanged_after(
            store, ready, lambda o=odd: ready.create("a2", o, AlfeAgent("a2", "Ann"))
        )
        assert isinstance(error, InvalidInput)
        assert "a machine name must be a string" in str(error)
        # A store's lookups find nothing by such an id (nothing can be stored under it).
        assert store.load_many([odd, "a1"]).keys() == {"a1"}  # type: ignore[list-item]


def test_regression_unprintable_argument_raised_value_error_in_the_message(
    store: Store, ready: Controller
) -> None:
    # The refusal's own sentence must not fail: repr of a 5,000-digit int raises ValueError.
    huge = [HUGE]
    error = _unchanged_after(store, ready, lambda: ready.create(huge, "alfe", None))  # type: ignore[arg-type]
    assert isinstance(error, InvalidInput)
    with pytest.raises(UnknownAgent):
        store.load(HUGE)  # type: ignore[arg-type]


def test_regression_count_too_large_for_the_database_raised_overflow_error(
    store: Store, ready: Controller
) -> None:
    for count in (2**63, 2**70, -1, True, 1.5, "3"):
        before = _state(store, "a1")
        with pytest.raises(InvalidInput, match="after_seq must be a whole number"):
            store.audit_log(count)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="limit must be a whole number"):
            store.audit_log(0, count)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="limit must be a whole number"):
            store.outbox(limit=count)  # type: ignore[arg-type]
        with pytest.raises(StoreError, match="limit must be a positive number"):
            store.prune_done(T0, count)  # type: ignore[arg-type]
        assert _state(store, "a1") == before
    assert store.audit_log(2**63 - 1) == []  # the largest count is a count


def test_regression_time_without_a_utc_form_raised_overflow_error(
    store: Store, ready: Controller
) -> None:
    for when in (
        datetime.min.replace(tzinfo=FAR_EAST),
        datetime.max.replace(tzinfo=timezone(-timedelta(hours=23, minutes=59))),
        datetime(2026, 1, 1),
        "2026-01-01",
    ):
        before = _state(store, "a1")
        with pytest.raises(InvalidInput, match="older_than"):
            store.prune_done(when)  # type: ignore[arg-type]
        assert _state(store, "a1") == before


def test_regression_unstorable_filter_raised_unicode_encode_error(
    store: Store, ready: Controller
) -> None:
    # A filter no row can match finds nothing; a filter of another type is a bad argument.
    assert store.outbox(state=SURROGATE) == []
    assert store.outbox(agent_id="a1" + SURROGATE) == []
    assert store.timers("a1" + SURROGATE) == []
    for odd in ({"a": 1}, 5, b"a1"):
        with pytest.raises(InvalidInput):
            store.outbox(state=odd)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            store.outbox(agent_id=odd)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            store.timers(odd)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="as a list"):
        store.load_many("a1")
    with pytest.raises(InvalidInput, match="iterable"):
        store.load_many(5)  # type: ignore[arg-type]


def test_regression_unprintable_correlation_id_raised_recursion_error_in_the_message(
    store: Store, ready: Controller
) -> None:
    # The CodecError's sentence quoted the value with repr, which recursed past the limit.
    for odd in ((1, DEEP_DICT), [DEEP], (HUGE,)):
        error = _unchanged_after(
            store, ready, lambda o=odd: ready.handle("a1", Event("provision", S), correlation_id=o)
        )
        assert isinstance(error, CodecError)
        assert "must be a string" in str(error)
