"""The invariants of the Alfe models, numbered as the design's model document numbers them.

They restate the document's rules on their own terms (the resume table, the billing reasons, the
provisioning events are written out again here, not imported from the model), so a model whose
table drifts from the document fails them instead of agreeing with itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from agentfsm._values import Actor, Event, Refusal, Snapshot, Step
from agentfsm.analysis._invariants import Invariant, invariant, register_invariants

if TYPE_CHECKING:
    from agentfsm._machine import Machine

MANAGED = "alfe"
SELF_HOSTED = "alfe-self-hosted"

# The resume table of the model document: remembered status -> status billing_resume returns to.
RESUME = {
    **dict.fromkeys(("running", "starting", "rebooting", "failing"), "starting"),
    **dict.fromkeys(("stopping", "stopped"), "stopped"),
    **dict.fromkeys(("pending", "provisioning", "waitlisted"), "pending"),
    "failed": "failed",
}
REASONS = frozenset({"payment_issue", "credits_exhausted", "subscription_lapsed"})
# capacity_retry "provisions again": for an agent waitlisted before its first provision, that
# is when it first gets a host and credentials. It must never replace ones the agent has.
_PROVISIONING = frozenset({"provision", "recreate"})
_PLATFORM = frozenset({Actor.SYSTEM, Actor.TIMER})


@invariant("alfe-1")
def deleted_is_absorbing(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """`deleted` is absorbing: no event leaves it (purge changes data, not status)."""
    if before.status != "deleted" or not isinstance(result, Step):
        return None
    after = result.snapshot
    if after.status != "deleted":
        return f"{event.name!r} led a deleted agent to {after.status!r}"
    if event.name != "purge":
        return f"{event.name!r} was accepted on a deleted agent; only purge may be"
    if attrs.evolve(after.data, purged_at=before.data.purged_at) != before.data:
        return "purge changed the agent's data beyond setting purged_at"
    if after.data.purged_at is None:
        return "purge was accepted but purged_at is not set"
    return None


@invariant("alfe-2")
def identity_and_credentials(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """The agent id and name never change. Credentials and host change only on
    `provision`/`recreate` (and on the capacity retry that first provisions a waitlisted agent);
    Recreate always issues new ones."""
    if not isinstance(result, Step):
        return None
    old, new = before.data, result.snapshot.data
    if (new.agent_id, new.name) != (old.agent_id, old.name):
        return (
            f"{event.name!r} changed the identity from {old.agent_id!r}/{old.name!r} "
            f"to {new.agent_id!r}/{new.name!r}"
        )
    for part in ("credentials", "host"):
        was, now = getattr(old, part), getattr(new, part)
        if was == now or event.name in _PROVISIONING:
            continue
        if event.name == "capacity_retry" and was == 0:
            continue
        return f"{event.name!r} changed the {part} from {was} to {now}"
    if event.name == "recreate" and (new.credentials == old.credentials or new.host == old.host):
        return "recreate kept the old host or credentials; it must issue new ones"
    return None


@invariant("alfe-3")
def stop_start_restart_keep_identity(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """Stop, start and restart keep identity and credentials."""
    if event.name not in ("stop", "start", "restart") or not isinstance(result, Step):
        return None
    old, new = before.data, result.snapshot.data
    keep = ("agent_id", "name", "credentials", "host")
    changed = [f for f in keep if getattr(old, f) != getattr(new, f)]
    if changed:
        return f"{event.name!r} changed {', '.join(changed)}"
    return None


@invariant("alfe-4")
def platform_never_stops(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """The platform never stops or pauses an agent on its own except for billing: no S or T
    event leads from `running` to `stopping`/`stopped`."""
    if before.status != "running" or event.actor not in _PLATFORM:
        return None
    if isinstance(result, Step) and result.snapshot.status in ("stopping", "stopped"):
        return (
            f"the {event.actor.label} event {event.name!r} led a running agent "
            f"to {result.snapshot.status!r}"
        )
    return None


@invariant("alfe-5")
def billing_suspension(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """`billing_suspended` is entered only by `billing_suspend` (for one of the three billing
    reasons) and left only by `billing_resume` or `delete`; suspend then resume never loses the
    remembered status (resume follows the resume table)."""
    if not isinstance(result, Step):
        return None
    after = result.snapshot
    entering = after.status == "billing_suspended" and before.status != "billing_suspended"
    leaving = before.status == "billing_suspended" and after.status != "billing_suspended"
    if entering and event.name != "billing_suspend":
        return f"{event.name!r} entered billing_suspended; only billing_suspend may"
    if leaving and event.name not in ("billing_resume", "delete"):
        return f"{event.name!r} left billing_suspended; only billing_resume or delete may"
    if event.name == "billing_suspend":
        if after.data.remembered != before.status:
            return (
                f"billing_suspend in {before.status!r} remembered {after.data.remembered!r} instead"
            )
        if event.payload.get("reason") not in REASONS:
            return f"billing_suspend was accepted for the reason {event.payload.get('reason')!r}"
    if after.status == "billing_suspended" and after.data.remembered not in RESUME:
        return f"a suspended agent remembers {after.data.remembered!r}, not a resumable status"
    if event.name == "billing_resume" and before.status == "billing_suspended":
        expected = RESUME.get(before.data.remembered)
        if after.status != expected:
            return (
                f"billing_resume of an agent suspended while {before.data.remembered!r} led to "
                f"{after.status!r}; the resume table says {expected!r}"
            )
    return None


@invariant("alfe-6")
def user_actions_answered(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """Every U action on every status either transitions or is refused with a reason; nothing
    is silently ignored. A refusal because of the status gives the model's own explanation."""
    compiled = machine.events.get(event.name)
    if compiled is None or Actor.USER not in compiled.actors or event.actor is not Actor.USER:
        return None
    if isinstance(result, Step):
        return None
    if not result.code or not result.message.strip():
        return f"the user action {event.name!r} was refused in {before.status!r} without a reason"
    if result.code == "not_allowed_from_status" and (
        machine.explain(before.status, event.name) is None
    ):
        return (
            f"the user action {event.name!r} is refused in {before.status!r} "
            "with no explanation from the model"
        )
    return None


