"""Faults a ``SimulatedHost`` can be told to inject: scripted one by one, or drawn at random.

Each fault is a frozen record. ``agent_id=None`` means "whichever agent comes first"; ``times``
counts how many occasions a fault spoils before it is used up. ``random_faults`` gives a seeded
source that spoils each occasion with a fixed probability, so a random run replays exactly.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Union

import attrs

from agentfsm._errors import InvalidInput


def _times(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{attribute.name} must be an int of at least 1, not {value!r}")


def _aware(instance: object, attribute: attrs.Attribute[datetime], value: object) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(f"{attribute.name} must be a timezone-aware datetime, not {value!r}")


def _aware_or_none(
    instance: object, attribute: attrs.Attribute[datetime | None], value: object
) -> None:
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise InvalidInput(f"{attribute.name} must be None or an aware datetime, not {value!r}")


@attrs.frozen(slots=True)
class CapacityShortage:
    """No host of ``size`` can be provisioned until ``until`` (``None``: never)."""

    size: str
    until: datetime | None = attrs.field(default=None, validator=_aware_or_none)


@attrs.frozen(slots=True)
class ProvisioningFailure:
    """The next ``times`` provisions (of ``agent_id``, or of anyone) fail."""

    agent_id: str | None = None
    times: int = attrs.field(default=1, validator=_times)


@attrs.frozen(slots=True)
class BootNeverConnects:
    """The next ``times`` boots (boot, power on, cycle, reboot, recovery) never connect."""

    agent_id: str | None = None
    times: int = attrs.field(default=1, validator=_times)


@attrs.frozen(slots=True)
class LostConnection:
    """At ``at``, connected agents (or ``agent_id``) lose their connection.

    A recovery reconnects them, unless ``permanent``: then only a power cycle, a reboot or a
    new host does.
    """

    at: datetime = attrs.field(validator=_aware)
    agent_id: str | None = None
    permanent: bool = False


@attrs.frozen(slots=True)
class Crash:
    """At ``at``, the agent process of connected agents (or ``agent_id``) crashes.

    The connection is lost; a recovery boots the agent again (a full boot, not a reconnect).
    """

    at: datetime = attrs.field(validator=_aware)
    agent_id: str | None = None


@attrs.frozen(slots=True)
class StuckShutdown:
    """The next ``times`` graceful shutdowns never finish, or finish only after ``delay``."""

    agent_id: str | None = None
    times: int = attrs.field(default=1, validator=_times)
    delay: timedelta | None = None


@attrs.frozen(slots=True)
class RandomFaults:
    """Spoil each occasion with probability ``rate``, drawing from a generator seeded ``seed``."""

    rate: float
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise InvalidInput(f"a fault rate is a probability in [0, 1], not {self.rate!r}")


def random_faults(rate: float, seed: int = 0) -> RandomFaults:
    """A seeded source of random faults of every kind, each occasion spoiled with ``rate``.

    Raises:
        InvalidInput: ``rate`` is not in [0, 1].
    """
    return RandomFaults(rate, seed)


Fault = Union[
    CapacityShortage,
    ProvisioningFailure,
    BootNeverConnects,
    LostConnection,
    Crash,
    StuckShutdown,
    RandomFaults,
]
"""Any of the faults a ``SimulatedHost`` can be given."""

_LOSS_KINDS = ("lost", "crash", "permanent")
_SCRIPTED = (CapacityShortage, ProvisioningFailure, BootNeverConnects, StuckShutdown)


class FaultPlan:
    """The faults of one simulated host, and what is left of them (private to the simulation).

    Raises:
        InvalidInput: something in ``faults`` is not a fault.
    """

    def __init__(self, faults: Iterable[Fault]) -> None:
        self._left: dict[int, int] = {}
        self._scripted: list[Fault] = []
        self.timed: list[LostConnection | Crash] = []
        self._random: list[tuple[float, random.Random]] = []
        for fault in faults:
            if isinstance(fault, RandomFaults):
                self._random.append((fault.rate, random.Random(fault.seed)))
            elif isinstance(fault, LostConnection | Crash):
                self.timed.append(fault)
            elif isinstance(fault, _SCRIPTED):
                self._scripted.append(fault)
            else:
                raise InvalidInput(f"{fault!r} is not a fault a SimulatedHost can inject")
            if isinstance(fault, ProvisioningFailure | BootNeverConnects | StuckShutdown):
                self._left[len(self._scripted) - 1] = fault.times
        self.timed.sort(key=lambda f: f.at)

    def _draw(self) -> random.Random | None:
        """The generator of the first random source that spoils this occasion, if any."""
        for rate, rng in self._random:
            if rng.random() < rate:
                return rng
        return None

    def _use(self, kind: type, agent_id: str) -> Fault | None:
        for i, fault in enumerate(self._scripted):
            if isinstance(fault, kind) and self._left.get(i, 0) > 0:
                target = getattr(fault, "agent_id", None)
                if target is None or target == agent_id:
                    self._left[i] -= 1
                    return fault
        return None

    def capacity_short(self, size: str, now: datetime) -> bool:
        """Whether a provision of ``size`` at ``now`` finds no capacity."""
        for fault in self._scripted:
            if not isinstance(fault, CapacityShortage) or fault.size != size:
                continue
            if fault.until is None or now < fault.until:
                return True
        return self._draw() is not None

    def provisioning_fails(self, agent_id: str) -> bool:
        """Whether this provision of ``agent_id`` fails."""
        return self._use(ProvisioningFailure, agent_id) is not None or self._draw() is not None

    def never_connects(self, agent_id: str) -> bool:
        """Whether this boot of ``agent_id`` never connects."""
        return self._use(BootNeverConnects, agent_id) is not None or self._draw() is not None

    def shutdown(self, agent_id: str) -> tuple[bool, timedelta | None]:
        """Whether this shutdown is spoiled, and if so after how long it ends (``None``: never)."""
        fault = self._use(StuckShutdown, agent_id)
        if isinstance(fault, StuckShutdown):
            return True, fault.delay
        rng = self._draw()
        if rng is None:
            return False, None
        return True, (None if rng.random() < 0.5 else timedelta(minutes=rng.uniform(1, 30)))

    def after_connect(self) -> tuple[timedelta, str] | None:
        """A random loss of the connection just made: after how long, and of which kind."""
        rng = self._draw()
        if rng is None:
            return None
        return timedelta(minutes=rng.uniform(1, 120)), rng.choice(_LOSS_KINDS)
