"""The Alfe self-hosted rows of models.md: pending -> active -> deleted, nothing else.

"No start/stop/restart/recreate: their owners manage the process themselves. Billing does not
apply." Deleting a never-set-up agent and purging after the grace period are our additions,
documented on the machine's rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentfsm import Actor, Context, Event, Refusal, Snapshot, Step, decide, offered
from agentfsm.effects import RemoveRetainedData, ScheduleTimer
from agentfsm.models import ALFE_SELF_HOSTED, AlfeAgent

U, S, T = Actor.USER, Actor.SYSTEM, Actor.TIMER
T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
CTX = Context(T0)
GRACE = timedelta(days=30)
AGENT = AlfeAgent("agt-7", "home-lab")


def snap(status: str, data: AlfeAgent = AGENT) -> Snapshot:
    return Snapshot(status, 3, T0 - timedelta(hours=2), data)


def test_setup_complete_makes_a_pending_agent_active() -> None:
    before = snap("pending")
    result = decide(ALFE_SELF_HOSTED, before, Event("setup_complete", S), CTX)
    assert isinstance(result, Step)
    assert result.snapshot == Snapshot("active", 4, T0, AGENT)
    assert result.effects == ()


@pytest.mark.parametrize("source", ["active", "pending"])
def test_delete_soft_deletes_with_a_purge_timer(source: str) -> None:
    result = decide(ALFE_SELF_HOSTED, snap(source), Event("delete", U), CTX)
    assert isinstance(result, Step)
    after = result.snapshot
    assert (after.status, after.version, after.since) == ("deleted", 4, T0)
    assert (after.data.deleted_at, after.data.purge_at) == (T0, T0 + GRACE)
    assert (after.data.agent_id, after.data.name) == ("agt-7", "home-lab")
    # No host is managed for a self-hosted agent, so there is none to stop.
    assert result.effects == (ScheduleTimer("purge", T0 + GRACE),)


def test_purge_after_the_grace_period() -> None:
    deleted = decide(ALFE_SELF_HOSTED, snap("active"), Event("delete", U), CTX)
    assert isinstance(deleted, Step)
    early = decide(ALFE_SELF_HOSTED, deleted.snapshot, Event("purge", T), Context(T0 + GRACE / 2))
    assert isinstance(early, Refusal)
    assert early.code == "grace_period_not_over"
    purged = decide(ALFE_SELF_HOSTED, deleted.snapshot, Event("purge", T), Context(T0 + GRACE))
    assert isinstance(purged, Step)
    assert purged.snapshot.status == "deleted"
    assert purged.snapshot.data.purged_at == T0 + GRACE
    assert purged.effects == (RemoveRetainedData(),)


@pytest.mark.parametrize("status", ["pending", "active", "deleted"])
@pytest.mark.parametrize("action", ["start", "stop", "restart", "recreate"])
def test_process_controls_are_refused_with_a_reason(status: str, action: str) -> None:
    payload = {"confirmation": "home-lab"} if action == "recreate" else {}
    before = snap(status)
    result = decide(ALFE_SELF_HOSTED, before, Event(action, U, payload), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "not_allowed_from_status"
    assert result.message
    assert before == snap(status)


@pytest.mark.parametrize("event", ["billing_suspend", "billing_resume", "provision", "connected"])
def test_managed_only_events_are_unknown(event: str) -> None:
    result = decide(ALFE_SELF_HOSTED, snap("active"), Event(event, S), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "unknown_event"
    assert event in result.message


def test_only_the_platform_reports_setup() -> None:
    result = decide(ALFE_SELF_HOSTED, snap("pending"), Event("setup_complete", U), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "actor_not_allowed"


def test_active_has_no_way_back_to_pending() -> None:
    result = decide(ALFE_SELF_HOSTED, snap("active"), Event("setup_complete", S), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "not_allowed_from_status"


@pytest.mark.parametrize(
    ("status", "expected"),
    [("pending", {"delete"}), ("active", {"delete"}), ("deleted", set())],
)
def test_offered_actions(status: str, expected: set[str]) -> None:
    offers = offered(ALFE_SELF_HOSTED, snap(status), CTX)
    assert {o.event for o in offers if o.offered} == expected
    assert {o.event for o in offers} == {"start", "stop", "restart", "recreate", "delete"}
    for offer in offers:
        if not offer.offered:
            assert offer.refusal is not None
            assert offer.refusal.message


def test_a_second_purge_is_refused() -> None:
    deleted = decide(ALFE_SELF_HOSTED, snap("active"), Event("delete", U), CTX)
    assert isinstance(deleted, Step)
    purged = decide(ALFE_SELF_HOSTED, deleted.snapshot, Event("purge", T), Context(T0 + GRACE))
    assert isinstance(purged, Step)
    later = Context(T0 + 2 * GRACE)
    again = decide(ALFE_SELF_HOSTED, purged.snapshot, Event("purge", T), later)
    assert isinstance(again, Refusal)
    assert again.code == "already_purged"
