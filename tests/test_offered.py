"""Offered actions: which dashboard controls each status offers, why the others are not, and
that ``offered`` agrees with ``decide``.

The matrices are written from models.md ("Dashboard controls offered per status follow from the
table: e.g. failed offers only Recreate and Delete; deleted offers nothing").
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import (
    Actor,
    AllOf,
    Context,
    Event,
    EventSpec,
    FieldSpec,
    Guard,
    GuardSpec,
    Implementations,
    InvalidInput,
    Machine,
    MachineSpec,
    Policy,
    Refusal,
    Snapshot,
    StateSpec,
    Step,
    TransitionSpec,
    decide,
    offered,
)
from agentfsm.models import ALFE, RECIF, AlfeAgent, RecifAgent

U = Actor.USER
T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
CTX = Context(T0)
NAME = "support-bot"

ALFE_ACTIONS = {"Start", "Stop", "Restart", "Recreate", "Delete"}

# What a status offers to a user right after entering it (nothing is stuck yet).
ALFE_OFFERED = {
    "pending": {"Delete"},
    "provisioning": {"Delete"},
    "starting": {"Stop", "Recreate", "Delete"},
    "running": {"Stop", "Restart", "Recreate", "Delete"},
    "stopping": {"Recreate", "Delete"},
    "stopped": {"Start", "Recreate", "Delete"},
    "rebooting": {"Stop", "Recreate", "Delete"},
    "failing": {"Stop", "Start", "Restart", "Recreate", "Delete"},
    "failed": {"Recreate", "Delete"},
    "billing_suspended": {"Delete"},
    "waitlisted": {"Recreate", "Delete"},
    "deleted": set(),
}
# Start (recover stuck) joins these once the agent has been in them longer than stuck_after.
STUCK_CAPABLE = {"starting", "stopping", "rebooting"}

RECIF_OFFERED = {
    "created": {"deploy", "delete"},
    "Pending": {"stop", "update_config", "scale", "delete"},
    "Running": {"stop", "update_config", "scale", "start_canary", "delete"},
    "Failed": {"stop", "update_config", "scale", "delete"},
    "Terminated": {"restart", "update_config", "delete"},
    "deleted": set(),
}

# Input a person would type, valid for the action.
VALID_INPUT: dict[str, dict[str, Any]] = {
    "recreate": {"confirmation": NAME},
    "scale": {"replicas": 3},
    "update_config": {"config": {"strategy": "react"}},
    "start_canary": {"image": "ghcr.io/acme/corail:2.0"},
}


def alfe_agent(status: str) -> AlfeAgent:
    data = AlfeAgent("agt-1", NAME, host=1, credentials=1)
    if status == "billing_suspended":
        return attrs.evolve(data, remembered="running", suspend_reason="payment_issue")
    if status == "deleted":
        return attrs.evolve(data, deleted_at=T0, purge_at=T0 + timedelta(days=30))
    return data


def alfe(status: str, age: timedelta = timedelta(0)) -> Snapshot:
    return Snapshot(status, 3, T0 - age, alfe_agent(status))


def recif(status: str, canary: str | None = None) -> Snapshot:
    return Snapshot(status, 3, T0, RecifAgent("support-agent", canary=canary))


@pytest.mark.parametrize("status", list(ALFE_OFFERED))
def test_alfe_offered_actions(status: str) -> None:
    offers = offered(ALFE, alfe(status), CTX)
    assert {o.label for o in offers} == ALFE_ACTIONS
    assert {o.label for o in offers if o.offered} == ALFE_OFFERED[status]
    for offer in offers:
        if offer.offered:
            assert offer.refusal is None
        else:
            assert offer.refusal is not None
            assert offer.refusal.code
            assert offer.refusal.message.strip()
            assert offer.refusal.event == offer.event
            assert offer.refusal.status == status


@pytest.mark.parametrize("status", sorted(STUCK_CAPABLE))
def test_start_is_offered_once_stuck(status: str) -> None:
    fresh = {o.label: o for o in offered(ALFE, alfe(status, timedelta(minutes=9)), CTX)}
    assert not fresh["Start"].offered
    assert fresh["Start"].refusal is not None
    assert fresh["Start"].refusal.code == "not_stuck"
    assert fresh["Start"].refusal.guard == "stuck"
    stuck = offered(ALFE, alfe(status, timedelta(minutes=11)), CTX)
    assert {o.label for o in stuck if o.offered} == ALFE_OFFERED[status] | {"Start"}


def test_failed_offers_only_recreate_and_delete() -> None:
    offers = {o.label: o for o in offered(ALFE, alfe("failed"), CTX)}
    assert [k for k, o in offers.items() if o.offered] == ["Recreate", "Delete"]
    recreate = offers["Recreate"]
    assert recreate.needs == ("confirmation",)
    assert recreate.requirements
    assert any(re.search(r"name.*confirm", r) for r in recreate.requirements)
    assert offers["Start"].refusal is not None
    assert "Recreate" in offers["Start"].refusal.message


def test_deleted_offers_nothing_and_says_why() -> None:
    offers = offered(ALFE, alfe("deleted"), CTX)
    assert not any(o.offered for o in offers)
    assert all(o.refusal is not None and "deleted" in o.refusal.message for o in offers)


@pytest.mark.parametrize("status", list(RECIF_OFFERED))
def test_recif_offered_actions(status: str) -> None:
    offers = offered(RECIF, recif(status), CTX)
    assert {o.event for o in offers if o.offered} == RECIF_OFFERED[status]
    for offer in offers:
        assert offer.offered == (offer.refusal is None)


def test_recif_promote_is_offered_with_a_canary() -> None:
    without = {o.event: o for o in offered(RECIF, recif("Running"), CTX)}
    assert not without["promote_canary"].offered
    assert without["promote_canary"].refusal is not None
    assert without["promote_canary"].refusal.code == "no_canary"
    with_canary = {o.event: o for o in offered(RECIF, recif("Running", "img:2"), CTX)}
    assert with_canary["promote_canary"].offered


def test_recif_scale_lists_its_input() -> None:
    scale = {o.event: o for o in offered(RECIF, recif("Running"), CTX)}["scale"]
    assert scale.offered
    assert scale.needs == ("replicas",)
    assert any("1 and 10" in r for r in scale.requirements)


def test_offered_for_an_unknown_status_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="no status 'paused'"):
        offered(ALFE, Snapshot("paused", 1, T0, alfe_agent("running")), CTX)


def test_offered_to_the_platform_lists_platform_events() -> None:
    offers = offered(ALFE, alfe("running"), CTX, actor=Actor.SYSTEM)
    events = {o.event for o in offers}
    assert "connection_lost" in events
    assert events.isdisjoint({"start", "stop", "restart", "recreate", "delete"})
    assert {o.event: o for o in offers}["connection_lost"].offered


def _agrees(machine: Machine, before: Snapshot, context: Context) -> None:
    for offer in offered(machine, before, context):
        bare = decide(machine, before, Event(offer.event, U), context)
        typed = decide(
            machine, before, Event(offer.event, U, VALID_INPUT.get(offer.event)), context
        )
        if offer.offered:
            assert isinstance(typed, Step), (offer, typed)
            if not offer.requirements:
                assert isinstance(bare, Step), (offer, bare)
            else:
                assert isinstance(bare, Refusal)  # the typed input is what is missing
        else:
            assert isinstance(typed, Refusal), (offer, typed)
            assert offer.refusal is not None
            assert (typed.code, typed.message, typed.guard) == (
                offer.refusal.code,
                offer.refusal.message,
                offer.refusal.guard,
            )


@pytest.mark.parametrize("status", list(ALFE_OFFERED))
@pytest.mark.parametrize("age", [timedelta(0), timedelta(hours=1)])
def test_alfe_offered_agrees_with_decide(status: str, age: timedelta) -> None:
    _agrees(ALFE, alfe(status, age), CTX)


@pytest.mark.parametrize("status", list(RECIF_OFFERED))
@pytest.mark.parametrize("canary", [None, "img:2"])
def test_recif_offered_agrees_with_decide(status: str, canary: str | None) -> None:
    _agrees(RECIF, recif(status, canary), CTX)


@settings(max_examples=150, deadline=None)
@given(
    status=st.sampled_from(list(ALFE_OFFERED)),
    age=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=2)),
    stuck_after=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(hours=1)),
)
def test_offered_agrees_with_decide_at_any_age(
    status: str, age: timedelta, stuck_after: timedelta
) -> None:
    _agrees(ALFE, alfe(status, age), Context(T0, Policy(stuck_after=stuck_after)))


# -- an input-reading guard beside an ordinary one ------------------------------------------------


def _safe(daytime: bool) -> Machine:
    """A safe whose ``open`` needs the typed code (input) and daylight (an ordinary guard)."""
    spec = MachineSpec(
        name="safe",
        initial="shut",
        states=(StateSpec("shut"), StateSpec("open")),
        events=(
            EventSpec("open", frozenset({Actor.USER}), "Open", fields=(FieldSpec("code", "int"),)),
            EventSpec("shut", frozenset({Actor.USER}), "Shut"),
        ),
        guards=(
            GuardSpec("code_ok", "wrong_code", "{label} needs the right code.", reads_input=True),
            GuardSpec("daytime", "night", "{label} waits for daylight."),
        ),
        transitions=(
            TransitionSpec(
                "open", "shut", "open", guard=AllOf((Guard("code_ok"), Guard("daytime")))
            ),
            TransitionSpec("shut", "open", "shut"),
        ),
        explanations=(("open", "open", "It is open."), ("shut", "shut", "It is shut.")),
    )
    impl = Implementations(
        guards={
            "code_ok": lambda s, e, c: e.payload.get("code") == 7,
            "daytime": lambda s, e, c: daytime,
        }
    )
    return Machine(spec, impl)


def _open_offer(machine: Machine) -> Any:
    snapshot = machine.initial(None, datetime(2026, 4, 3, 10, 0, tzinfo=UTC))
    ctx = Context(datetime(2026, 4, 3, 10, 5, tzinfo=UTC))
    return next(o for o in offered(machine, snapshot, ctx) if o.event == "open")


def test_an_input_guard_is_left_to_the_person_when_the_other_guards_hold() -> None:
    offer = _open_offer(_safe(daytime=True))
    assert offer.offered
    assert offer.needs == ("code",)
    assert offer.requirements == ("Open needs the right code.",)


def test_an_input_guard_does_not_hide_an_ordinary_guard_that_fails() -> None:
    offer = _open_offer(_safe(daytime=False))
    assert not offer.offered
    assert offer.refusal is not None
    assert (offer.refusal.code, offer.refusal.message) == ("night", "Open waits for daylight.")


def test_an_untimed_machine_is_offered_with_the_context_given_and_refuses_a_bad_one() -> None:
    from agentfsm.define import define_machine, event

    plain = define_machine(
        "untimed", statuses=["a", "b"], events=[event("go")], rows=[("a", "go", "b")]
    )
    assert not plain.timed
    agent = plain.initial()
    assert [o.event for o in offered(plain, agent)] == ["go"]
    assert [o.event for o in offered(plain, agent, Context(T0))] == ["go"]
    with pytest.raises(InvalidInput):
        offered(plain, agent, "now")  # type: ignore[arg-type]
