"""Analysis of machines: structural validation, invariants, and an exhaustive model checker.

- ``validate(spec)`` lists a spec's structural problems (the same checks ``Machine`` runs when
  it is built): unreachable statuses, overlapping guards, terminal statuses with a way out, user
  actions neither handled nor explained.
- ``Invariant`` and the ``invariant`` decorator declare a property over one decided event;
  ``invariants_for(machine)`` gives the built-in ones plus the model's own.
- ``check(machine)`` explores the model's finite abstraction breadth-first, checks every
  invariant on every transition, and returns a ``CheckReport`` with a shortest counterexample
  for each invariant that fails.
"""

from __future__ import annotations

from agentfsm._spec import MachineSpec
from agentfsm._validate import structural_problems
from agentfsm.analysis import _alfe_invariants, _model_profiles, _recif_invariants
from agentfsm.analysis._checker import CheckReport, Failure, PathStep, check
from agentfsm.analysis._invariants import (
    BUILTIN_INVARIANTS,
    Invariant,
    invariant,
    invariants_for,
    register_invariants,
)
from agentfsm.analysis._profiles import (
    CheckProfile,
    abstract_value,
    default_abstraction,
    example_payload,
    profile_for,
    register_profile,
)

ALFE_INVARIANTS = _alfe_invariants.MANAGED_INVARIANTS
"""The Alfe managed model's invariants (the model document's seven, then its status rule)."""
ALFE_SELF_HOSTED_INVARIANTS = _alfe_invariants.SELF_HOSTED_INVARIANTS
"""The Alfe self-hosted model's invariants."""
RECIF_INVARIANTS = _recif_invariants.RECIF_INVARIANTS
"""The Recif model's invariants."""

del _model_profiles  # imported for its registrations


def validate(spec: MachineSpec, *, strict: bool | None = None) -> list[str]:
    """Every structural problem of ``spec``, one sentence each naming the fault and its fix.

    Checks that every status is reachable from the initial one, that no two transitions for one
    (status, event) have guards that can both pass, that terminal statuses have no way out, and,
    in strict mode, that every user action on every status is handled or explained.
    ``Machine(spec, impl)`` runs the same checks and raises ``InvalidMachine`` when any fails.

    Args:
        spec: the machine definition.
        strict: check that every user action is handled or explained everywhere (default:
            ``spec.strict``; the shipped models are strict). Without it, an unhandled action
            gets the engine's standard ``not_allowed_from_status`` refusal.

    Returns:
        The problems found; an empty list means the spec is sound.
    """
    return structural_problems(spec, strict=strict)


__all__ = [
    "ALFE_INVARIANTS",
    "ALFE_SELF_HOSTED_INVARIANTS",
    "BUILTIN_INVARIANTS",
    "RECIF_INVARIANTS",
    "CheckProfile",
    "CheckReport",
    "Failure",
    "Invariant",
    "PathStep",
    "abstract_value",
    "check",
    "default_abstraction",
    "example_payload",
    "invariant",
    "invariants_for",
    "profile_for",
    "register_invariants",
    "register_profile",
    "validate",
]
