"""Every row of the Alfe managed-agent table in models.md, one example per source status.

The expectations below are written out by hand from the document (targets, data changes,
effects with their parameters); nothing is read back from ``ALFE_SPEC``, so these tests fail
when the machine drifts from the document.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import attrs
import pytest

from agentfsm import Actor, Context, Event, InvalidInput, Policy, Refusal, Snapshot, Step, decide
from agentfsm.effects import (
    BootAgent,
    CancelTimer,
    DestroyHost,
    IssueCredentials,
    PauseHost,
    PowerCycleHost,
    PowerOnHost,
    ProvisionHost,
    RebootHost,
    RemoveRetainedData,
    ResumeHost,
    RevokeCredentials,
    ScheduleTimer,
    ShutdownHost,
    StartRecovery,
    StopHost,
)
from agentfsm.models import ALFE, AlfeAgent

U, S, T = Actor.USER, Actor.SYSTEM, Actor.TIMER
T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
CTX = Context(T0)
NAME = "support-bot"
VERSION = 7
# Long enough for every time guard of the table to hold (stuck 10 min, boot 5 min, recovery 15).
AGE = timedelta(hours=1)

# The default policy's durations, as the docs state them (not read from Policy()).
BOOT = timedelta(minutes=5)
RECOVERY = timedelta(minutes=15)
GRACE = timedelta(days=30)
RETRY_BASE = timedelta(seconds=30)


def _agent(**changes: Any) -> AlfeAgent:
    return attrs.evolve(AlfeAgent("agt-42", NAME, size="small"), **changes)


# An agent's data as it really is in each status: a host and credentials exist from
# provisioning on; a waitlisted agent may or may not have been provisioned before.
_HOSTED = _agent(host=1, credentials=1)
AGENTS: dict[str, tuple[str, AlfeAgent]] = {
    "pending": ("pending", _agent()),
    "provisioning": ("provisioning", _HOSTED),
    "provisioning after retries": ("provisioning", attrs.evolve(_HOSTED, capacity_attempts=2)),
    "starting": ("starting", _HOSTED),
    "running": ("running", _HOSTED),
    "stopping": ("stopping", _HOSTED),
    "stopped": ("stopped", _HOSTED),
    "rebooting": ("rebooting", _HOSTED),
    "failing": ("failing", _HOSTED),
    "failed": ("failed", _HOSTED),
    "waitlisted": ("waitlisted", _agent(capacity_attempts=1)),
    "waitlisted after provision": ("waitlisted", attrs.evolve(_HOSTED, capacity_attempts=1)),
    "billing_suspended": (
        "billing_suspended",
        attrs.evolve(_HOSTED, remembered="running", suspend_reason="payment_issue"),
    ),
    "deleted": (
        "deleted",
        attrs.evolve(_HOSTED, deleted_at=T0 - GRACE - AGE, purge_at=T0 - AGE),
    ),
}


def snapshot(key: str, age: timedelta = AGE) -> Snapshot:
    """The agent of ``AGENTS[key]``, in its status for ``age``."""
    status, data = AGENTS[key]
    return Snapshot(status, VERSION, T0 - age, data)


class Row(NamedTuple):
    event: str
    actor: Actor
    source: str  # a key of AGENTS
    target: str
    effects: tuple[object, ...]
    changes: dict[str, Any]
    payload: dict[str, Any] = {}  # noqa: RUF012 - never mutated


_HOSTED_UP = ("starting", "running", "stopping", "stopped", "rebooting", "failing", "failed")
_EVERY_BUT_DELETED = (
    "pending",
    "provisioning",
    "starting",
    "running",
    "stopping",
    "stopped",
    "rebooting",
    "failing",
    "failed",
    "billing_suspended",
    "waitlisted",
)


CANCEL_DEADLINES = (CancelTimer("boot_timeout"), CancelTimer("recovery_exhausted"))


def _rows() -> list[Row]:
    rows = [
        Row(
            "provision",
            S,
            "pending",
            "provisioning",
            (ProvisionHost("small", 1), IssueCredentials(1)),
            {"host": 1, "credentials": 1},
        ),
        Row(
            "capacity_unavailable",
            S,
            "pending",
            "waitlisted",
            (ScheduleTimer("capacity_retry", T0 + RETRY_BASE),),
            {"capacity_attempts": 1},
        ),
        Row(
            "capacity_unavailable",
            S,
            "provisioning",
            "waitlisted",
            (ScheduleTimer("capacity_retry", T0 + RETRY_BASE),),
            {"capacity_attempts": 1},
        ),
        Row(
            "capacity_unavailable",
            S,
            "provisioning after retries",
            "waitlisted",
            (ScheduleTimer("capacity_retry", T0 + 4 * RETRY_BASE),),  # backoff doubles
            {"capacity_attempts": 3},
        ),
        # "provision again": the first provision's host and credentials, or the ones it has.
        Row(
            "capacity_retry",
            T,
            "waitlisted",
            "provisioning",
            (ProvisionHost("small", 1), IssueCredentials(1)),
            {"host": 1, "credentials": 1},
        ),
        Row(
            "capacity_retry",
            T,
            "waitlisted after provision",
            "provisioning",
            (ProvisionHost("small", 1),),
            {},
        ),
        Row(
            "host_up",
            S,
            "provisioning",
            "starting",
            (BootAgent(1), ScheduleTimer("boot_timeout", T0 + BOOT)),
            {},
        ),
        Row(
            "host_up",
            S,
            "provisioning after retries",
            "starting",
            (BootAgent(1), ScheduleTimer("boot_timeout", T0 + BOOT)),
            {"capacity_attempts": 0},
        ),
        Row("provisioning_failed", S, "provisioning", "failed", (), {}),
        *(
            Row(
                "connected",
                S,
                src,
                "running",
                CANCEL_DEADLINES,
                {},
            )
            for src in ("starting", "rebooting", "failing")
        ),
        Row(
            "connection_lost",
            S,
            "running",
            "failing",
            (StartRecovery(1), ScheduleTimer("recovery_exhausted", T0 + RECOVERY)),
            {},
        ),
        *(
            Row(
                "boot_timeout",
                T,
                src,
                "failing",
                (StartRecovery(1), ScheduleTimer("recovery_exhausted", T0 + RECOVERY)),
                {},
            )
            for src in ("starting", "rebooting")
        ),
        Row("recovery_exhausted", T, "failing", "failed", (), {}),
        *(
            Row("stop", U, src, "stopping", (ShutdownHost(1), *CANCEL_DEADLINES), {})
            for src in ("starting", "running", "rebooting", "failing")
        ),
        Row("shutdown_complete", S, "stopping", "stopped", (), {}),
        Row(
            "start",
            U,
            "stopped",
            "starting",
            (PowerOnHost(1), ScheduleTimer("boot_timeout", T0 + BOOT)),
            {},
        ),
        # start (recover stuck): the snapshots are an hour old, so they are stuck.
        *(
            Row(
                "start",
                U,
                src,
                "starting",
                (PowerCycleHost(1), ScheduleTimer("boot_timeout", T0 + BOOT)),
                {},
            )
            for src in ("starting", "stopping", "rebooting", "failing")
        ),
        *(
            Row(
                "restart",
                U,
                src,
                "rebooting",
                (RebootHost(1), ScheduleTimer("boot_timeout", T0 + BOOT)),
                {},
            )
            for src in ("running", "failing")
        ),
        *(
            Row(
                "recreate",
                U,
                src,
                "provisioning",
                (
                    DestroyHost(1),
                    RevokeCredentials(1),
                    ProvisionHost("small", 2),
                    IssueCredentials(2),
                ),
                {"host": 2, "credentials": 2},
                {"confirmation": NAME},
            )
            for src in _HOSTED_UP
        ),
        # A waitlisted agent that never got a host has nothing to destroy or revoke.
        Row(
            "recreate",
            U,
            "waitlisted",
            "provisioning",
            (ProvisionHost("small", 1), IssueCredentials(1)),
            {"host": 1, "credentials": 1, "capacity_attempts": 0},
            {"confirmation": NAME},
        ),
        Row(
            "recreate",
            U,
            "waitlisted after provision",
            "provisioning",
            (DestroyHost(1), RevokeCredentials(1), ProvisionHost("small", 2), IssueCredentials(2)),
            {"host": 2, "credentials": 2, "capacity_attempts": 0},
            {"confirmation": NAME},
        ),
        Row(
            "purge",
            T,
            "deleted",
            "deleted",
            (RemoveRetainedData(),),
            {"purged_at": T0},
        ),
    ]
    for src in _EVERY_BUT_DELETED:
        has_host = AGENTS[src][1].host > 0
        rows.append(
            Row(
                "delete",
                U,
                src,
                "deleted",
                ((StopHost(1),) if has_host else ()) + (ScheduleTimer("purge", T0 + GRACE),),
                {"deleted_at": T0, "purge_at": T0 + GRACE},
            )
        )
    reasons = ("payment_issue", "credits_exhausted", "subscription_lapsed")
    for i, src in enumerate(s for s in _EVERY_BUT_DELETED if s != "billing_suspended"):
        reason = reasons[i % len(reasons)]
        has_host = AGENTS[src][1].host > 0
        rows.append(
            Row(
                "billing_suspend",
                S,
                src,
                "billing_suspended",
                (PauseHost(1),) if has_host else (),
                {"remembered": AGENTS[src][0], "suspend_reason": reason},
                {"reason": reason},
            )
        )
    rows.append(
        Row(
            "billing_resume",
            S,
            "billing_suspended",
            "starting",
            (ResumeHost(1), ScheduleTimer("boot_timeout", T0 + BOOT)),
            {"remembered": None, "suspend_reason": None},
            {"standing": "good"},
        )
    )
    return rows


ROWS = _rows()


def _assert_step(result: Step | Refusal, before: Snapshot, row: Row) -> Step:
    assert isinstance(result, Step), result
    after = result.snapshot
    assert after.status == row.target
    assert after.version == before.version + 1
    # Start always (re-)enters starting: recovering a stuck starting agent restarts its clock.
    if row.target != before.status or row.event == "start":
        assert after.since == T0
    else:
        assert after.since == before.since
    expected = {**attrs.asdict(before.data, recurse=False), **row.changes}
    assert attrs.asdict(after.data, recurse=False) == expected
    assert result.effects == row.effects
    return result


@pytest.mark.parametrize(
    "row", ROWS, ids=[f"{r.event}-from-{r.source.replace(' ', '_')}" for r in ROWS]
)
def test_row(row: Row) -> None:
    before = snapshot(row.source)
    result = decide(ALFE, before, Event(row.event, row.actor, row.payload), CTX)
    _assert_step(result, before, row)


def test_every_row_of_the_document_is_covered() -> None:
    # Guards against a row of this file being dropped by accident.
    covered = {(r.event, AGENTS[r.source][0]) for r in ROWS}
    document = {
        ("provision", "pending"),
        ("capacity_unavailable", "pending"),
        ("capacity_unavailable", "provisioning"),
        ("capacity_retry", "waitlisted"),
        ("host_up", "provisioning"),
        ("provisioning_failed", "provisioning"),
        *(("connected", s) for s in ("starting", "rebooting", "failing")),
        ("connection_lost", "running"),
        *(("boot_timeout", s) for s in ("starting", "rebooting")),
        ("recovery_exhausted", "failing"),
        *(("stop", s) for s in ("starting", "running", "rebooting", "failing")),
        ("shutdown_complete", "stopping"),
        *(("start", s) for s in ("stopped", "starting", "stopping", "rebooting", "failing")),
        *(("restart", s) for s in ("running", "failing")),
        *(("recreate", s) for s in (*_HOSTED_UP, "waitlisted")),
        *(("delete", s) for s in _EVERY_BUT_DELETED),
        *(("billing_suspend", s) for s in _EVERY_BUT_DELETED if s != "billing_suspended"),
        ("billing_resume", "billing_suspended"),
        ("purge", "deleted"),
    }
    assert covered == document


# -- recreate ------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", _HOSTED_UP)
def test_recreate_with_a_new_size_provisions_that_size(source: str) -> None:
    before = snapshot(source)
    payload = {"confirmation": NAME, "size": "large"}
    result = decide(ALFE, before, Event("recreate", U, payload), CTX)
    assert isinstance(result, Step)
    data = result.snapshot.data
    assert (data.agent_id, data.name) == ("agt-42", NAME)
    assert (data.size, data.host, data.credentials) == ("large", 2, 2)
    assert ProvisionHost("large", 2) in result.effects
    assert RevokeCredentials(1) in result.effects


@pytest.mark.parametrize("typed", ["Support-bot", "support-bot ", "", "support"])
def test_recreate_needs_the_exact_name(typed: str) -> None:
    before = snapshot("failed")
    result = decide(ALFE, before, Event("recreate", U, {"confirmation": typed}), CTX)
    assert isinstance(result, Refusal)
    assert (result.code, result.guard) == ("confirmation_mismatch", "confirmation_matches")


@pytest.mark.parametrize("size", ["", "   "])
def test_regression_recreate_with_a_blank_size_is_refused_not_raised(size: str) -> None:
    # A blank size used to reach AlfeAgent's validator and raise InvalidInput from decide.
    before = snapshot("failed")
    payload = {"confirmation": NAME, "size": size}
    result = decide(ALFE, before, Event("recreate", U, payload), CTX)
    assert isinstance(result, Refusal)
    assert (result.code, result.guard) == ("invalid_size", "size_valid")


# -- the resume table ---------------------------------------------------------------------------

# models.md, "Resume table (ours)".
RESUME = {
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


@pytest.mark.parametrize("remembered", list(RESUME))
def test_resume_table(remembered: str) -> None:
    _, data = AGENTS[remembered]
    data = attrs.evolve(data, remembered=remembered, suspend_reason="credits_exhausted")
    before = Snapshot("billing_suspended", VERSION, T0 - AGE, data)
    result = decide(ALFE, before, Event("billing_resume", S, {"standing": "good"}), CTX)
    assert isinstance(result, Step), result
    after = result.snapshot
    assert after.status == RESUME[remembered]
    assert after.version == VERSION + 1
    assert after.since == T0
    assert (after.data.remembered, after.data.suspend_reason) == (None, None)
    assert attrs.evolve(after.data, remembered=remembered, suspend_reason="credits_exhausted") == (
        data
    )
    resume = (ResumeHost(1),) if data.host else ()
    boot = (ScheduleTimer("boot_timeout", T0 + BOOT),) if after.status == "starting" else ()
    assert result.effects == resume + boot


@pytest.mark.parametrize("status", list(RESUME))
def test_suspend_then_resume_returns_by_the_resume_table(status: str) -> None:
    before = snapshot(status)
    suspended = decide(ALFE, before, Event("billing_suspend", S, {"reason": "payment_issue"}), CTX)
    assert isinstance(suspended, Step)
    later = Context(T0 + timedelta(days=2))
    resumed = decide(
        ALFE, suspended.snapshot, Event("billing_resume", S, {"standing": "good"}), later
    )
    assert isinstance(resumed, Step)
    assert resumed.snapshot.status == RESUME[status]
    assert resumed.snapshot.version == VERSION + 2
    assert resumed.snapshot.data == before.data


# -- the stuck rule for Start ---------------------------------------------------------------------

STUCK_CAPABLE = ("starting", "stopping", "rebooting")


@pytest.mark.parametrize("source", STUCK_CAPABLE)
@pytest.mark.parametrize(
    "age", [timedelta(0), timedelta(minutes=9, seconds=59), timedelta(minutes=10)]
)
def test_start_is_refused_before_stuck_after(source: str, age: timedelta) -> None:
    before = snapshot(source, age)
    result = decide(ALFE, before, Event("start", U), CTX)
    assert isinstance(result, Refusal)
    assert (result.code, result.guard, result.status) == ("not_stuck", "stuck", source)
    assert "Start" in result.message


def test_regression_stuck_means_longer_than_stuck_after() -> None:
    # The table says "longer than stuck_after"; exactly ten minutes used to count as stuck.
    before = snapshot("starting", timedelta(minutes=10))
    assert isinstance(decide(ALFE, before, Event("start", U), CTX), Refusal)
    before = snapshot("starting", timedelta(minutes=10, microseconds=1))
    assert isinstance(decide(ALFE, before, Event("start", U), CTX), Step)


@pytest.mark.parametrize("source", STUCK_CAPABLE)
def test_start_recovers_a_stuck_agent_after_stuck_after(source: str) -> None:
    before = snapshot(source, timedelta(minutes=10, seconds=1))
    result = decide(ALFE, before, Event("start", U), CTX)
    assert isinstance(result, Step)
    assert result.snapshot.status == "starting"
    assert PowerCycleHost(1) in result.effects


def test_start_recovers_a_failing_agent_without_waiting() -> None:
    before = snapshot("failing", timedelta(0))
    result = decide(ALFE, before, Event("start", U), CTX)
    assert isinstance(result, Step)
    assert result.snapshot.status == "starting"
    assert result.snapshot.since == T0
    assert result.effects[0] == PowerCycleHost(1)


@pytest.mark.parametrize("source", STUCK_CAPABLE)
def test_custom_stuck_after_is_honoured(source: str) -> None:
    quick = Context(T0, Policy(stuck_after=timedelta(minutes=2)))
    slow = Context(T0, Policy(stuck_after=timedelta(hours=2)))
    three_minutes = snapshot(source, timedelta(minutes=3))
    assert isinstance(decide(ALFE, three_minutes, Event("start", U), quick), Step)
    assert isinstance(decide(ALFE, three_minutes, Event("start", U), CTX), Refusal)
    one_hour = snapshot(source, timedelta(hours=1))
    refused = decide(ALFE, one_hour, Event("start", U), slow)
    assert isinstance(refused, Refusal)
    assert refused.code == "not_stuck"


def test_recovering_a_stuck_starting_agent_restarts_its_clock() -> None:
    # After a power-cycle the agent boots again: it has been starting since now, so Start must
    # not be offered again at once, and a new boot timeout must be measured from now.
    before = snapshot("starting", timedelta(hours=1))
    result = decide(ALFE, before, Event("start", U), CTX)
    assert isinstance(result, Step)
    assert result.snapshot.since == T0
    again = decide(ALFE, result.snapshot, Event("start", U), Context(T0 + timedelta(minutes=1)))
    assert isinstance(again, Refusal)


# -- time guards of the timers --------------------------------------------------------------------


@pytest.mark.parametrize("source", ["starting", "rebooting"])
def test_boot_timeout_fires_only_once_the_boot_took_too_long(source: str) -> None:
    early = decide(ALFE, snapshot(source, timedelta(minutes=4)), Event("boot_timeout", T), CTX)
    assert isinstance(early, Refusal)
    assert early.code == "boot_not_timed_out"
    on_time = decide(ALFE, snapshot(source, BOOT), Event("boot_timeout", T), CTX)
    assert isinstance(on_time, Step)


def test_recovery_exhausted_fires_only_after_the_recovery_deadline() -> None:
    early = snapshot("failing", timedelta(minutes=14))
    refused = decide(ALFE, early, Event("recovery_exhausted", T), CTX)
    assert isinstance(refused, Refusal)
    assert refused.code == "recovery_not_exhausted"
    on_time = decide(ALFE, snapshot("failing", RECOVERY), Event("recovery_exhausted", T), CTX)
    assert isinstance(on_time, Step)


def test_capacity_retry_backoff_is_capped() -> None:
    _, data = AGENTS["provisioning"]
    before = Snapshot("provisioning", VERSION, T0 - AGE, attrs.evolve(data, capacity_attempts=9))
    result = decide(ALFE, before, Event("capacity_unavailable", S), CTX)
    assert isinstance(result, Step)
    assert result.effects == (ScheduleTimer("capacity_retry", T0 + timedelta(minutes=30)),)


# -- delete and purge -----------------------------------------------------------------------------


def test_delete_then_purge_after_the_grace_period() -> None:
    deleted = decide(ALFE, snapshot("running"), Event("delete", U), CTX)
    assert isinstance(deleted, Step)
    data = deleted.snapshot.data
    assert (data.deleted_at, data.purge_at, data.purged_at) == (T0, T0 + GRACE, None)
    too_early = Context(T0 + GRACE - timedelta(seconds=1))
    refused = decide(ALFE, deleted.snapshot, Event("purge", T), too_early)
    assert isinstance(refused, Refusal)
    assert (refused.code, refused.guard) == ("grace_period_not_over", "grace_period_over")
    at_grace = Context(T0 + GRACE)
    purged = decide(ALFE, deleted.snapshot, Event("purge", T), at_grace)
    assert isinstance(purged, Step)
    assert purged.snapshot.status == "deleted"
    assert purged.snapshot.since == T0  # purge changes data, not status
    assert purged.snapshot.data.purged_at == T0 + GRACE
    again = decide(ALFE, purged.snapshot, Event("purge", T), Context(T0 + 2 * GRACE))
    assert isinstance(again, Refusal)
    assert (again.code, again.guard) == ("already_purged", "not_purged")


def test_delete_honours_a_custom_grace_period() -> None:
    week = Context(T0, Policy(grace_period=timedelta(days=7)))
    result = decide(ALFE, snapshot("stopped"), Event("delete", U), week)
    assert isinstance(result, Step)
    assert result.snapshot.data.purge_at == T0 + timedelta(days=7)
    assert ScheduleTimer("purge", T0 + timedelta(days=7)) in result.effects


@pytest.mark.parametrize("reason", ["", "late", "PAYMENT_ISSUE"])
def test_billing_suspend_needs_a_known_reason(reason: str) -> None:
    result = decide(ALFE, snapshot("running"), Event("billing_suspend", S, {"reason": reason}), CTX)
    assert isinstance(result, Refusal)
    assert (result.code, result.guard) == ("invalid_billing_reason", "billing_reason_valid")


def test_billing_resume_waits_for_good_standing() -> None:
    bad = Event("billing_resume", S, {"standing": "overdue"})
    result = decide(ALFE, snapshot("billing_suspended"), bad, CTX)
    assert isinstance(result, Refusal)
    assert result.code == "billing_not_in_good_standing"


# -- payload fields the table requires, and data the table resets ---------------------------------


@pytest.mark.parametrize(
    ("key", "name", "actor"),
    [("running", "billing_suspend", S), ("billing_suspended", "billing_resume", S)],
)
def test_a_required_field_that_is_missing_is_an_invalid_payload(
    key: str, name: str, actor: Actor
) -> None:
    result = decide(ALFE, snapshot(key), Event(name, actor, {}), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "invalid_payload"


def test_recreate_with_a_new_size_forgets_failed_capacity_attempts() -> None:
    before = snapshot("failed")
    before = before._replace(data=attrs.evolve(before.data, capacity_attempts=3))
    payload = {"confirmation": NAME, "size": "large"}
    result = decide(ALFE, before, Event("recreate", U, payload), CTX)
    assert isinstance(result, Step)
    assert (result.snapshot.data.size, result.snapshot.data.capacity_attempts) == ("large", 0)


def test_capacity_retry_doublings_stop_at_32() -> None:
    # A tiny base keeps the cap on the doublings below the policy's longest wait.
    tiny = Policy(capacity_retry_base=timedelta(microseconds=1), capacity_retry_max=GRACE)
    _, data = AGENTS["provisioning"]
    before = Snapshot("provisioning", VERSION, T0 - AGE, attrs.evolve(data, capacity_attempts=40))
    result = decide(ALFE, before, Event("capacity_unavailable", S), Context(T0, tiny))
    assert isinstance(result, Step)
    wait = timedelta(microseconds=2**32)
    assert result.effects == (ScheduleTimer("capacity_retry", T0 + wait),)


def test_provision_gives_credentials_to_an_agent_that_has_a_host_only() -> None:
    before = Snapshot("pending", VERSION, T0 - AGE, _agent(host=3))
    result = decide(ALFE, before, Event("provision", S), CTX)
    assert isinstance(result, Step)
    assert (result.snapshot.data.host, result.snapshot.data.credentials) == (3, 1)


@pytest.mark.parametrize(
    ("field", "value"), [("agent_id", ""), ("agent_id", 7), ("name", "   "), ("name", None)]
)
def test_an_agent_s_identity_must_be_non_empty_text(field: str, value: object) -> None:
    given = {"agent_id": "agt-42", "name": NAME, field: value}
    with pytest.raises(InvalidInput) as caught:
        AlfeAgent(**given)  # type: ignore[arg-type]
    assert str(caught.value) == f"{field} must be a non-empty string, not {value!r}"
