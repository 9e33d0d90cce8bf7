"""The worker loop: it waits out an unavailable store, stops on other errors and on request."""

from __future__ import annotations

import threading

import attrs
import pytest

from agentfsm.runtime import CorruptDatabase, StoreUnavailable
from agentfsm.runtime._polling import run_until_stopped


@attrs.define
class Batch:
    claimed: int


def test_it_works_while_there_is_work_and_waits_out_an_unavailable_store() -> None:
    stop = threading.Event()
    script: list[object] = [StoreUnavailable("db restarting"), Batch(2), Batch(1), Batch(0)]
    calls = []

    def run_once() -> Batch:
        calls.append(len(calls))
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        assert isinstance(step, Batch)
        if not script:
            stop.set()  # the empty batch is the last: the caller asks the loop to end
        return step

    run_until_stopped(run_once, stop, 0.001, "test worker")
    assert len(calls) == 4


def test_a_store_error_that_retrying_cannot_fix_stops_the_loop() -> None:
    def run_once() -> Batch:
        raise CorruptDatabase("not a database")

    with pytest.raises(CorruptDatabase):
        run_until_stopped(run_once, threading.Event(), 0.001, "test worker")


def test_a_set_stop_event_runs_nothing() -> None:
    stop = threading.Event()
    stop.set()
    run_until_stopped(lambda: pytest.fail("must not run"), stop, 0.001, "test worker")
