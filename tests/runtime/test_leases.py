"""Reconcile leases and fencing tokens on both stores: one owner per key, once per period.

``SharedReconcileLoop`` keeps its queue in the store, so several loops on one database behave
as one: disjoint keys, each key once per period, a lapsed lease taken over with a larger
token, a late release that changes nothing. Outbox claims carry tokens too, and what refuses
late work (``FenceBook``, the fenced host and release store, the Kubernetes host) changes nothing
when it refuses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runtime_support import T0

from agentfsm import Actor, Event
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    GONE,
    Controller,
    Fence,
    FenceBook,
    FenceGuard,
    ManualClock,
    OutboxWorker,
    Requeue,
    SharedReconcileLoop,
    SQLiteStore,
    StaleFence,
    Store,
    StoreError,
    TemporaryError,
    current_fence,
)
from agentfsm.runtime._fencing import set_fence
from agentfsm.runtime._leases import Lease, leases_of

LEASE = timedelta(seconds=10)
PERIOD = timedelta(seconds=30)


class Recorder:
    """A reconciler that records (key, token) per pass and asks to come back after PERIOD."""

    def __init__(self, name: str, log: list[tuple[str, str, int]]) -> None:
        self.name = name
        self.log = log

    def __call__(self, key: str) -> timedelta | None:
        fence = current_fence()
        assert fence is not None
        assert fence.key == key
        self.log.append((self.name, key, fence.token))
        return PERIOD


def _loops(
    store: Store, clock: ManualClock, n: int, log: list[tuple[str, str, int]]
) -> list[SharedReconcileLoop]:
    return [
        SharedReconcileLoop(
            store, Recorder(f"r{i}", log), clock, replica_id=f"r{i}", lease=LEASE, batch_size=3
        )
        for i in range(n)
    ]


def test_replicas_take_disjoint_keys_with_increasing_tokens(
    store: Store, clock: ManualClock
) -> None:
    log: list[tuple[str, str, int]] = []
    a, b = _loops(store, clock, 2, log)
    assert a.offer([f"k{i}" for i in range(7)]) == 7
    assert b.offer([f"k{i}" for i in range(9)]) == 2  # only the untracked ones are new
    first = a.run_due(limit=4)
    second = b.run_due()
    assert len(first.reconciled) == 4
    assert set(first.reconciled).isdisjoint(second.reconciled)
    assert sorted(first.reconciled + second.reconciled) == sorted(f"k{i}" for i in range(9))
    tokens = [t for _, _, t in log]
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == len(tokens)
    assert a.run_due().passes == b.run_due().passes == 0  # nothing is due before the period


def test_every_key_is_reconciled_once_per_period_by_the_fleet(
    store: Store, clock: ManualClock
) -> None:
    log: list[tuple[str, str, int]] = []
    loops = _loops(store, clock, 3, log)
    keys = [f"agent-{i}" for i in range(12)]
    for loop in loops:
        loop.offer(keys)  # every replica offers the whole fleet when it starts
    for _period in range(4):
        for step in range(6):  # the replicas poll in turn, several times a period
            loops[step % 3].run_due(limit=5)
        clock.advance(PERIOD)
    per_key = Counter(key for _, key, _ in log)
    assert per_key == dict.fromkeys(keys, 4)
    assert len({name for name, _, _ in log}) > 1  # the work was shared


def test_a_fleet_of_three_resyncs_a_thousand_keys_exactly_once_per_period(
    store: Store, clock: ManualClock
) -> None:
    log: list[tuple[str, str, int]] = []
    seen: list[tuple[str, datetime]] = []  # (key, when) per pass
    loops = [
        SharedReconcileLoop(
            store, Recorder(f"r{i}", log), clock, replica_id=f"r{i}", lease=LEASE, batch_size=25
        )
        for i in range(3)
    ]
    keys = [f"agent-{i:04d}" for i in range(1000)]
    steps = 10  # the replicas poll ten times a period
    step = PERIOD / steps
    start = clock.now()
    periods = 3
    for n in range(periods * steps):
        if n < steps:  # agents arrive through the first period, so their phases differ
            loops[n % 3].offer(keys[n * 100 : (n + 1) * 100])
        turn = n
        while True:  # the replicas take turns until nothing is due at this moment
            before = len(log)
            for i in range(3):
                loops[(turn + i) % 3].run_due(limit=25)
            seen.extend((key, clock.now()) for _, key, _ in log[before:])
            if len(log) == before:
                break
            turn += 1
        clock.advance(step)
    per_period = Counter((key, (at - start) // PERIOD) for key, at in seen)
    assert per_period == {(k, p): 1 for k in keys for p in range(periods)}
    assert len({name for name, _, _ in log}) == 3
    tokens = [t for _, _, t in log]
    assert len(set(tokens)) == len(tokens)


def test_a_lapsed_lease_is_taken_over_and_the_late_release_changes_nothing(
    store: Store, clock: ManualClock
) -> None:
    leases = leases_of(store)
    assert leases is not None
    leases.offer(["x"], clock.now())
    (held,) = leases.take("a", clock.now(), clock.now() + LEASE, 5)
    assert leases.take("b", clock.now(), clock.now() + LEASE, 5) == []  # held: not due
    clock.advance(LEASE + timedelta(seconds=1))
    (taken,) = leases.take("b", clock.now(), clock.now() + LEASE, 5)
    assert taken.token > held.token
    assert taken.holder == "b"
    assert leases.release(held, clock.now(), clock.now(), 0) is False
    assert leases.renew(held, clock.now() + LEASE) is False
    assert leases.schedule()["x"][1] == "b"
    assert leases.release(taken, clock.now(), clock.now() + PERIOD, 0) is True
    assert leases.schedule()["x"] == (clock.now() + PERIOD, None)


def test_a_key_enqueued_while_held_runs_again_after_its_pass(
    store: Store, clock: ManualClock
) -> None:
    log: list[tuple[str, str, int]] = []
    seen: list[str] = []

    def reconcile(key: str) -> timedelta | None:
        seen.append(key)
        if len(seen) == 1:
            other.enqueue(key)  # another replica sees a change mid-pass
        return PERIOD

    loop = SharedReconcileLoop(store, reconcile, clock, replica_id="a", lease=LEASE)
    (other,) = _loops(store, clock, 1, log)
    loop.offer(["x"])
    assert loop.run_due().reconciled == ("x",)  # once per call, even if due again
    assert loop.pending()["x"] == clock.now()
    assert loop.run_due().reconciled == ("x",)
    assert loop.pending()["x"] == clock.now() + PERIOD


def test_a_key_whose_subject_is_gone_is_no_longer_tracked(store: Store, clock: ManualClock) -> None:
    passes: list[str] = []

    def reconcile(key: str) -> Requeue:
        passes.append(key)
        return GONE if key == "gone" else PERIOD

    loop = SharedReconcileLoop(store, reconcile, clock, replica_id="a", lease=LEASE)
    loop.offer(["gone", "kept"])
    assert loop.run_due().reconciled == ("gone", "kept")
    assert loop.pending() == {"kept": clock.now() + PERIOD}  # the gone key's row went
    clock.advance(PERIOD * 3)
    loop.run_due()
    assert passes.count("gone") == 1
    loop.enqueue("gone")  # a new agent under the same id: tracked anew
    assert loop.pending()["gone"] == clock.now()


def test_a_gone_key_enqueued_during_its_pass_stays_due_at_once(
    store: Store, clock: ManualClock
) -> None:
    def reconcile(key: str) -> Requeue:
        loop.enqueue(key)  # a change seen mid-pass (an agent created again under the id)
        return GONE

    loop = SharedReconcileLoop(store, reconcile, clock, replica_id="a", lease=LEASE)
    loop.offer(["x"])
    assert loop.run_due().reconciled == ("x",)
    assert loop.pending() == {"x": clock.now()}
    leases = leases_of(store)
    assert leases is not None
    (again,) = leases.take("b", clock.now(), clock.now() + LEASE, 5)
    assert again.failures == 0


def test_a_late_drop_changes_nothing(store: Store, clock: ManualClock) -> None:
    leases = leases_of(store)
    assert leases is not None
    leases.offer(["x"], clock.now())
    (held,) = leases.take("a", clock.now(), clock.now() + LEASE, 5)
    clock.advance(LEASE + timedelta(seconds=1))
    (taken,) = leases.take("b", clock.now(), clock.now() + LEASE, 5)
    assert leases.drop(held, clock.now()) is False
    assert leases.schedule()["x"][1] == "b"
    assert leases.drop(taken, clock.now()) is True
    assert leases.schedule() == {}
    assert leases.drop(taken, clock.now()) is False  # nothing left to drop


def test_failures_back_off_across_replicas(store: Store, clock: ManualClock) -> None:
    def failing(key: str) -> timedelta | None:
        raise TemporaryError("the cluster is down", timedelta(seconds=7))

    def broken(key: str) -> timedelta | None:
        raise RuntimeError("a reconciler bug")

    a = SharedReconcileLoop(store, failing, clock, replica_id="a", lease=LEASE)
    b = SharedReconcileLoop(
        store, broken, clock, replica_id="b", lease=LEASE, on_error=lambda k, e: None
    )
    a.offer(["x"])
    assert a.run_due().failed == ("x",)
    assert a.pending()["x"] == clock.now() + timedelta(seconds=7)
    clock.advance(timedelta(seconds=7))
    assert b.run_due().failed == ("x",)
    # The second failure in a row, whichever replica had it: backoff_delay(2) = 10 ms.
    assert b.pending()["x"] == clock.now() + timedelta(milliseconds=10)


def test_a_terminal_error_waits_for_the_next_change(store: Store, clock: ManualClock) -> None:
    from agentfsm.runtime import TerminalError

    def hopeless(key: str) -> timedelta | None:
        raise TerminalError("this spec can never be satisfied")

    loop = SharedReconcileLoop(store, hopeless, clock, lease=LEASE, on_error=lambda k, e: None)
    loop.offer(["x"])
    assert loop.run_due().abandoned == ("x",)
    assert loop.pending() == {"x": None}
    clock.advance(PERIOD * 10)
    assert loop.run_due().passes == 0
    loop.enqueue("x")
    assert loop.run_due().abandoned == ("x",)
    assert loop.forget("x") is True
    assert loop.pending() == {}


def test_a_pass_refused_as_stale_is_lost_and_releases_nothing(
    store: Store, clock: ManualClock
) -> None:
    book = FenceBook()
    book.admit("x", 10**9)  # a newer owner has acted already

    def reconcile(key: str) -> timedelta | None:
        fence = current_fence()
        book.admit(key, None if fence is None else fence.token)
        return PERIOD

    loop = SharedReconcileLoop(store, reconcile, clock, replica_id="late", lease=LEASE)
    loop.offer(["x"])
    assert loop.run_due().lost == ("x",)
    assert loop.pending()["x"] == clock.now()  # unchanged: due, held until the lease lapses
    assert book.applied("x") == 10**9


def test_a_lease_that_lapsed_before_its_pass_began_is_not_run(
    store: Store, clock: ManualClock
) -> None:
    ran: list[str] = []

    def slow(key: str) -> timedelta | None:
        ran.append(key)
        clock.advance(LEASE)  # this pass outlives the batch's leases
        return PERIOD

    loop = SharedReconcileLoop(store, slow, clock, replica_id="a", lease=LEASE, batch_size=2)
    loop.offer(["x", "y"])
    report = loop.run_due(limit=2)
    assert len(ran) == 1
    assert report.lost == (report.lost[0],)
    assert len(report.lost) == 1


def test_shared_loop_refuses_bad_arguments(store: Store, clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="lease"):
        SharedReconcileLoop(store, lambda k: None, clock, lease=timedelta(0))
    with pytest.raises(ValueError, match="batch_size"):
        SharedReconcileLoop(store, lambda k: None, clock, batch_size=0)
    with pytest.raises(StoreError, match="keeps no reconcile leases"):
        SharedReconcileLoop(object(), lambda k: None, clock)
    loop = SharedReconcileLoop(store, lambda k: None, clock)
    from agentfsm import InvalidInput

    with pytest.raises(InvalidInput):
        loop.enqueue("")
    with pytest.raises(InvalidInput):
        loop.offer(["ok", 3])  # type: ignore[list-item]
    assert loop.pending() == {}  # a refusal changes nothing


def test_shared_loop_threads_reconcile_every_key(store: Store) -> None:
    from agentfsm.runtime import SystemClock

    log: list[tuple[str, str, int]] = []
    loops = _loops(store, SystemClock(), 2, log)  # type: ignore[arg-type]
    loops[0].offer([f"t{i}" for i in range(10)])
    for loop in loops:
        loop.start(workers=1, poll=0.01)
    import time

    deadline = time.monotonic() + 10
    while len({k for _, k, _ in log}) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    for loop in loops:
        loop.stop()
    assert Counter(k for _, k, _ in log) == {f"t{i}": 1 for i in range(10)}


# -- the lease invariant, as a property -------------------------------------------------------

KEYS = ("a", "b", "c")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["take", "release", "advance"]), st.integers(0, 2), st.integers(1, 12)
        ),
        max_size=30,
    )
)
def test_property_one_valid_holder_per_key_and_tokens_only_grow(
    ops: list[tuple[str, int, int]],
) -> None:
    store = SQLiteStore()
    clock = ManualClock(T0)
    leases = leases_of(store)
    assert leases is not None
    leases.offer(KEYS, clock.now())
    held: dict[int, list[Lease]] = {0: [], 1: [], 2: []}
    last_token = 0
    owner: dict[str, Lease] = {}  # the newest lease taken per key
    for op, replica, n in ops:
        now = clock.now()
        if op == "take":
            for lease in leases.take(f"r{replica}", now, now + LEASE, n):
                assert lease.token > last_token  # every token is larger than all before it
                last_token = lease.token
                previous = owner.get(lease.key)
                # Taken only if free: never while another's lease is still valid.
                assert previous is None or previous.until <= now or previous.holder is None
                owner[lease.key] = lease
                held[replica].append(lease)
        elif op == "release" and held[replica]:
            lease = held[replica].pop(0)
            released = leases.release(lease, now, now + timedelta(seconds=n), 0)
            assert released == (owner[lease.key].token == lease.token)
            if released:
                owner[lease.key] = Lease(lease.key, None, lease.token, now)  # type: ignore[arg-type]
        elif op == "advance":
            clock.advance(timedelta(seconds=n))
        schedule = leases.schedule()
        for key, lease in owner.items():
            assert schedule[key][1] == lease.holder  # the store names the newest owner
    store.close()


# -- outbox claims --------------------------------------------------------------------------------


class FencedRecorder:
    """An effect handler that admits each call's token through a ``FenceBook`` and records it."""

    def __init__(self, book: FenceGuard) -> None:
        self.book = book
        self.calls: list[tuple[str, int | None]] = []

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        fence = current_fence()
        token = None if fence is None else fence.token
        self.book.admit(agent_id, token)
        self.calls.append((key, token))
        return ()


