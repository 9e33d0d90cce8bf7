"""Idempotency keys are scoped to their sender: the agent, the actor and the principal.

Run against both stores. A key reused by another sender is another key; reused by the same
sender for another request it is an ``IdempotencyKeyMismatch`` that writes nothing; a timer or
an outbox item whose event was decided already is spent, never claimed again and again.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runtime_support import T0

from agentfsm import Actor, Context, Event, Refusal, Step, decide
from agentfsm import effects as fx
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    EVENT,
    PARKED,
    Controller,
    Delivery,
    EventIdReused,
    IdempotencyKeyMismatch,
    ManualClock,
    OutboxWorker,
    Store,
    StoreError,
    TimerWorker,
    Write,
    idempotency_scope,
    replay_differences,
)

S, U, T = Actor.SYSTEM, Actor.USER, Actor.TIMER


def _provisioning(controller: Controller, agent_id: str = "a1") -> None:
    controller.create(agent_id, "alfe", AlfeAgent(agent_id, "Bob"))
    controller.handle(agent_id, Event("provision", S))


def _everything(store: Store, agent_id: str) -> tuple[Any, ...]:
    return (store.load(agent_id), store.history(agent_id), store.outbox(), store.timers())


# -- scopes ------------------------------------------------------------------------------------


def test_regression_event_id_shared_between_user_and_platform(
    controller: Controller, store: Store
) -> None:
    _provisioning(controller)
    refused = controller.handle("a1", Event("start", U, id="X"))
    assert isinstance(refused, Refusal)
    decided = controller.handle("a1", Event("host_up", S, id="X"))
    assert isinstance(decided, Step), decided
    assert store.load("a1").snapshot.status == "starting"
    rows = [r for r in store.history("a1") if r.event_id == "X"]
    assert [(r.event, r.actor, r.scope) for r in rows] == [
        ("start", "U", "U"),
        ("host_up", "S", "S"),
    ]
    assert replay_differences(store, MACHINES) == []


def test_the_same_key_for_another_agent_is_another_key(
    controller: Controller, store: Store
) -> None:
    _provisioning(controller, "a1")
    _provisioning(controller, "a2")
    first = controller.handle("a1", Event("host_up", S, id="ev-1"))
    second = controller.handle("a2", Event("host_up", S, id="ev-1"))
    assert isinstance(first, Step)
    assert isinstance(second, Step)
    assert store.load("a2").snapshot.status == "starting"
    # Their effects' keys and timer tokens are derived apart, so both are stored.
    tokens = {t.token for t in store.timers()}
    assert len(tokens) == 2
    assert len({i.key for i in store.outbox()}) == len(store.outbox())


def test_principals_have_scopes_of_their_own_and_are_recorded(
    controller: Controller, store: Store
) -> None:
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    alice = controller.handle("a1", Event("stop", U, id="k"), principal="alice")
    bob = controller.handle("a1", Event("delete", U, id="k"), principal="bob")
    anonymous = controller.handle("a1", Event("restart", U, id="k"))
    assert [type(o) for o in (alice, bob, anonymous)] == [Refusal, Step, Refusal]
    again = controller.handle("a1", Event("stop", U, id="k"), principal="alice")
    assert again == alice
    rows = [r for r in store.history("a1") if r.event_id == "k"]
    assert [(r.principal, r.scope) for r in rows] == [
        ("alice", "U/alice"),
        ("bob", "U/bob"),
        (None, "U"),
    ]
    assert store.audit_row("a1", "U/bob", "k") == rows[1]
    assert store.audit_row("a1", "S", "k") is None
    assert store.audit_row("a2", "U/bob", "k") is None


def test_a_batch_records_each_deliverys_principal(controller: Controller, store: Store) -> None:
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    results = controller.handle_many(
        [
            Delivery("a1", Event("stop", U, id="k"), principal="alice"),
            Delivery("a1", Event("stop", U, id="k"), principal="bob"),
            Delivery("a1", Event("provision", S, id="k")),
        ]
    )
    assert [r.accepted for r in results] == [False, False, True]
    assert [r.principal for r in store.history("a1")[1:]] == ["alice", "bob", None]


@pytest.mark.parametrize("principal", ["", 7, b"alice"])
def test_a_principal_must_be_a_non_empty_string(
    controller: Controller, store: Store, principal: Any
) -> None:
    from agentfsm import InvalidInput

    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    before = _everything(store, "a1")
    with pytest.raises(InvalidInput, match="principal"):
        controller.handle("a1", Event("stop", U), principal=principal)
    with pytest.raises(InvalidInput, match="principal"):
        controller.handle_many([Delivery("a1", Event("stop", U), principal=principal)])
    assert _everything(store, "a1") == before


def test_scopes_cannot_be_forged_by_a_principal() -> None:
    scopes = {
        idempotency_scope(EVENT, actor, principal)
        for actor in ("U", "S", "T")
        for principal in (None, "S", "T", "U", "/S", "S/x")
    }
    assert len(scopes) == 18
    assert {"S", "T"} <= scopes
    assert idempotency_scope(EVENT, "U", "S") != idempotency_scope(EVENT, "S", None)
    assert idempotency_scope("create", None) == "create"


# -- the same key for another request --------------------------------------------------------


def test_regression_key_reused_with_another_payload_is_answered_with_the_first_outcome(
    controller: Controller, store: Store
) -> None:
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    first = controller.handle("a1", Event("recreate", U, {"confirmation": "Bob"}, id="k"))
    before = _everything(store, "a1")
    with pytest.raises(IdempotencyKeyMismatch) as caught:
        controller.handle("a1", Event("recreate", U, {"confirmation": "Eve"}, id="k"))
    assert _everything(store, "a1") == before
    error = caught.value
    assert isinstance(error, EventIdReused)
    assert isinstance(error, StoreError)
    assert not error.retryable
    assert (error.agent_id, error.scope, error.key) == ("a1", "U", "k")
    assert error.recorded.payload == {"confirmation": "Bob"}
    assert error.requested.payload == {"confirmation": "Eve"}
    assert "confirmation" in str(error)
    assert "Eve" not in str(error)  # the message names fields, never user values
    with pytest.raises(IdempotencyKeyMismatch, match="the event differs"):
        controller.handle("a1", Event("delete", U, id="k"))
    assert _everything(store, "a1") == before
    # The same request again is still answered with its outcome.
    assert controller.handle("a1", Event("recreate", U, {"confirmation": "Bob"}, id="k")) == first


def test_a_mismatch_in_a_batch_leaves_that_delivery_unwritten(
    controller: Controller, store: Store
) -> None:
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    controller.handle("a1", Event("stop", U, id="k"))
    before = _everything(store, "a1")
    with pytest.raises(IdempotencyKeyMismatch):
        controller.handle_many([Delivery("a1", Event("start", U, id="k"))])
    assert _everything(store, "a1") == before


def test_a_payload_read_back_from_the_store_is_the_same_request(
    controller: Controller, store: Store
) -> None:
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    payload = {"confirmation": "Bob", "size": "large"}
    first = controller.handle("a1", Event("recreate", U, payload, id="k"))
    reordered = {"size": "large", "confirmation": "Bob"}
    assert controller.handle("a1", Event("recreate", U, reordered, id="k")) == first
    assert controller.stats.duplicates == 1


# -- timers and outbox items whose event was decided --------------------------------------------


def _booting(controller: Controller) -> str:
    _provisioning(controller)
    controller.handle("a1", Event("host_up", S))
    [timer] = controller.store.timers("a1")
    return timer.token


def test_regression_a_timer_whose_event_was_decided_is_consumed_not_claimed_forever(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    token = _booting(controller)
    # The timer's own event, decided before the worker fires it (another worker's lease
    # lapsed after its commit, say).
    controller.handle("a1", Event("boot_timeout", T, id=f"timer:{token}"))
    clock.advance(timedelta(minutes=6))
    worker = TimerWorker(controller, worker_id="w")
    first = worker.run_once()
    assert first.claimed == 1
    assert store.timers() == []
    assert worker.run_once().claimed == 0
    assert [r.event for r in store.history("a1")].count("boot_timeout") == 1


def test_a_timer_whose_key_was_taken_by_another_request_is_consumed_and_reported(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    token = _booting(controller)
    controller.handle("a1", Event("recovery_exhausted", T, id=f"timer:{token}"))
    clock.advance(timedelta(minutes=6))
    worker = TimerWorker(controller, worker_id="w")
    report = worker.drain(max_batches=20)
    assert (report.claimed, report.failed) == (1, 1)
    assert store.timers() == []


class _FailingCommits:
    """A store whose commits fail for good (a full disk): timers can never be recorded."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def commit(self, writes: Sequence[Write]) -> None:
        raise StoreError("disk full")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_regression_timer_drain_does_not_spin_on_timers_that_keep_failing(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    _booting(controller)
    clock.advance(timedelta(minutes=6))
    broken = Controller(MACHINES, _FailingCommits(store), clock)  # type: ignore[arg-type]
    report = TimerWorker(broken, worker_id="w").drain(max_batches=50)
    assert (report.claimed, report.failed) == (1, 1)
    assert len(store.timers("a1")) == 1  # left for later, not lost


class _Answers:
    """An effect handler answering ``ProvisionHost`` with one fixed event."""

    def __init__(self, event: Event) -> None:
        self.event = event

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        return (self.event,) if isinstance(effect, fx.ProvisionHost) else ()


def test_an_outbox_item_whose_event_was_decided_is_done(
    controller: Controller, store: Store
) -> None:
    _provisioning(controller)
    controller.handle("a1", Event("host_up", S, id="host-report-1"))
    worker = OutboxWorker(controller, _Answers(Event("host_up", S, id="host-report-1")))
    report = worker.drain(max_batches=20)
    assert report.parked == 0
    assert store.outbox(state="pending") == []
    assert [r.event for r in store.history("a1")].count("host_up") == 1


def test_an_outbox_item_whose_event_key_is_taken_by_another_request_is_parked(
    controller: Controller, store: Store
) -> None:
    _provisioning(controller)
    controller.handle("a1", Event("provisioning_failed", S, id="host-report-1"))
    worker = OutboxWorker(controller, _Answers(Event("host_up", S, id="host-report-1")))
    report = worker.drain(max_batches=20)
    assert report.parked == 1
    [parked] = store.outbox(state=PARKED)
    assert "IdempotencyKeyMismatch" in (parked.last_error or "")
    assert store.outbox(state="pending") == []


# -- a property: colliding keys never lose an event nor answer with another's outcome ----------

_SENDERS = ((U, None), (U, "alice"), (S, None), (T, None))
_EVENTS = (
    ("provision", S, None),
    ("host_up", S, None),
    ("connected", S, None),
    ("connection_lost", S, None),
    ("boot_timeout", T, None),
    ("start", U, None),
    ("stop", U, None),
    ("restart", U, None),
    ("recreate", U, "Bob"),
    ("recreate", U, "Eve"),
)
_counter = itertools.count()


@st.composite
def _deliveries(draw: st.DrawFn) -> list[tuple[int, int, str]]:
    steps = st.tuples(
        st.integers(0, len(_SENDERS) - 1),
        st.integers(0, len(_EVENTS) - 1),
        st.sampled_from(("X", "Y", "timer:X", "billing:a:1:billing_suspend")),
    )
    return draw(st.lists(steps, min_size=1, max_size=14))


def _event(index: int, sender: Actor, key: str) -> Event:
    name, natural, confirmation = _EVENTS[index]
    # Usually the natural sender of the event; a user may send anything (and is refused).
    payload = {"confirmation": confirmation} if confirmation else {}
    return Event(name, sender if sender is U else natural, payload, id=key)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=_deliveries())
