"""The store contract, run against all four stores (SQLite and PostgreSQL, sync and asyncio)
through the controller and directly.

An async store is driven through a blocking facade (its coroutines run on a loop thread), and
the ``controller`` fixture is then an ``AsyncController`` behind the same facade; the tests
that build a ``Controller`` of their own run the sync controller on the async store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from async_support import LoopThread, SyncFacade
from runtime_support import T0, FaultyStore, StoreSpec

from agentfsm import Actor, Event, InvalidInput, Refusal, Step
from agentfsm import effects as fx
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    DOMAIN_EVENT,
    EFFECT,
    AgentExists,
    AsyncController,
    AsyncPostgresStore,
    AsyncSQLiteStore,
    Controller,
    DuplicateEvent,
    ManualClock,
    Store,
    UnknownAgent,
    VersionConflict,
    replay_differences,
)
from conftest import new_schema

S, U = Actor.SYSTEM, Actor.USER

KINDS = ["sqlite", "postgres", "async-sqlite", "async-postgres"]


@pytest.fixture(params=KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    loop = LoopThread()
    try:
        yield loop
    finally:
        loop.close()


@pytest.fixture
def async_store(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest, loop_thread: LoopThread
) -> Iterator[Any]:
    """The async store under test (``None`` for the sync kinds)."""
    if not store_kind.startswith("async-"):
        yield None
        return
    if store_kind == "async-sqlite":
        inner: Any = AsyncSQLiteStore(tmp_path / "agents.db")
    else:
        dsn = request.getfixturevalue("pg_server").dsn
        inner = AsyncPostgresStore(dsn, schema=new_schema(), max_size=4)
    loop_thread.run(inner.open())
    try:
        yield inner
    finally:
        loop_thread.run(inner.close())


@pytest.fixture
def store(
    store_kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    async_store: Any,
    loop_thread: LoopThread,
) -> Iterator[Store]:
    if async_store is not None:
        yield SyncFacade(async_store, loop_thread)  # type: ignore[misc]
        return
    if store_kind == "sqlite":
        spec = StoreSpec("sqlite", str(tmp_path / "agents.db"))
    else:
        spec = StoreSpec("postgres", request.getfixturevalue("pg_server").dsn, new_schema())
    s = spec.open()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def controller(
    store: Store, clock: ManualClock, async_store: Any, loop_thread: LoopThread
) -> Controller:
    if async_store is not None:
        return SyncFacade(AsyncController(MACHINES, async_store, clock), loop_thread)  # type: ignore[return-value]
    return Controller(MACHINES, store, clock)


def _booting(controller: Controller, agent_id: str = "a1") -> None:
    controller.create(agent_id, "alfe", AlfeAgent(agent_id, "Bob"))
    controller.handle(agent_id, Event("provision", S))
    controller.handle(agent_id, Event("host_up", S))


def test_create_then_load(controller: Controller, store: Store) -> None:
    snap = controller.create("a1", "alfe", AlfeAgent("a1", "Bob", size="large"))
    record = store.load("a1")
    assert record.machine == "alfe"
    assert record.snapshot == snap
    assert (snap.status, snap.version, snap.since) == ("pending", 0, T0)
    assert record.snapshot.data == AlfeAgent("a1", "Bob", size="large")
    [row] = store.history("a1")
    assert (row.kind, row.to_status, row.version) == ("create", "pending", 0)


def test_create_twice_is_refused_and_changes_nothing(controller: Controller, store: Store) -> None:
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    with pytest.raises(AgentExists):
        controller.create("a1", "alfe", AlfeAgent("a1", "Other"))
    assert store.load("a1").snapshot.data.name == "Bob"
    assert len(store.history("a1")) == 1


def test_create_many_is_all_or_nothing(controller: Controller, store: Store) -> None:
    controller.create("a2", "alfe", AlfeAgent("a2", "Two"))
    with pytest.raises(AgentExists):
        controller.create_many(
            [("a1", "alfe", AlfeAgent("a1", "One")), ("a2", "alfe", AlfeAgent("a2", "Again"))]
        )
    assert store.load_many(["a1", "a2"]).keys() == {"a2"}


def test_unknown_agent(controller: Controller, store: Store) -> None:
    with pytest.raises(UnknownAgent, match="create it first"):
        store.load("nobody")
    with pytest.raises(UnknownAgent):
        controller.handle("nobody", Event("provision", S))
    assert store.history("nobody") == []


_FLEET = [
    "acme.a", "acme.b", "acme.c", "acme-x", "acmf", "zeta.1", "Acme.Z", "acme.\U0010ffff",
    "acme.\u00e9", "acme.\ud7ff", "acme.\ue000",
]  # fmt: skip


def test_agents_are_read_page_by_page_and_filtered(controller: Controller, store: Store) -> None:
    for a in _FLEET:
        controller.create(a, "alfe", AlfeAgent("x", "n"))
    controller.handle("acme.b", Event("provision", S))
    every = [r.agent_id for r in store.agents()]
    assert sorted(every) == sorted(_FLEET)
    for size in (1, 2, 5):
        read: list[str] = []
        after: str | None = None
        while page := store.agents(after=after, limit=size):
            assert len(page) <= size
            read += [r.agent_id for r in page]
            after = page[-1].agent_id
        assert read == every  # every agent once, in the store's order
    tenant = [a for a in every if a.startswith("acme.")]
    assert [r.agent_id for r in store.agents(prefix="acme.")] == tenant
    assert [r.agent_id for r in store.agents(prefix="acme.", after=tenant[1], limit=2)] == (
        tenant[2:4]
    )
    assert [r.agent_id for r in store.agents(status="provisioning")] == ["acme.b"]
    assert [r.agent_id for r in store.agents(machine="alfe", status="pending", prefix="z")] == [
        "zeta.1"
    ]
    assert store.agents(machine="recif") == []
    assert store.agents(limit=0) == []
    assert [r.agent_id for r in store.agents(prefix="")] == every
    # Keys nothing can be stored under match nothing; an after of that kind is refused.
    assert store.agents(prefix="acme.\udcff") == []
    assert store.agents(status="pend\x00ing") == []
    assert store.agents(after="acme.a\x00") == store.agents(after="acme.a")
    before = store.agents()
    for bad in ({"after": "a\udcff"}, {"limit": -1}, {"limit": True}, {"prefix": 3},
                {"machine": b"alfe"}, {"status": ["pending"]}):  # fmt: skip
        with pytest.raises(InvalidInput):
            store.agents(**bad)  # type: ignore[arg-type]
    assert store.agents() == before


def test_accepted_event_writes_snapshot_audit_outbox_and_timer(
    controller: Controller, store: Store
) -> None:
    _booting(controller)
    record = store.load("a1")
    assert (record.snapshot.status, record.snapshot.version) == ("starting", 2)
    effects = [i.payload for i in store.outbox(agent_id="a1")]
    assert effects == [fx.ProvisionHost("small", 1), fx.IssueCredentials(1), fx.BootAgent(1)]
    assert {i.kind for i in store.outbox()} == {EFFECT}
    [timer] = store.timers("a1")
    assert (timer.event, timer.due_at) == ("boot_timeout", T0 + timedelta(minutes=5))
    rows = store.history("a1")
    assert [(r.event, r.from_status, r.to_status, r.version) for r in rows[1:]] == [
        ("provision", "pending", "provisioning", 1),
        ("host_up", "provisioning", "starting", 2),
    ]


def test_refusal_is_logged_and_changes_nothing_else(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    before = store.load("a1")
    clock.advance(5)
    result = controller.handle("a1", Event("stop", U), correlation_id="req-7")
    assert isinstance(result, Refusal)
    assert store.load("a1") == before
    assert store.outbox() == []
    assert store.timers() == []
    row = store.history("a1")[-1]
    assert row.refusal is not None
    assert row.refusal.code == "not_allowed_from_status"
    assert (row.from_status, row.to_status, row.version) == ("pending", "pending", 0)
    assert (row.correlation_id, row.actor, row.at) == ("req-7", "U", T0 + timedelta(seconds=5))


def test_same_event_id_twice_gives_one_transition(controller: Controller, store: Store) -> None:
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    first = controller.handle("a1", Event("provision", S, id="ev-1"))
    again = controller.handle("a1", Event("provision", S, id="ev-1"))
    assert isinstance(first, Step)
    assert isinstance(again, Step)
    assert again.snapshot == first.snapshot
    assert again.effects == first.effects
    assert store.load("a1").snapshot.version == 1
    assert [r.event_id for r in store.history("a1")].count("ev-1") == 1
    assert len(store.outbox()) == 2
    assert controller.stats.duplicates == 1


def test_same_refused_event_id_twice_returns_the_recorded_refusal(
    controller: Controller, store: Store
) -> None:
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    first = controller.handle("a1", Event("stop", U, id="ev-1"))
    controller.handle("a1", Event("provision", S))
    # Now "stop" would be refused for another reason; the recorded refusal is what comes back.
    again = controller.handle("a1", Event("stop", U, id="ev-1"))
    assert again == first
    assert len(store.history("a1")) == 3


def test_stale_write_is_a_version_conflict_and_writes_nothing(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    other = Controller(MACHINES, store, clock)
    assert isinstance(other.handle("a1", Event("provision", S)), Step)  # caches version 1
    controller.handle("a1", Event("capacity_unavailable", S))  # reads v1 fresh, writes v2
    # ``other`` still believes version 1: its write conflicts, it re-reads and decides again.
    result = other.handle("a1", Event("capacity_retry", Actor.TIMER))
    assert other.stats.conflicts == 1
    assert isinstance(result, Step)
    assert result.snapshot.version == 3
    assert replay_differences(store, MACHINES) == []


def test_direct_compare_and_set_conflict(controller: Controller, store: Store) -> None:
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    controller.handle("a1", Event("provision", S))
    stale = Controller(MACHINES, store, controller.clock, cache_size=0)
    record = store.load("a1")
    rows_before = len(store.history("a1"))
    from agentfsm import Context, decide
    from agentfsm.runtime._controller import Delivery

    step = decide(MACHINES["alfe"], record.snapshot, Event("host_up", S, id="x"), Context(T0))
    old = record._replace(snapshot=record.snapshot._replace(version=0))
    write = stale._write_for(Delivery("a1", Event("host_up", S, id="x")), old, step, Context(T0))
    with pytest.raises(VersionConflict) as caught:
        store.commit([write])
    assert caught.value.retryable
    assert len(store.history("a1")) == rows_before
    assert store.load("a1") == record
    assert len(store.outbox()) == 2
    assert store.timers() == []


def test_a_lone_event_for_an_agent_that_is_not_stored_is_unknown_agent(
    controller: Controller, store: Store
) -> None:
    # The one-statement path of each store (an event with no outbox item and no timer): a
    # compare-and-set that finds no row says which of the two reasons it was.
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    record = store.load("a1")
    from agentfsm import Context, decide
    from agentfsm.runtime._controller import Delivery

    event = Event("billing_suspend", S, {"reason": "payment_issue"}, id="c")
    step = decide(MACHINES["alfe"], record.snapshot, event, Context(T0))
    assert isinstance(step, Step)
    assert not step.effects
    lone = controller._write_for(Delivery("a1", event), record, step, Context(T0))
    assert not lone.outbox
    assert not lone.timers
    ghost = lone._replace(agent_id="ghost")
    with pytest.raises(UnknownAgent, match="ghost"):
        store.commit([ghost])
    stale = lone._replace(expected_version=record.snapshot.version - 1)
    with pytest.raises(VersionConflict):
        store.commit([stale])
    assert store.load("a1") == record
    assert store.history("ghost") == []
    store.commit([lone])
    assert store.load("a1").snapshot.status == "billing_suspended"


def test_conflicts_are_retried_a_bounded_number_of_times(store: Store, clock: ManualClock) -> None:
    Controller(MACHINES, store, clock).create("a1", "alfe", AlfeAgent("a1", "Bob"))
    patient = Controller(MACHINES, FaultyStore(store, conflicts=3), clock, max_retries=3)  # type: ignore[arg-type]
    assert isinstance(patient.handle("a1", Event("provision", S)), Step)
    assert patient.stats.conflicts == 3
    hasty = Controller(MACHINES, FaultyStore(store, conflicts=5), clock, max_retries=2)  # type: ignore[arg-type]
    with pytest.raises(VersionConflict):
        hasty.handle("a1", Event("host_up", S))
    assert hasty.stats.conflicts == 3
    assert store.load("a1").snapshot.version == 1


def test_timer_of_the_same_event_replaces_the_older_one_and_cancel_removes_it(
    controller: Controller, store: Store, clock: ManualClock
) -> None:
    _booting(controller)
    first = store.timers("a1")[0]
    clock.advance(timedelta(minutes=20))
    controller.handle("a1", Event("start", U))  # stuck in starting: power-cycle, new boot timer
    [second] = store.timers("a1")
    assert second.event == "boot_timeout"
    assert second.token != first.token
    assert second.due_at == T0 + timedelta(minutes=25)
    controller.handle("a1", Event("connected", S))
    assert store.timers("a1") == []


def test_domain_events_go_to_the_outbox_as_domain_events(
    controller: Controller, store: Store
) -> None:
    from agentfsm.models import RecifAgent

    controller.create("r1", "recif", RecifAgent("r1"))
    controller.handle("r1", Event("deploy", U))
    controller.handle("r1", Event("pods_ready", S, {"ready_replicas": 1}))
    kinds = [(i.kind, type(i.payload).__name__) for i in store.outbox(agent_id="r1")]
    assert (DOMAIN_EVENT, "AgentDeployed") in kinds


def test_handle_many_matches_one_by_one(store: Store, clock: ManualClock) -> None:
    from agentfsm.runtime import Delivery

    c = Controller(MACHINES, store, clock)
    c.create_many([(f"a{i}", "alfe", AlfeAgent(f"a{i}", f"n{i}")) for i in range(5)])
    events = [Delivery(f"a{i}", Event("provision", S, id=f"p{i}")) for i in range(5)]
    events += [Delivery("a0", Event("host_up", S)), Delivery("a0", Event("connected", S))]
    events += [Delivery("a1", Event("stop", U))]
    results = c.handle_many(events)
    assert [r.accepted for r in results] == [True] * 7 + [False]
    assert store.load("a0").snapshot.status == "running"
    assert c.stats.batches_split == 0
    # A batch holding an already recorded event id falls back to one by one.
    again = c.handle_many([events[0], Delivery("a2", Event("host_up", S))])
    assert again[0] == results[0]
    assert again[1].accepted
    assert c.stats.batches_split == 1
    assert replay_differences(store, MACHINES) == []


def test_history_lists_every_row_in_order(controller: Controller, store: Store) -> None:
    _booting(controller)
    controller.handle("a1", Event("restart", U))
    controller.handle("a1", Event("connected", S), correlation_id="c-1")
    rows = controller.history("a1")
    assert [r.seq for r in rows] == sorted(r.seq for r in rows)
    assert [r.event for r in rows] == ["alfe", "provision", "host_up", "restart", "connected"]
    assert [r.accepted for r in rows] == [True, True, True, False, True]
    assert rows[-1].correlation_id == "c-1"
    assert store.audit_row("a1", rows[2].scope, rows[2].event_id) == rows[2]


def test_a_stale_batch_is_split_and_retried(store: Store, clock: ManualClock) -> None:
    from agentfsm.runtime import Delivery

    first = Controller(MACHINES, store, clock)
    first.create_many([(f"a{i}", "alfe", AlfeAgent(f"a{i}", f"n{i}")) for i in range(3)])
    second = Controller(MACHINES, store, clock)
    second.handle_many([Delivery(f"a{i}", Event("provision", S)) for i in range(3)])  # cached
    first.handle("a1", Event("host_up", S))  # ``second`` now holds a stale a1
    results = second.handle_many(
        [Delivery(f"a{i}", Event("host_up", S, id=f"h{i}")) for i in range(3)]
    )
    assert second.stats.batches_split == 1
    assert second.stats.conflicts >= 1
    assert [r.accepted for r in results] == [True, False, True]  # a1 was already starting
    assert replay_differences(store, MACHINES) == []


def test_a_batch_whose_writes_do_not_chain_writes_nothing(
    controller: Controller, store: Store
) -> None:
    from agentfsm import Context, decide
    from agentfsm.runtime._controller import Delivery

    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    record = store.load("a1")
    ctx = Context(T0)
    writes = []
    for n in range(2):  # both decided on version 0: the second does not chain on the first
        event = Event("provision", S, id=f"p{n}")
        step = decide(MACHINES["alfe"], record.snapshot, event, ctx)
        writes.append(controller._write_for(Delivery("a1", event), record, step, ctx))
    with pytest.raises(VersionConflict):
        store.commit(writes)
    dup = [writes[0], writes[0]._replace(agent_id="a1")]
    with pytest.raises(DuplicateEvent):
        store.commit(dup)
    assert store.load("a1") == record
    assert len(store.history("a1")) == 1
    assert store.outbox() == []


def test_the_async_kinds_are_driven_by_the_asyncio_runtime(
    store_kind: str, store: Store, controller: Controller
) -> None:
    # The facade must not quietly hand a sync store or controller to the async kinds.
    import inspect

    if store_kind.startswith("async-"):
        assert isinstance(controller.inner, AsyncController)  # type: ignore[attr-defined]
        assert inspect.iscoroutinefunction(store.inner.commit)  # type: ignore[attr-defined]
        assert controller.inner.store is store.inner  # type: ignore[attr-defined]
    else:
        assert type(controller) is Controller
        assert not inspect.iscoroutinefunction(store.commit)
