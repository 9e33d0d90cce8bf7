"""Pruning done outbox items, and the codec's direct JSON paths against the standard encoder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runtime_support import FakeHost

from agentfsm import Actor, Event
from agentfsm.models import AlfeAgent
from agentfsm.runtime import (
    DEFAULT_CODEC,
    DONE,
    PARKED,
    PENDING,
    Codec,
    Controller,
    ManualClock,
    OutboxWorker,
    PermanentError,
    Store,
    StoreError,
)

S = Actor.SYSTEM


def _provision(controller: Controller, ids: list[str]) -> None:
    controller.create_many([(i, "alfe", AlfeAgent(i, f"name-{i}")) for i in ids])
    for i in ids:
        controller.handle(i, Event("provision", S, id=f"provision-{i}"))


class _RefusingBoot(FakeHost):
    """A host whose BootAgent always fails for good: those items end parked."""

    def __call__(self, agent_id: str, effect: Any, key: str) -> Any:
        if type(effect).__name__ == "BootAgent":
            raise PermanentError("boot refused")
        return super().__call__(agent_id, effect, key)


def test_prune_done_deletes_only_done_items_older_than_the_cutoff(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    _provision(controller, ["a0", "a1"])
    OutboxWorker(controller, _RefusingBoot(), worker_id="w").drain()
    done_early = store.outbox(state=DONE)
    parked = store.outbox(state=PARKED)
    assert done_early
    assert parked
    clock.advance(timedelta(hours=1))
    _provision(controller, ["a2"])  # a pending item, newer than the cutoff
    pending = store.outbox(state=PENDING)
    assert pending

    cutoff = clock.now() - timedelta(minutes=30)
    assert store.prune_done(cutoff) == len(done_early)
    assert store.outbox(state=DONE) == []
    assert store.outbox(state=PARKED) == parked
    assert store.outbox(state=PENDING) == pending
    assert store.prune_done(cutoff) == 0


def test_prune_done_keeps_items_done_after_the_cutoff_and_respects_limit(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    _provision(controller, [f"a{i}" for i in range(3)])
    OutboxWorker(controller, FakeHost(), worker_id="w").drain()
    done = store.outbox(state=DONE)
    assert len(done) >= 3
    assert store.prune_done(clock.now() - timedelta(seconds=1)) == 0  # not old enough
    later = clock.now() + timedelta(seconds=1)
    assert store.prune_done(later, limit=2) == 2
    assert [i.id for i in store.outbox(state=DONE)] == [i.id for i in done[2:]]
    assert store.prune_done(later) == len(done) - 2


def test_a_pruned_items_event_delivered_again_is_not_redone(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    _provision(controller, ["a0"])
    host = FakeHost()
    OutboxWorker(controller, host, worker_id="w").drain()
    calls = len(host.calls)
    clock.advance(timedelta(hours=1))
    assert store.prune_done(clock.now()) > 0
    # The provision event again: recognised by its audit row, so no new outbox item.
    controller.handle("a0", Event("provision", S, id="provision-a0"))
    assert store.outbox() == []
    OutboxWorker(controller, host, worker_id="w").drain()
    assert len(host.calls) == calls


@pytest.mark.parametrize("limit", [0, -1])
def test_prune_done_refuses_a_limit_that_is_not_positive(store: Store, limit: int) -> None:
    with pytest.raises(StoreError, match="positive"):
        store.prune_done(datetime(2026, 1, 1, tzinfo=UTC), limit=limit)


# -- the codec's direct paths ---------------------------------------------------------------

_STANDARD = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)
_text = st.text(min_size=1, max_size=12).filter(str.strip)
_aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
) | st.datetimes(timezones=st.just(timezone(timedelta(hours=-5, minutes=-30))))
_agents = st.builds(
    AlfeAgent,
    agent_id=_text,
    name=_text,
    credentials=st.integers(0, 2**70),
    remembered=st.none() | _text,
    suspend_reason=st.none() | _text,
    deleted_at=st.none() | _aware,
    purge_at=st.none() | _aware,
)
_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_payloads = st.dictionaries(st.text(max_size=6), _scalars, max_size=5)


@settings(max_examples=80, deadline=None)
@given(agent=_agents, payload=_payloads, proxied=st.booleans())
def test_direct_json_is_the_standard_encoders_text(
    agent: AlfeAgent, payload: dict[str, Any], proxied: bool
) -> None:
    codec = DEFAULT_CODEC
    assert codec.dumps(agent) == _STANDARD.encode(codec.encode(agent))
    value = MappingProxyType(payload) if proxied else payload
    assert codec.dumps(value) == _STANDARD.encode(codec.encode(value))
    assert codec.loads(codec.dumps(agent)) == agent
    assert codec.loads(codec.dumps(value)) == payload


@settings(max_examples=60, deadline=None)
@given(
    value=st.recursive(
        _scalars | _agents,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["a", "@type", "@dt", "b"]), inner, max_size=3)
        ),
        max_leaves=8,
    )
)
def test_parsing_with_tags_equals_the_two_pass_decode(value: Any) -> None:
    codec = DEFAULT_CODEC
    text = codec.dumps(value)
    assert codec.loads(text) == codec.decode(json.loads(text))


def test_a_codec_subclass_that_refines_encode_is_called_for_records() -> None:
    seen: list[str] = []

    class Counting(Codec):
        def encode(self, value: Any) -> Any:
            seen.append(type(value).__name__)
            return super().encode(value)

    codec = Counting([AlfeAgent])
    agent = AlfeAgent("a", "b")
    assert codec.loads(codec.dumps(agent)) == agent
    codec.dumps({"k": "v"})
    assert seen == ["AlfeAgent", "dict"]
