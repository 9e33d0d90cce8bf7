"""Hostile values thrown at the engine's entry points: only the documented errors come out.

``decide`` never raises for a bad event or a bad snapshot (it refuses); given an argument of
the wrong type it raises ``InvalidInput``. ``fire`` raises only ``TransitionRefused`` and
``InvalidInput``; ``offered``, ``Machine.initial``, ``Event`` and ``Context`` only
``InvalidInput``. Every sentence stays short whatever it quotes.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentfsm import (
    Actor,
    Context,
    Event,
    InvalidInput,
    Machine,
    Policy,
    Refusal,
    Snapshot,
    Step,
    TransitionRefused,
    decide,
    fire,
    offered,
)
from agentfsm._engine import decide_reference
from agentfsm.models import (
    ALFE,
    ALFE_IMPLEMENTATIONS,
    ALFE_SELF_HOSTED,
    ALFE_SPEC,
    RECIF,
    AlfeAgent,
    RecifAgent,
)
from agentfsm.runtime import Controller, ManualClock, SQLiteStore

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
MACHINES = (ALFE, ALFE_SELF_HOSTED, RECIF)
LONGEST_SENTENCE = 1_500  # five quoted problems of ~100 characters, and the words around them

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _deep_dict(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


class _Nasty:
    """A value whose repr, equality and hash all fail, as a caller's class may."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    def __hash__(self) -> int:
        raise RuntimeError("no hash")


