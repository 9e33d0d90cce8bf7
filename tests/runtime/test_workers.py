"""Outbox and timer workers on both stores: at least once, in order, retried, parked, leased."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from runtime_support import T0, FakeHost, FaultyHost

from agentfsm import Actor, Event
from agentfsm import effects as fx
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    DONE,
    PARKED,
    PENDING,
    Controller,
    EffectRouter,
    ManualClock,
    OutboxWorker,
    PermanentError,
    RetainedDataRemover,
    Store,
    TimerWorker,
    exponential_backoff,
    replay_differences,
)

S, U = Actor.SYSTEM, Actor.USER


def _provisioned(controller: Controller, n: int = 1) -> list[str]:
    ids = [f"a{i}" for i in range(n)]
    controller.create_many([(i, "alfe", AlfeAgent(i, f"name-{i}")) for i in ids])
    for i in ids:
        controller.handle(i, Event("provision", S))
    return ids


def test_worker_performs_effects_in_order_and_feeds_results_back(
    controller: Controller, store: Store
) -> None:
    ids = _provisioned(controller, 3)
    host = FakeHost()
    worker = OutboxWorker(controller, host, worker_id="w1")
    total = worker.drain()
    # provision -> host_up (fed back) -> BootAgent -> connected (fed back): all running.
    assert {store.load(i).snapshot.status for i in ids} == {"running"}
    assert total.parked == 0
    assert total.done == len(store.outbox(state=DONE)) == 9
    for i in ids:
        performed = [type(e).__name__ for a, e, _k in host.calls if a == i]
        assert performed == ["ProvisionHost", "IssueCredentials", "BootAgent"]
    assert store.outbox(state=PENDING) == []
    assert replay_differences(store, MACHINES) == []


def test_only_the_oldest_pending_item_of_an_agent_is_claimed(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    _provisioned(controller, 1)
    items = store.claim_outbox("w1", clock.now(), clock.now() + timedelta(minutes=1), 10)
    assert [type(i.payload) for i in items] == [fx.ProvisionHost]


def test_temporary_failures_back_off_then_succeed(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    _provisioned(controller, 1)
    host = FaultyHost(failures=2)
    worker = OutboxWorker(
        controller, host, worker_id="w1", backoff_base=timedelta(seconds=10), rng=random.Random(1)
    )
    report = worker.run_once()
    assert report.retried == 1
    [item] = store.outbox(state=PENDING, limit=1)
    assert item.attempts == 1
    assert item.last_error == "host busy (attempt 1)"
    assert T0 + timedelta(seconds=5) <= item.next_attempt_at <= T0 + timedelta(seconds=10)
    assert worker.run_once().claimed == 0  # not due yet
    clock.advance(timedelta(seconds=10))
    assert worker.run_once().retried == 1
    [item] = store.outbox(state=PENDING, limit=1)
    assert item.attempts == 2
    assert item.next_attempt_at - clock.now() >= timedelta(seconds=10)  # the wait doubled
    clock.advance(timedelta(seconds=20))
    assert worker.run_once().done == 1


def test_an_item_is_parked_after_max_attempts_with_its_last_error(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    _provisioned(controller, 1)
    worker = OutboxWorker(controller, FaultyHost(failures=99), worker_id="w1", max_attempts=3)
    for _ in range(5):
        worker.run_once()
        clock.advance(timedelta(hours=1))
    [parked] = store.outbox(state=PARKED)
    assert parked.attempts == 3
    assert parked.last_error == "host busy (attempt 3)"
    assert isinstance(parked.payload, fx.ProvisionHost)
    # The parked item no longer holds back the agent's next one; an operator can requeue it.
    assert store.requeue_outbox(parked.id, clock.now())
    assert store.outbox(state=PARKED) == []


def test_permanent_errors_and_unrouted_effects_park_at_once(
    controller: Controller, store: Store
) -> None:
    _provisioned(controller, 1)

    def refuse(agent_id: str, effect: Any, key: str) -> list[Event]:
        raise PermanentError("size not offered")

    worker = OutboxWorker(controller, EffectRouter({fx.ProvisionHost: refuse}), worker_id="w")
    worker.drain()
    parked = store.outbox(state=PARKED)
    assert [(p.attempts, p.last_error) for p in parked] == [
        (1, "permanent: size not offered"),
        (1, "permanent: no handler is registered for IssueCredentials"),
    ]


def test_a_lease_keeps_other_workers_off_until_it_lapses(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    _provisioned(controller, 1)
    lease = timedelta(seconds=30)
    now = clock.now()
    [mine] = store.claim_outbox("w1", now, now + lease, 10)
    assert store.claim_outbox("w2", now, now + lease, 10) == []
    # A restarted w1 resumes its own claim at once.
    assert [i.id for i in store.claim_outbox("w1", now, now + lease, 10)] == [mine.id]
    clock.advance(lease + timedelta(seconds=1))
    now = clock.now()
    [taken] = store.claim_outbox("w2", now, now + lease, 10)
    assert taken.id == mine.id
    assert not store.finish_outbox(mine.id, "w1", now)  # w1 lost it
    assert store.finish_outbox(mine.id, "w2", now)


def test_backoff_grows_with_jitter_and_respects_the_cap() -> None:
    rng = random.Random(3)
    base, cap = timedelta(seconds=1), timedelta(seconds=60)
    waits = [exponential_backoff(n, base, cap, rng) for n in range(1, 12)]
    for n, wait in enumerate(waits, start=1):
        full = min(base * 2 ** (n - 1), cap)
        assert full / 2 <= wait <= full
    assert exponential_backoff(10_000, base, cap, rng) <= cap


def test_timer_worker_fires_due_timers_only(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    ids = _provisioned(controller, 4)
    for i in ids:
        controller.handle(i, Event("host_up", S))  # boot_timeout due at T0 + 5 min
    controller.handle(ids[0], Event("connected", S))  # cancels its timer
    timers = TimerWorker(controller, worker_id="t1")
    assert timers.run_once().claimed == 0
    clock.advance(timedelta(minutes=5))
    report = timers.drain()
    assert (report.accepted, report.refused) == (3, 0)
    assert [store.load(i).snapshot.status for i in ids] == ["running"] + ["failing"] * 3
    # boot_timeout scheduled the recovery deadline: timers are rows, and new ones are there.
    assert {t.event for t in store.timers()} == {"recovery_exhausted"}
    rows = [r for r in store.history(ids[1]) if r.event == "boot_timeout"]
    assert [(r.actor, r.event_id.startswith("timer:")) for r in rows] == [("T", True)]


def test_a_refused_timer_is_consumed_and_logged(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    [agent] = _provisioned(controller, 1)
    controller.handle(agent, Event("host_up", S))  # boot_timeout due at +5 min
    clock.advance(timedelta(minutes=1))
    # A billing suspension pauses the agent but leaves its boot timer to fire (and be refused).
    controller.handle(agent, Event("billing_suspend", S, {"reason": "credits_exhausted"}))
    clock.advance(timedelta(minutes=4))
    report = TimerWorker(controller).drain()
    assert (report.accepted, report.refused) == (0, 1)
    assert store.timers() == []
    last = store.history(agent)[-1]
    assert (last.event, last.actor, last.to_status) == ("boot_timeout", "T", "billing_suspended")
    assert last.refusal is not None
    assert last.refusal.code == "not_allowed_from_status"


def test_soft_delete_then_purge_removes_retained_data_and_keeps_the_log(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    [agent] = _provisioned(controller, 1)
    host = FakeHost()
    handler = EffectRouter({fx.RemoveRetainedData: RetainedDataRemover(controller)}, host)
    outbox = OutboxWorker(controller, handler, worker_id="w")
    timers = TimerWorker(controller, worker_id="t")
    outbox.drain()
    controller.handle(agent, Event("delete", U))
    outbox.drain()
    deleted = store.load(agent).snapshot
    assert deleted.status == "deleted"
    assert deleted.data.host == 1
    grace = controller.machines["alfe"].policy.grace_period
    assert [t.due_at for t in store.timers(agent)] == [clock.now() + grace]
    clock.advance(grace - timedelta(seconds=1))
    assert timers.drain().claimed == 0
    clock.advance(timedelta(seconds=1))
    assert timers.drain().accepted == 1
    outbox.drain()
    purged = store.load(agent).snapshot
    assert purged.status == "deleted"
    assert purged.data == AlfeAgent(
        agent,
        f"name-{agent}",
        deleted_at=deleted.data.deleted_at,
        purge_at=deleted.data.purge_at,
        purged_at=clock.now(),
    )
    rows = store.history(agent)
    assert [r.event for r in rows][-3:] == ["delete", "purge", "remove_retained_data"]
    assert rows[0].payload["data"].host == 0  # the log is kept as written
    assert replay_differences(store, MACHINES) == []
    # A second purge is refused by the machine; the remover ran once.
    assert store.outbox(state=PARKED) == []


@pytest.mark.parametrize("batch_size", [1, 7])
def test_many_agents_end_running_with_any_batch_size(
    controller: Controller, store: Store, batch_size: int
) -> None:
    ids = _provisioned(controller, 12)
    OutboxWorker(controller, FakeHost(), batch_size=batch_size).drain()
    assert {store.load(i).snapshot.status for i in ids} == {"running"}
