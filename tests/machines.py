"""Reusable fixture machines: a small sound one, and deliberately broken ones (one fault each).

Each broken spec differs from ``LAMP_SPEC`` (or from a shipped model) by exactly one fault, so a
test that builds it shows one check catching one fault.
"""

from __future__ import annotations

import attrs

from agentfsm import (
    Actor,
    EventSpec,
    Guard,
    GuardSpec,
    Implementations,
    Machine,
    MachineSpec,
    Not,
    Snapshot,
    StateSpec,
    TransitionSpec,
)
from agentfsm.models import ALFE_IMPLEMENTATIONS, ALFE_SPEC, RECIF_IMPLEMENTATIONS, RECIF_SPEC

U, S, T = Actor.USER, Actor.SYSTEM, Actor.TIMER

# ---------------------------------------------------------------------------------------------
# A small, sound machine with no data: a lamp a user switches and the platform may break.

LAMP_SPEC = MachineSpec(
    name="lamp",
    initial="off",
    states=(
        StateSpec("off"),
        StateSpec("on"),
        StateSpec("broken"),
        StateSpec("scrapped", terminal=True),
    ),
    events=(
        EventSpec("switch", frozenset({U}), "Switch"),
        EventSpec("burn_out", frozenset({S}), "Burn out"),
        EventSpec("scrap", frozenset({U}), "Scrap"),
    ),
    guards=(GuardSpec("has_power", "no_power", "{label} needs power.", "the mains are on"),),
    transitions=(
        TransitionSpec("switch", "off", "on", guard=Guard("has_power")),
        TransitionSpec("switch", "on", "off"),
        TransitionSpec("burn_out", "on", "broken"),
        TransitionSpec("scrap", ("off", "on", "broken"), "scrapped"),
    ),
    explanations=(
        ("broken", "switch", "A broken lamp does not switch; scrap it."),
        ("scrapped", "*", "The lamp is scrapped."),
    ),
    strict=True,
)


def _has_power(s: Snapshot, e: object, c: object) -> bool:
    return True


LAMP_IMPLEMENTATIONS = Implementations(guards={"has_power": _has_power})


def _with(**changes: object) -> MachineSpec:
    return attrs.evolve(LAMP_SPEC, **changes)


# Fault: a status nothing leads to.
UNREACHABLE_SPEC = _with(
    states=(*LAMP_SPEC.states, StateSpec("repaired")),
    explanations=(*LAMP_SPEC.explanations, ("repaired", "*", "-")),
)

# Fault: two rows for (off, switch) whose guards can both pass.
OVERLAPPING_SPEC = _with(
    transitions=(*LAMP_SPEC.transitions, TransitionSpec("switch", "off", "broken")),
)

# Not a fault: the same two rows with exclusive guards (G and not G).
EXCLUSIVE_SPEC = _with(
    transitions=(
        *LAMP_SPEC.transitions,
        TransitionSpec("switch", "off", "broken", guard=Not(Guard("has_power"))),
    ),
)

# Fault: a terminal status with a way out.
LEAKY_TERMINAL_SPEC = _with(
    events=(*LAMP_SPEC.events, EventSpec("salvage", frozenset({S}), "Salvage")),
    transitions=(*LAMP_SPEC.transitions, TransitionSpec("salvage", "scrapped", "off")),
)

# Fault: a user action neither handled nor explained in one status ('switch' in 'broken').
UNEXPLAINED_SPEC = _with(explanations=(("scrapped", "*", "The lamp is scrapped."),))

# ---------------------------------------------------------------------------------------------
# Broken copies of the Alfe managed model (they keep its name, so its invariants apply).

# The platform stops a running agent on its own (breaks invariant 4).
IDLE_TIMEOUT_SPEC = attrs.evolve(
    ALFE_SPEC,
    events=(*ALFE_SPEC.events, EventSpec("idle_timeout", frozenset({S}), "Idle timeout")),
    transitions=(*ALFE_SPEC.transitions, TransitionSpec("idle_timeout", "running", "stopped")),
)


def _lossy_resume(s: Snapshot, e: object, c: object) -> str:
    return "starting"  # forgets where the agent was: resumes everything to starting


# A resume chooser that loses the remembered status (breaks invariant 5).
LOSSY_RESUME_IMPLEMENTATIONS = ALFE_IMPLEMENTATIONS.merged(
    Implementations(choosers={"resume_table": _lossy_resume})
)

# Restart issues new credentials (breaks invariants 2 and 3).
RESTART_REISSUES_SPEC = attrs.evolve(
    ALFE_SPEC,
    transitions=tuple(
        attrs.evolve(row, updates=("new_host_and_credentials",)) if row.event == "restart" else row
        for row in ALFE_SPEC.transitions
    ),
)

# Fault: an explanation for a (status, event) pair that a row handles.
CONTRADICTED_SPEC = _with(
    explanations=(*LAMP_SPEC.explanations, ("on", "switch", "A lit lamp cannot be switched.")),
)

# ---------------------------------------------------------------------------------------------
# A broken copy of Recif: its Failed state is published under a phase the CRD does not have.

MISPHASED_RECIF = Machine(
    attrs.evolve(
        RECIF_SPEC,
        states=tuple(
            attrs.evolve(s, phase="CrashLooping") if s.name == "Failed" else s
            for s in RECIF_SPEC.states
        ),
    ),
    RECIF_IMPLEMENTATIONS,
)
