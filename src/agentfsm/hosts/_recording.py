"""A thread-safe event sink that records reports, for tests and small embedders."""

from __future__ import annotations

import threading
import time

from agentfsm._values import Event


class RecordingSink:
    """An ``EventSink`` that keeps every ``(agent_id, event)`` it is given, in order.

    Safe to call from an adapter's background thread. ``wait_for`` lets a test wait for a
    report that comes from a real process.
    """

    def __init__(self) -> None:
        self._events: list[tuple[str, Event]] = []
        self._changed = threading.Condition()

    def __call__(self, agent_id: str, event: Event) -> None:
        with self._changed:
            self._events.append((agent_id, event))
            self._changed.notify_all()

    @property
    def events(self) -> list[tuple[str, Event]]:
        """A copy of everything recorded so far."""
        with self._changed:
            return list(self._events)

    def names(self, agent_id: str) -> list[str]:
        """The names of the events recorded for ``agent_id``, in order."""
        return [e.name for a, e in self.events if a == agent_id]

    def wait_for(self, agent_id: str, name: str, timeout: float = 10.0, *, count: int = 1) -> Event:
        """Wait until ``count`` events ``name`` were recorded for ``agent_id``; return the last.

        Raises:
            TimeoutError: they did not all arrive within ``timeout`` seconds; the message lists
                what did arrive.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [e for a, e in self._events if a == agent_id and e.name == name]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [e.name for a, e in self._events if a == agent_id]
                    raise TimeoutError(
                        f"{agent_id}: waited {timeout} s for {count} x {name!r}; got {seen}"
                    )
                self._changed.wait(left)
