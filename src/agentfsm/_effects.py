"""Effects: frozen records that describe work, returned by the engine and performed by a runtime.

An effect carries plain parameters only, never a callable. The agent it concerns is known to
whoever performs it (the runtime's outbox row names the agent), so effects do not repeat it;
domain events, which travel on their own, do carry their agent's slug.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar, Union, get_args

import attrs

_E = TypeVar("_E")
_K = TypeVar("_K", bound=Hashable)


def fast_maker(cls: type[_E]) -> Callable[..., _E]:
    """A constructor for the frozen, slotted effect class ``cls`` that skips attrs' ``__init__``.

    Effect builders run on the engine's hot path; a frozen attrs ``__init__`` costs about twice
    what it takes to allocate the instance and fill its slots directly. The result is the same
    object: same type, same field values, equal and hashable alike. Only classes whose
    ``__init__`` would do nothing but assign qualify (no validator, converter or post-init);
    the maker takes every field, positionally, in declaration order.

    Raises:
        TypeError: ``cls`` is not such a class.
    """
    kind: type[_E] = cls  # attrs.has() narrows ``cls``; instances are built from ``kind``
    if not attrs.has(cls):
        raise TypeError(f"{cls.__name__} is not an attrs class")
    fields = attrs.fields(cls)
    slots = {n for n in getattr(cls, "__slots__", ()) if n != "__weakref__"}
    if (
        slots != {f.name for f in fields}
        or any(f.validator or f.converter for f in fields)
        or hasattr(cls, "__attrs_post_init__")
    ):
        raise TypeError(f"{cls.__name__} needs its own __init__; build it the ordinary way")
    setters = [cls.__dict__[f.name].__set__ for f in fields]
    new = object.__new__
    if len(setters) == 1:
        (set0,) = setters

        def make1(v0: Any) -> _E:
            obj = new(kind)
            set0(obj, v0)
            return obj

        return make1
    if len(setters) == 2:
        set0, set1 = setters

        def make2(v0: Any, v1: Any) -> _E:
            obj = new(kind)
            set0(obj, v0)
            set1(obj, v1)
            return obj

        return make2

    def make(*values: Any) -> _E:
        if len(values) != len(setters):
            raise TypeError(f"{cls.__name__} takes {len(setters)} values, not {len(values)}")
        obj = new(kind)
        for setter, value in zip(setters, values, strict=True):
            setter(obj, value)
        return obj

    return make


class EffectCache(dict[_K, tuple[_E]], Generic[_K, _E]):
    """One-effect tuples by key, built on first use: ``cache[3]`` is ``(make(3),)``.

    Effects are immutable values, so a builder whose effect depends only on a small key that
    repeats (a host or credentials generation) can hand out the same tuple every time instead
    of allocating a record per event: a dict lookup instead of an ``__init__``. The cache keeps
    at most ``limit`` keys; past that, effects are built and not kept.
    """

    __slots__ = ("limit", "make")

    def __init__(self, make: Callable[[_K], _E], limit: int = 1024) -> None:
        super().__init__()
        self.make = make
        self.limit = limit

    def __missing__(self, key: _K) -> tuple[_E]:
        value = (self.make(key),)
        if len(self) < self.limit:
            self[key] = value
        return value


class LastBuilt:
    """The effects a builder made for the last context it saw, to hand out again.

    A timer carries a time computed from the context (now plus a timeout), so it cannot come
    from an ``EffectCache``; but a batch decides many events with one context, and hashing a
    fresh aware datetime to look one up would cost more than building it. A builder keeps
    what it built with ``keep`` and, when asked again with the same context object (and the
    same small ``key``, when its effects depend on one), returns the same tuple: the context
    is immutable and held here, so identity means same time, same policy, same effects.
    The pair is replaced as one value, so threads sharing a builder see a consistent one.
    """

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: tuple[object, object, tuple[Any, ...]] = (None, None, ())

    def keep(self, context: object, key: object, effects: tuple[Any, ...]) -> tuple[Any, ...]:
        """Remember ``effects`` as what ``context`` (and ``key``) gave; return them."""
        self.last = (context, key, effects)
        return effects


# -- host work (Alfe managed agents) ------------------------------------------------------------


@attrs.frozen(slots=True)
class ProvisionHost:
    """Create (or retry creating) host number ``host`` of ``size`` for the agent."""

    size: str
    host: int


@attrs.frozen(slots=True)
class IssueCredentials:
    """Issue credential set number ``credentials`` to the agent."""

    credentials: int


@attrs.frozen(slots=True)
class RevokeCredentials:
    """Revoke credential set number ``credentials``; an agent presenting it is refused."""

    credentials: int


@attrs.frozen(slots=True)
class BootAgent:
    """Boot the agent on its host and let it connect."""

    host: int


@attrs.frozen(slots=True)
class PowerOnHost:
    """Power a stopped host back on."""

    host: int


@attrs.frozen(slots=True)
class PowerCycleHost:
    """Power a stuck host off and on again (Start on a stuck agent)."""

    host: int


@attrs.frozen(slots=True)
class RebootHost:
    """Reboot the agent keeping its identity and credentials."""

    host: int


@attrs.frozen(slots=True)
class ShutdownHost:
    """Shut the agent down gracefully and power its host off."""

    host: int


@attrs.frozen(slots=True)
class StopHost:
    """Stop the host of an agent being deleted, if it has one running."""

    host: int


@attrs.frozen(slots=True)
class DestroyHost:
    """Destroy host number ``host`` for good (Recreate)."""

    host: int


@attrs.frozen(slots=True)
class PauseHost:
    """Pause the host while billing is suspended."""

    host: int


@attrs.frozen(slots=True)
class ResumeHost:
    """Resume a paused host once billing is in good standing."""

    host: int


@attrs.frozen(slots=True)
class StartRecovery:
    """Try to reconnect an agent whose host is up but which is not connected."""

    host: int


@attrs.frozen(slots=True)
class RemoveRetainedData:
    """Remove a deleted agent's retained data (the audit log is kept)."""