@invariant("alfe-7")
def users_cannot_send_platform_events(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """A user cannot send S or T events; a refused event changes nothing (status, version,
    data, log). The second half holds for every machine: see ``refusal-changes-nothing``."""
    compiled = machine.events.get(event.name)
    if (
        compiled is not None
        and event.actor is Actor.USER
        and Actor.USER not in compiled.actors
        and not (isinstance(result, Refusal) and result.code == "actor_not_allowed")
    ):
        return f"a user sent the platform event {event.name!r} and it was not refused as such"
    return None


@invariant("alfe-running-means-connected")
def running_means_connected(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """An agent is `running` only when its host is up and it is connected: `running` is entered
    only on the platform's `connected`."""
    if not isinstance(result, Step):
        return None
    entered = result.snapshot.status == "running" and before.status != "running"
    if entered and (event.name != "connected" or event.actor is not Actor.SYSTEM):
        return f"{event.name!r} made the agent running without a connection"
    return None


@invariant("self-hosted-1")
def active_only_by_setup(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """A self-hosted agent becomes `active` only when the platform reports `setup_complete` on a
    pending agent."""
    if not isinstance(result, Step) or result.snapshot.status != "active":
        return None
    if before.status == "active":
        return None
    if event.name != "setup_complete" or before.status != "pending":
        return f"{event.name!r} made a {before.status!r} self-hosted agent active"
    return None


@invariant("self-hosted-2")
def owners_manage_the_process(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """A self-hosted agent's owner manages its process: start, stop, restart and recreate are
    always refused, and billing does not apply (no suspension, nothing remembered)."""
    if event.name in ("start", "stop", "restart", "recreate") and isinstance(result, Step):
        return f"{event.name!r} was accepted on a self-hosted agent"
    if isinstance(result, Step) and (
        result.snapshot.status == "billing_suspended" or result.snapshot.data.remembered
    ):
        return f"{event.name!r} suspended a self-hosted agent for billing"
    return None


MANAGED_INVARIANTS: tuple[Invariant, ...] = (
    deleted_is_absorbing,
    identity_and_credentials,
    stop_start_restart_keep_identity,
    platform_never_stops,
    billing_suspension,
    user_actions_answered,
    users_cannot_send_platform_events,
    running_means_connected,
)
"""The managed model's invariants: the document's seven, then the status rule it states."""

SELF_HOSTED_INVARIANTS: tuple[Invariant, ...] = (
    deleted_is_absorbing,
    identity_and_credentials,
    stop_start_restart_keep_identity,
    user_actions_answered,
    users_cannot_send_platform_events,
    active_only_by_setup,
    owners_manage_the_process,
)
"""The self-hosted model's invariants: those of the seven that apply, and its own two."""

register_invariants(MANAGED, *MANAGED_INVARIANTS)
register_invariants(SELF_HOSTED, *SELF_HOSTED_INVARIANTS)
