"""Which adapter performs which effect: the platform's ``EffectRouter``.

Host effects go to the host adapter (through ``HostEffectHandler``, once per key), Kubernetes
effects to the cluster, ``Emit`` to the release store, and ``RemoveRetainedData`` to both the
host (its disks and secrets) and the runtime (the stored record, keeping the audit log).
Timers never reach the outbox: the controller turns them into timer rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import attrs

from agentfsm._effects import DOMAIN_EVENTS, Emit, RemoveRetainedData
from agentfsm._values import Event
from agentfsm.hosts import HOST_EFFECTS, HostAdapter, HostEffectHandler
from agentfsm.platform._cluster import KUBERNETES_EFFECTS, SimulatedCluster
from agentfsm.runtime import (
    Controller,
    EffectHandler,
    EffectRouter,
    PermanentError,
    RetainedDataRemover,
)

log = logging.getLogger("agentfsm.platform")


class _KeyedIds:
    """Drops the ids an adapter put on its reports, so the outbox worker derives them from the
    item's key: stable across retries of one item (a redelivery records once) and unique
    across control-plane restarts (an adapter's own counters start again at 1)."""

    def __init__(self, handler: EffectHandler) -> None:
        self._handler = handler

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        return [attrs.evolve(e, id=None) for e in self._handler(agent_id, effect, key)]


class _RemoveEverywhere:
    """``RemoveRetainedData``: the host's copy first, then the stored record (audit log kept)."""

    def __init__(self, host: EffectHandler | None, runtime: EffectHandler) -> None:
        self._host = host
        self._runtime = runtime

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        events = list(self._host(agent_id, effect, key)) if self._host is not None else []
        events += self._runtime(agent_id, effect, key)
        return events


class _AsEmit:
    """The outbox stores a domain event itself (not its ``Emit``); the release handler takes
    the ``Emit``, so wrap it back."""

    def __init__(self, handler: EffectHandler) -> None:
        self._handler = handler

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        return self._handler(agent_id, effect if isinstance(effect, Emit) else Emit(effect), key)


class _Unpublished:
    """``Emit`` without a release store: the domain event is acknowledged and logged only."""

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        log.info("agent %s: domain event %r (no release store configured)", agent_id, effect)
        return ()


def build_router(
    controller: Controller,
    *,
    host: HostAdapter | None,
    cluster: SimulatedCluster | None,
    releases: EffectHandler | None,
) -> EffectRouter:
    """The router for a platform's adapters. Effects of an adapter not given are parked with a
    message that names the missing adapter."""
    routes: dict[type[Any], EffectHandler] = {}
    host_handler = _KeyedIds(HostEffectHandler(host)) if host is not None else None
    if host_handler is not None:
        for kind in HOST_EFFECTS:
            routes[kind] = host_handler
    if cluster is not None:
        for kind in KUBERNETES_EFFECTS:
            routes[kind] = cluster
    publish: EffectHandler = _AsEmit(releases) if releases is not None else _Unpublished()
    for kind in (Emit, *DOMAIN_EVENTS):
        routes[kind] = publish
    routes[RemoveRetainedData] = _RemoveEverywhere(host_handler, RetainedDataRemover(controller))
    return EffectRouter(routes, default=_missing_adapter)


def _missing_adapter(agent_id: str, effect: Any, key: str) -> Sequence[Event]:
    kind = type(effect)
    if kind in HOST_EFFECTS:
        need = "a host adapter (Platform(host=...))"
    elif kind in KUBERNETES_EFFECTS:
        need = "a cluster (Platform(cluster=SimulatedCluster()))"
    else:
        need = "an effect handler for it"
    raise PermanentError(f"agent {agent_id}: {kind.__name__} needs {need}; none was given")