def _provisioned(store: Store, clock: ManualClock, n: int = 2) -> Controller:
    controller = Controller(MACHINES, store, clock)
    for i in range(n):
        controller.create(f"ag{i}", "alfe", AlfeAgent(f"ag{i}", f"name{i}"))
        controller.handle(f"ag{i}", Event("provision", Actor.SYSTEM))
    return controller


def test_outbox_claims_carry_increasing_tokens(store: Store, clock: ManualClock) -> None:
    controller = _provisioned(store, clock)
    handler = FencedRecorder(FenceBook())
    worker = OutboxWorker(controller, handler, worker_id="w1", lease=LEASE)
    report = worker.drain()
    assert report.done == len(handler.calls) > 0
    tokens = [t for _, t in handler.calls]
    assert None not in tokens
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == len(tokens)
    assert current_fence() is None  # the worker gives the context back


def test_a_late_outbox_worker_is_refused_and_its_item_is_not_parked(
    store: Store, clock: ManualClock
) -> None:
    controller = _provisioned(store, clock, n=1)
    book = FenceBook()
    late = OutboxWorker(controller, FencedRecorder(book), worker_id="late", lease=LEASE)
    items = store.claim_outbox("late", clock.now(), clock.now() + LEASE, 1)
    leases = leases_of(store)
    assert leases is not None
    (late_token,) = leases.fence_outbox("late", [items[0].id]).values()
    clock.advance(LEASE + timedelta(seconds=1))  # the late worker pauses past its claim
    on_time = OutboxWorker(controller, FencedRecorder(book), worker_id="on-time", lease=LEASE)
    assert on_time.run_once().done == 1
    assert book.applied(items[0].agent_id) is not None
    assert book.applied(items[0].agent_id) > late_token  # type: ignore[operator]
    # The late worker wakes with its old claim: the guard refuses it, nothing is parked.
    previous = set_fence(Fence(late_token, "late", items[0].key))
    try:
        with pytest.raises(StaleFence):
            late.handler(items[0].agent_id, items[0].payload, items[0].key)
    finally:
        set_fence(previous)
    assert store.outbox(state="parked") == []
    assert [i.state for i in store.outbox() if i.id == items[0].id] == ["done"]


