"""``SimulatedCluster``: a stand-in for the Kubernetes cluster Recif agents run on.

It keeps one ``ObservedState`` per agent and changes it with ``agentfsm.recif.apply_actions``,
so the machine's effects (``CreateDeployment``, ``RestartPods``…) and the reconcile loop's
actions (which add ``MountSecrets`` and ``DeleteCanary``) land on the same picture, exactly as
both would land on one real cluster. Faults (``agentfsm.recif.Fault``) are the cluster's reality:
added or removed at any time, they make matching pods wait with a reason (``CrashLoopBackOff``…)
the next time the cluster is looked at, which is how an agent crashes into ``Failed`` and, once
the cause is gone, recovers.

Every Kubernetes action is declarative, so performing one twice is the same as once; the only
record kept by key is ``RecordEvents`` (the agent's event log), so a redelivered item does not
log twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from agentfsm._effects import (
    RecordEvents,
)
from agentfsm._errors import InvalidInput
from agentfsm._values import Event
from agentfsm.recif import (
    KUBERNETES_WORK,
    MISSING_CONFIG_REASON,
    Fault,
    ObservedState,
    apply_actions,
    config_hash,
)
from agentfsm.runtime import PermanentError

KUBERNETES_EFFECTS: tuple[type, ...] = KUBERNETES_WORK
"""The effect and action types a ``SimulatedCluster`` performs (Recif's Kubernetes work)."""

ChangeListener = Callable[[str], None]
"""Called with an agent id whenever that agent's objects or their faults change."""


@attrs.frozen
class ClusterEvent:
    """One entry of an agent's event log (what ``GET /agents/{id}/events`` shows).

    Attributes:
        reason: why pods are unhealthy (``CrashLoopBackOff``…).
        message: details, possibly empty.
    """

    reason: str
    message: str = ""


class SimulatedCluster:
    """An ``EffectHandler`` for Recif's Kubernetes effects, over a simulated cluster.

    Objects are kept per agent id. Thread-safe: the outbox worker, the reconcile loop and a
    test scripting faults may all use it at once.

    Args:
        faults: faults that strike every agent from the start (see ``add_fault``).

    Calling it: ``cluster(agent_id, effect, key)`` performs one effect and returns no events
    (what the pods do next is seen by the reconcile loop, as in Kubernetes).

    Raises (from a call):
        PermanentError: the effect is not Kubernetes work, or it needs a Deployment the agent
            does not have (the message says which).
    """

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._lock = threading.RLock()
        self._objects: dict[str, ObservedState] = {}
        self._global: list[Fault] = []
        self._faults: dict[str, list[Fault]] = {}
        self._events: dict[str, dict[str, ClusterEvent]] = {}
        self._listeners: list[ChangeListener] = []
        for fault in faults:
            self.add_fault(fault)

    # -- EffectHandler -------------------------------------------------------------------------

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        """Perform ``effect`` on the agent's objects (see the class docstring)."""
        if type(effect) not in KUBERNETES_EFFECTS:
            raise PermanentError(
                f"{type(effect).__name__} is not Kubernetes work; the cluster performs "
                f"{', '.join(t.__name__ for t in KUBERNETES_EFFECTS)}"
            )
        if isinstance(effect, RecordEvents):
            with self._lock:
                self._events.setdefault(agent_id, {})[key] = ClusterEvent(
                    effect.reason, effect.message
                )
            return ()
        try:
            self.apply(agent_id, (effect,))
        except InvalidInput as exc:
            raise PermanentError(f"agent {agent_id}: {exc}") from exc
        return ()

    # -- the cluster's objects -----------------------------------------------------------------

    def apply(self, agent_id: str, actions: Iterable[object]) -> ObservedState:
        """Perform reconcile actions (or Kubernetes effects) in order and let the pods settle.

        Returns:
            The agent's objects afterwards.

        Raises:
            InvalidInput: an action the cluster does not know, or one that needs a Deployment
                when the agent has none.
        """
        todo = tuple(actions)
        with self._lock:
            before = self._objects.get(agent_id, ObservedState())
            after = self._settle(agent_id, before, todo)
            self._objects[agent_id] = after
        if todo or after != before:
            self._changed(agent_id)
        return after

    def observe(self, agent_id: str) -> ObservedState:
        """What the operator sees of the agent's objects now (pods settled under the faults)."""
        with self._lock:
            before = self._objects.get(agent_id, ObservedState())
            after = self._settle(agent_id, before, ())
            self._objects[agent_id] = after
            return after

    def _settle(
        self, agent_id: str, before: ObservedState, actions: tuple[object, ...]
    ) -> ObservedState:
        state = apply_actions(before, actions, faults=self._faults_for(agent_id))
        # The kubelet keeps retrying pods that wait for their ConfigMap, so once it exists they
        # start with it. The machine creates the Deployment before the ConfigMap (as the
        # operator's documentation lists them), and each is a separate outbox item.
        if state.waiting_reason == MISSING_CONFIG_REASON and state.configmap is not None:
            started = attrs.evolve(state, config_hash=config_hash(state.configmap))
            return apply_actions(started, (), faults=self._faults_for(agent_id))
        return state

    def agents(self) -> list[str]:
        """The agents that own at least one object, by id."""
        with self._lock:
            return sorted(a for a, o in self._objects.items() if not o.nothing_left)

    def events(self, agent_id: str) -> list[ClusterEvent]:
        """The agent's event log (``RecordEvents`` effects), oldest first."""
        with self._lock:
            return list(self._events.get(agent_id, {}).values())

    # -- faults --------------------------------------------------------------------------------

    def add_fault(self, fault: Fault, *, agent_id: str | None = None) -> None:
        """Make pods that match ``fault`` wait with its reason, for one agent or for all.

        Raises:
            InvalidInput: ``fault`` is not a ``Fault``.
        """
        if not isinstance(fault, Fault):
            raise InvalidInput(f"add_fault takes an agentfsm.recif.Fault, not {fault!r}")
        with self._lock:
            target = self._global if agent_id is None else self._faults.setdefault(agent_id, [])
            target.append(fault)
            touched = list(self._objects) if agent_id is None else [agent_id]
        for a in touched:
            self._changed(a)

    def remove_fault(self, fault: Fault | None = None, *, agent_id: str | None = None) -> int:
        """Remove ``fault`` (every fault when ``None``) for one agent, or the global ones.

        Returns:
            How many faults were removed.
        """
        with self._lock:
            target = self._global if agent_id is None else self._faults.get(agent_id, [])
            kept = [f for f in target if fault is not None and f != fault]
            removed = len(target) - len(kept)
            target[:] = kept
            touched = list(self._objects) if agent_id is None else [agent_id]
        if removed:
            for a in touched:
                self._changed(a)
        return removed

    def faults(self, agent_id: str) -> list[Fault]:
        """The faults that strike the agent's pods: its own, then the global ones."""
        with self._lock:
            return list(self._faults_for(agent_id))

    def _faults_for(self, agent_id: str) -> tuple[Fault, ...]:
        return (*self._faults.get(agent_id, ()), *self._global)

    # -- watching ------------------------------------------------------------------------------

    def subscribe(self, listener: ChangeListener) -> None:
        """Call ``listener(agent_id)`` after each change to an agent's objects or faults.

        The reconcile loop uses it as Kubernetes' watch on owned objects; the listener must be
        quick and thread-safe (mark the agent due; do not reconcile inline).
        """
        with self._lock:
            self._listeners.append(listener)

    def _changed(self, agent_id: str) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(agent_id)
