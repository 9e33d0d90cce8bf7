"""Versioned machines and checked migrations: change a model under running agents.

A machine's identity is its name and version (``MachineSpec.version``); every stored agent and
audit row records the version that decided it, and a controller never decides an agent with
another version (``MachineVersionMismatch``). Moving agents to a new version is a
``Migration``: data saying where each status goes, how the data record is rebuilt, and what
happens to pending timers and outbox items.

- ``check_migration(migration)`` proves it over the model checker's abstraction and returns a
  ``MigrationReport`` with a shortest counterexample for each check that fails;
- ``plan_migration(store, migration)`` counts what it would do to a store's agents;
- ``apply_migration(store, migration)`` does it, in batches, with the store's compare-and-set,
  one audit row per agent, resumable after a crash;
- ``diff_machines(a, b)`` says what changed between two versions, as text or Mermaid.
"""

from __future__ import annotations

from agentfsm.migrate._apply import (
    ApplyReport,
    MigrationError,
    MigrationPlan,
    PlanRow,
    TimerChange,
    apply_migration,
    plan_migration,
)
from agentfsm.migrate._check import CHECKS, MigrationFailure, MigrationReport, check_migration
from agentfsm.migrate._diff import MachineDiff, RowChange, diff_machines
from agentfsm.migrate._migration import (
    CANCEL,
    IDENTITY,
    KEEP,
    DataTransform,
    Migration,
    Remap,
    Rule,
    StatusChooser,
    chain,
    compose,
)

__all__ = [
    "CANCEL",
    "CHECKS",
    "IDENTITY",
    "KEEP",
    "ApplyReport",
    "DataTransform",
    "MachineDiff",
    "Migration",
    "MigrationError",
    "MigrationFailure",
    "MigrationPlan",
    "MigrationReport",
    "PlanRow",
    "Remap",
    "RowChange",
    "Rule",
    "StatusChooser",
    "TimerChange",
    "apply_migration",
    "chain",
    "check_migration",
    "compose",
    "diff_machines",
    "plan_migration",
]
