"""Worked examples of versioned models and their migrations (used by the guide and the tests).

- ``ALFE_V2``: Alfe with a ``hibernated`` status. The platform hibernates a stopped agent
  (``hibernate``); Start leaves it like it leaves ``stopped``; a billing suspension pauses it
  and a resume returns it to ``hibernated``. ``ALFE_V1_TO_V2`` moves stored v1 agents over:
  every status keeps its name, so the map is the identity, and the check proves it.
- ``RECIF_V2``: Recif whose configuration requires a ``strategy`` entry. ``RECIF_V1_TO_V2``
  gives stored agents the default ``"react"``, so the next release document carries it.

Each v2 has its own invariants where a v1 invariant named the old statuses
(``ALFE_V2_INVARIANTS``, ``RECIF_V2_INVARIANTS``), and ``RECIF_V2_PROFILE`` starts the model
checker on an agent that has the required entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from agentfsm._machine import Implementations, Machine
from agentfsm._spec import ChooserSpec, EventSpec, StateSpec, TransitionSpec
from agentfsm._values import Actor, Context, Event, Refusal, Snapshot, Step
from agentfsm.analysis import ALFE_INVARIANTS, RECIF_INVARIANTS, profile_for
from agentfsm.analysis._invariants import Invariant
from agentfsm.migrate._migration import DataTransform, Migration
from agentfsm.models import ALFE, RECIF, RESUME_TABLE, RecifAgent, RecifSpec

__all__ = [
    "ALFE_V1_TO_V2",
    "ALFE_V2",
    "ALFE_V2_INVARIANTS",
    "ALFE_V2_RESUME_TABLE",
    "RECIF_V1_TO_V2",
    "RECIF_V2",
    "RECIF_V2_INVARIANTS",
    "RECIF_V2_PROFILE",
    "STRATEGY_DEFAULT",
]

# -- Alfe v2: hibernated -----------------------------------------------------------------------

ALFE_V2_RESUME_TABLE = {**RESUME_TABLE, "hibernated": "hibernated"}
"""v2's resume table: a suspension of a hibernated agent resumes it hibernated."""

_NEEDS_HIBERNATED = ("delete", "billing_suspend", "recreate")


def _alfe_v2_transitions() -> tuple[TransitionSpec, ...]:
    rows: list[TransitionSpec] = []
    for row in ALFE.spec.transitions:
        if row.event == "start" and row.sources == ("stopped",):
            row = attrs.evolve(row, sources=("stopped", "hibernated"))
        elif row.event in _NEEDS_HIBERNATED:
            row = attrs.evolve(row, sources=(*row.sources, "hibernated"))
        rows.append(row)
    rows.append(
        TransitionSpec(
            "hibernate",
            "stopped",
            "hibernated",
            note="The platform hibernates an agent that stays stopped; Start wakes it.",
        )
    )
    return tuple(rows)


def _remembers_status_v2(s: Snapshot, e: Event, c: Context) -> bool:
    return s.data.remembered in ALFE_V2_RESUME_TABLE


def _resume_target_v2(s: Snapshot, e: Event, c: Context) -> str:
    return ALFE_V2_RESUME_TABLE[s.data.remembered]


_ALFE_V2_SPEC = attrs.evolve(
    ALFE.spec,
    version=2,
    states=(
        *ALFE.spec.states[:-1],
        StateSpec(
            "hibernated",
            "The agent is stopped and its host released to cold storage; Start wakes it.",
        ),
        ALFE.spec.states[-1],
    ),
    events=(
        *ALFE.spec.events,
        EventSpec(
            "hibernate",
            frozenset({Actor.SYSTEM}),
            "Hibernate",
            "The platform moves a long-stopped agent to cold storage.",
        ),
    ),
    transitions=_alfe_v2_transitions(),
    choosers=(
        ChooserSpec(
            "resume_table",
            tuple(dict.fromkeys(ALFE_V2_RESUME_TABLE.values())),
            ALFE.spec.choosers[0].description + "; hibernated -> hibernated",
        ),
    ),
    explanations=(
        *ALFE.spec.explanations,
        ("hibernated", "stop", "The agent is hibernated; it is not running."),
        ("hibernated", "restart", "A hibernated agent is not running; use Start."),
    ),
)

ALFE_V2 = Machine(
    _ALFE_V2_SPEC,
    ALFE.implementations.merged(
        Implementations(
            guards={"remembers_status": _remembers_status_v2},
            choosers={"resume_table": _resume_target_v2},
        )
    ),
    record=ALFE.record,
    policy=ALFE.policy,
)
"""Alfe version 2: the v1 model plus ``hibernated``."""


