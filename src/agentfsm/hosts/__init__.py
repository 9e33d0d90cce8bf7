"""Host adapters: they do the host work Alfe effects describe and report what they saw.

``HostAdapter`` is the Protocol; ``HostEffectHandler`` maps each host effect record to one
adapter call. ``SimulatedHost`` is the deterministic, fault-injecting one for tests and
simulations; ``LocalProcessHost`` runs each agent as a real process on this machine that
connects back over loopback and heartbeats. ``FencedHost`` wraps any adapter so that work whose
fencing token is out of date (a replica paused past its claim) is refused.
"""

from agentfsm.hosts._clock import Clock, ManualClock, wall_clock
from agentfsm.hosts._faults import (
    BootNeverConnects,
    CapacityShortage,
    Crash,
    Fault,
    LostConnection,
    ProvisioningFailure,
    RandomFaults,
    StuckShutdown,
    random_faults,
)
from agentfsm.hosts._fenced import FencedHost
from agentfsm.hosts._handler import HOST_EFFECTS, HostEffectHandler
from agentfsm.hosts._local import LocalProcessHost
from agentfsm.hosts._protocol import REPORTS, EventSink, HostAdapter, HostObservation
from agentfsm.hosts._recording import RecordingSink
from agentfsm.hosts._simulated import SimulatedDelays, SimulatedHost
from agentfsm.runtime import PermanentError, TemporaryError

__all__ = [
    "HOST_EFFECTS",
    "REPORTS",
    "BootNeverConnects",
    "CapacityShortage",
    "Clock",
    "Crash",
    "EventSink",
    "Fault",
    "FencedHost",
    "HostAdapter",
    "HostEffectHandler",
    "HostObservation",
    "LocalProcessHost",
    "LostConnection",
    "ManualClock",
    "PermanentError",
    "ProvisioningFailure",
    "RandomFaults",
    "RecordingSink",
    "SimulatedDelays",
    "SimulatedHost",
    "StuckShutdown",
    "TemporaryError",
    "random_faults",
    "wall_clock",
]
