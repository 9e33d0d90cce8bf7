"""The engine's two paths, pinned where only one of them is usually taken.

``decide`` answers the usual case with a straight-line decider per (event, status) and leaves
the rest to the generic path, which ``decide_reference`` always takes. These tests go through
both, with rules that read every argument they are given (the snapshot, the event, the time),
so that a path handing a rule the wrong argument, or skipping a check, is seen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from agentfsm import (
    Actor,
    AllOf,
    AnyOf,
    ChooserSpec,
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
    Not,
    Refusal,
    Snapshot,
    StateSpec,
    Step,
    TransitionSpec,
    decide,
    offered,
)
from agentfsm._engine import decide_reference

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
DAY, NIGHT = Context(T0), Context(datetime(2026, 4, 3, 23, 0, tzinfo=UTC))
PATHS = pytest.mark.parametrize("decides", [decide, decide_reference], ids=["decide", "generic"])


@attrs.frozen
class Lamp:
    watts: int = 40


_SPEC = MachineSpec(
    name="lamp",
    initial="off",
    states=(StateSpec("off"), StateSpec("on"), StateSpec("dim")),
    events=(
        EventSpec(
            "switch",
            frozenset({Actor.USER}),
            "Switch",
            fields=(FieldSpec("to", "str", required=False), FieldSpec("key", "int")),
        ),
    ),
    guards=(
        GuardSpec("keyed", "wrong_key", "{label} needs the key.", reads_input=True),
        GuardSpec("bright", "too_dim", "{label} needs a bright lamp."),
    ),
    choosers=(ChooserSpec("where", ("on", "dim")),),
    transitions=(
        TransitionSpec(
            "switch", "off", chooser="where", guard=AllOf((Guard("keyed"), Guard("bright")))
        ),
        # Not a plain AllOf: the row checks the compiled expression, given every argument.
        TransitionSpec("switch", "on", "off", guard=AnyOf((Guard("keyed"), Not(Guard("bright"))))),
    ),
)
LAMP = Machine(
    _SPEC,
    Implementations(
        guards={
            "keyed": lambda s, e, c: e.payload.get("key") == 7,
            "bright": lambda s, e, c: s.data.watts >= 40,
        },
        # Reads the event and the time: a path giving it neither sends the lamp nowhere.
        choosers={
            "where": lambda s, e, c: e.payload.get("to") or ("dim" if c.now.hour >= 20 else "on")
        },
    ),
)


def _off(**changes: Any) -> Snapshot:
    return Snapshot("off", 1, T0 - timedelta(hours=1), Lamp(**changes))


@PATHS
def test_a_chooser_reads_the_event_and_the_time_on_both_paths(decides: Any) -> None:
    for payload, ctx, target in (
        ({"key": 7}, DAY, "on"),
        ({"key": 7}, NIGHT, "dim"),
        ({"key": 7, "to": "dim"}, DAY, "dim"),
    ):
        step = decides(LAMP, _off(), Event("switch", payload=payload), ctx)
        assert isinstance(step, Step), step
        assert (step.snapshot.status, step.snapshot.version, step.snapshot.since) == (
            target,
            2,
            ctx.now,
        )


@PATHS
def test_a_guard_expression_reads_the_event_and_the_snapshot_on_both_paths(decides: Any) -> None:
    wrong = decides(LAMP, _off(), Event("switch", payload={"key": 6}), DAY)
    assert isinstance(wrong, Refusal)
    assert (wrong.code, wrong.guard) == ("wrong_key", "keyed")
    dim = decides(LAMP, _off(watts=10), Event("switch", payload={"key": 7}), DAY)
    assert isinstance(dim, Refusal)
    assert (dim.code, dim.guard) == ("too_dim", "bright")


class _Word(str):
    """A status held as a subclass of ``str``, as some ORMs hand them back."""


@PATHS
def test_a_status_held_in_a_str_subclass_is_decided_as_the_status(decides: Any) -> None:
    snapshot = _off()._replace(status=_Word("off"))
    step = decides(LAMP, snapshot, Event("switch", payload={"key": 7}), DAY)
    assert isinstance(step, Step), step
    assert step.snapshot.status == "on"


@PATHS
def test_an_untimed_machine_still_refuses_a_since_that_is_no_time(decides: Any) -> None:
    untimed = Machine(_SPEC, LAMP.implementations, timed=False)
    for since in ("yesterday", 5):
        snapshot = Snapshot("off", 1, since, Lamp())
        result = decides(untimed, snapshot, Event("switch", payload={"key": 7}), DAY)
        assert isinstance(result, Refusal), (since, result)
        assert (result.code, result.status) == ("invalid_snapshot", "off")
        assert "not a timezone-aware datetime" in result.message
    fine = decides(
        untimed, Snapshot("off", 1, None, Lamp()), Event("switch", payload={"key": 7}), DAY
    )
    assert isinstance(fine, Step)


@pytest.mark.parametrize(
    "extra", [{"payload": {"key": 7}}, {"actor": Actor.USER}, {"payload": {}, "actor": None}]
)
def test_payload_or_actor_beside_an_event_is_refused_each_alone(extra: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as raised:
        decide(LAMP, _off(), Event("switch", payload={"key": 7}), DAY, **extra)
    assert str(raised.value) == "decide takes payload and actor only with an event name"


def test_offered_names_each_action_by_its_label_whether_offered_or_not() -> None:
    (free,) = offered(LAMP, _off(), DAY)
    assert (free.event, free.label, free.offered) == ("switch", "Switch", True)
    (refused,) = offered(LAMP, _off(watts=10), DAY)
    assert (refused.event, refused.label, refused.offered) == ("switch", "Switch", False)
    (nowhere,) = offered(LAMP, _off()._replace(status="dim"), DAY)
    assert (nowhere.event, nowhere.label, nowhere.offered) == ("switch", "Switch", False)
    assert nowhere.refusal is not None
    assert nowhere.refusal.code == "not_allowed_from_status"


@PATHS
def test_a_context_carrying_the_machines_own_policy_is_decided_alike(decides: Any) -> None:
    # What the controller passes: Context(now, machine.policy). decide then takes the
    # machine's own decider (no policy to fill in), which must be given that context.
    for ctx in (Context(T0, LAMP.policy), Context(NIGHT.now, LAMP.policy)):
        step = decides(LAMP, _off(), Event("switch", payload={"key": 7}), ctx)
        assert isinstance(step, Step), step
        assert step.snapshot.since == ctx.now
        assert step.snapshot.status == ("on" if ctx.now.hour < 20 else "dim")


@PATHS
def test_a_compound_guard_reads_the_event_and_the_snapshot_on_both_paths(decides: Any) -> None:
    on = _off()._replace(status="on")
    step = decides(LAMP, on, Event("switch", payload={"key": 7}), DAY)
    assert isinstance(step, Step), step
    assert step.snapshot.status == "off"
    dim = decides(LAMP, on._replace(data=Lamp(10)), Event("switch", payload={"key": 6}), DAY)
    assert isinstance(dim, Step), dim  # not bright: the negation passes
    refused = decides(LAMP, on, Event("switch", payload={"key": 6}), DAY)
    assert isinstance(refused, Refusal)
    assert (refused.code, refused.guard) == ("wrong_key", "keyed")  # the first reason
