"""The engine's answers pinned word for word: the sentences of its own refusals and errors, the
arguments its guards, updates, effects and choosers are given, and the order of its checks on
input that is wrong in more than one way.

The other engine tests check that the right kind of answer comes out; these check that it is
the whole answer, so that a change to any part of it is noticed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

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
    Offer,
    Refusal,
    Role,
    Snapshot,
    StateSpec,
    TransitionRefused,
    TransitionSpec,
    decide,
    fire,
    offered,
)
from agentfsm._engine import decide_reference
from agentfsm.models import ALFE, ALFE_IMPLEMENTATIONS, ALFE_SPEC, AlfeAgent

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
CTX = Context(T0)
RECORD = AlfeAgent("ag-1", "support-bot", host=1, credentials=1)
RUNNING = Snapshot("running", 3, T0 - timedelta(hours=1), RECORD)
LATEST = datetime.max.replace(tzinfo=UTC)


# -- the engine's own sentences ------------------------------------------------------------------


def test_a_time_out_of_range_refusal_names_the_action_and_the_time() -> None:
    result = decide(ALFE, RUNNING, Event("delete"), Context(LATEST))
    assert result == Refusal(
        code="time_out_of_range",
        message="Delete was refused: a time it needs, computed from now "
        "(9999-12-31T23:59:59.999999+00:00) and the policy's durations, falls outside the "
        "years 1 to 9999 that a date can hold.",
        event="delete",
        status="running",
    )


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ("machine", "decide needs a Machine, not int"),
        ("snapshot", "decide needs a Snapshot, not int"),
        ("event", "decide needs an Event, not int"),
        ("context", "decide needs a Context, not int"),
    ],
)
def test_an_argument_of_the_wrong_type_is_named_with_the_type_given(
    position: str, expected: str
) -> None:
    arguments: dict[str, Any] = {
        "machine": ALFE,
        "snapshot": RUNNING,
        "event": Event("restart"),
        "context": CTX,
    }
    arguments[position] = 7
    with pytest.raises(InvalidInput) as raised:
        decide(**arguments)
    assert str(raised.value) == expected


def test_a_timed_machine_given_no_context_says_how_to_do_without_one() -> None:
    with pytest.raises(InvalidInput) as raised:
        decide(ALFE, RUNNING, Event("restart"))
    assert str(raised.value) == (
        "decide needs a Context for the alfe machine: its rules read the time "
        "(build it with timed=False if they never do)"
    )


def _untimed_lamp() -> Machine:
    """A lamp built ``timed=False`` whose ``on`` guard reads the time all the same."""
    spec = MachineSpec(
        name="lamp",
        initial="off",
        states=(StateSpec("off"), StateSpec("on")),
        events=(EventSpec("on", frozenset({Actor.USER}), "Switch on"),),
        guards=(GuardSpec("by_day", "night", "{label} waits for the day."),),
        transitions=(TransitionSpec("on", "off", "on", guard=Guard("by_day")),),
        explanations=(("on", "on", "It is on."),),
    )
    impl = Implementations(guards={"by_day": lambda s, e, c: c.now.hour < 20})
    return Machine(spec, impl, timed=False)


def test_an_untimed_machine_whose_rule_reads_the_time_says_so() -> None:
    lamp = _untimed_lamp()
    with pytest.raises(InvalidInput) as raised:
        decide(lamp, lamp.initial(), Event("on"))
    assert str(raised.value) == (
        "a rule of the lamp machine read the time, but it was built with timed=False and "
        "given no Context: pass one, or build it timed"
    )
    # Given a context, the same rule reads its time.
    assert decide(lamp, lamp.initial(), Event("on"), CTX).accepted  # type: ignore[union-attr]


# -- offers: an ordinary guard beside one that reads typed input ---------------------------------


def _vault(seen: list[tuple[object, object, object]]) -> Machine:
    """A vault whose ``open`` needs a typed code and an ordinary guard that notes its arguments
    and holds only for an agent at version 3 asked by a user at ``T0``."""
    spec = MachineSpec(
        name="vault",
        initial="shut",
        states=(StateSpec("shut"), StateSpec("open")),
        events=(
            EventSpec("open", frozenset({Actor.USER}), "Open", fields=(FieldSpec("code", "int"),)),
        ),
        guards=(
            GuardSpec(
                "code_ok",
                "wrong_code",
                "{label} ({event}) needs the code of the {status} vault.",
                reads_input=True,
            ),
            GuardSpec("cleared", "not_cleared", "{label} needs clearance ({status})."),
        ),
        transitions=(
            TransitionSpec(
                "open", "shut", "open", guard=AllOf((Guard("code_ok"), Guard("cleared")))
            ),
        ),
        explanations=(("open", "open", "It is open."),),
    )

    def cleared(s: Snapshot, e: Event, c: Context) -> bool:
        seen.append((s, e, c))
        return s.version == 3 and e.actor is Actor.USER and c.now == T0

    impl = Implementations(
        guards={"code_ok": lambda s, e, c: e.payload.get("code") == 7, "cleared": cleared}
    )
    return Machine(spec, impl)


def test_an_ordinary_guard_beside_an_input_guard_sees_the_agent_the_sender_and_the_time() -> None:
    seen: list[tuple[object, object, object]] = []
    vault = _vault(seen)
    agent = Snapshot("shut", 3, T0 - timedelta(hours=1), None)
    (offer,) = offered(vault, agent, CTX)
    assert offer == Offer(
        "open",
        "Open",
        True,
        needs=("code",),
        requirements=("Open (open) needs the code of the shut vault.",),
    )
    snapshot, probe, context = seen[-1]
    assert snapshot is agent
    assert probe == Event("open", Actor.USER)  # no payload: the code is not typed yet
    assert context.now == T0  # type: ignore[attr-defined]
    (later,) = offered(vault, agent._replace(version=4), CTX)
    refusal = Refusal("not_cleared", "Open needs clearance (shut).", "open", "shut", "cleared")
    assert later == Offer("open", "Open", False, refusal)
    assert later.offered is False


def test_a_bad_payload_lists_its_problems_separated_by_semicolons() -> None:
    result = decide(ALFE, RUNNING, Event("recreate", payload={"confirmation": 1, "size": 2}), CTX)
    assert result == Refusal(
        code="invalid_payload",
        message="Recreate was sent with a bad payload: confirmation must be a string, not 1; "
        "size must be a string, not 2.",
        event="recreate",
        status="running",
    )


def test_five_payload_problems_are_all_shown_and_a_sixth_is_counted() -> None:
    five = {f"x{i}": i for i in range(4)} | {"confirmation": 0}
    shown = decide(ALFE, RUNNING, Event("recreate", payload=five), CTX)
    assert isinstance(shown, Refusal)
    assert shown.message.count(";") == 4
    assert "more" not in shown.message
    assert shown.message.endswith("; confirmation must be a string, not 0.")
    six = decide(ALFE, RUNNING, Event("recreate", payload={**five, "x4": 4}), CTX)
    assert isinstance(six, Refusal)
    assert six.message.endswith("; and 1 more.")
    assert six.message.count(";") == 5


# -- fire, and the generic path on its own --------------------------------------------------------


def test_fire_passes_the_payload_and_the_sender_of_an_event_given_by_name() -> None:
    step = fire(
        ALFE,
        RUNNING,
        "recreate",
        CTX,
        payload={"confirmation": "support-bot"},
        actor=Actor.USER,
    )
    assert step.snapshot.status == "provisioning"
    suspended = fire(
        ALFE,
        RUNNING,
        "billing_suspend",
        CTX,
        payload={"reason": "payment_issue"},
        actor=Actor.SYSTEM,
    )
    assert suspended.snapshot.status == "billing_suspended"
    with pytest.raises(TransitionRefused) as raised:
        fire(ALFE, RUNNING, "billing_suspend", CTX, payload={"reason": "payment_issue"})
    assert raised.value.refusal.code == "actor_not_allowed"


def test_the_generic_path_refuses_a_time_out_of_range_as_decide_does() -> None:
    late = Context(LATEST)
    for snapshot, name in ((RUNNING, "delete"), (RUNNING._replace(status="stopped"), "start")):
        reference = decide_reference(ALFE, snapshot, Event(name), late)
        assert isinstance(reference, Refusal)
        assert reference.code == "time_out_of_range"
        assert reference == decide(ALFE, snapshot, Event(name), late)


def _with_broken_guard() -> Machine:
    def broken(s: object, e: object, c: object) -> bool:
        raise TypeError("a bug in the guard itself")

    impl = attrs.evolve(
        ALFE_IMPLEMENTATIONS, guards={**ALFE_IMPLEMENTATIONS.guards, "stuck": broken}
    )
    return Machine(ALFE_SPEC, impl)


def test_the_generic_path_re_raises_a_bug_in_a_guard_and_chains_a_malformed_input() -> None:
    starting = RUNNING._replace(status="starting")  # Start reads the stuck guard here
    with pytest.raises(TypeError, match="a bug in the guard itself"):
        decide_reference(_with_broken_guard(), starting, Event("start"), CTX)
    with pytest.raises(InvalidInput, match="needs a Context") as raised:
        decide_reference(ALFE, starting, Event("start"), None)
    assert isinstance(raised.value.__cause__, AttributeError)
    with pytest.raises(InvalidInput, match="needs a Context") as raised:
        decide(ALFE, starting, Event("start"))
    assert isinstance(raised.value.__cause__, AttributeError)


def _gate() -> Machine:
    """A gate: ``open`` goes wide when it can, else ajar (an unguarded fallback row, which
    validation calls an overlap, so the gate is built unvalidated: the first row that passes
    wins); ``force`` may be sent by a user or the platform, and its guard asks which."""
    spec = MachineSpec(
        name="gate",
        initial="shut",
        states=(StateSpec("shut"), StateSpec("wide"), StateSpec("ajar")),
        events=(
            EventSpec("open", frozenset({Actor.USER}), "Open"),
            EventSpec("force", frozenset({Actor.SYSTEM, Actor.USER}), "Force"),
        ),
        guards=(
            GuardSpec("wide_ok", "too_narrow", "{label} cannot go wide."),
            GuardSpec("by_platform", "not_platform", "{label} is the platform's to do."),
        ),
        transitions=(
            TransitionSpec("open", "shut", "wide", guard=Guard("wide_ok")),
            TransitionSpec("open", "shut", "ajar"),
            TransitionSpec("force", "shut", "wide", guard=Guard("by_platform")),
        ),
        explanations=(("*", "open", "Only a shut gate opens."), ("*", "force", "It is open.")),
    )
    impl = Implementations(
        guards={
            "wide_ok": lambda s, e, c: False,
            "by_platform": lambda s, e, c: e.actor is Actor.SYSTEM,
        }
    )
    return Machine(spec, impl, validate=False)


def test_an_unguarded_row_after_a_failing_one_is_offered_as_decide_takes_it() -> None:
    gate = _gate()
    shut = gate.initial(None, T0)
    step = decide(gate, shut, Event("open"), CTX)
    assert step.snapshot.status == "ajar"  # type: ignore[union-attr]
    (offer, _) = offered(gate, shut, CTX)
    assert (offer.event, offer.offered, offer.refusal) == ("open", True, None)


def test_guards_are_asked_about_the_role_an_offer_is_for() -> None:
    gate = _gate()
    shut = gate.initial(None, T0)
    (force,) = offered(gate, shut, CTX, actor=Actor.SYSTEM)
    assert (force.event, force.offered) == ("force", True)
    by_user = next(o for o in offered(gate, shut, CTX) if o.event == "force")
    assert not by_user.offered
    assert by_user.refusal is not None
    assert by_user.refusal.code == "not_platform"


# -- refusals worded by the engine, whole ---------------------------------------------------------

ALFE_STATUSES = (
    "pending, provisioning, starting, running, stopping, stopped, rebooting, failing, failed, "
    "billing_suspended, waitlisted, deleted"
)
ALFE_EVENTS = (
    "provision, capacity_unavailable, capacity_retry, host_up, provisioning_failed, connected, "
    "connection_lost, boot_timeout, recovery_exhausted, stop, shutdown_complete, start, "
    "restart, recreate, delete, billing_suspend, billing_resume, purge"
)
NOT_A_SNAPSHOT = "Delete was refused: the agent's snapshot is not one of the alfe model's: "


@pytest.mark.parametrize(
    ("snapshot", "event", "code", "message", "status"),
    [
        (
            RUNNING,
            Event("delete", Actor.TIMER),
            "actor_not_allowed",
            "Delete can only be sent by the user, not by a timer.",
            "running",
        ),
        (
            RUNNING,
            Event("delete", Role("stranger")),
            "actor_not_allowed",
            "Delete can only be sent by the user, not by a stranger.",
            "running",
        ),
        *(
            (
                RUNNING._replace(status=status),
                Event("delete", sender),
                "unknown_status",
                f"Delete was refused: The alfe model has no status {shown}; its statuses are "
                f"{ALFE_STATUSES}.",
                word,
            )
            for status, shown, word in (("nowhere", "'nowhere'", "nowhere"), (7, "7", "7"))
            for sender in (Actor.USER, Actor.TIMER, Role("stranger"))
        ),
        (
            RUNNING._replace(status="nowhere", since="an hour ago"),
            Event("delete"),
            "unknown_status",
            f"Delete was refused: The alfe model has no status 'nowhere'; its statuses are "
            f"{ALFE_STATUSES}.",
            "nowhere",
        ),
        (
            RUNNING._replace(status="nowhere"),
            Event("kick"),
            "unknown_event",
            f"The alfe model has no event 'kick'; its events are {ALFE_EVENTS}.",
            "nowhere",
        ),
        (
            RUNNING._replace(status=("a", 1)),
            Event("kick"),
            "unknown_event",
            f"The alfe model has no event 'kick'; its events are {ALFE_EVENTS}.",
            "('a', 1)",
        ),
        (
            RUNNING._replace(since=T0.replace(tzinfo=None)),
            Event("delete"),
            "invalid_snapshot",
            NOT_A_SNAPSHOT + "its since is datetime.datetime(2026, 4, 3, 10, 0), not a "
            "timezone-aware datetime.",
            "running",
        ),
        (
            RUNNING._replace(since="an hour ago"),
            Event("delete"),
            "invalid_snapshot",
            NOT_A_SNAPSHOT + "its since is 'an hour ago', not a timezone-aware datetime.",
            "running",
        ),
        (
            RUNNING._replace(version="3"),
            Event("delete"),
            "invalid_snapshot",
            NOT_A_SNAPSHOT + "its version is '3', not a whole number.",
            "running",
        ),
        (
            RUNNING._replace(version=True),
            Event("delete"),
            "invalid_snapshot",
            NOT_A_SNAPSHOT + "its version is True, not a whole number.",
            "running",
        ),
        *(
            (
                RUNNING._replace(status=status, data=None),
                Event("delete"),
                "invalid_snapshot",
                NOT_A_SNAPSHOT + "the alfe model's agents hold AlfeAgent records, not NoneType.",
                status,
            )
            for status in ("running", "nowhere")
        ),
        (
            RUNNING._replace(status="nowhere", since=T0.replace(tzinfo=None)),
            Event("delete"),
            "invalid_snapshot",
            NOT_A_SNAPSHOT + "its since is datetime.datetime(2026, 4, 3, 10, 0), not a "
            "timezone-aware datetime.",
            "nowhere",
        ),
        (
            RUNNING._replace(status="nowhere", since="an hour ago", data=None),
            Event("delete"),
            "invalid_snapshot",
            NOT_A_SNAPSHOT + "the alfe model's agents hold AlfeAgent records, not NoneType.",
            "nowhere",
        ),
        (
            RUNNING._replace(status="nowhere", version="3"),
            Event("delete"),
            "invalid_snapshot",
            NOT_A_SNAPSHOT + "its version is '3', not a whole number.",
            "nowhere",
        ),
    ],
)
def test_a_refusal_the_engine_words_itself_is_whole(
    snapshot: Snapshot, event: Event, code: str, message: str, status: str
) -> None:
    expected = Refusal(code=code, message=message, event=event.name, status=status)
    assert decide(ALFE, snapshot, event, CTX) == expected
    assert decide_reference(ALFE, snapshot, event, CTX) == expected
    assert decide(ALFE, snapshot, event, Context(T0, ALFE.policy)) == expected


# -- offered: its errors, whole --------------------------------------------------------------------


def test_offered_names_what_is_wrong_with_its_arguments() -> None:
    def error(call: Any) -> str:
        with pytest.raises(InvalidInput) as raised:
            call()
        return str(raised.value)

    assert error(lambda: offered(7, RUNNING, CTX)) == "offered needs a Machine, not int"  # type: ignore[arg-type]
    assert error(lambda: offered(ALFE, 7, CTX)) == "offered needs a Snapshot, not int"  # type: ignore[arg-type]
    assert error(lambda: offered(ALFE, RUNNING, 7)) == "offered needs a Context, not int"  # type: ignore[arg-type]
    for roles, shown in (("user", "'user'"), ([], "[]"), ([Actor.USER, "admin"], None)):
        message = error(lambda: offered(ALFE, RUNNING, CTX, actor=roles))  # noqa: B023
        assert message.startswith(
            "offered needs a role (Actor or Role) or the roles a principal holds, not "
        )
        if shown is not None:
            assert message.endswith(f"not {shown}")
    for status, shown in (("nowhere", "'nowhere'"), (7, "7")):
        assert error(lambda: offered(ALFE, RUNNING._replace(status=status), CTX)) == (  # noqa: B023
            f"The alfe model has no status {shown}; its statuses are {ALFE_STATUSES}."
        )
    assert error(lambda: offered(ALFE, RUNNING._replace(version="3"), CTX)) == (
        "offered was given a snapshot that is not one of this model's: its version is '3', "
        "not a whole number"
    )


def test_offered_says_when_a_time_its_guards_compute_is_out_of_range() -> None:
    spec = MachineSpec(
        name="alarm",
        initial="set",
        states=(StateSpec("set"), StateSpec("rung")),
        events=(EventSpec("ring", frozenset({Actor.USER}), "Ring"),),
        guards=(GuardSpec("due", "not_due", "{label} waits a day."),),
        transitions=(TransitionSpec("ring", "set", "rung", guard=Guard("due")),),
        explanations=(("rung", "ring", "It rang."),),
    )
    alarm = Machine(
        spec, Implementations(guards={"due": lambda s, e, c: c.now + timedelta(days=1) > s.since})
    )
    with pytest.raises(InvalidInput) as raised:
        offered(alarm, alarm.initial(None, LATEST), Context(LATEST))
    assert str(raised.value) == (
        "a time the alarm guards compute from now (9999-12-31T23:59:59.999999+00:00) is out "
        "of range"
    )
    assert isinstance(raised.value.__cause__, OverflowError)


class _Unreadable:
    """A record whose ``__class__`` cannot be read, as a broken proxy object's."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # type: ignore[override]
        raise AttributeError("the proxy is gone")


