"""The inbox: where host adapters leave what they observed, for the platform to deliver later.

A host adapter may report from its own threads (the local-process host reports from its event
loop). Deciding an event there would hold the adapter's thread while the store writes, and could
deadlock against an adapter call made by the outbox worker, so reports are only queued here and
``Platform.tick`` hands them to the controller on the driving thread.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque

import attrs

from agentfsm._values import Event


class EventInbox:
    """A thread-safe ``EventSink``: ``inbox(agent_id, event)`` queues, ``take()`` empties.

    Each queued event gets an id unique to this inbox: an adapter numbers its reports from 1
    in every process, so its own ids would repeat after a restart of the control plane, and a
    repeated id is recorded only once by the controller (the new report would be lost).

    Args:
        prefix: the start of every id (default: a random token per inbox).
    """

    def __init__(self, prefix: str | None = None) -> None:
        self._prefix = prefix if prefix is not None else f"obs-{uuid.uuid4().hex[:12]}"
        self._queue: deque[tuple[str, Event]] = deque()
        self._lock = threading.Lock()
        self._count = 0

    def __call__(self, agent_id: str, event: Event) -> None:
        """Queue ``event`` for ``agent_id``; safe from any thread, never blocks for long."""
        with self._lock:
            self._count += 1
            unique = f"{self._prefix}:{self._count}:{event.id or event.name}"
            self._queue.append((agent_id, attrs.evolve(event, id=unique)))

    def take(self, limit: int | None = None) -> list[tuple[str, Event]]:
        """Remove and return up to ``limit`` queued reports (all when ``None``), oldest first."""
        with self._lock:
            n = len(self._queue) if limit is None else min(limit, len(self._queue))
            return [self._queue.popleft() for _ in range(n)]

    def put_back(self, items: list[tuple[str, Event]]) -> None:
        """Return reports that could not be delivered to the front of the queue, in order."""
        with self._lock:
            self._queue.extendleft(reversed(items))

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def received(self) -> int:
        """How many reports were queued since the inbox was made."""
        with self._lock:
            return self._count