def test_colliding_keys_never_lose_an_event_nor_answer_with_another_outcome(
    store: Store, steps: list[tuple[int, int, str]]
) -> None:
    clock = ManualClock(T0)
    controller = Controller(MACHINES, store, clock)
    agent = f"p{next(_counter)}"
    controller.create(agent, "alfe", AlfeAgent(agent, "Bob"))
    machine = MACHINES["alfe"]
    snapshot = store.load(agent).snapshot
    first: dict[tuple[str, str], tuple[Event, Step | Refusal]] = {}
    for sender_index, event_index, key in steps:
        sender, principal = _SENDERS[sender_index]
        event = _event(event_index, sender, key)
        scope = idempotency_scope(EVENT, event.actor.value, principal)
        clock.advance(timedelta(seconds=30))
        rows_before = len(store.history(agent))
        seen = first.get((scope, key))
        if seen is not None and (seen[0].name, dict(seen[0].payload)) != (
            event.name,
            dict(event.payload),
        ):
            with pytest.raises(IdempotencyKeyMismatch):
                controller.handle(agent, event, principal=principal)
            assert len(store.history(agent)) == rows_before
            continue
        outcome = controller.handle(agent, event, principal=principal)
        if seen is not None:
            assert outcome == seen[1]  # the recorded outcome, of this very request
            assert len(store.history(agent)) == rows_before
            continue
        # A new key in its scope: decided now, exactly as the engine decides it.
        expected = decide(machine, snapshot, event, Context(clock.now()))
        assert outcome == expected
        row = store.history(agent)[-1]
        assert len(store.history(agent)) == rows_before + 1
        assert (row.event_id, row.event, row.scope) == (key, event.name, scope)
        first[(scope, key)] = (event, outcome)
        if isinstance(outcome, Step):
            snapshot = outcome.snapshot
    assert store.load(agent).snapshot == snapshot
