"""The values at the API boundary: actors, events, contexts, policies, snapshots, steps, offers.

Every malformed value is an ``InvalidInput`` whose message says what to give instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from agentfsm import (
    DEFAULT_POLICY,
    Actor,
    AgentFSMError,
    Context,
    Event,
    InvalidInput,
    Offer,
    Policy,
    Refusal,
    Snapshot,
    decide,
)
from agentfsm.models import ALFE, AlfeAgent, RecifSpec

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "actor"),
    [
        (Actor.USER, Actor.USER),
        ("U", Actor.USER),
        ("user", Actor.USER),
        ("USER", Actor.USER),
        ("S", Actor.SYSTEM),
        ("platform", Actor.SYSTEM),
        ("system", Actor.SYSTEM),
        ("T", Actor.TIMER),
        ("timer", Actor.TIMER),
    ],
)
def test_actor_spellings(given: object, actor: Actor) -> None:
    assert Event("stop", given).actor is actor


@pytest.mark.parametrize("given", ["admin", "u", "", None, 1, ["U"], Actor])
def test_an_unknown_actor_is_invalid_input(given: object) -> None:
    with pytest.raises(InvalidInput, match=r"unknown actor .*Actor\.USER"):
        Event("stop", given)


def test_actor_labels() -> None:
    assert [a.label for a in Actor] == ["user", "platform", "timer"]


@pytest.mark.parametrize("name", ["", None, 3, b"stop"])
def test_an_event_needs_a_name(name: object) -> None:
    with pytest.raises(InvalidInput, match="name must be a non-empty string"):
        Event(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("payload", ["confirmation", ["a"], [("confirmation", "x")], 3, b"{}"])
def test_a_payload_must_be_a_mapping(payload: object) -> None:
    with pytest.raises(InvalidInput, match="payload must be a mapping"):
        Event("recreate", Actor.USER, payload)


@pytest.mark.parametrize("key", [1, None, ("a",), b"size"])
def test_payload_keys_must_be_strings(key: Any) -> None:
    with pytest.raises(InvalidInput, match="payload keys must be strings"):
        Event("recreate", Actor.USER, {key: "x"})


def test_an_event_payload_is_a_frozen_copy() -> None:
    given = {"confirmation": "support-bot"}
    event = Event("recreate", Actor.USER, given)
    given["confirmation"] = "someone-else"
    assert event.payload["confirmation"] == "support-bot"
    with pytest.raises(TypeError):
        event.payload["confirmation"] = "x"  # type: ignore[index]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.name = "delete"  # type: ignore[misc]
    assert Event("stop").payload == {}
    assert Event("stop", Actor.USER, None).payload == {}


def test_events_default_to_a_user_with_no_id() -> None:
    event = Event("stop")
    assert (event.actor, event.id) == (Actor.USER, None)
    assert Event("stop", id="evt-1").id == "evt-1"


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 4, 3, 10, 0),
        datetime.now(),  # naive: the point of the test
        "2026-04-03T10:00:00Z",
        1775210400,
        None,
    ],
)
def test_a_context_needs_an_aware_datetime(now: object) -> None:
    with pytest.raises(InvalidInput, match="now must be"):
        Context(now)  # type: ignore[arg-type]


def test_a_context_accepts_any_timezone() -> None:
    paris = timezone(timedelta(hours=2))
    assert Context(datetime(2026, 4, 3, 12, 0, tzinfo=paris)).now == T0
    # No policy given: the machine's applies (see test_policy_agreement).
    assert Context(T0).policy is None
    assert Context(T0, DEFAULT_POLICY).policy is DEFAULT_POLICY


def test_policy_defaults_are_the_documented_ones() -> None:
    policy = Policy()
    assert policy.stuck_after == timedelta(minutes=10)
    assert policy.grace_period == timedelta(days=30)
    assert policy.requeue_after == timedelta(seconds=30)


@pytest.mark.parametrize(
    "field",
    [
        "stuck_after",
        "boot_timeout",
        "recovery_timeout",
        "grace_period",
        "capacity_retry_base",
        "capacity_retry_max",
        "requeue_after",
    ],
)
@pytest.mark.parametrize("value", [timedelta(0), timedelta(minutes=-1), 600, None, "10m"])
def test_bad_policy_values(field: str, value: object) -> None:
    with pytest.raises(InvalidInput, match=f"{field} must be a positive timedelta"):
        Policy(**{field: value})  # type: ignore[arg-type]


def test_a_context_needs_a_policy() -> None:
    try:
        context = Context(T0, "fast")  # type: ignore[arg-type]
    except InvalidInput:
        return
    stuck = Snapshot("starting", 1, T0 - timedelta(hours=1), AlfeAgent("a", "b"))
    result = decide(ALFE, stuck, Event("start"), context)
    assert isinstance(result, Refusal)


@pytest.mark.parametrize("field", ["agent_id", "name", "size"])
@pytest.mark.parametrize("value", ["", "  ", None, 7])
def test_alfe_agent_needs_text(field: str, value: object) -> None:
    fields: dict[str, Any] = {"agent_id": "agt-1", "name": "support-bot", field: value}
    with pytest.raises(InvalidInput, match=field):
        AlfeAgent(**fields)


@pytest.mark.parametrize("replicas", [0, 11, -1, True, 2.0, "2", None])
def test_recif_spec_replicas(replicas: object) -> None:
    with pytest.raises(InvalidInput, match="replicas must be"):
        RecifSpec(replicas=replicas)  # type: ignore[arg-type]


@pytest.mark.parametrize("config", [None, "a=b", {"a": 1}, {1: "a"}])
def test_recif_spec_config(config: object) -> None:
    with pytest.raises(InvalidInput, match="config"):
        RecifSpec(config=config)


@pytest.mark.parametrize("image", ["", " ", None])
def test_recif_spec_image(image: object) -> None:
    with pytest.raises(InvalidInput, match="image"):
        RecifSpec(image=image)  # type: ignore[arg-type]


def test_invalid_input_is_a_value_error_and_an_agentfsm_error() -> None:
    assert issubclass(InvalidInput, ValueError)
    assert issubclass(InvalidInput, AgentFSMError)


def test_snapshot_step_refusal_and_offer_shapes() -> None:
    snapshot = Snapshot("running", 2, T0, None)
    assert snapshot._replace(version=3).version == 3
    assert snapshot.version == 2  # immutable
    refusal = Refusal("not_stuck", "Start can recover…", "start", "starting", "stuck")
    assert not refusal.accepted
    offer = Offer("recreate", "Recreate", True, needs=("confirmation",))
    assert (offer.refusal, offer.requirements) == (None, ())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        refusal.code = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "bad_id",
    ["", "a\udcff", "\ud800", "x" * 1025, 5, b"id", ["id"], {"id": 1}, 10**5000],
    ids=["empty", "surrogate", "lone high", "too long", "int", "bytes", "list", "dict", "huge"],
)
def test_regression_event_id_that_no_store_can_keep_was_accepted_by_event(bad_id: object) -> None:
    # Such an id got as far as the store (a CodecError, or a TypeError for an unhashable one).
    with pytest.raises(InvalidInput, match="event id"):
        Event("start", "U", id=bad_id)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="event id"):
        attrs.evolve(Event("start"), id=bad_id)


class _Loud(str):
    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


def test_event_id_is_kept_as_a_plain_string() -> None:
    assert Event("start", id="x" * 1024).id == "x" * 1024
    assert Event("start", id="nul\x00ok").id == "nul\x00ok"  # SQLite keeps NUL
    kept = Event("start", id=_Loud("k")).id
    assert type(kept) is str
    assert kept == "k"
    assert kept != "other"
    assert Event("start").id is None