def test_a_record_that_cannot_be_read_is_refused_not_raised() -> None:
    for name in ("restart", "delete"):
        result = decide(ALFE, RUNNING._replace(data=_Unreadable()), Event(name), CTX)
        assert isinstance(result, Refusal)
        assert (result.code, result.status) == ("invalid_snapshot", "running")
        assert result.message.endswith(
            "the alfe model's agents hold AlfeAgent records, not _Unreadable."
        )


def test_regression_an_unreadable_record_in_an_unknown_status_was_refused_for_the_status() -> None:
    # A ``None`` record in a status the machine does not have is refused for the record
    # (``invalid_snapshot``); an unreadable one, which reaches the diagnosis of malformed
    # input instead, was refused for the status. Both now give the generic path's answer.
    for data in (None, _Unreadable()):
        for status in ("nowhere", "running"):
            lost = decide(ALFE, RUNNING._replace(status=status, data=data), Event("stop"), CTX)
            assert isinstance(lost, Refusal)
            assert (lost.code, lost.event, lost.status) == ("invalid_snapshot", "stop", status)
            assert lost.message.endswith(
                f"the alfe model's agents hold AlfeAgent records, not {type(data).__name__}."
            )
    # A readable record of the right class in an unknown status is refused for the status.
    lost = decide(ALFE, RUNNING._replace(status="nowhere"), Event("stop"), CTX)
    assert isinstance(lost, Refusal)
    assert lost.code == "unknown_status"


# -- offered: the listings it keeps per set of roles -----------------------------------------------


def test_each_set_of_roles_gets_its_own_listing_however_often_sets_come_and_go() -> None:
    gate = _gate()
    shut = gate.initial(None, T0)
    for _ in range(5):
        # Lists made and dropped in turn: CPython is apt to give the next one the same address.
        by_users = [o.event for o in offered(gate, shut, CTX, actor=[Actor.USER])]
        by_platform = [o.event for o in offered(gate, shut, CTX, actor=[Actor.SYSTEM])]
        assert by_users == ["open", "force"]
        assert by_platform == ["force"]
    assert [o.event for o in offered(gate, shut, CTX, actor=Actor.SYSTEM)] == ["force"]
    assert [o.event for o in offered(gate, shut, CTX, actor=(Actor.SYSTEM, Actor.USER))] == [
        "open",
        "force",
    ]


def test_the_listings_kept_for_sets_of_roles_are_bounded() -> None:
    gate = _gate()
    shut = gate.initial(None, T0)
    for i in range(300):
        offered(gate, shut, CTX, actor=[Actor.USER, Role(f"guest{i}")])
    assert gate.offer_plans is not None
    assert len(gate.offer_plans[1]) == 256