class _BadZone(timezone.__base__):  # type: ignore[misc, name-defined]
    """A tzinfo whose offset is out of range: datetime itself raises on asking."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=48)

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str:
        return "bad"


AWARE_EXTREMES = [
    datetime.max.replace(tzinfo=UTC),
    datetime.min.replace(tzinfo=UTC),
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-14))),
    datetime.min.replace(tzinfo=timezone(timedelta(hours=14))),
]


def _made(*makers: Any) -> st.SearchStrategy[Any]:
    # Built on demand: hypothesis shows a strategy's elements, and a repr of these fails.
    return st.sampled_from(makers).map(lambda make: make())


hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    _made(lambda: 10**5000, lambda: -(10**5000), lambda: 2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["\udcff", "\x00", "", " ", "running", "stop"]),
    _made(lambda: "x" * 100_000),
    st.binary(max_size=10),
    st.datetimes(timezones=st.none() | st.just(UTC)),
    st.sampled_from(AWARE_EXTREMES),
    st.timedeltas(),
    st.builds(_Nasty),
    st.builds(object),
)
hostile = st.recursive(
    hostile_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        | st.tuples(inner, inner)
    ),
    max_leaves=8,
) | _made(lambda: _deep_dict(100_000), lambda: [[[[[[[[1]]]]]]]])

hostile_payloads = st.dictionaries(
    st.sampled_from(["confirmation", "size", "reason", "standing", "image", "replicas", "config"])
    | st.text(max_size=8),
    hostile,
    max_size=4,
)

hostile_times = st.one_of(
    st.datetimes(timezones=st.just(UTC)),
    st.sampled_from(AWARE_EXTREMES),
    st.just(T0),
)

policies = st.builds(
    Policy,
    stuck_after=st.timedeltas(min_value=timedelta(microseconds=1)),
    boot_timeout=st.timedeltas(min_value=timedelta(microseconds=1)),
    grace_period=st.timedeltas(min_value=timedelta(microseconds=1)),
    capacity_retry_base=st.timedeltas(min_value=timedelta(microseconds=1)),
)


def _alfe_records() -> st.SearchStrategy[AlfeAgent]:
    statuses = st.sampled_from([*ALFE.spec.state_names, "nowhere"]) | st.none()
    return st.builds(
        AlfeAgent,
        agent_id=st.just("ag_1"),
        name=st.sampled_from(["support", "x" * 200]),
        host=st.integers(0, 10**6),
        credentials=st.integers(0, 10**6),
        remembered=statuses,
        capacity_attempts=st.integers(0, 10**9),
        purge_at=st.none() | hostile_times,
    )


def _records_for(machine: Machine) -> st.SearchStrategy[Any]:
    right = st.builds(RecifAgent, slug=st.just("agent-1")) if machine is RECIF else _alfe_records()
    wrong = st.one_of(hostile, st.just(RecifAgent("agent-1")), st.just(AlfeAgent("a", "b")))
    return st.one_of(right, right, wrong)


@st.composite
def _cases(draw: st.DrawFn) -> tuple[Machine, Snapshot, Event, Context]:
    machine = draw(st.sampled_from(MACHINES))
    status = draw(st.sampled_from(machine.spec.state_names) | hostile)
    version = draw(st.integers(0, 10**6) | hostile)
    since = draw(hostile_times | hostile)
    data = draw(_records_for(machine))
    names = [e.name for e in machine.spec.events]
    name = draw(st.sampled_from(names) | st.text(min_size=1, max_size=20))
    event = Event(name, draw(st.sampled_from(list(Actor))), draw(hostile_payloads))
    context = Context(draw(hostile_times), draw(st.none() | policies))
    return machine, Snapshot(status, version, since, data), event, context


def _check_error(error: InvalidInput) -> None:
    assert len(str(error)) <= LONGEST_SENTENCE


def _check_sentence(refusal: Refusal) -> None:
    assert refusal.code
    assert refusal.message.strip()
    assert len(refusal.message) <= LONGEST_SENTENCE, refusal.message[:200]
    assert isinstance(refusal.status, str)


@FAST
@given(_cases())
def test_decide_only_steps_or_refuses_on_hostile_input(
    case: tuple[Machine, Snapshot, Event, Context],
) -> None:
    machine, snapshot, event, context = case
    result = decide(machine, snapshot, event, context)
    assert isinstance(result, (Step, Refusal))
    if isinstance(result, Refusal):
        _check_sentence(result)
    else:
        # An accepted event was decided on a snapshot that is the machine's own.
        assert snapshot.status in machine.states
        assert isinstance(snapshot.data, machine.record)  # type: ignore[arg-type]
        assert result.snapshot.version == snapshot.version + 1


@FAST
@given(_cases())
def test_fire_raises_only_refused(case: tuple[Machine, Snapshot, Event, Context]) -> None:
    machine, snapshot, event, context = case
    try:
        step = fire(machine, snapshot, event, context)
    except TransitionRefused as refused:
        _check_sentence(refused.refusal)
    else:
        assert isinstance(step, Step)


@FAST
@given(_cases(), st.sampled_from(list(Actor)))
def test_offered_answers_or_raises_invalid_input(
    case: tuple[Machine, Snapshot, Event, Context], actor: Actor
) -> None:
    machine, snapshot, _event, context = case
    try:
        offers = offered(machine, snapshot, context, actor=actor)
    except InvalidInput as error:
        _check_error(error)
        return
    for offer in offers:
        if offer.refusal is not None:
            _check_sentence(offer.refusal)


@FAST
@given(st.sampled_from(MACHINES), hostile | st.just(AlfeAgent("a", "b")), hostile_times | hostile)
def test_initial_accepts_only_the_record_and_an_aware_time(
    machine: Machine, data: Any, now: Any
) -> None:
    try:
        snapshot = machine.initial(data, now)
    except InvalidInput as error:
        _check_error(error)
        return
    assert isinstance(data, machine.record)  # type: ignore[arg-type]
    assert snapshot == Snapshot(machine.spec.initial, 0, now, data)


@FAST
@given(hostile, hostile, hostile | hostile_payloads, hostile)
def test_event_and_context_raise_only_invalid_input(
    name: Any, actor: Any, payload: Any, when: Any
) -> None:
    for build in (lambda: Event(name, actor, payload), lambda: Context(when, actor)):
        try:
            build()
        except InvalidInput as error:
            _check_error(error)


@pytest.mark.parametrize("argument", [0, "snapshot", None, _Nasty()])
def test_arguments_of_the_wrong_type_are_invalid_input(argument: Any) -> None:
    snapshot = ALFE.initial(AlfeAgent("a", "b"), T0)
    event, context = Event("provision", Actor.SYSTEM), Context(T0)
    for call in (
        lambda: decide(argument, snapshot, event, context),
        lambda: decide(ALFE, argument, event, context),
        # A str there is an event's name (see the next test); anything else is no event.
        *(
            ()
            if isinstance(argument, str)
            else (lambda: decide(ALFE, snapshot, argument, context),)
        ),
        lambda: decide(ALFE, snapshot, event, argument),
        lambda: offered(argument, snapshot, context),
        lambda: offered(ALFE, argument, context),
        lambda: offered(ALFE, snapshot, argument),
        lambda: offered(ALFE, snapshot, context, actor=argument),
    ):
        with pytest.raises(InvalidInput):
            call()


def test_a_str_in_the_event_position_is_an_event_name() -> None:
    # decide takes an event by name; a name the machine does not know is refused, not raised.
    snapshot = ALFE.initial(AlfeAgent("a", "b"), T0)
    refusal = decide(ALFE, snapshot, "snapshot", Context(T0))
    assert isinstance(refusal, Refusal)
    assert refusal.code == "unknown_event"


# -- one regression test per bug ------------------------------------------------------------

RUNNING = Snapshot("running", 3, T0, AlfeAgent("ag_1", "support", host=1, credentials=1))
STOPPED = RUNNING._replace(status="stopped")


def test_regression_refusal_sentence_raised_for_an_int_over_4300_digits() -> None:
    result = decide(
        ALFE, RUNNING, Event("recreate", payload={"confirmation": 10**5000}), Context(T0)
    )
    assert isinstance(result, Refusal)
    assert result.code == "invalid_payload"
    assert "about 5001 digits" in result.message
    assert len(result.message) < 300


def test_regression_refusal_sentence_raised_for_a_100000_deep_dict() -> None:
    deep = _deep_dict(100_000)
    assert sys.getrecursionlimit() < 100_000  # a raw repr of it cannot succeed
    result = decide(ALFE, RUNNING, Event("recreate", payload={"confirmation": deep}), Context(T0))
    assert isinstance(result, Refusal)
    assert result.code == "invalid_payload"
    assert len(result.message) < 300
    unknown = decide(ALFE, RUNNING, Event("stop", payload={"x": deep}), Context(T0))
    assert isinstance(unknown, Refusal)
    assert unknown.code == "invalid_payload"


def test_regression_refusal_sentence_of_a_million_unexpected_fields_is_short() -> None:
    payload = {f"f{i}": i for i in range(1_000_000)}
    result = decide(ALFE, RUNNING, Event("stop", payload=payload), Context(T0))
    assert isinstance(result, Refusal)
    assert result.code == "invalid_payload"
    assert "and 999995 more" in result.message
    assert len(result.message) < 300


@pytest.mark.parametrize("when", AWARE_EXTREMES[:1] + AWARE_EXTREMES[2:3])
def test_regression_context_at_datetime_max_raised_overflow_error(when: datetime) -> None:
    # Start from stopped schedules now + boot_timeout; Delete sets purge_at = now + grace.
    for snapshot, event in ((STOPPED, "start"), (RUNNING, "delete"), (RUNNING, "restart")):
        result = decide(ALFE, snapshot, Event(event), Context(when))
        assert isinstance(result, Refusal), event
        assert result.code == "time_out_of_range"
        assert result.event == event
        assert result.status == snapshot.status
        with pytest.raises(TransitionRefused):
            fire(ALFE, snapshot, Event(event), Context(when))


def test_regression_a_policy_too_long_to_add_raised_overflow_error() -> None:
    huge = Policy(grace_period=timedelta(days=999_999_999))
    result = decide(ALFE, RUNNING, Event("delete"), Context(T0, huge))
    assert isinstance(result, Refusal)
    assert result.code == "time_out_of_range"
    on_machine = decide(ALFE.with_policy(huge), RUNNING, Event("delete"), Context(T0))
    assert on_machine == result


def test_regression_snapshot_with_data_none_raised_attribute_error() -> None:
    for status, event in (
        ("running", Event("stop")),
        ("stopping", Event("shutdown_complete", "S")),
    ):
        snapshot = Snapshot(status, 1, T0, None)
        result = decide(ALFE, snapshot, event, Context(T0))
        assert isinstance(result, Refusal), event
        assert result.code == "invalid_snapshot"
        assert "AlfeAgent" in result.message
        assert "NoneType" in result.message
        with pytest.raises(InvalidInput, match="AlfeAgent"):
            offered(ALFE, snapshot, Context(T0))


def test_regression_a_recif_record_given_to_alfe_raised_attribute_error() -> None:
    snapshot = Snapshot("running", 1, T0, RecifAgent("agent-1"))
    for event in (Event("stop"), Event("restart"), Event("connection_lost", "S")):
        result = decide(ALFE, snapshot, event, Context(T0))
        assert isinstance(result, Refusal)
        assert result.code == "invalid_snapshot"
        assert "RecifAgent" in result.message
    alfe_in_recif = Snapshot("Running", 1, T0, AlfeAgent("a", "b"))
    result = decide(RECIF, alfe_in_recif, Event("stop"), Context(T0))
    assert isinstance(result, Refusal)
    assert result.code == "invalid_snapshot"


def test_regression_a_malformed_version_or_since_is_invalid_snapshot() -> None:
    malformed = (
        RUNNING._replace(version="3"),
        RUNNING._replace(version=True),
        RUNNING._replace(since=T0.replace(tzinfo=None)),
        RUNNING._replace(since="yesterday"),
    )
    for snapshot in malformed:
        result = decide(ALFE, snapshot, Event("restart"), Context(T0))
        assert isinstance(result, Refusal), snapshot
        assert result.code == "invalid_snapshot", snapshot
        with pytest.raises(InvalidInput):
            offered(ALFE, snapshot, Context(T0))


def test_regression_initial_stored_any_data_as_the_record(tmp_path: Any) -> None:
    with pytest.raises(InvalidInput, match="AlfeAgent"):
        ALFE.initial({"agent_id": "a", "name": "b"}, T0)
    with pytest.raises(InvalidInput, match="RecifAgent"):
        RECIF.initial(AlfeAgent("a", "b"), T0)
    store = SQLiteStore(tmp_path / "agents.db")
    controller = Controller({"alfe": ALFE}, store, ManualClock(T0))
    with pytest.raises(InvalidInput, match="AlfeAgent"):
        controller.create("a1", "alfe", {"agent_id": "a1", "name": "x"})
    assert store.load_many(["a1"]) == {}
    assert store.history("a1") == []
    store.close()


def test_regression_a_hostile_actor_value_raised_from_its_eq() -> None:
    with pytest.raises(InvalidInput, match="unknown actor"):
        Event("stop", _Nasty())  # type: ignore[arg-type]


def test_regression_a_time_zone_with_an_out_of_range_offset_raised_value_error() -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        Context(datetime(2026, 1, 1, tzinfo=_BadZone()))


def test_regression_a_since_whose_time_zone_offset_is_out_of_range_raised_value_error() -> None:
    # Start on a starting agent reads now - since, which asks the zone for its offset.
    starting = RUNNING._replace(status="starting", since=datetime(2026, 1, 1, tzinfo=_BadZone()))
    for decides in (decide, decide_reference):
        result = decides(ALFE, starting, Event("start"), Context(T0))
        assert isinstance(result, Refusal)
        assert (result.code, result.event, result.status) == (
            "invalid_snapshot",
            "start",
            "starting",
        )
        assert "not a timezone-aware datetime" in result.message
    with pytest.raises(InvalidInput, match="not a timezone-aware datetime"):
        offered(ALFE, starting, Context(T0))


class _Hashless(str):
    """A status whose hash raises, as a broken ``str`` subclass's may."""

    def __hash__(self) -> int:
        raise TypeError("this status cannot be hashed")

    __eq__ = str.__eq__


