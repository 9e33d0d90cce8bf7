"""The reconcile loop: level-triggered, one worker per key, requeue-after, errors and backoff."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm.models import RecifSpec
from agentfsm.recif import DesiredSpec, ObservedState, apply_actions, reconcile
from agentfsm.runtime import (
    GONE,
    ManualClock,
    PermanentError,
    ReconcileLoop,
    TemporaryError,
    TerminalError,
    backoff_delay,
)

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)


class Recorder:
    """A reconciler that records calls and answers from a script."""

    def __init__(self, answer: timedelta | None = None) -> None:
        self.calls: list[str] = []
        self.answer = answer
        self.raise_next: dict[str, list[BaseException]] = {}

    def __call__(self, key: str) -> timedelta | None:
        self.calls.append(key)
        errors = self.raise_next.get(key)
        if errors:
            raise errors.pop(0)
        return self.answer


def loop_with(reconciler: Recorder) -> tuple[ReconcileLoop, ManualClock]:
    clock = ManualClock(T0)
    return ReconcileLoop(reconciler, clock, on_error=lambda k, e: None), clock


def test_a_burst_of_requests_for_one_key_is_one_reconcile() -> None:
    r = Recorder()
    loop, _ = loop_with(r)
    for _ in range(5):
        loop.enqueue("ag_1")
    loop.enqueue("ag_2")
    report = loop.run_due()
    assert sorted(r.calls) == ["ag_1", "ag_2"]
    assert sorted(report.reconciled) == ["ag_1", "ag_2"]
    assert loop.run_due().reconciled == ()


def test_requeue_after_brings_the_key_back_when_due() -> None:
    r = Recorder(answer=timedelta(seconds=30))
    loop, clock = loop_with(r)
    loop.enqueue("ag_1")
    loop.run_due()
    assert loop.pending() == {"ag_1": T0 + timedelta(seconds=30)}
    clock.advance(timedelta(seconds=29))
    assert loop.run_due().reconciled == ()
    clock.advance(timedelta(seconds=1))
    assert loop.run_due().reconciled == ("ag_1",)
    assert r.calls == ["ag_1", "ag_1"]


def test_an_earlier_request_wins_over_a_later_requeue() -> None:
    r = Recorder(answer=timedelta(seconds=30))
    loop, _ = loop_with(r)
    loop.enqueue("ag_1")
    loop.run_due()
    loop.enqueue("ag_1")  # a spec change: look now, not in 30 s
    assert loop.run_due().reconciled == ("ag_1",)


def test_failures_back_off_exponentially_and_success_resets() -> None:
    r = Recorder()
    r.raise_next["ag_1"] = [RuntimeError("boom"), RuntimeError("boom"), RuntimeError("boom")]
    loop, clock = loop_with(r)
    loop.enqueue("ag_1")
    waits = []
    for _ in range(3):
        assert loop.run_due().failed == ("ag_1",)
        due = loop.pending()["ag_1"]
        waits.append(due - clock.now())
        clock.advance(due - clock.now())
    assert waits == [
        timedelta(milliseconds=5),
        timedelta(milliseconds=10),
        timedelta(milliseconds=20),
    ]
    assert loop.failures("ag_1") == 3
    assert loop.run_due().reconciled == ("ag_1",)
    assert loop.failures("ag_1") == 0


def test_backoff_is_capped() -> None:
    assert backoff_delay(1) == timedelta(milliseconds=5)
    assert backoff_delay(500) == timedelta(seconds=1000)


def test_a_temporary_error_retries_after_its_delay() -> None:
    r = Recorder()
    r.raise_next["ag_1"] = [TemporaryError("api busy", delay=timedelta(seconds=2))]
    loop, _ = loop_with(r)
    loop.enqueue("ag_1")
    loop.run_due()
    assert loop.pending()["ag_1"] == T0 + timedelta(seconds=2)


@pytest.mark.parametrize("error", [TerminalError("never"), PermanentError("never")])
def test_a_terminal_error_stops_retrying_until_enqueued_again(error: Exception) -> None:
    r = Recorder(answer=timedelta(seconds=30))
    r.raise_next["ag_1"] = [error]
    loop, clock = loop_with(r)
    loop.enqueue("ag_1")
    assert loop.run_due().abandoned == ("ag_1",)
    assert loop.pending() == {}
    clock.advance(timedelta(hours=1))
    assert loop.run_due().reconciled == ()
    loop.enqueue("ag_1")
    assert loop.run_due().reconciled == ("ag_1",)


def test_a_key_enqueued_during_its_own_pass_runs_again_afterwards() -> None:
    clock = ManualClock(T0)
    calls: list[str] = []

    def reconciler(key: str) -> timedelta | None:
        calls.append(key)
        if len(calls) == 1:
            loop.enqueue(key)  # a change arrived while we were working
        return None

    loop = ReconcileLoop(reconciler, clock)
    loop.enqueue("ag_1")
    loop.run_due()
    assert calls == ["ag_1", "ag_1"]


def test_bad_keys_are_refused() -> None:
    loop, _ = loop_with(Recorder())
    with pytest.raises(ValueError, match="non-empty string"):
        loop.enqueue("")


def test_one_key_is_never_reconciled_by_two_workers_at_once() -> None:
    active: dict[str, int] = {}
    most_per_key = 0
    most_overall = 0
    lock = threading.Lock()
    count = 0

    def reconciler(key: str) -> timedelta | None:
        nonlocal most_per_key, most_overall, count
        with lock:
            active[key] = active.get(key, 0) + 1
            most_per_key = max(most_per_key, active[key])
            most_overall = max(most_overall, sum(active.values()))
            count += 1
        time.sleep(0.002)
        with lock:
            active[key] -= 1
        return None

    from agentfsm.runtime import SystemClock

    loop = ReconcileLoop(reconciler, SystemClock())
    loop.start(workers=4, poll=0.005)
    try:
        for _ in range(30):
            for key in ("a", "b", "c", "d"):
                loop.enqueue(key)
            time.sleep(0.003)
        deadline = time.monotonic() + 5
        while loop.pending() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        loop.stop()
    assert most_per_key == 1
    assert most_overall > 1, "different keys should run in parallel"
    assert count >= 4


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=30))
def test_every_distinct_key_requested_is_reconciled_exactly_once(keys: list[str]) -> None:
    r = Recorder()
    loop, _ = loop_with(r)
    for key in keys:
        loop.enqueue(key)
    loop.run_due()
    assert sorted(r.calls) == sorted(set(keys))


def test_recif_reconcile_plugs_in_and_converges() -> None:
    desired = {
        "support-agent": DesiredSpec("support-agent", RecifSpec(image="corail:1", replicas=2)),
        "triage": DesiredSpec("triage", RecifSpec(image="corail:1", replicas=1)),
    }
    cluster = {slug: ObservedState() for slug in desired}
    actions_seen: list[int] = []
    clock = ManualClock(T0)

    def reconciler(slug: str) -> timedelta | None:
        result = reconcile(desired[slug], cluster[slug], now=clock.now())
        actions_seen.append(len(result.actions))
        cluster[slug] = apply_actions(cluster[slug], result.actions)
        return result.requeue_after

    loop = ReconcileLoop(reconciler, clock)
    loop.enqueue_all(desired)
    loop.run_due()
    assert all(n > 0 for n in actions_seen)
    clock.advance(timedelta(seconds=30))
    actions_seen.clear()
    assert sorted(loop.run_due().reconciled) == ["support-agent", "triage"]
    assert actions_seen == [0, 0]  # converged: nothing left to do
    assert cluster["support-agent"].ready_replicas == 2


def test_once_leaves_a_key_that_asks_for_itself_to_the_next_call() -> None:
    clock = ManualClock(T0)
    calls: list[str] = []

    def reconciler(key: str) -> timedelta | None:
        calls.append(key)
        loop.enqueue(key)  # every pass causes a change it would like to look at
        return timedelta(seconds=30)

    loop = ReconcileLoop(reconciler, clock)
    loop.enqueue_all(["a", "b"])
    assert sorted(loop.run_due(once=True).reconciled) == ["a", "b"]
    assert calls.count("a") == calls.count("b") == 1
    assert loop.pending() == {"a": T0, "b": T0}  # still due at once, for the next call
    assert sorted(loop.run_due(once=True).reconciled) == ["a", "b"]
    assert len(calls) == 4


def test_once_still_runs_every_due_key() -> None:
    r = Recorder()
    r.raise_next["a"] = [TemporaryError("busy", delay=timedelta(0))]
    loop, _ = loop_with(r)
    loop.enqueue_all(["a", "b", "c"])
    report = loop.run_due(once=True)
    assert report.failed == ("a",)
    assert sorted(report.reconciled) == ["b", "c"]
    assert loop.pending() == {"a": T0}  # retried on the next call, not in this one
    assert loop.run_due(once=True).reconciled == ("a",)


def test_run_now_reconciles_at_once_and_takes_the_place_of_a_waiting_request() -> None:
    r = Recorder(answer=timedelta(seconds=30))
    loop, clock = loop_with(r)
    loop.enqueue("ag_1", after=timedelta(seconds=10))
    assert loop.run_now("ag_1") == "reconciled"
    assert r.calls == ["ag_1"]
    assert loop.pending() == {"ag_1": T0 + timedelta(seconds=30)}  # its requeue, not the 10 s
    clock.advance(timedelta(seconds=10))
    assert loop.run_due().reconciled == ()
    r.raise_next["ag_1"] = [RuntimeError("boom")]
    assert loop.run_now("ag_1") == "failed"
    assert loop.failures("ag_1") == 1
    with pytest.raises(ValueError, match="non-empty string"):
        loop.run_now("")


def test_run_now_skips_a_key_another_worker_is_reconciling() -> None:
    inside = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    def reconciler(key: str) -> timedelta | None:
        calls.append(key)
        inside.set()
        release.wait(5)
        return None

    loop = ReconcileLoop(reconciler, ManualClock(T0))
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(loop.run_now("ag_1")))
    worker.start()
    assert inside.wait(5)
    try:
        assert loop.run_now("ag_1") is None
        assert loop.run_due().reconciled == ()
    finally:
        release.set()
        worker.join(5)
    assert results == ["reconciled"]
    assert calls == ["ag_1"]


def test_a_gone_key_is_not_scheduled_again() -> None:
    clock = ManualClock(T0)
    loop = ReconcileLoop(lambda key: GONE if key == "gone" else timedelta(seconds=30), clock)
    loop.enqueue_all(["gone", "kept"])
    assert sorted(loop.run_due(once=True).reconciled) == ["gone", "kept"]
    assert loop.pending() == {"kept": T0 + timedelta(seconds=30)}
    assert repr(GONE) == "GONE"
