"""The Alfe model: managed agents (twelve statuses) and self-hosted agents (``active``).

Where a transition is defined: ``ALFE_SPEC.transitions`` below, one ``TransitionSpec`` per row
of the table in the docs. What its guards, updates and effects do: the functions registered in
``ALFE_IMPLEMENTATIONS``, each a few lines, each under the name the table uses.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from agentfsm import _effects as fx
from agentfsm._errors import InvalidInput
from agentfsm._machine import Implementations, Machine
from agentfsm._spec import (
    ActionSpec,
    AllOf,
    ChooserSpec,
    EventSpec,
    FieldSpec,
    Guard,
    GuardSpec,
    MachineSpec,
    StateSpec,
    TransitionSpec,
)
from agentfsm._values import Actor, Context, Event, Snapshot, policy_in_force, replacer
from agentfsm._words import quote

U, S, T = Actor.USER, Actor.SYSTEM, Actor.TIMER

BILLING_REASONS = ("payment_issue", "credits_exhausted", "subscription_lapsed")
"""The reasons a ``billing_suspend`` event may give (its ``reason`` payload field)."""


def _text(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{attribute.name} must be a non-empty string, not {quote(value)}")


# No weak-reference slot: a record is a value nobody needs a weak reference to, and without it
# the record is 8 bytes smaller and ``replacer`` can copy it with plain stores (see there).
@attrs.frozen(slots=True, weakref_slot=False)
class AlfeAgent:
    """An Alfe agent's own data: identity, size, and the few facts its guards need.

    ``credentials`` and ``host`` are generation numbers: 0 before the first provision, and
    incremented only by ``provision`` and ``recreate``; an adapter maps them to real secrets and
    hosts. ``remembered`` is the status a billing suspension paused.
    """

    agent_id: str = attrs.field(validator=_text)
    name: str = attrs.field(validator=_text)
    size: str = attrs.field(default="small", validator=_text)
    credentials: int = 0
    host: int = 0
    remembered: str | None = None
    suspend_reason: str | None = None
    capacity_attempts: int = 0
    deleted_at: datetime | None = None
    purge_at: datetime | None = None
    purged_at: datetime | None = None


# ---------------------------------------------------------------------------------------------
# Statuses

_MANAGED_STATES = (
    StateSpec("pending", "The agent has been created and is waiting to be provisioned."),
    StateSpec(
        "provisioning", "Alfe is creating the host, issuing credentials, and preparing the agent."
    ),
    StateSpec("starting", "The host is up and the agent is booting and connecting."),
    StateSpec("running", "The agent is fully online and connected, ready for requests."),
    StateSpec("stopping", "The agent is shutting down gracefully."),
    StateSpec(
        "stopped", "The agent is powered off. It keeps its identity and can be started again."
    ),
    StateSpec("rebooting", "The agent is restarting. It keeps its identity and credentials."),
    StateSpec("failing", "The agent is up but not connected; Alfe is trying to recover it."),
    StateSpec("failed", "The agent couldn't recover and needs to be recreated."),
    StateSpec(
        "billing_suspended",
        "The agent is paused because of a payment issue. It resumes once billing is resolved.",
    ),
    StateSpec(
        "waitlisted",
        "Capacity for the requested size is temporarily unavailable; Alfe keeps retrying.",
    ),
    StateSpec(
        "deleted",
        "The agent has been removed; its data is retained for a grace period, then purged.",
        terminal=True,
    ),
)

MANAGED_STATUSES = tuple(s.name for s in _MANAGED_STATES)
"""The statuses of the managed model, in table order (pending first)."""

# ---------------------------------------------------------------------------------------------
# Events

_CONFIRMATION = FieldSpec("confirmation", "str", True, "the agent's name, typed to confirm")
_NEW_SIZE = FieldSpec("size", "str", False, "a new size for the rebuilt host")
_REASON = FieldSpec(
    "reason", "str", True, "payment_issue, credits_exhausted or subscription_lapsed"
)
_STANDING = FieldSpec("standing", "str", True, "the account's billing standing: 'good' to resume")

_MANAGED_EVENTS = (
    EventSpec("provision", frozenset({S}), "Provision", "The platform begins provisioning."),
    EventSpec(
        "capacity_unavailable", frozenset({S}), "Capacity unavailable", "No capacity for the size."
    ),
    EventSpec(
        "capacity_retry", frozenset({T}), "Capacity retry", "Time to try provisioning again."
    ),
    EventSpec("host_up", frozenset({S}), "Host up", "The host is up."),
    EventSpec("provisioning_failed", frozenset({S}), "Provisioning failed", "The host failed."),
    EventSpec("connected", frozenset({S}), "Connected", "The agent connected to Alfe."),
    EventSpec("connection_lost", frozenset({S}), "Connection lost", "The agent disconnected."),
    EventSpec("boot_timeout", frozenset({T}), "Boot timeout", "A boot took too long."),
    EventSpec("recovery_exhausted", frozenset({T}), "Recovery exhausted", "Recovery ran out."),
    EventSpec("stop", frozenset({U}), "Stop", "Gracefully shut the agent down."),
    EventSpec("shutdown_complete", frozenset({S}), "Shutdown complete", "The host is off."),
    EventSpec(
        "start", frozenset({U}), "Start", "Power a stopped agent on, or recover a stuck one."
    ),
    EventSpec("restart", frozenset({U}), "Restart", "Restart keeping identity and credentials."),
    EventSpec(
        "recreate",
        frozenset({U}),
        "Recreate",
        "Rebuild the agent from scratch on a fresh host with new credentials.",
        (_CONFIRMATION, _NEW_SIZE),
    ),
    EventSpec("delete", frozenset({U}), "Delete", "Soft-delete the agent."),
    EventSpec(
        "billing_suspend",
        frozenset({S}),
        "Billing suspend",
        "Pause the agent for a billing issue.",
        (_REASON,),
    ),
    EventSpec(
        "billing_resume", frozenset({S}), "Billing resume", "Billing is resolved.", (_STANDING,)
    ),
    EventSpec("purge", frozenset({T}), "Purge", "Remove a deleted agent's data after the grace."),
)

# ---------------------------------------------------------------------------------------------
# Guards: what each checks and what its refusal says

_GUARDS = (
    GuardSpec(
        "stuck",
        "not_stuck",
        # No advice to use another action: which ones are offered depends on the status
        # (Stop is refused while stopping); waiting is always true.
        "{label} can recover an agent that has been {status} for longer than the stuck "
        "limit of {stuck_after}; until then, wait.",
        "the agent has been in its status longer than stuck_after",
    ),
    GuardSpec(
        "confirmation_matches",
        "confirmation_mismatch",
        "{label} needs the agent's name typed exactly to confirm.",
        "the typed confirmation equals the agent's name",
        reads_input=True,
    ),
    GuardSpec(
        "size_valid",
        "invalid_size",
        "{label} takes either no size (keep the current one) or a non-blank size name.",
        "the new size, when given, is a non-blank name",
        reads_input=True,
    ),
    GuardSpec(
        "billing_reason_valid",
        "invalid_billing_reason",
        "{label} needs a reason: payment_issue, credits_exhausted or subscription_lapsed.",
        "the reason is payment_issue, credits_exhausted or subscription_lapsed",
    ),
    GuardSpec(
        "billing_in_good_standing",
        "billing_not_in_good_standing",
        "{label} waits until billing is in good standing; the agent stays paused.",
        "billing is in good standing",
    ),
    GuardSpec(
        "remembers_status",
        "no_remembered_status",
        "{label} has no remembered status to return to; the agent's record is inconsistent.",
        "the suspension remembered a status the resume table knows",
    ),
    GuardSpec(
        "boot_deadline_passed",
        "boot_not_timed_out",
        "{label} is early or stale: the agent has not been {status} for the boot timeout "
        "of {boot_timeout}.",
        "the agent has been booting longer than boot_timeout (it is still not connected)",
    ),
    GuardSpec(
        "recovery_deadline_passed",
        "recovery_not_exhausted",
        "{label} is early: the agent has not been recovering for the recovery timeout "
        "of {recovery_timeout} yet.",
        "the recovery deadline has passed (the agent is still not connected)",
    ),
    GuardSpec(
        "grace_period_over",
        "grace_period_not_over",
        "{label} must wait: the agent's data is kept until its grace period ends.",
        "now is at or after deleted_at + grace_period",
    ),
    GuardSpec(
        "not_purged",
        "already_purged",
        "{label} has nothing left to do: the agent's data has already been purged.",
        "the retained data has not been purged yet",
    ),
)


def _stuck(s: Snapshot, e: Event, c: Context) -> bool:
    # "Longer than" stuck_after, as the table says: at exactly the limit the agent is not stuck.
    return c.now - s.since > policy_in_force(c).stuck_after


def _confirmation_matches(s: Snapshot, e: Event, c: Context) -> bool:
    typed = e.payload.get("confirmation")
    return isinstance(typed, str) and typed == s.data.name


def _size_valid(s: Snapshot, e: Event, c: Context) -> bool:
    # A blank size would otherwise reach AlfeAgent's validator and raise from inside decide.
    size = e.payload.get("size")
    return size is None or (isinstance(size, str) and bool(size.strip()))


def _billing_reason_valid(s: Snapshot, e: Event, c: Context) -> bool:
    return e.payload.get("reason") in BILLING_REASONS


def _billing_in_good_standing(s: Snapshot, e: Event, c: Context) -> bool:
    return e.payload.get("standing") == "good"


def _remembers_status(s: Snapshot, e: Event, c: Context) -> bool:
    return s.data.remembered in RESUME_TABLE


def _boot_deadline_passed(s: Snapshot, e: Event, c: Context) -> bool:
    return c.now - s.since >= policy_in_force(c).boot_timeout


def _recovery_deadline_passed(s: Snapshot, e: Event, c: Context) -> bool:
    return c.now - s.since >= policy_in_force(c).recovery_timeout


def _grace_period_over(s: Snapshot, e: Event, c: Context) -> bool:
    purge_at = s.data.purge_at
    return purge_at is not None and c.now >= purge_at


def _not_purged(s: Snapshot, e: Event, c: Context) -> bool:
    return s.data.purged_at is None


# ---------------------------------------------------------------------------------------------
# The resume table (ours): where billing_resume returns, from the remembered status

RESUME_TABLE = {
    "running": "starting",
    "starting": "starting",
    "rebooting": "starting",
    "failing": "starting",
    "stopping": "stopped",
    "stopped": "stopped",
    "pending": "pending",
    "provisioning": "pending",
    "waitlisted": "pending",
    "failed": "failed",
}
"""Where ``billing_resume`` takes an agent, by the status it was in when suspended
(``AlfeAgent.remembered``): a running agent boots again, a stopped one stays stopped."""


def _resume_target(s: Snapshot, e: Event, c: Context) -> str:
    return RESUME_TABLE[s.data.remembered]


# ---------------------------------------------------------------------------------------------
# Data updates. They copy the record with precompiled replacers (see ``replacer``): equal to
# ``attrs.evolve`` but several times cheaper, as they skip validation. Every field they set
# has no validator; a new size, which has one, still goes through ``attrs.evolve``.

_with_generations = replacer(AlfeAgent, "host", "credentials", "capacity_attempts")
_with_host_and_credentials = replacer(AlfeAgent, "host", "credentials")
_with_capacity_attempts = replacer(AlfeAgent, "capacity_attempts")
_with_suspension = replacer(AlfeAgent, "remembered", "suspend_reason")
_with_deletion = replacer(AlfeAgent, "deleted_at", "purge_at")
_with_purge = replacer(AlfeAgent, "purged_at")


def _new_host_and_credentials(d: AlfeAgent, s: Snapshot, e: Event, c: Context) -> AlfeAgent:
    size = e.payload.get("size", d.size)
    if size == d.size:
        return _with_generations(d, d.host + 1, d.credentials + 1, 0)
    return attrs.evolve(
        d, host=d.host + 1, credentials=d.credentials + 1, size=size, capacity_attempts=0
    )


def _first_host_and_credentials(d: AlfeAgent, s: Snapshot, e: Event, c: Context) -> AlfeAgent:
    # Provisioning (first or again) assigns host and credentials 1 to an agent that has none, and
    # never changes ones it already has: only recreate replaces them.
    if d.host and d.credentials:
        return d
    return _with_host_and_credentials(d, d.host or 1, d.credentials or 1)


def _count_capacity_attempt(d: AlfeAgent, s: Snapshot, e: Event, c: Context) -> AlfeAgent:
    return _with_capacity_attempts(d, d.capacity_attempts + 1)


def _reset_capacity_attempts(d: AlfeAgent, s: Snapshot, e: Event, c: Context) -> AlfeAgent:
    return _with_capacity_attempts(d, 0) if d.capacity_attempts else d


def _remember_status(d: AlfeAgent, s: Snapshot, e: Event, c: Context) -> AlfeAgent:
    return _with_suspension(d, s.status, e.payload["reason"])


def _forget_status(d: AlfeAgent, s: Snapshot, e: Event, c: Context) -> AlfeAgent:
    return _with_suspension(d, None, None)


def _mark_deleted(d: AlfeAgent, s: Snapshot, e: Event, c: Context) -> AlfeAgent:
    return _with_deletion(d, c.now, c.now + policy_in_force(c).grace_period)


def _mark_purged(d: AlfeAgent, s: Snapshot, e: Event, c: Context) -> AlfeAgent:
    return _with_purge(d, c.now)


# ---------------------------------------------------------------------------------------------
# Effect builders: (before, after, event, context) -> effects
#
# Effects are immutable values, so the builders avoid allocating where they can: an effect that
# depends only on a host or credentials generation comes from an EffectCache (the same tuple
# each time that generation recurs), effects that never vary are module constants, and the
# timers, which carry a time, are built with fast_maker (no attrs __init__). The values are
# the same records either way.

_PROVISION: fx.EffectCache[tuple[str, int], fx.ProvisionHost] = fx.EffectCache(
    lambda key: fx.ProvisionHost(*key)
)
_ISSUE = fx.EffectCache(fx.IssueCredentials)
_BOOT = fx.EffectCache(fx.BootAgent)
_RECOVER = fx.EffectCache(fx.StartRecovery)
_SHUTDOWN = fx.EffectCache(fx.ShutdownHost)
_POWER_ON = fx.EffectCache(fx.PowerOnHost)
_POWER_CYCLE = fx.EffectCache(fx.PowerCycleHost)
_REBOOT = fx.EffectCache(fx.RebootHost)
_STOP = fx.EffectCache(fx.StopHost)
_PAUSE = fx.EffectCache(fx.PauseHost)
_RESUME = fx.EffectCache(fx.ResumeHost)
_DESTROY = fx.EffectCache(fx.DestroyHost)
_REVOKE = fx.EffectCache(fx.RevokeCredentials)
_CANCEL_DEADLINES = (fx.CancelTimer("boot_timeout"), fx.CancelTimer("recovery_exhausted"))
_timer = fx.fast_maker(fx.ScheduleTimer)


def _provision_host(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return _PROVISION[a.data.size, a.data.host]


def _issue_credentials(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    if b.data.credentials == a.data.credentials:
        return ()  # provisioning again: the agent already holds these credentials
    return _ISSUE[a.data.credentials]


_CAPACITY_TIMER = fx.LastBuilt()
_BOOT_TIMER = fx.LastBuilt()
_RECOVERY_TIMER = fx.LastBuilt()


def _schedule_capacity_retry(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    attempts = a.data.capacity_attempts
    last = _CAPACITY_TIMER.last
    if last[0] is c and last[1] == attempts:
        return last[2]
    p = policy_in_force(c)
    # Cap the exponent before multiplying: 2**43 times 30 s overflows timedelta long before
    # min() could apply the cap (a day of waitlisting would otherwise crash decide).
    doublings = min(max(attempts - 1, 0), 32)
    wait = min(p.capacity_retry_base * (2**doublings), p.capacity_retry_max)
    return _CAPACITY_TIMER.keep(c, attempts, (_timer("capacity_retry", c.now + wait),))


def _boot_agent(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return _BOOT[a.data.host]


def _schedule_boot_timeout(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    if a.status not in ("starting", "rebooting"):
        return ()
    last = _BOOT_TIMER.last
    if last[0] is c:
        return last[2]
    timer = _timer("boot_timeout", c.now + policy_in_force(c).boot_timeout)
    return _BOOT_TIMER.keep(c, None, (timer,))


def _cancel_recovery_deadline(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return _CANCEL_DEADLINES


def _start_recovery(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return _RECOVER[a.data.host]


def _schedule_recovery_deadline(
    b: Snapshot, a: Snapshot, e: Event, c: Context
) -> tuple[object, ...]:
    last = _RECOVERY_TIMER.last
    if last[0] is c:
        return last[2]
    timer = _timer("recovery_exhausted", c.now + policy_in_force(c).recovery_timeout)
    return _RECOVERY_TIMER.keep(c, None, (timer,))


def _shutdown_host(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return _SHUTDOWN[a.data.host]


def _power_on_host(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return _POWER_ON[a.data.host]


def _power_cycle_host(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return _POWER_CYCLE[a.data.host]


def _reboot_host(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return _REBOOT[a.data.host]


# Recreate's four effects by (old host, old credentials, size, new host, new credentials): one
# lookup instead of four and three concatenations. Bounded like an EffectCache.
_REPLACED: dict[tuple[int, int, str, int, int], tuple[object, ...]] = {}


def _replace_host(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    old, new = b.data, a.data
    key = (old.host, old.credentials, new.size, new.host, new.credentials)
    made = _REPLACED.get(key)
    if made is None:
        made = (
            (_DESTROY[old.host] if old.host else ())
            + (_REVOKE[old.credentials] if old.credentials else ())
            + _PROVISION[new.size, new.host]
            + _ISSUE[new.credentials]
        )
        if len(_REPLACED) < 4096:
            _REPLACED[key] = made
    return made


def _stop_host_if_any(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return _STOP[b.data.host] if b.data.host else ()


def _schedule_purge(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return (_timer("purge", a.data.purge_at),)


def _pause_host(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return _PAUSE[b.data.host] if b.data.host else ()


def _resume_host(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return _RESUME[b.data.host] if b.data.host else ()


_REMOVE_DATA = (fx.RemoveRetainedData(),)


def _remove_retained_data(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return _REMOVE_DATA


ALFE_IMPLEMENTATIONS = Implementations(
    guards={
        "stuck": _stuck,
        "confirmation_matches": _confirmation_matches,
        "size_valid": _size_valid,
        "billing_reason_valid": _billing_reason_valid,
        "billing_in_good_standing": _billing_in_good_standing,
        "remembers_status": _remembers_status,
        "boot_deadline_passed": _boot_deadline_passed,
        "recovery_deadline_passed": _recovery_deadline_passed,
        "grace_period_over": _grace_period_over,
        "not_purged": _not_purged,
    },
    updates={
        "new_host_and_credentials": _new_host_and_credentials,
        "first_host_and_credentials": _first_host_and_credentials,
        "count_capacity_attempt": _count_capacity_attempt,
        "reset_capacity_attempts": _reset_capacity_attempts,
        "remember_status": _remember_status,
        "forget_status": _forget_status,
        "mark_deleted": _mark_deleted,
        "mark_purged": _mark_purged,
    },
    effects={
        "provision_host": _provision_host,
        "issue_credentials": _issue_credentials,
        "schedule_capacity_retry": _schedule_capacity_retry,
        "boot_agent": _boot_agent,
        "schedule_boot_timeout": _schedule_boot_timeout,
        "cancel_recovery_deadline": _cancel_recovery_deadline,
        "start_recovery": _start_recovery,
        "schedule_recovery_deadline": _schedule_recovery_deadline,
        "shutdown_host": _shutdown_host,
        "power_on_host": _power_on_host,
        "power_cycle_host": _power_cycle_host,
        "reboot_host": _reboot_host,
        "replace_host": _replace_host,
        "stop_host_if_any": _stop_host_if_any,
        "schedule_purge": _schedule_purge,
        "pause_host": _pause_host,
        "resume_host": _resume_host,
        "remove_retained_data": _remove_retained_data,
    },
    choosers={"resume_table": _resume_target},
)
"""The functions behind the names in ``ALFE_SPEC`` and ``ALFE_SELF_HOSTED_SPEC`` (both models share
them)."""

_UPDATES = (
    ActionSpec("new_host_and_credentials", "next host and credential generation; optional size"),
    ActionSpec("first_host_and_credentials", "assign host 1 and credentials 1 if never assigned"),
    ActionSpec("count_capacity_attempt", "count a failed attempt to find capacity"),
    ActionSpec("reset_capacity_attempts", "forget failed capacity attempts"),
    ActionSpec("remember_status", "remember the paused status and the billing reason"),
    ActionSpec("forget_status", "forget the remembered status"),
    ActionSpec("mark_deleted", "set deleted_at = now and purge_at = now + grace_period"),
    ActionSpec("mark_purged", "set purged_at = now"),
)

_EFFECTS = (
    ActionSpec("provision_host", "provision a host of the agent's size"),
    ActionSpec("issue_credentials", "issue credentials"),
    ActionSpec("schedule_capacity_retry", "schedule capacity_retry with exponential backoff (T)"),
    ActionSpec("boot_agent", "boot the agent"),
    ActionSpec("schedule_boot_timeout", "schedule boot_timeout (T)"),
    ActionSpec("cancel_recovery_deadline", "cancel the boot and recovery deadlines"),
    ActionSpec("start_recovery", "start recovery"),
    ActionSpec("schedule_recovery_deadline", "schedule recovery_exhausted (T)"),
    ActionSpec("shutdown_host", "graceful shutdown of the host"),
    ActionSpec("power_on_host", "power the host on"),
    ActionSpec("power_cycle_host", "power-cycle the host"),
    ActionSpec("reboot_host", "reboot with the same identity and credentials"),
    ActionSpec(
        "replace_host",
        "destroy the old host, revoke old credentials, provision a new host, issue new credentials",
    ),
    ActionSpec("stop_host_if_any", "stop the host if any"),
    ActionSpec("schedule_purge", "schedule purge at deleted_at + grace_period (T)"),
    ActionSpec("pause_host", "pause the host"),
    ActionSpec("resume_host", "resume the host"),
    ActionSpec("remove_retained_data", "remove the retained data; keep the audit log"),
)

_BOOTING = ("starting", "rebooting")

_MANAGED_TRANSITIONS = (
    TransitionSpec(
        "provision",
        "pending",
        "provisioning",
        updates="first_host_and_credentials",
        effects=("provision_host", "issue_credentials"),
        note="An agent sent back to pending by a billing resume keeps the host and credentials "
        "it was given; provisioning again reuses them rather than leaking them (ours).",
    ),
    TransitionSpec(
        "capacity_unavailable",
        ("pending", "provisioning"),
        "waitlisted",
        updates="count_capacity_attempt",
        effects="schedule_capacity_retry",
    ),
    TransitionSpec(
        "capacity_retry",
        "waitlisted",
        "provisioning",
        updates="first_host_and_credentials",
        effects=("provision_host", "issue_credentials"),
        note="Provisions again; an agent waitlisted before its first provision gets host and "
        "credentials 1 here (ours).",
    ),
    TransitionSpec(
        "host_up",
        "provisioning",
        "starting",
        updates="reset_capacity_attempts",
        effects=("boot_agent", "schedule_boot_timeout"),
        note="Schedules the boot timeout that boot_timeout needs (ours).",
    ),
    TransitionSpec("provisioning_failed", "provisioning", "failed"),
    TransitionSpec(
        "connected",
        ("starting", "rebooting", "failing"),
        "running",
        effects="cancel_recovery_deadline",
    ),
    TransitionSpec(
        "connection_lost",
        "running",
        "failing",
        effects=("start_recovery", "schedule_recovery_deadline"),
    ),
    TransitionSpec(
        "boot_timeout",
        _BOOTING,
        "failing",
        guard=Guard("boot_deadline_passed"),
        effects=("start_recovery", "schedule_recovery_deadline"),
        note="Also schedules the recovery deadline, so a boot that never connects ends in failed "
        "(ours).",
    ),
    TransitionSpec(
        "recovery_exhausted", "failing", "failed", guard=Guard("recovery_deadline_passed")
    ),
    TransitionSpec(
        "stop",
        ("starting", "running", "rebooting", "failing"),
        "stopping",
        effects=("shutdown_host", "cancel_recovery_deadline"),
        note="Cancels the boot and recovery deadlines: a stopping agent is not booting (ours).",
    ),
    TransitionSpec("shutdown_complete", "stopping", "stopped"),
    TransitionSpec(
        "start", "stopped", "starting", effects=("power_on_host", "schedule_boot_timeout")
    ),
    TransitionSpec(
        "start",
        ("starting", "stopping", "rebooting"),
        "starting",
        guard=Guard("stuck"),
        effects=("power_cycle_host", "schedule_boot_timeout"),
        reenter=True,
        note="Recover a stuck agent: stuck means in this status longer than stuck_after (ours).",
    ),
    TransitionSpec(
        "start",
        "failing",
        "starting",
        effects=("power_cycle_host", "schedule_boot_timeout"),
        note="Recover a failing agent: failing needs no wait.",
    ),
    TransitionSpec(
        "restart",
        ("running", "failing"),
        "rebooting",
        effects=("reboot_host", "schedule_boot_timeout"),
    ),
    TransitionSpec(
        "recreate",
        (
            "starting",
            "running",
            "stopping",
            "stopped",
            "rebooting",
            "failing",
            "failed",
            "waitlisted",
        ),
        "provisioning",
        guard=AllOf((Guard("confirmation_matches"), Guard("size_valid"))),
        updates="new_host_and_credentials",
        effects="replace_host",
    ),
    TransitionSpec(
        "delete",
        tuple(s for s in MANAGED_STATUSES if s != "deleted"),
        "deleted",
        updates="mark_deleted",
        effects=("stop_host_if_any", "schedule_purge"),
    ),
    TransitionSpec(
        "billing_suspend",
        tuple(s for s in MANAGED_STATUSES if s not in ("deleted", "billing_suspended")),
        "billing_suspended",
        guard=Guard("billing_reason_valid"),
        updates="remember_status",
        effects="pause_host",
    ),
    TransitionSpec(
        "billing_resume",
        "billing_suspended",
        chooser="resume_table",
        guard=AllOf((Guard("billing_in_good_standing"), Guard("remembers_status"))),
        updates="forget_status",
        effects=("resume_host", "schedule_boot_timeout"),
    ),
    TransitionSpec(
        "purge",
        "deleted",
        "deleted",
        guard=AllOf((Guard("grace_period_over"), Guard("not_purged"))),
        updates="mark_purged",
        effects="remove_retained_data",
    ),
)

_MANAGED_EXPLANATIONS = (
    ("deleted", "*", "The agent has been deleted; it accepts no actions."),
    (
        "billing_suspended",
        "*",
        "The agent is paused for a billing issue and resumes once billing is resolved; "
        "only Delete is available meanwhile.",
    ),
    ("pending", "*", "The agent is waiting to be provisioned; only Delete is available."),
    ("provisioning", "*", "The agent is being provisioned; only Delete is available."),
    ("waitlisted", "stop", "The agent is waiting for capacity and is not running."),
    ("waitlisted", "start", "The agent is waitlisted; Alfe keeps retrying on its own."),
    ("waitlisted", "restart", "The agent is waitlisted and not running; nothing to restart."),
    ("stopping", "stop", "The agent is already stopping."),
    ("stopped", "stop", "The agent is already stopped."),
    ("failed", "stop", "A failed agent is not running; Recreate or Delete it."),
    ("running", "start", "The agent is already running."),
    ("failed", "start", "A failed agent cannot be started; Recreate it."),
    ("starting", "restart", "The agent is already starting."),
    ("rebooting", "restart", "The agent is already restarting."),
    ("stopping", "restart", "The agent is stopping; wait until it has stopped."),
    ("stopped", "restart", "A stopped agent is not running; use Start."),
    ("failed", "restart", "A failed agent cannot be restarted; Recreate it."),
)

ALFE_SPEC = MachineSpec(
    name="alfe",
    description="Alfe managed agents: one status that reflects both the host and whether the "
    "agent is connected.",
    initial="pending",
    states=_MANAGED_STATES,
    events=_MANAGED_EVENTS,
    transitions=_MANAGED_TRANSITIONS,
    guards=_GUARDS,
    choosers=(
        ChooserSpec(
            "resume_table",
            tuple(dict.fromkeys(RESUME_TABLE.values())),
            "running, starting, rebooting, failing -> starting; stopping, stopped -> stopped; "
            "pending, provisioning, waitlisted -> pending; failed -> failed",
        ),
    ),
    updates=_UPDATES,
    effects=_EFFECTS,
    explanations=_MANAGED_EXPLANATIONS,
    strict=True,
)
"""The Alfe managed-agent model as data: its statuses, events, rows and guards."""

# ---------------------------------------------------------------------------------------------
# Self-hosted agents: their owners manage the process, so only setup and deletion apply.

_SELF_HOSTED_NO = "A self-hosted agent's process is managed by its owner; {} is not available."

ALFE_SELF_HOSTED_SPEC = MachineSpec(
    name="alfe-self-hosted",
    description="Alfe self-hosted agents: active once set up; the owner runs the process.",
    initial="pending",
    states=(
        StateSpec("pending", "The agent has been created and is waiting to be set up."),
        StateSpec("active", "The agent is set up; its owner manages its process."),
        _MANAGED_STATES[-1],
    ),
    events=(
        EventSpec("setup_complete", frozenset({S}), "Setup complete", "The owner set it up."),
        *(e for e in _MANAGED_EVENTS if e.name in ("stop", "start", "restart", "recreate")),
        EventSpec("delete", frozenset({U}), "Delete", "Soft-delete the agent."),
        EventSpec("purge", frozenset({T}), "Purge", "Remove a deleted agent's data."),
    ),
    transitions=(
        TransitionSpec("setup_complete", "pending", "active"),
        TransitionSpec(
            "delete",
            ("pending", "active"),
            "deleted",
            updates="mark_deleted",
            effects="schedule_purge",
            note="A self-hosted agent that was never set up can be deleted too (ours).",
        ),
        TransitionSpec(
            "purge",
            "deleted",
            "deleted",
            guard=AllOf((Guard("grace_period_over"), Guard("not_purged"))),
            updates="mark_purged",
            effects="remove_retained_data",
            note="Deletion is a soft delete for every agent, so purge applies here too (ours).",
        ),
    ),
    guards=tuple(g for g in _GUARDS if g.name in ("grace_period_over", "not_purged")),
    updates=tuple(u for u in _UPDATES if u.name in ("mark_deleted", "mark_purged")),
    effects=tuple(e for e in _EFFECTS if e.name in ("schedule_purge", "remove_retained_data")),
    explanations=(
        ("deleted", "*", "The agent has been deleted; it accepts no actions."),
        *(
            ("*", name, _SELF_HOSTED_NO.format(name.capitalize()))
            for name in ("stop", "start", "restart", "recreate")
        ),
    ),
    strict=True,
)
"""The Alfe self-hosted model as data: the owner runs the process, so the host actions are refused.
"""

ALFE: Machine[AlfeAgent] = Machine(ALFE_SPEC, ALFE_IMPLEMENTATIONS, record=AlfeAgent)
"""The compiled Alfe managed-agent machine. One instance serves every agent."""

ALFE_SELF_HOSTED: Machine[AlfeAgent] = Machine(
    ALFE_SELF_HOSTED_SPEC, ALFE_IMPLEMENTATIONS, record=AlfeAgent
)
"""The compiled Alfe self-hosted machine."""
