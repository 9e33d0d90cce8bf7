"""``agentfsm.wire``: one JSON form per record, its schema, and reading it back."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import (
    Actor,
    Context,
    Event,
    InvalidInput,
    Offer,
    Refusal,
    Snapshot,
    Step,
    decide,
    offered,
    wire,
)
from agentfsm import effects as fx
from agentfsm.models import ALFE, RECIF, AlfeAgent, Condition, RecifAgent, RecifSpec
from agentfsm.runtime import AgentRecord, AuditRow
from tests.json_schema_check import problems

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)

times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
words = st.text(st.characters(codec="utf-8"), max_size=12)
ids = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
alfe = st.builds(
    AlfeAgent,
    agent_id=st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True),
    name=st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True),
    credentials=st.integers(0, 2**40),
    host=st.integers(0, 2**40),
    remembered=st.none() | st.sampled_from(["running", "stopped"]),
    deleted_at=st.none() | times,
)
conditions = st.builds(
    Condition,
    type=st.sampled_from(["Ready", "Available"]),
    status=st.sampled_from(["True", "False", "Unknown"]),
    reason=st.from_regex(r"[A-Z][a-zA-Z]{0,8}", fullmatch=True),
    message=words,
    observed_generation=st.integers(1, 99),
    last_transition_time=times,
)
recif = st.builds(
    RecifAgent,
    slug=st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True),
    spec=st.builds(
        RecifSpec,
        replicas=st.integers(1, 9),
        config=st.dictionaries(st.from_regex(r"[A-Z]{1,5}", fullmatch=True), words, max_size=3),
    ),
    generation=st.integers(1, 99),
    conditions=st.lists(conditions, max_size=2).map(tuple),
)
snapshots = st.builds(
    Snapshot,
    status=st.sampled_from(["running", "created"]),
    version=st.integers(0, 2**40),
    since=times,
    data=alfe | recif,
)
payload_values = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | words
refusals = st.builds(
    Refusal, code=words, message=words, event=words, status=words, guard=st.none() | words
)
rows = st.builds(
    AuditRow,
    seq=st.integers(1, 2**40),
    event_id=ids,
    agent_id=ids,
    kind=st.sampled_from(["create", "event", "erase", "migrate"]),
    actor=st.none() | st.sampled_from(["U", "S", "T"]),
    event=ids,
    payload=st.dictionaries(words, payload_values, max_size=3),
    from_status=st.none() | words,
    to_status=words,
    version=st.integers(0, 2**40),
    refusal=st.none() | refusals,
    at=times,
    correlation_id=st.none() | words,
    principal=st.none() | ids,
    machine_version=st.integers(1, 9),
    before=st.none() | snapshots,
)


def _valid(value: object, schema: dict[str, object]) -> None:
    dumped = wire.dump(value)
    json.dumps(dumped, allow_nan=False)  # really JSON
    assert problems(json.loads(json.dumps(dumped)), schema) == []


@settings(max_examples=60, deadline=None)
@given(rows)
def test_audit_rows_round_trip_and_validate(row: AuditRow) -> None:
    text = json.dumps(wire.dump(row))
    assert wire.load(AuditRow, json.loads(text)) == row
    _valid(row, wire.schema(AuditRow))


@settings(max_examples=60, deadline=None)
@given(snapshots)
def test_snapshots_round_trip_and_validate(snapshot: Snapshot) -> None:
    assert wire.load(Snapshot, json.loads(json.dumps(wire.dump(snapshot)))) == snapshot
    _valid(snapshot, wire.schema(Snapshot))
    _valid(snapshot, wire.schema(Snapshot, data=type(snapshot.data)))


@settings(max_examples=30, deadline=None)
@given(snapshots, times, times)
def test_agent_records_round_trip(snapshot: Snapshot, created: datetime, updated: datetime) -> None:
    record = AgentRecord("a", "alfe", snapshot, created, updated, 2)
    assert wire.load(AgentRecord, wire.dump(record)) == record
    _valid(record, wire.schema(AgentRecord))


@settings(max_examples=30, deadline=None)
@given(refusals)
def test_refusals_and_offers_round_trip(refusal: Refusal) -> None:
    offer = Offer("stop", "Stop", False, refusal, ("confirmation",), ("must match",))
    assert wire.load(Refusal, wire.dump(refusal)) == refusal
    assert wire.load(Offer, wire.dump(offer)) == offer
    _valid(refusal, wire.schema(Refusal))
    _valid(offer, wire.schema(Offer))


def test_an_event_payload_datetime_is_a_string_without_its_machine() -> None:
    row = AuditRow(1, "k", "a", "event", "U", "x", {"at": T0}, "s", "s", 1, None, T0, None)
    dumped = wire.dump(row)
    assert dumped["payload"] == {"at": T0.isoformat()}
    assert wire.load(AuditRow, dumped).payload == {"at": T0.isoformat()}


def _every_effect() -> list[object]:
    made: list[object] = []
    deployed = fx.AgentDeployed("s", T0, "img:1", 1, {"A": "b"})
    samples = {int: 3, str: "x", datetime: T0}
    for name in fx.__all__:
        cls = getattr(fx, name)
        if not (isinstance(cls, type) and attrs.has(cls)):
            continue
        if cls is fx.Emit:
            made.append(fx.Emit(deployed))
            continue
        kwargs = {}
        hints = typing.get_type_hints(cls)
        for f in attrs.fields(cls):
            if f.default is attrs.NOTHING:
                kwargs[f.name] = {"config": {"K": "v"}}.get(f.name, samples.get(hints[f.name], 3))
        made.append(cls(**kwargs))
    return made


@pytest.mark.parametrize("effect", _every_effect(), ids=lambda e: type(e).__name__)
def test_every_effect_and_domain_event_validates_and_round_trips(effect: object) -> None:
    _valid(effect, wire.schema(type(effect)))
    assert wire.dump(effect)[wire.TYPE_KEY] == type(effect).__name__
    assert wire.load(type(effect), wire.dump(effect)) == effect


def test_steps_refusals_and_offers_of_the_models_validate() -> None:
    snap = RECIF.initial(RecifAgent("r1"), T0)
    step = decide(RECIF, snap, Event("deploy"), Context(T0))
    assert isinstance(step, Step)
    assert step.effects  # the form carries effects, tagged
    _valid(step, wire.schema(Step))
    _valid(step, wire.schema(Step, data=RecifAgent))
    refused = decide(RECIF, snap, Event("stop"), Context(T0))
    assert wire.dump(refused)["accepted"] is False
    _valid(refused, wire.schema(Refusal))
    for offer in offered(ALFE, ALFE.initial(AlfeAgent("a", "b"), T0), Context(T0)):
        _valid(offer, wire.schema(Offer))
    _valid(Event("stop", Actor.SYSTEM, {"n": 1}, "k"), wire.schema(Event))


def test_the_actor_is_its_role_code() -> None:
    assert wire.dump(Event("connected", Actor.SYSTEM))["actor"] == "S"
    assert wire.dump({"who": Actor.TIMER, "d": timedelta(seconds=90)}) == {"who": "T", "d": 90.0}


@pytest.mark.parametrize(
    "bad",
    [b"bytes", datetime(2026, 1, 1), float("nan"), {1: "x"}, object(), lambda: 1],
    ids=["bytes", "naive", "nan", "int-key", "object", "function"],
)
def test_what_has_no_json_form_is_invalid_input(bad: object) -> None:
    with pytest.raises(InvalidInput):
        wire.dump({"v": bad})


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        (Snapshot, {"status": "x"}),
        (Snapshot, {"status": "x", "version": 1, "since": "yesterday", "data": None}),
        (Snapshot, {"status": "x", "version": "1", "since": T0.isoformat(), "data": None}),
        (Snapshot, {"status": "x", "version": 1, "since": T0.isoformat(), "data": {"@type": "os"}}),
        (AuditRow, []),
        (AlfeAgent, {"@type": "AlfeAgent", "agent_id": "", "name": "x"}),
        (AlfeAgent, {"@type": "AlfeAgent", "agent_id": "a", "name": "x", "evil": 1}),
        (AlfeAgent, {"@type": "RecifAgent", "slug": "a"}),
        (int, 3),
    ],
)
def test_what_is_not_the_form_is_invalid_input(kind: type, data: object) -> None:
    with pytest.raises(InvalidInput):
        wire.load(kind, data)


def test_schemas_are_draft_2020_12_and_json() -> None:
    for kind in (Snapshot, Step, Refusal, Offer, Event, AuditRow, AgentRecord, AlfeAgent):
        made = wire.schema(kind)
        assert made["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        json.dumps(made)
    with pytest.raises(InvalidInput):
        wire.schema(int)


def test_regression_an_audit_rows_before_snapshot_was_lost_reading_it_back() -> None:
    # Schema 6 added AuditRow.before; the JSON form wrote it but load dropped it.
    before = Snapshot("running", 3, T0, None)
    row = AuditRow(
        4, "e-1", "agt-1", "event", "U", "stop", {}, "running", "stopping", 4, None, T0, None,
        before=before,
    )  # fmt: skip
    assert wire.load(AuditRow, wire.dump(row)).before == before