def test_regression_stale_fence_from_a_handler_is_dropped_not_parked(
    store: Store, clock: ManualClock
) -> None:
    controller = _provisioned(store, clock, n=1)

    def refusing(agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        raise StaleFence(agent_id, 1, 2)

    report = OutboxWorker(controller, refusing, worker_id="w", lease=LEASE).run_once()
    assert (report.claimed, report.lost, report.parked, report.retried) == (1, 1, 0, 0)
    assert store.outbox(state="parked") == []


# -- what refuses late work --------------------------------------------------------------------


def test_fence_book_keeps_the_largest_token_per_resource() -> None:
    book = FenceBook()
    book.admit("x", 5)
    book.admit("x", 5)  # the same owner again
    book.admit("x", None)  # unfenced work is admitted by default
    with pytest.raises(StaleFence, match="token 4") as refused:
        book.admit("x", 4)
    assert (refused.value.resource, refused.value.token, refused.value.applied) == ("x", 4, 5)
    assert book.applied("x") == 5  # a refusal changes nothing
    book.admit("y", 1)
    book.admit("x", 9)
    assert (book.applied("x"), book.applied("y")) == (9, 1)
    strict = FenceBook(refuse_unfenced=True)
    strict.admit("x", None)  # nothing applied yet
    strict.admit("x", 3)
    with pytest.raises(StaleFence):
        strict.admit("x", None)
    assert isinstance(book, FenceGuard)
    from agentfsm import InvalidInput

    for resource, token in [("", 1), (3, 1), ("x", "9"), ("x", True), ("x", 1.5)]:
        with pytest.raises(InvalidInput):
            book.admit(resource, token)  # type: ignore[arg-type]
    assert book.applied("x") == 9  # a refusal changes nothing


def test_fenced_host_refuses_late_work_and_passes_reads() -> None:
    from agentfsm.hosts import FencedHost, HostObservation

    class Host:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def __getattr__(self, name: str) -> Any:
            def call(agent_id: str, *args: Any) -> Any:
                self.calls.append(name)
                return HostObservation(agent_id) if name == "observe" else ()

            return call

    inner = Host()
    host = FencedHost(inner, FenceBook())  # type: ignore[arg-type]
    previous = set_fence(Fence(7, "r1", "k"))
    try:
        assert host.provision("ag", 1, "small") == ()
        assert host.boot("ag", 1) == ()
    finally:
        set_fence(previous)
    set_fence(Fence(6, "r0", "k"))
    try:
        with pytest.raises(StaleFence):
            host.power_off("ag", 1)
        assert host.observe("ag") == HostObservation("ag")
    finally:
        set_fence(previous)
    assert host.remove_data("ag") == ()  # unfenced work passes
    assert inner.calls == ["provision", "boot", "observe", "remove_data"]


def test_fenced_release_store_refuses_a_late_release() -> None:
    from agentfsm.releases import FencedReleaseStore

    class Releases:
        def __init__(self) -> None:
            self.recorded: list[str] = []

        def record_release(self, slug: str, **kw: Any) -> Any:
            self.recorded.append(kw["key"])
            return kw["key"]

        def record_deletion(self, slug: str, **kw: Any) -> Any:
            self.recorded.append(kw["key"])
            return kw["key"]

        def history(self, slug: str) -> list[Any]:
            return list(self.recorded)

    inner = Releases()
    store = FencedReleaseStore(inner, FenceBook())  # type: ignore[arg-type]
    args: dict[str, Any] = {
        "event": "deployed",
        "image": "i",
        "replicas": 1,
        "config": {},
        "at": T0,
    }
    previous = set_fence(Fence(3, "r1", "k"))
    store.record_release("a", key="k1", **args)
    set_fence(Fence(2, "r0", "k"))
    try:
        with pytest.raises(StaleFence):
            store.record_deletion("a", at=T0, key="k2")
        with pytest.raises(StaleFence):
            store.record_release("a", key="k3", **args)
    finally:
        set_fence(previous)
    assert store.history("a") == ["k1"]


def test_kubernetes_host_refuses_writes_older_than_the_objects_stamp() -> None:
    from agentfsm.kubernetes import FENCE_ANNOTATION, FakeKubernetesApi, KubernetesHost
    from agentfsm.models import RecifSpec
    from agentfsm.recif import DesiredSpec

    fake = FakeKubernetesApi()
    host = KubernetesHost(fake, fake, namespace="team")
    spec = RecifSpec(image="img:1", replicas=1, config={"a": "1"})
    previous = set_fence(Fence(8, "new", "ag"))
    try:
        host.apply(DesiredSpec(slug="ag", spec=spec))
    finally:
        set_fence(previous)
    stamped = fake.get("ConfigMap", "team", "ag")
    assert stamped.metadata.annotations[FENCE_ANNOTATION] == "8"
    writes = fake.writes()
    set_fence(Fence(5, "old", "ag"))
    try:
        with pytest.raises(StaleFence):
            host.apply(DesiredSpec(slug="ag", spec=spec))
        with pytest.raises(StaleFence):
            host.scale("ag", 0)
        with pytest.raises(StaleFence):
            host.delete("ag")
    finally:
        set_fence(previous)
    assert fake.writes() == writes  # refused before anything was written
    host.scale("ag", 2)  # unfenced work is not checked
    assert fake.get("Deployment", "team", "ag").spec.replicas == 2