def test_regression_a_status_whose_hash_raises_let_type_error_out_of_decide_and_offered() -> None:
    for name in ("running", "nowhere"):
        snapshot = RUNNING._replace(status=_Hashless(name))
        for decides in (decide, decide_reference):
            result = decides(ALFE, snapshot, Event("stop"), Context(T0))
            assert isinstance(result, Refusal)
            assert (result.code, result.event) == ("unknown_status", "stop")
        with pytest.raises(InvalidInput, match="has no status"):
            offered(ALFE, snapshot, Context(T0))


class _LookAlike(NamedTuple):
    """A snapshot of the caller's own class with a Snapshot's fields, which the generic path
    decides like a Snapshot."""

    status: str
    version: int
    since: Any
    data: Any


def test_regression_a_look_alike_snapshot_with_an_out_of_range_zone_offset_raised_value_error() -> (
    None
):
    # A Snapshot in this state is refused invalid_snapshot; its look-alike let the zone's
    # ValueError out of decide, which documents no such error.
    starting = _LookAlike("starting", 3, datetime(2026, 1, 1, tzinfo=_BadZone()), RUNNING.data)
    for decides in (decide, decide_reference):
        result = decides(ALFE, starting, Event("start"), Context(T0))  # type: ignore[arg-type]
        assert isinstance(result, Refusal)
        assert (result.code, result.event, result.status) == (
            "invalid_snapshot",
            "start",
            "starting",
        )
        assert "not a timezone-aware datetime" in result.message


def test_a_value_error_from_a_rule_itself_is_not_hidden_as_a_refusal() -> None:
    def broken(s: object, e: object, c: object) -> bool:
        raise ValueError("a bug in the guard itself")

    impl = attrs.evolve(
        ALFE_IMPLEMENTATIONS, guards={**ALFE_IMPLEMENTATIONS.guards, "stuck": broken}
    )
    machine = Machine(ALFE_SPEC, impl)
    starting = RUNNING._replace(status="starting")
    for decides in (decide, decide_reference):
        with pytest.raises(ValueError, match="a bug in the guard itself"):
            decides(machine, starting, Event("start"), Context(T0))