def _billing_v2(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine, context: Context
) -> str | None:
    if not isinstance(result, Step):
        return None
    after = result.snapshot
    if after.status == "billing_suspended" and after.data.remembered not in ALFE_V2_RESUME_TABLE:
        return f"a suspended agent remembers {after.data.remembered!r}, not a resumable status"
    if event.name == "billing_resume" and before.status == "billing_suspended":
        expected = ALFE_V2_RESUME_TABLE.get(before.data.remembered)
        if after.status != expected:
            return f"billing_resume led to {after.status!r}; v2's resume table says {expected!r}"
    if before.data.remembered == "hibernated" or after.data.remembered == "hibernated":
        return None  # the v1 rule below does not know the status
    for inv in ALFE_INVARIANTS:
        if inv.name == "alfe-5":
            return inv.check(before, event, result, machine, context)
    return None  # pragma: no cover - alfe-5 is always there


ALFE_V2_INVARIANTS: tuple[Invariant, ...] = (
    *(inv for inv in ALFE_INVARIANTS if inv.name != "alfe-5"),
    Invariant(
        "alfe-5",
        "billing_suspended is entered only by billing_suspend and resumes by v2's resume "
        "table, which sends a hibernated agent back to hibernated.",
        _billing_v2,
    ),
)
"""v1's invariants, with the billing rule extended by v2's resume table."""

ALFE_V1_TO_V2 = Migration(ALFE, ALFE_V2, invariants=ALFE_V2_INVARIANTS)
"""Every v1 status keeps its name in v2; nothing moves to ``hibernated`` until hibernated."""

# -- Recif v2: a required config entry ---------------------------------------------------------

STRATEGY_DEFAULT = "react"
"""The ``strategy`` stored Recif agents get when they have none."""


def _spec_valid_v2(s: Snapshot, e: Event, c: Context) -> bool:
    config = e.payload.get("config")
    if isinstance(config, Mapping) and "strategy" not in config:
        return False
    valid: bool = RECIF.implementations.guards["spec_valid"](s, e, c)
    return valid


RECIF_V2 = Machine(
    attrs.evolve(RECIF.spec, version=2),
    RECIF.implementations.merged(Implementations(guards={"spec_valid": _spec_valid_v2})),
    record=RECIF.record,
    policy=RECIF.policy,
)
"""Recif version 2: a new configuration must say which ``strategy`` the agent uses."""


def _has_strategy(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine, context: Context
) -> str | None:
    if isinstance(result, Step) and "strategy" not in result.snapshot.data.spec.config:
        return f"{event.name!r} left the agent without a config strategy"
    return None


RECIF_V2_INVARIANTS: tuple[Invariant, ...] = (
    *RECIF_INVARIANTS,
    Invariant(
        "recif-v2-strategy",
        "Every agent's configuration names its strategy.",
        _has_strategy,
    ),
)
"""v1's invariants plus the required ``strategy`` entry."""

_RECIF_V1_PROFILE = profile_for(RECIF)
RECIF_V2_PROFILE = attrs.evolve(
    _RECIF_V1_PROFILE,
    initial_data=RecifAgent(
        slug="support-agent", spec=attrs.evolve(RecifSpec(), config={"strategy": STRATEGY_DEFAULT})
    ),
    # spec_valid reads only the payload, which the checker chooses: deciding it for real is
    # what shows a configuration without a strategy refused.
    exact_guards=_RECIF_V1_PROFILE.exact_guards | {"spec_valid"},
    payloads={
        **_RECIF_V1_PROFILE.payloads,
        "update_config": (
            {"config": {"model": "large", "strategy": "plan"}},
            {"config": {"model": "large"}},
            {"image": "corail:v2"},
        ),
    },
)
"""The checker's first v2 agent: the v1 one, with the required entry."""


def _add_strategy(data: Any, defaults: Mapping[str, Any]) -> Any:
    if "strategy" in data.spec.config:
        return data
    config = {**data.spec.config, "strategy": defaults["strategy"]}
    return attrs.evolve(data, spec=attrs.evolve(data.spec, config=config))


RECIF_V1_TO_V2 = Migration(
    RECIF,
    RECIF_V2,
    data=DataTransform(
        "add config strategy",
        _add_strategy,
        {"strategy": STRATEGY_DEFAULT},
        "give every agent's configuration the strategy v2 requires, unless it has one",
    ),
    invariants=RECIF_V2_INVARIANTS,
    new_profile=RECIF_V2_PROFILE,
)
"""Stored Recif agents keep their status and get ``strategy = "react"`` when they have none."""
