"""agentfsm: the lifecycle of hosted AI agents as explicit, checked finite-state machines.

Machines are data (``MachineSpec``), compiled once (``Machine``); an agent is a small
``Snapshot``; ``decide`` is a pure function returning a ``Step`` (new snapshot + effects to
perform) or a ``Refusal`` (a stable code and a sentence). The shipped models live in
``agentfsm.models``, effect records in ``agentfsm.effects``; ``agentfsm.define`` defines your
own machine from a table in a few lines.
"""

from agentfsm._engine import decide, fire, offered
from agentfsm._errors import (
    AgentFSMError,
    InvalidInput,
    InvalidMachine,
    MissingExtra,
    TransitionRefused,
)
from agentfsm._machine import Implementations, Machine
from agentfsm._slug import check_slug
from agentfsm._spec import (
    SAME,
    ActionSpec,
    AllOf,
    AnyOf,
    ChooserSpec,
    EventSpec,
    FieldSpec,
    Guard,
    GuardSpec,
    MachineSpec,
    Not,
    StateSpec,
    TransitionSpec,
)
from agentfsm._values import (
    DEFAULT_POLICY,
    Actor,
    Context,
    Event,
    Offer,
    Policy,
    Refusal,
    Role,
    Snapshot,
    Step,
    policy_in_force,
    role_named,
)

__version__ = "0.1.0"
"""The installed agentfsm version (semantic versioning from 1.0)."""

__all__ = [
    "DEFAULT_POLICY",
    "SAME",
    "ActionSpec",
    "Actor",
    "AgentFSMError",
    "AllOf",
    "AnyOf",
    "ChooserSpec",
    "Context",
    "Event",
    "EventSpec",
    "FieldSpec",
    "Guard",
    "GuardSpec",
    "Implementations",
    "InvalidInput",
    "InvalidMachine",
    "Machine",
    "MachineSpec",
    "MissingExtra",
    "Not",
    "Offer",
    "Policy",
    "Refusal",
    "Role",
    "Snapshot",
    "StateSpec",
    "Step",
    "TransitionRefused",
    "TransitionSpec",
    "__version__",
    "check_slug",
    "decide",
    "fire",
    "offered",
    "policy_in_force",
    "role_named",
]
