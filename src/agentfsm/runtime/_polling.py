"""The loop every worker runs in a thread: work while there is work, wait when there is none."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from agentfsm.runtime._errors import StoreError

log = logging.getLogger("agentfsm.runtime")


class _Claims(Protocol):
    @property
    def claimed(self) -> int: ...


def run_until_stopped(
    run_once: Callable[[], _Claims], stop: threading.Event, idle: float, name: str
) -> None:
    """Call ``run_once`` until ``stop`` is set, waiting ``idle`` seconds after an empty batch.

    A store that is unavailable for a while (a retryable ``StoreError``) is waited out, not
    fatal: a control plane outlives a database restart. Any other error stops the loop.
    """
    while not stop.is_set():
        try:
            report = run_once()
        except StoreError as exc:
            if not exc.retryable:
                raise
            log.warning("%s: store unavailable, retrying: %s", name, exc)
            stop.wait(idle)
            continue
        if not report.claimed:
            stop.wait(idle)
