"""Every refusal code, at least once, and bad input at the API boundary.

A refusal carries a stable code and a sentence naming the action; a guard refusal names its
guard; and a refused event changes nothing. Bad input is a ``Refusal`` or an ``InvalidInput``
with a message that says what is wrong, never a bare ``KeyError``/``TypeError`` from inside.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import attrs
import pytest

from agentfsm import (
    Actor,
    Context,
    Event,
    InvalidInput,
    Machine,
    Refusal,
    Snapshot,
    TransitionRefused,
    check_slug,
    decide,
    fire,
)
from agentfsm.models import ALFE, ALFE_SELF_HOSTED, RECIF, AlfeAgent, RecifAgent

U, S, T = Actor.USER, Actor.SYSTEM, Actor.TIMER
T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
CTX = Context(T0)
HOUR = timedelta(hours=1)

ALFE_DATA = AlfeAgent("agt-1", "support-bot", host=1, credentials=1)
RECIF_DATA = RecifAgent("support-agent")


def alfe(status: str, age: timedelta = HOUR, **changes: Any) -> Snapshot:
    return Snapshot(status, 4, T0 - age, attrs.evolve(ALFE_DATA, **changes))


def recif(status: str, **changes: Any) -> Snapshot:
    return Snapshot(status, 4, T0 - HOUR, attrs.evolve(RECIF_DATA, **changes))


class Case(NamedTuple):
    id: str
    machine: Machine
    snapshot: Snapshot
    event: Event
    code: str
    guard: str | None = None
    context: Context = CTX


DELETED: dict[str, Any] = {"deleted_at": T0 - HOUR, "purge_at": T0 - HOUR + timedelta(days=30)}
PURGED: dict[str, Any] = {
    "deleted_at": T0 - timedelta(days=40),
    "purge_at": T0 - timedelta(days=10),
    "purged_at": T0 - timedelta(days=9),
}

CASES = [
    # -- codes of the engine ------------------------------------------------------------------
    Case("unknown_event", ALFE, alfe("running"), Event("reboot", U), "unknown_event"),
    Case("unknown_status", ALFE, alfe("RUNNING"), Event("stop", U), "unknown_status"),
    Case("recif_unknown_status", RECIF, recif("running"), Event("stop", U), "unknown_status"),
    Case("actor_not_allowed", ALFE, alfe("running"), Event("connected", U), "actor_not_allowed"),
    Case("timer_by_user", ALFE, alfe("deleted", **DELETED), Event("purge", U), "actor_not_allowed"),
    Case("user_by_platform", ALFE, alfe("running"), Event("stop", S), "actor_not_allowed"),
    Case("not_allowed", ALFE, alfe("failed"), Event("start", U), "not_allowed_from_status"),
    Case(
        "deleted_absorbs",
        ALFE,
        alfe("deleted", **DELETED),
        Event("billing_suspend", S, {"reason": "payment_issue"}),
        "not_allowed_from_status",
    ),
    Case(
        "invalid_payload",
        ALFE,
        alfe("failed"),
        Event("recreate", U, {"confirmation": 42}),
        "invalid_payload",
    ),
    Case("missing_field", ALFE, alfe("failed"), Event("recreate", U), "invalid_payload"),
    Case(
        "unexpected_field",
        ALFE,
        alfe("running"),
        Event("stop", U, {"force": True}),
        "invalid_payload",
    ),
    # -- Alfe guards ------------------------------------------------------------------------
    Case(
        "not_stuck",
        ALFE,
        alfe("starting", timedelta(minutes=3)),
        Event("start", U),
        "not_stuck",
        "stuck",
    ),
    Case(
        "confirmation_mismatch",
        ALFE,
        alfe("failed"),
        Event("recreate", U, {"confirmation": "Support-Bot"}),
        "confirmation_mismatch",
        "confirmation_matches",
    ),
    Case(
        "invalid_size",
        ALFE,
        alfe("failed"),
        Event("recreate", U, {"confirmation": "support-bot", "size": " "}),
        "invalid_size",
        "size_valid",
    ),
    Case(
        "invalid_billing_reason",
        ALFE,
        alfe("running"),
        Event("billing_suspend", S, {"reason": "fraud"}),
        "invalid_billing_reason",
        "billing_reason_valid",
    ),
    Case(
        "billing_not_in_good_standing",
        ALFE,
        alfe("billing_suspended", remembered="running", suspend_reason="payment_issue"),
        Event("billing_resume", S, {"standing": "overdue"}),
        "billing_not_in_good_standing",
        "billing_in_good_standing",
    ),
    Case(
        "no_remembered_status",
        ALFE,
        alfe("billing_suspended", remembered=None, suspend_reason="payment_issue"),
        Event("billing_resume", S, {"standing": "good"}),
        "no_remembered_status",
        "remembers_status",
    ),
    Case(
        "boot_not_timed_out",
        ALFE,
        alfe("rebooting", timedelta(minutes=1)),
        Event("boot_timeout", T),
        "boot_not_timed_out",
        "boot_deadline_passed",
    ),
    Case(
        "recovery_not_exhausted",
        ALFE,
        alfe("failing", timedelta(minutes=2)),
        Event("recovery_exhausted", T),
        "recovery_not_exhausted",
        "recovery_deadline_passed",
    ),
    Case(
        "grace_period_not_over",
        ALFE,
        alfe("deleted", **DELETED),
        Event("purge", T),
        "grace_period_not_over",
        "grace_period_over",
    ),
    Case(
        "already_purged",
        ALFE,
        alfe("deleted", **PURGED),
        Event("purge", T),
        "already_purged",
        "not_purged",
    ),
    Case(
        "self_hosted_grace",
        ALFE_SELF_HOSTED,
        alfe("deleted", **DELETED),
        Event("purge", T),
        "grace_period_not_over",
        "grace_period_over",
    ),
    Case(
        "self_hosted_not_allowed",
        ALFE_SELF_HOSTED,
        alfe("active"),
        Event("restart", U),
        "not_allowed_from_status",
    ),
    # -- Recif guards -----------------------------------------------------------------------
    Case(
        "no_ready_replicas",
        RECIF,
        recif("Pending"),
        Event("pods_ready", S, {"ready_replicas": 0}),
        "no_ready_replicas",
        "pods_are_ready",
    ),
    Case(
        "reason_missing",
        RECIF,
        recif("Running"),
        Event("pods_unhealthy", S, {"reason": "  "}),
        "reason_missing",
        "reason_given",
    ),
    Case(
        "replicas_out_of_range",
        RECIF,
        recif("Running"),
        Event("scale", U, {"replicas": 11}),
        "replicas_out_of_range",
        "replicas_in_range",
    ),
    Case(
        "invalid_spec",
        RECIF,
        recif("Running"),
        Event("update_config", U, {"config": {"tools": 3}}),
        "invalid_spec",
        "spec_valid",
    ),
    Case(
        "invalid_spec_empty",
        RECIF,
        recif("Failed"),
        Event("update_config", U),
        "invalid_spec",
        "spec_valid",
    ),
    Case(
        "invalid_canary",
        RECIF,
        recif("Running"),
        Event("start_canary", U, {"image": ""}),
        "invalid_spec",
        "canary_image_given",
    ),
    Case(
        "no_canary",
        RECIF,
        recif("Running"),
        Event("promote_canary", U),
        "no_canary",
        "canary_exists",
    ),
    Case(
        "recif_not_allowed",
        RECIF,
        recif("created"),
        Event("scale", U, {"replicas": 2}),
        "not_allowed_from_status",
    ),
    Case(
        "replicas_not_int",
        RECIF,
        recif("Running"),
        Event("scale", U, {"replicas": True}),
        "invalid_payload",
    ),
]


def _mentions_action(machine: Machine, event: str, message: str) -> bool:
    spec = next((e for e in machine.spec.events if e.name == event), None)
    names = [event] if spec is None else [event, spec.label or event]
    return any(re.search(rf"\b{re.escape(n)}\b", message, re.IGNORECASE) for n in names)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refusal(case: Case) -> None:
    before = case.snapshot
    kept = repr(before)  # every nested value, as it was
    result = decide(case.machine, before, case.event, case.context)
    assert isinstance(result, Refusal), result
    assert result.code == case.code
    assert result.guard == case.guard
    assert result.event == case.event.name
    assert result.status == str(before.status)
    assert not result.accepted
    assert isinstance(result.message, str)
    assert result.message.strip()
    assert "{" not in result.message  # every placeholder was filled in
    if case.code not in ("not_allowed_from_status", "unknown_status"):
        assert _mentions_action(case.machine, case.event.name, result.message), result.message
    # A refusal changes nothing: the snapshot is untouched and still the caller's object.
    assert repr(before) == kept
    # fire raises the same refusal.
    with pytest.raises(TransitionRefused) as raised:
        fire(case.machine, before, case.event, case.context)
    assert raised.value.refusal == result
    assert case.code in str(raised.value)


def test_every_code_is_exercised() -> None:
    exercised = {c.code for c in CASES}
    engine = {
        "unknown_event",
        "unknown_status",
        "actor_not_allowed",
        "not_allowed_from_status",
        "invalid_payload",
    }
    guards = {g.code for m in (ALFE, ALFE_SELF_HOSTED, RECIF) for g in m.spec.guards}
    assert engine | guards <= exercised, sorted((engine | guards) - exercised)
    guard_names = {g.name for m in (ALFE, ALFE_SELF_HOSTED, RECIF) for g in m.spec.guards}
    assert guard_names <= {c.guard for c in CASES}


def test_not_allowed_from_status_names_the_action() -> None:
    silent = []
    for machine in (ALFE, ALFE_SELF_HOSTED, RECIF):
        for ev in machine.spec.events:
            for state in machine.spec.state_names:
                refusal = machine.events[ev.name].status_refusals.get(state)
                if refusal and not _mentions_action(machine, ev.name, refusal.message):
                    silent.append((machine.name, state, ev.name, refusal.message))
    assert silent == []


def test_unknown_status_names_the_action() -> None:
    result = decide(ALFE, alfe("RUNNING"), Event("stop", U), CTX)
    assert isinstance(result, Refusal)
    assert _mentions_action(ALFE, "stop", result.message)


# -- bad input at the API boundary --------------------------------------------------------------


@pytest.mark.parametrize("status", ["", "Running", "paused", "active", "deleted ", None, 42])
def test_unknown_status_is_refused(status: object) -> None:
    before = Snapshot(status, 1, T0, ALFE_DATA)  # type: ignore[arg-type]
    result = decide(ALFE, before, Event("delete", U), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "unknown_status"
    assert repr(status) in result.message
    assert "running" in result.message  # it lists the statuses that exist


@pytest.mark.parametrize("name", ["Stop", "STOP", "power_off", "setup_complete", "deploy"])
def test_unknown_event_is_refused(name: str) -> None:
    result = decide(ALFE, alfe("running"), Event(name, U), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "unknown_event"
    assert repr(name) in result.message


@pytest.mark.parametrize("machine", [ALFE, ALFE_SELF_HOSTED, RECIF], ids=lambda m: m.name)
def test_no_platform_or_timer_event_is_accepted_from_a_user(machine: Machine) -> None:
    data = RECIF_DATA if machine is RECIF else ALFE_DATA
    for ev in machine.spec.events:
        if U in ev.actors:
            continue
        for state in machine.spec.state_names:
            before = Snapshot(state, 2, T0 - HOUR, data)
            result = decide(machine, before, Event(ev.name, U), CTX)
            assert isinstance(result, Refusal)
            assert result.code == "actor_not_allowed"
            assert "user" in result.message


@pytest.mark.parametrize("confirmation", [None, 42, b"support-bot", ["support-bot"], True])
def test_confirmation_must_be_a_string(confirmation: object) -> None:
    result = decide(ALFE, alfe("failed"), Event("recreate", U, {"confirmation": confirmation}), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "invalid_payload"
    assert "confirmation must be a string" in result.message


@pytest.mark.parametrize("replicas", [True, False, 3.0, "3", None, [3]])
def test_replicas_must_be_a_whole_number(replicas: object) -> None:
    result = decide(RECIF, recif("Running"), Event("scale", U, {"replicas": replicas}), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "invalid_payload"
    assert "replicas must be a whole number" in result.message


@pytest.mark.parametrize("replicas", [0, -3, 11, 10**9])
def test_replicas_outside_one_to_ten(replicas: int) -> None:
    result = decide(RECIF, recif("Pending"), Event("scale", U, {"replicas": replicas}), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "replicas_out_of_range"
    assert "between 1 and 10" in result.message


def test_a_datetime_in_a_text_field_is_refused() -> None:
    naive = datetime(2026, 4, 3, 10, 0)
    result = decide(ALFE, alfe("running"), Event("billing_suspend", S, {"reason": naive}), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "invalid_payload"


@pytest.mark.parametrize(
    "slug",
    [
        "a" * 64,
        "Support-Agent",
        "support_agent",
        "-support",
        "support-",
        "",
        "support agent",
        "support.agent",
        "agents/../etc",
        "ünicode",
        None,
        42,
        b"support",
    ],
)
def test_a_slug_must_be_a_dns_1123_label(slug: object) -> None:
    with pytest.raises(InvalidInput, match="slug"):
        check_slug(slug)
    with pytest.raises(InvalidInput, match="slug"):
        RecifAgent(slug)


@pytest.mark.parametrize("slug", ["a", "0", "support-agent", "a" * 63, "agent-2-b"])
def test_valid_slugs_pass(slug: str) -> None:
    assert check_slug(slug) == slug
    assert RecifAgent(slug).slug == slug


def test_a_naive_datetime_is_invalid_input() -> None:
    naive = datetime(2026, 4, 3, 10, 0)
    with pytest.raises(InvalidInput, match="timezone-aware"):
        Context(now=naive)
    with pytest.raises(InvalidInput, match="timezone-aware"):
        ALFE.initial(ALFE_DATA, naive)
    with pytest.raises(InvalidInput, match="datetime"):
        ALFE.initial(ALFE_DATA, "2026-04-03T10:00:00Z")  # type: ignore[arg-type]
    snapshot = ALFE.initial(ALFE_DATA, T0)
    assert (snapshot.status, snapshot.version, snapshot.since) == ("pending", 0, T0)


def test_a_snapshot_with_a_naive_since_is_not_a_bare_type_error() -> None:
    before = Snapshot("starting", 3, datetime(2026, 4, 3, 9, 0), ALFE_DATA)
    try:
        result = decide(ALFE, before, Event("start", U), CTX)
    except InvalidInput:
        return
    assert isinstance(result, Refusal)


def test_an_unhashable_status_is_refused() -> None:
    before = Snapshot(["running"], 3, T0, ALFE_DATA)  # type: ignore[arg-type]
    result = decide(ALFE, before, Event("stop", U), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "unknown_status"


@pytest.mark.parametrize("state", ["Running", "Terminated"])
def test_a_refused_config_change_leaves_the_spec_alone(state: str) -> None:
    before = recif(state)
    result = decide(RECIF, before, Event("update_config", U, {"image": "   "}), CTX)
    assert isinstance(result, Refusal)
    assert result.code == "invalid_spec"
    assert before == recif(state)