# -- timers ---------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class ScheduleTimer:
    """Ask the runtime to send ``event`` (a timer event) to the agent at ``at``.

    A timer of the same event for the same agent replaces the earlier one.
    """

    event: str
    at: datetime


@attrs.frozen(slots=True)
class CancelTimer:
    """Cancel the agent's pending timer for ``event``, if any."""

    event: str


# -- Kubernetes work (Recif) ---------------------------------------------------------------

DATA_PORT = 8000
"""The port of an agent's Service that carries its traffic (named ``data``)."""
CONTROL_PORT = 8001
"""The port of an agent's Service for the control plane (named ``control``)."""
DEFAULT_ENV_SECRET = "agent-env"
"""The Secret an agent's pods read their environment from unless the spec names others."""


@attrs.frozen(slots=True)
class CreateDeployment:
    """Create the agent's Deployment running ``image`` with ``replicas`` pods."""

    image: str
    replicas: int
    env_secrets: tuple[str, ...] = (DEFAULT_ENV_SECRET,)
    credential_secret: str | None = None


@attrs.frozen(slots=True)
class CreateService:
    """Create the agent's Service (port 8000 for data, 8001 for control)."""

    ports: tuple[int, ...] = (DATA_PORT, CONTROL_PORT)


@attrs.frozen(slots=True)
class CreateConfigMap:
    """Create the agent's ConfigMap (model type, strategy, tools…)."""

    config: Mapping[str, str]


@attrs.frozen(slots=True)
class RecreateConfigMap:
    """Replace the agent's ConfigMap with a new configuration."""

    config: Mapping[str, str]


@attrs.frozen(slots=True)
class RestartPods:
    """Restart the agent's pods so they read their new configuration."""


@attrs.frozen(slots=True)
class ScaleDeployment:
    """Scale the agent's Deployment to ``replicas`` pods (0 to stop)."""

    replicas: int


@attrs.frozen(slots=True)
class CreateCanary:
    """Create a canary Deployment and Service running ``image``."""

    image: str


@attrs.frozen(slots=True)
class DeleteResources:
    """Delete the agent's Deployment, Service and ConfigMap (and any canary)."""


@attrs.frozen(slots=True)
class RecordEvents:
    """Record why pods are unhealthy, for ``GET /agents/{id}/events``."""

    reason: str
    message: str = ""


# -- domain events (they travel on their own, so they name their agent) ----------------------------


@attrs.frozen(slots=True)
class ReleaseEvent:
    """The fields every release-making domain event carries: what the new release records."""

    slug: str
    at: datetime
    image: str
    replicas: int
    config: Mapping[str, str]


@attrs.frozen(slots=True)
class AgentDeployed(ReleaseEvent):
    """An agent was first deployed or restarted and its pods became ready: a release is due."""


@attrs.frozen(slots=True)
class AgentConfigChanged(ReleaseEvent):
    """An agent's configuration changed: the next release is due."""


@attrs.frozen(slots=True)
class AgentCanaryPromoted(ReleaseEvent):
    """An agent's canary became its stable version: the next release is due."""


@attrs.frozen(slots=True)
class AgentDeleted:
    """An agent was deleted: a tombstone is due."""

    slug: str
    at: datetime


DomainEvent = Union[AgentDeployed, AgentConfigChanged, AgentCanaryPromoted, AgentDeleted]
"""Any of the domain events (``Emit`` carries one): a release change or a deletion."""

DOMAIN_EVENTS: tuple[type, ...] = get_args(DomainEvent)
"""Every domain event type, for ``isinstance`` checks and routing tables."""


@attrs.frozen(slots=True)
class Emit:
    """Publish a domain event on the event bus (and, for releases, to the release store)."""

    event: DomainEvent


@attrs.frozen(slots=True)
class UpdateDeploymentImage:
    """Roll the agent's Deployment over to ``image`` (a rolling update)."""

    image: str
