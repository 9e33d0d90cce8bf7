"""Replay (the audit log alone rebuilds every snapshot) and the JSON codec."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runtime_support import T0, agent_data, random_event

from agentfsm import Refusal
from agentfsm import effects as fx
from agentfsm.models import MACHINES, AlfeAgent, RecifAgent, RecifSpec
from agentfsm.runtime import (
    DEFAULT_CODEC,
    Codec,
    CodecError,
    Controller,
    ManualClock,
    ReplayMismatch,
    SQLiteStore,
    Store,
    replay,
    replay_differences,
)


def _drive(controller: Controller, clock: ManualClock, seed: int, steps: int) -> None:
    rng = random.Random(seed)
    ids = [(f"{m}-{i}", m) for m in ("alfe", "recif", "alfe-self-hosted") for i in range(2)]
    controller.create_many([(a, m, agent_data(m, a)) for a, m in ids])
    for _ in range(steps):
        agent, machine = rng.choice(ids)
        name = f"name-{agent}" if machine != "recif" else None
        controller.handle(agent, random_event(rng, MACHINES[machine], name))
        clock.advance(timedelta(seconds=rng.choice((0, 1, 30, 400, 1000))))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), steps=st.integers(0, 60))
def test_replay_of_random_streams_equals_the_stored_snapshots(seed: int, steps: int) -> None:
    store = SQLiteStore(":memory:")
    clock = ManualClock(T0)
    _drive(Controller(MACHINES, store, clock), clock, seed, steps)
    stored = {r.agent_id: r.snapshot for r in store.agents()}
    assert replay(store, MACHINES) == stored
    store.close()


def test_replay_on_each_store(store: Store, clock: ManualClock) -> None:
    _drive(Controller(MACHINES, store, clock), clock, seed=11, steps=150)
    accepted = [r for r in store.audit_log() if r.kind == "event" and r.accepted]
    assert len(accepted) > 10  # the stream moved agents, so replay has work to do
    assert replay_differences(store, MACHINES) == []


def test_replay_detects_a_write_around_the_runtime(clock: ManualClock) -> None:
    store = SQLiteStore(":memory:")
    controller = Controller(MACHINES, store, clock)
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    from agentfsm import Actor, Event

    controller.handle("a1", Event("provision", Actor.SYSTEM))
    store._conn().execute("UPDATE audit SET to_status = 'running' WHERE event = 'provision'")
    with pytest.raises(ReplayMismatch, match="recorded 'running'"):
        replay(store, MACHINES)


# -- codec --------------------------------------------------------------------------------

_aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
) | st.datetimes(timezones=st.sampled_from([timezone(timedelta(hours=h)) for h in (-7, 2, 9)]))
_text = st.text(min_size=1, max_size=8).filter(str.strip)


@settings(max_examples=60, deadline=None)
@given(
    agent=st.builds(
        AlfeAgent,
        agent_id=_text,
        name=_text,
        host=st.integers(0, 10**12),
        remembered=st.none() | _text,
        deleted_at=st.none() | _aware,
    ),
    # keys a ConfigMap can hold, which is what a Recif config must be
    config=st.dictionaries(
        st.from_regex(r"\A[A-Za-z0-9_-][A-Za-z0-9._-]{0,4}\Z"), st.text(max_size=5), max_size=4
    ),
)
def test_codec_round_trips_records(agent: AlfeAgent, config: dict[str, str]) -> None:
    codec = DEFAULT_CODEC
    assert codec.loads(codec.dumps(agent)) == agent
    recif = RecifAgent("r-1", RecifSpec(config=config, env_secrets=("a", "b")), canary="img")
    assert codec.loads(codec.dumps(recif)) == recif
    event = fx.Emit(fx.AgentDeployed("r-1", T0, "img", 2, MappingProxyType(config)))
    back = codec.loads(codec.dumps(event))
    assert back == event
    assert type(back.event.config) is dict or back.event.config == config


def test_codec_keeps_the_utc_offset() -> None:
    when = datetime(2026, 4, 3, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    text = DEFAULT_CODEC.dumps({"at": when})
    assert "+02:00" in text
    assert DEFAULT_CODEC.loads(text)["at"].utcoffset() == timedelta(hours=2)


def test_codec_escapes_keys_that_look_like_tags() -> None:
    value = {"@type": "AlfeAgent", "x": (1, 2)}
    assert DEFAULT_CODEC.loads(DEFAULT_CODEC.dumps(value)) == value


def test_codec_round_trips_refusals_and_timedeltas() -> None:
    value = {"r": Refusal("c", "m", "e", "s"), "d": timedelta(seconds=1.5)}
    assert DEFAULT_CODEC.loads(DEFAULT_CODEC.dumps(value)) == value


@attrs.frozen
class Stranger:
    x: int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Stranger(1), "not in the codec's registry"),
        (datetime(2026, 1, 1), "naive"),
        ({1: "x"}, "non-string key"),
        (object(), "cannot store a value of type object"),
        (float("nan"), "no such number"),
    ],
)
def test_codec_refuses_what_it_cannot_store(value: object, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        DEFAULT_CODEC.dumps(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"@type": "os.system", "x": 1}', "does not know"),
        ('{"@type": "AlfeAgent", "agent_id": "a"}', "not valid"),
        ('{"@type": "AlfeAgent", "agent_id": "a", "name": "n", "evil": 1}', "unknown field"),
        ('{"@dt": "yesterday"}', "not ISO 8601"),
        ('{"@dt": "2026-01-01T00:00:00"}', "no UTC offset"),
        ("{not json", "malformed"),
    ],
)
def test_codec_refuses_bad_stored_json(text: str, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        DEFAULT_CODEC.loads(text)


def test_codec_registry_is_explicit() -> None:
    codec = Codec([AlfeAgent])
    with pytest.raises(CodecError):
        codec.loads(DEFAULT_CODEC.dumps(RecifAgent("r")))
    extended = codec.with_types(Stranger)
    assert extended.loads(extended.dumps(Stranger(3))) == Stranger(3)
    assert "Stranger" not in codec.tags
    with pytest.raises(CodecError, match="not an attrs class"):
        Codec([dict])
