"""A simulated host: deterministic, seeded, with faults a test scripts or draws at random.

Nothing runs by itself. Each call schedules what the host would report after a realistic delay;
``tick`` delivers every report that is due by the injected clock, and ``advance`` moves a
``ManualClock`` and ticks. Every call that changes what the host is doing starts a new *epoch*
for the agent, and a report scheduled in an older epoch is dropped when it falls due: a host
that was told to stop never reports that the boot it abandoned has connected. That is what
keeps its reports acceptable to the Alfe machine in any well-ordered run.

Not thread-safe: drive one ``SimulatedHost`` from one thread.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from agentfsm._errors import InvalidInput
from agentfsm._values import Event
from agentfsm.hosts._clock import Clock, ManualClock
from agentfsm.hosts._faults import Crash, Fault, FaultPlan, LostConnection
from agentfsm.hosts._protocol import (
    EventIds,
    EventSink,
    HostObservation,
    check_agent_id,
    check_generation,
)
from agentfsm.runtime import TemporaryError

_Range = tuple[float, float]


def _range(instance: object, attribute: attrs.Attribute[_Range], value: object) -> None:
    ok = isinstance(value, tuple) and len(value) == 2 and 0 <= value[0] <= value[1]
    if not ok:
        raise InvalidInput(f"{attribute.name} must be (low, high) seconds with 0 <= low <= high")


@attrs.frozen(slots=True)
class SimulatedDelays:
    """How long a simulated host takes, as (low, high) seconds drawn uniformly per occasion.

    The defaults stay well inside the default ``Policy`` timeouts, so a host without faults
    never trips a boot or recovery timer.
    """

    provision: _Range = attrs.field(default=(20.0, 90.0), validator=_range)
    capacity: _Range = attrs.field(default=(0.5, 2.0), validator=_range)
    boot: _Range = attrs.field(default=(5.0, 40.0), validator=_range)
    reconnect: _Range = attrs.field(default=(1.0, 10.0), validator=_range)
    shutdown: _Range = attrs.field(default=(3.0, 30.0), validator=_range)


# Phases in which the host exists and is powered (it may be frozen, but it holds its slot).
_UP = frozenset({"up", "booting", "connected", "lost", "crashed", "hung", "severed", "stopping"})
_HOLDS_SLOT = _UP | {"provisioning", "paused", "off"}


@attrs.define
class _Host:
    number: int
    size: str
    phase: str = "provisioning"
    paused_from: str = ""
    credentials: int | None = None  # the generation the agent booted with
    last_heartbeat: datetime | None = None


@attrs.define
class _Agent:
    host: _Host | None = None
    epoch: int = 0
    issued: set[int] = attrs.field(factory=set)
    revoked: set[int] = attrs.field(factory=set)

    def usable_credentials(self) -> int | None:
        good = self.issued - self.revoked
        return max(good) if good else None


class SimulatedHost:
    """A host adapter that simulates hosts and reports what they do after simulated delays.

    Args:
        clock: the time (a callable returning an aware datetime); a ``ManualClock`` also
            enables ``advance``.
        sink: receives each report as it is delivered by ``tick``; may be ``None`` when the
            caller only uses ``tick``'s return value.
        seed: seeds the delays; the same seed, faults and calls give the same reports.
        faults: faults to inject (see ``agentfsm.hosts.CapacityShortage`` and friends, and
            ``random_faults``).
        capacity: the most hosts each size may hold at once; sizes not listed are unlimited.
        delays: how long things take.

    Raises:
        InvalidInput: a fault, capacity or delay is malformed.
    """

    def __init__(
        self,
        clock: Clock,
        sink: EventSink | None = None,
        *,
        seed: int = 0,
        faults: Iterable[Fault] = (),
        capacity: Mapping[str, int] | None = None,
        delays: SimulatedDelays | None = None,
    ) -> None:
        self._clock = clock
        self._sink = sink
        self._rng = random.Random(seed)
        self._plan = FaultPlan(faults)
        self._capacity = dict(capacity or {})
        for size, limit in self._capacity.items():
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise InvalidInput(f"capacity for {size!r} must be an int >= 0, not {limit!r}")
        self._delays = delays or SimulatedDelays()
        self._agents: dict[str, _Agent] = {}
        self._ids = EventIds("sim:")
        self._queue: list[tuple[datetime, int, str, int, str]] = []
        self._seq = 0
        self._timed = list(self._plan.timed)
        self._closed = False

    # -- driving the simulation --------------------------------------------------------------

    def now(self) -> datetime:
        """The current time by the injected clock."""
        return self._clock()

    def next_due(self) -> datetime | None:
        """When the next report or scripted fault falls due, or ``None`` if nothing is pending."""
        self._drop_stale()
        times = [self._queue[0][0]] if self._queue else []
        if self._timed:
            times.append(self._timed[0].at)
        return min(times) if times else None

    def tick(self) -> list[tuple[str, Event]]:
        """Deliver every report due by now, in time order, to the sink; return them too."""
        now = self._clock()
        out: list[tuple[str, Event]] = []
        while True:
            self._drop_stale()
            head = self._queue[0][0] if self._queue else None
            fault = self._timed[0] if self._timed else None
            if fault is not None and fault.at <= now and (head is None or fault.at <= head):
                self._timed.pop(0)
                out += self._strike(fault)
            elif head is not None and head <= now:
                _, _, agent_id, _, kind = heapq.heappop(self._queue)
                out += self._deliver(agent_id, kind)
            else:
                return out

    def advance(self, dt: timedelta) -> list[tuple[str, Event]]:
        """Move a ``ManualClock`` forward by ``dt`` and ``tick``.

        Raises:
            TypeError: the clock is not a ``ManualClock``.
        """
        if not isinstance(self._clock, ManualClock):
            raise TypeError("advance needs a ManualClock; with another clock, call tick()")
        self._clock.advance(dt)
        return self.tick()

    # -- HostAdapter ---------------------------------------------------------------------------

    def provision(self, agent_id: str, host: int, size: str) -> Sequence[Event]:
        """Start provisioning; host_up, capacity_unavailable or provisioning_failed follows."""
        agent = self._agent(agent_id, create=True)
        check_generation("host", host)
        if not isinstance(size, str) or not size:
            raise InvalidInput(f"size must be a non-empty string, not {size!r}")
        current = agent.host
        if current is not None and current.number == host and current.phase in _HOLDS_SLOT:
            return ()  # already provisioned (or being provisioned): nothing more to do
        self._new_epoch(agent_id)
        agent.host = _Host(host, size)
        limit = self._capacity.get(size)
        full = limit is not None and self._held(size) > limit
        if full or self._plan.capacity_short(size, self._clock()):
            agent.host.phase = "waiting"
            self._later(agent_id, "capacity_unavailable", self._delays.capacity)
        elif self._plan.provisioning_fails(agent_id):
            self._later(agent_id, "provisioning_failed", self._delays.provision)
        else:
            self._later(agent_id, "host_up", self._delays.provision)
        return ()

    def issue_credentials(self, agent_id: str, credentials: int) -> Sequence[Event]:
        """Record credential generation ``credentials`` as issued."""
        self._agent(agent_id, create=True).issued.add(check_generation("credentials", credentials))
        return ()

    def revoke_credentials(self, agent_id: str, credentials: int) -> Sequence[Event]:
        """Revoke a generation; an agent connected with it is cut off (connection_lost)."""
        agent = self._agent(agent_id, create=True)
        agent.revoked.add(check_generation("credentials", credentials))
        h = agent.host
        if h is None or h.credentials != credentials or h.phase not in ("booting", "connected"):
            return ()
        was_connected = h.phase == "connected"
        self._new_epoch(agent_id)
        h.phase = "severed"
        return (self._ids.event(agent_id, "connection_lost", h.number),) if was_connected else ()

    def boot(self, agent_id: str, host: int) -> Sequence[Event]:
        """Boot the agent; connected follows unless the boot never connects."""
        h = self._host(agent_id, host)
        if h is None or h.phase in ("paused", "released", "failed"):
            return ()
        if h.phase in ("provisioning", "waiting"):
            raise TemporaryError(
                f"host {host} of {agent_id} is not up yet", delay=timedelta(seconds=5)
            )
        self._boot(agent_id, h, self._delays.boot)
        return ()

    power_on = boot
    power_cycle = boot
    reboot = boot

    def recover(self, agent_id: str, host: int) -> Sequence[Event]:
        """Reconnect a lost agent, boot a crashed or hung one; a severed one stays cut off."""
        h = self._host(agent_id, host)
        if h is None:
            return ()
        if h.phase == "lost":
            self._boot(agent_id, h, self._delays.reconnect)
        elif h.phase in ("crashed", "hung"):
            self._boot(agent_id, h, self._delays.boot)
        return ()

    def power_off(self, agent_id: str, host: int) -> Sequence[Event]:
        """Shut down gracefully; shutdown_complete follows unless the shutdown is stuck."""
        h = self._host(agent_id, host)
        if h is None or h.phase not in _UP:
            return ()
        self._new_epoch(agent_id)
        h.phase = "stopping"
        spoiled, delay = self._plan.shutdown(agent_id)
        if not spoiled:
            self._later(agent_id, "shutdown_complete", self._delays.shutdown)
        elif delay is not None:
            self._at(agent_id, "shutdown_complete", self._clock() + delay)
        return ()

    def pause(self, agent_id: str, host: int) -> Sequence[Event]:
        """Freeze the host; whatever it was about to report is forgotten."""
        h = self._host(agent_id, host)
        if h is None or h.phase in ("paused", "released"):
            return ()
        self._new_epoch(agent_id)  # even a capacity answer on its way is not reported now
        h.paused_from, h.phase = h.phase, "paused"
        return ()

    def resume(self, agent_id: str, host: int) -> Sequence[Event]:
        """Unfreeze the host: an agent that was up or booting reconnects (connected follows)."""
        h = self._host(agent_id, host)
        if h is None or h.phase != "paused":
            return ()
        before = h.paused_from
        if before in ("connected", "booting", "lost"):
            self._boot(agent_id, h, self._delays.reconnect)
        elif before == "crashed":
            self._boot(agent_id, h, self._delays.boot)
        elif before in ("provisioning", "waiting"):
            h.phase = "released"  # the machine provisions a new host once it is resumed
        elif before == "stopping":
            h.phase = "off"  # the shutdown finishes while nobody is waiting for it
        else:
            h.phase = before
        return ()

    def stop(self, agent_id: str, host: int) -> Sequence[Event]:
        """Stop a deleted agent's host at once, reporting nothing; it holds no capacity after."""
        h = self._host(agent_id, host)
        if h is not None:
            self._new_epoch(agent_id)
            h.phase = "released"
        return ()

    def destroy(self, agent_id: str, host: int) -> Sequence[Event]:
        """Destroy host generation ``host``, reporting nothing."""
        h = self._host(agent_id, host)
        if h is not None:
            self._new_epoch(agent_id)
            self._agents[agent_id].host = None
        return ()

    def remove_data(self, agent_id: str) -> Sequence[Event]:
        """Forget the agent entirely."""
        check_agent_id(agent_id)
        if agent_id in self._agents:
            self._new_epoch(agent_id)
            del self._agents[agent_id]
        return ()

    def observe(self, agent_id: str) -> HostObservation:
        """What the simulated host shows for the agent now."""
        agent = self._agent(agent_id, create=False)
        h = agent.host if agent is not None else None
        if h is None:
            creds = agent.usable_credentials() if agent is not None else None
            return HostObservation(agent_id, credentials=creds)
        connected = h.phase == "connected"
        return HostObservation(
            agent_id,
            host=h.number,
            size=h.size,
            host_up=h.phase in _UP,
            connected=connected,
            last_heartbeat=self._clock() if connected else h.last_heartbeat,
            credentials=h.credentials,
            phase=h.phase,
        )

    def close(self) -> None:
        """Forget every pending report; the simulation holds nothing else."""
        self._queue.clear()
        self._timed.clear()
        self._closed = True

    def __enter__(self) -> SimulatedHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------

    def _agent(self, agent_id: str, *, create: bool) -> _Agent:
        check_agent_id(agent_id)
        if self._closed:
            raise InvalidInput("this SimulatedHost is closed")
        agent = self._agents.get(agent_id)
        if agent is None:
            agent = _Agent()
            if create:
                self._agents[agent_id] = agent
        return agent

    def _host(self, agent_id: str, number: int) -> _Host | None:
        """The agent's host if it is generation ``number``; ``None`` for a stale generation."""
        check_generation("host", number)
        h = self._agent(agent_id, create=False).host
        return h if h is not None and h.number == number else None

    def _held(self, size: str) -> int:
        return sum(
            1
            for a in self._agents.values()
            if a.host is not None and a.host.size == size and a.host.phase in _HOLDS_SLOT
        )

    def _new_epoch(self, agent_id: str) -> None:
        self._agents[agent_id].epoch += 1

    def _boot(self, agent_id: str, h: _Host, delay: tuple[float, float]) -> None:
        self._new_epoch(agent_id)
        h.credentials = self._agents[agent_id].usable_credentials()
        if h.credentials is None or self._plan.never_connects(agent_id):
            h.phase = "hung"  # no usable credentials, or a boot that never connects
            return
        h.phase = "booting"
        self._later(agent_id, "connected", delay)

    def _later(self, agent_id: str, kind: str, delay: tuple[float, float]) -> None:
        seconds = self._rng.uniform(*delay)
        self._at(agent_id, kind, self._clock() + timedelta(seconds=seconds))

    def _at(self, agent_id: str, kind: str, due: datetime) -> None:
        self._seq += 1
        epoch = self._agents[agent_id].epoch
        heapq.heappush(self._queue, (due, self._seq, agent_id, epoch, kind))

    def _drop_stale(self) -> None:
        while self._queue:
            _, _, agent_id, epoch, _ = self._queue[0]
            agent = self._agents.get(agent_id)
            if agent is not None and agent.epoch == epoch:
                return
            heapq.heappop(self._queue)

    def _deliver(self, agent_id: str, kind: str) -> list[tuple[str, Event]]:
        h = self._agents[agent_id].host
        assert h is not None  # a report outlives its host only in an older epoch
        if kind.startswith("lose:"):
            return self._lose(agent_id, h, kind[5:])
        h.phase = {
            "host_up": "up",
            "capacity_unavailable": "waiting",
            "provisioning_failed": "failed",
            "connected": "connected",
            "shutdown_complete": "off",
        }[kind]
        if kind == "connected":
            h.last_heartbeat = self._clock()
            loss = self._plan.after_connect()
            if loss is not None:
                self._at(agent_id, "lose:" + loss[1], self._clock() + loss[0])
        return self._report(agent_id, kind, h.number)

    def _lose(self, agent_id: str, h: _Host, how: str) -> list[tuple[str, Event]]:
        if h.phase != "connected":
            return []
        self._new_epoch(agent_id)
        h.phase = {"lost": "lost", "crash": "crashed", "permanent": "severed"}[how]
        return self._report(agent_id, "connection_lost", h.number)

    def _strike(self, fault: LostConnection | Crash) -> list[tuple[str, Event]]:
        how = "crash" if isinstance(fault, Crash) else "permanent" if fault.permanent else "lost"
        out: list[tuple[str, Event]] = []
        for agent_id in sorted(self._agents):
            h = self._agents[agent_id].host
            if h is not None and fault.agent_id in (None, agent_id):
                out += self._lose(agent_id, h, how)
        return out

    def _report(self, agent_id: str, name: str, host: int) -> list[tuple[str, Event]]:
        event = self._ids.event(agent_id, name, host)
        if self._sink is not None:
            self._sink(agent_id, event)
        return [(agent_id, event)]
