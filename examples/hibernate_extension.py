"""A platform that adds a ``hibernated`` status to the Alfe model, and property-tests it.

``hibernated`` is entered from ``stopped`` (the host's disk is snapshotted and the host released),
left by Start, and billed at a lower rate than ``stopped``. The extension is a few rows of data;
its test is one invariant and one line that builds a hypothesis state machine from the machine.
Run it with ``python examples/hibernate_extension.py`` or collect it with pytest.
"""

from __future__ import annotations

import attrs
from hypothesis import settings

from agentfsm import Actor, EventSpec, Machine, StateSpec, TransitionSpec
from agentfsm.models import ALFE_IMPLEMENTATIONS, ALFE_SPEC, AlfeAgent
from agentfsm.testing import invariant, lifecycle_test

HOURLY_RATE_CENTS = {"running": 40, "stopped": 4, "hibernated": 1}  # the cheaper, the colder

HIBERNATING_SPEC = attrs.evolve(
    ALFE_SPEC,
    # Keeping the name "alfe" keeps the Alfe invariants registered for it in force.
    states=(*ALFE_SPEC.states, StateSpec("hibernated", "Powered off with its disk snapshotted.")),
    events=(*ALFE_SPEC.events, EventSpec("hibernate", frozenset({Actor.USER}), "Hibernate")),
    transitions=(
        *ALFE_SPEC.transitions,
        TransitionSpec("hibernate", "stopped", "hibernated"),
        TransitionSpec(
            "start", "hibernated", "starting", effects=("power_on_host", "schedule_boot_timeout")
        ),
        TransitionSpec(
            "delete", "hibernated", "deleted", updates="mark_deleted", effects="schedule_purge"
        ),
    ),
    explanations=(
        *ALFE_SPEC.explanations,
        ("hibernated", "*", "A hibernated agent can only be started or deleted."),
        ("*", "hibernate", "Only a stopped agent can hibernate."),
    ),
)
HIBERNATING = Machine(HIBERNATING_SPEC, ALFE_IMPLEMENTATIONS, record=AlfeAgent)


# ---- the property test: under 30 lines -----------------------------------------------------
@invariant("hibernate-only-from-stopped")
def hibernate_only_from_stopped(before, event, result, machine):
    """An agent enters hibernated only from stopped, and only because a user asked."""
    after = getattr(result, "snapshot", None)
    if after is None or after.status != "hibernated" or before.status == "hibernated":
        return None
    if before.status != "stopped" or event.actor is not Actor.USER:
        return f"entered hibernated from {before.status} by a {event.actor.label}"
    return None


@invariant("hibernated-is-cheaper")
def hibernated_is_cheaper(before, event, result, machine):
    """Hibernated is billed below stopped."""
    return None if HOURLY_RATE_CENTS["hibernated"] < HOURLY_RATE_CENTS["stopped"] else "rates"


Lifecycle = lifecycle_test(
    HIBERNATING,
    AlfeAgent("ag_1", "support-agent"),
    invariants=[hibernate_only_from_stopped, hibernated_is_cheaper],
)
Lifecycle.TestCase.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
TestHibernatingLifecycle = Lifecycle.TestCase

if __name__ == "__main__":
    import unittest

    unittest.main(defaultTest="TestHibernatingLifecycle", argv=["hibernate"], exit=False)
