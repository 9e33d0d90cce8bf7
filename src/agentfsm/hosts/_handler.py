"""The one place where Alfe host effects become host adapter calls.

A runtime hands every effect of an Alfe agent to ``HostEffectHandler``; the handler calls the
adapter and returns the reports the adapter already knows. A key it has already performed is
not performed again: the same reports come back, so an effect retried after a crash between
"done" and "recorded as done" does the work once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from agentfsm import _effects as fx
from agentfsm._values import Event
from agentfsm.hosts._protocol import HostAdapter
from agentfsm.runtime import PermanentError


def _perform(h: HostAdapter, a: str, effect: object) -> Sequence[Event] | None:
    """Call the adapter for one host effect; ``None`` if ``effect`` is not a host effect."""
    match effect:
        case fx.ProvisionHost(size=size, host=n):
            return h.provision(a, n, size)
        case fx.IssueCredentials(credentials=c):
            return h.issue_credentials(a, c)
        case fx.RevokeCredentials(credentials=c):
            return h.revoke_credentials(a, c)
        case fx.BootAgent(host=n):
            return h.boot(a, n)
        case fx.PowerOnHost(host=n):
            return h.power_on(a, n)
        case fx.ShutdownHost(host=n):
            return h.power_off(a, n)
        case fx.PowerCycleHost(host=n):
            return h.power_cycle(a, n)
        case fx.RebootHost(host=n):
            return h.reboot(a, n)
        case fx.StartRecovery(host=n):
            return h.recover(a, n)
        case fx.PauseHost(host=n):
            return h.pause(a, n)
        case fx.ResumeHost(host=n):
            return h.resume(a, n)
        case fx.StopHost(host=n):
            return h.stop(a, n)
        case fx.DestroyHost(host=n):
            return h.destroy(a, n)
        case fx.RemoveRetainedData():
            return h.remove_data(a)
    return None


HOST_EFFECTS: tuple[type, ...] = (
    fx.ProvisionHost,
    fx.IssueCredentials,
    fx.RevokeCredentials,
    fx.BootAgent,
    fx.PowerOnHost,
    fx.ShutdownHost,
    fx.PowerCycleHost,
    fx.RebootHost,
    fx.StartRecovery,
    fx.PauseHost,
    fx.ResumeHost,
    fx.StopHost,
    fx.DestroyHost,
    fx.RemoveRetainedData,
)
"""The effect record types a ``HostEffectHandler`` performs."""

_ELSEWHERE = {
    fx.ScheduleTimer: "the runtime's timer service",
    fx.CancelTimer: "the runtime's timer service",
    fx.Emit: "the runtime's outbox",
}


class HostEffectHandler:
    """Performs Alfe host effects through a ``HostAdapter``, once per key.

    Args:
        host: the adapter that does the work.
        remember: how many performed keys to remember (oldest forgotten first).

    Calling it: ``handler(agent_id, effect, key)`` returns the platform events to feed back
    to the agent's machine.

    Raises (from a call):
        PermanentError: the effect is not a host effect (the message says who performs it).
        TemporaryError, PermanentError: passed on from the adapter; a failed key is not
            remembered, so a retry performs it again.
    """

    def __init__(self, host: HostAdapter, *, remember: int = 100_000) -> None:
        if remember < 1:
            raise ValueError("remember must be at least 1")
        self.host = host
        self._remember = remember
        self._done: OrderedDict[str, tuple[Event, ...]] = OrderedDict()
        self._running: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def __call__(self, agent_id: str, effect: object, key: str) -> Sequence[Event]:
        if type(effect) not in HOST_EFFECTS:
            raise PermanentError(_not_mine(effect))
        while True:
            with self._lock:
                if key in self._done:
                    return self._done[key]
                busy = self._running.get(key)
                if busy is None:
                    self._running[key] = threading.Event()
                    break
            busy.wait()  # the same key is being performed right now: wait for its result
        try:
            reports = tuple(_perform(self.host, agent_id, effect) or ())
        except BaseException:
            with self._lock:
                self._running.pop(key).set()
            raise
        with self._lock:
            self._done[key] = reports
            if len(self._done) > self._remember:
                self._done.popitem(last=False)
            self._running.pop(key).set()
        return reports


def _not_mine(effect: object) -> str:
    name = type(effect).__name__
    where = _ELSEWHERE.get(type(effect))
    if where is not None:
        return f"{name} is not a host effect: it is performed by {where}"
    if type(effect).__module__ == fx.__name__:
        return f"{name} is not an Alfe host effect; give it to the Kubernetes effect handler"
    known = ", ".join(t.__name__ for t in HOST_EFFECTS)
    return f"{name} ({effect!r}) is not an effect a host performs; host effects are: {known}"
