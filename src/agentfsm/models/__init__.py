"""The shipped models: Alfe managed and self-hosted agents, and Recif operator agents.

Each is a compiled ``Machine`` built from a ``MachineSpec`` (the table, as data) and its
``Implementations`` (the functions behind the table's names).
"""

import typing

from agentfsm import _machine
from agentfsm.models._alfe import (
    ALFE,
    ALFE_IMPLEMENTATIONS,
    ALFE_SELF_HOSTED,
    ALFE_SELF_HOSTED_SPEC,
    ALFE_SPEC,
    BILLING_REASONS,
    MANAGED_STATUSES,
    RESUME_TABLE,
    AlfeAgent,
)
from agentfsm.models._conditions import CONDITION_TYPES, Condition, derive_conditions
from agentfsm.models._recif import (
    MAX_REPLICAS,
    MIN_REPLICAS,
    PHASES,
    RECIF,
    RECIF_IMPLEMENTATIONS,
    RECIF_SPEC,
    RecifAgent,
    RecifSpec,
    phase_of,
)
from agentfsm.models._spec_checks import (
    MAX_CONFIG_BYTES,
    MAX_CONFIG_ENTRIES,
    MAX_IMAGE_LENGTH,
    config_problem,
    image_problem,
)

# Typed as machines of any record: the models' records differ, and a name picks any of them.
MACHINES: dict[str, _machine.Machine[typing.Any]] = {
    "alfe": ALFE,
    "alfe-self-hosted": ALFE_SELF_HOSTED,
    "recif": RECIF,
}
"""Every shipped machine by name (the names the command line accepts)."""

__all__ = [
    "ALFE",
    "ALFE_IMPLEMENTATIONS",
    "ALFE_SELF_HOSTED",
    "ALFE_SELF_HOSTED_SPEC",
    "ALFE_SPEC",
    "BILLING_REASONS",
    "CONDITION_TYPES",
    "MACHINES",
    "MANAGED_STATUSES",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_ENTRIES",
    "MAX_IMAGE_LENGTH",
    "MAX_REPLICAS",
    "MIN_REPLICAS",
    "PHASES",
    "RECIF",
    "RECIF_IMPLEMENTATIONS",
    "RECIF_SPEC",
    "RESUME_TABLE",
    "AlfeAgent",
    "Condition",
    "RecifAgent",
    "RecifSpec",
    "config_problem",
    "derive_conditions",
    "image_problem",
    "phase_of",
]
