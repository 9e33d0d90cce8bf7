"""Machines and migrations for the migration tests: a removal of Alfe's ``waitlisted`` and a
small link machine whose ``failing`` status is split in two."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs

from agentfsm import (
    ActionSpec,
    Actor,
    Context,
    Event,
    EventSpec,
    Guard,
    GuardSpec,
    Implementations,
    Machine,
    MachineSpec,
    Snapshot,
    StateSpec,
    TransitionSpec,
)
from agentfsm import effects as fx
from agentfsm.analysis import CheckProfile, register_profile
from agentfsm.migrate import DataTransform, Migration, Remap, StatusChooser
from agentfsm.models import ALFE

S, T, U = Actor.SYSTEM, Actor.TIMER, Actor.USER

# -- Alfe without waitlisted ----------------------------------------------------------------


def _without_waitlisted() -> Machine:
    spec = ALFE.spec
    rows = []
    for row in spec.transitions:
        if row.event == "capacity_unavailable":
            row = attrs.evolve(row, target="pending")
        elif row.event == "capacity_retry":
            row = attrs.evolve(row, sources=("pending",))
        else:
            sources = tuple(s for s in row.sources if s != "waitlisted")
            row = attrs.evolve(row, sources=sources)
        rows.append(row)
    return Machine(
        attrs.evolve(
            spec,
            version=2,
            states=tuple(s for s in spec.states if s.name != "waitlisted"),
            transitions=tuple(rows),
            explanations=tuple(x for x in spec.explanations if x[0] != "waitlisted"),
        ),
        ALFE.implementations,
    )


ALFE_NO_WAITLIST = _without_waitlisted()
"""Alfe v2 without ``waitlisted``: a capacity shortage leaves the agent pending, retrying."""


def _forget_waitlisted(data: Any, defaults: Any) -> Any:
    if data.remembered == "waitlisted":
        return attrs.evolve(data, remembered="pending")
    return data


REMOVAL_UNMAPPED = Migration(ALFE, ALFE_NO_WAITLIST)
REMOVAL_MAPPED = Migration(
    ALFE,
    ALFE_NO_WAITLIST,
    statuses={"waitlisted": "pending"},
    data=DataTransform(
        "forget waitlisted", _forget_waitlisted, description="a suspension remembers pending"
    ),
    # A pending agent cannot be recreated: the agents that could be, while waitlisted, lose it.
    changes={("waitlisted", "recreate")},
)

# -- a link machine, and its failing split into reconnecting and recovering --------------------


@attrs.frozen(slots=True)
class Link:
    """A link's data: why it is failing (``"connection_lost"`` or ``"boot_timeout"``)."""

    cause: str | None = None


_DEADLINE = timedelta(minutes=10)


def _schedule_boot(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return (fx.ScheduleTimer("boot_timeout", c.now + _DEADLINE),)


def _schedule_recovery(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return (fx.ScheduleTimer("recovery_exhausted", c.now + _DEADLINE),)


def _cancel(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return (fx.CancelTimer("boot_timeout"), fx.CancelTimer("recovery_exhausted"))


def _cause(name: str) -> Any:
    def update(d: Link, s: Snapshot, e: Event, c: Context) -> Link:
        return Link(name)

    return update


def _clear(d: Link, s: Snapshot, e: Event, c: Context) -> Link:
    return Link(None)


def _deadline_passed(s: Snapshot, e: Event, c: Context) -> bool:
    return c.now - s.since >= _DEADLINE


_IMPL = Implementations(
    guards={"deadline_passed": _deadline_passed},
    updates={
        "lost": _cause("connection_lost"),
        "timed_out": _cause("boot_timeout"),
        "clear": _clear,
    },
    effects={"schedule_boot": _schedule_boot, "schedule_recovery": _schedule_recovery,
             "cancel": _cancel},
)  # fmt: skip


def _link(version: int, failing: tuple[str, ...]) -> Machine:
    lost, timed_out = (failing[0], failing[-1])
    states = (
        StateSpec("starting"),
        StateSpec("running"),
        *(StateSpec(f) for f in failing),
        StateSpec("failed"),
        StateSpec("removed", terminal=True),
    )
    spec = MachineSpec(
        name="link",
        version=version,
        initial="starting",
        states=states,
        events=(
            EventSpec("connected", frozenset({S})),
            EventSpec("connection_lost", frozenset({S})),
            EventSpec("boot_timeout", frozenset({T})),
            EventSpec("recovery_exhausted", frozenset({T})),
            EventSpec("restart", frozenset({U}), "Restart"),
            EventSpec("remove", frozenset({U}), "Remove"),
        ),
        guards=(GuardSpec("deadline_passed", "too_early", "The deadline has not passed."),),
        updates=tuple(ActionSpec(n) for n in ("lost", "timed_out", "clear")),
        effects=tuple(ActionSpec(n) for n in ("schedule_boot", "schedule_recovery", "cancel")),
        transitions=(
            TransitionSpec(
                "connected", ("starting", *failing), "running", updates="clear", effects="cancel"
            ),
            TransitionSpec(
                "connection_lost", "running", lost, updates="lost", effects="schedule_recovery"
            ),
            TransitionSpec(
                "boot_timeout",
                "starting",
                timed_out,
                guard=Guard("deadline_passed"),
                updates="timed_out",
                effects="schedule_recovery",
            ),
            TransitionSpec("recovery_exhausted", failing, "failed", guard=Guard("deadline_passed")),
            TransitionSpec(
                "restart",
                ("running", *failing, "failed"),
                "starting",
                updates="clear",
                effects=("cancel", "schedule_boot"),
            ),
            TransitionSpec(
                "remove", ("starting", "running", *failing, "failed"), "removed", effects="cancel"
            ),
        ),
        explanations=(("removed", "*", "The link is removed."), ("starting", "restart", "")),
    )
    return Machine(spec, _IMPL)


LINK_V1 = _link(1, ("failing",))
LINK_V2 = _link(2, ("reconnecting", "recovering"))
register_profile("link", CheckProfile(initial_data=Link()))


def _by_cause(snapshot: Snapshot) -> str:
    return "recovering" if snapshot.data.cause == "boot_timeout" else "reconnecting"


SPLIT = Migration(
    LINK_V1,
    LINK_V2,
    statuses={
        "failing": StatusChooser(
            "by cause",
            ("reconnecting", "recovering"),
            _by_cause,
            "a lost connection reconnects; a boot that timed out recovers",
        )
    },
)
"""The split: each failing link goes where its cause says; its recovery deadline goes along."""

SPLIT_WRONG = Migration(LINK_V1, LINK_V2, statuses={"failing": "reconnecting"})
"""Every failing link to reconnecting: a link that timed out booting lands where v2 cannot put
it."""

# -- Alfe whose recovery effect is renamed: an outbox remap ----------------------------------


@attrs.frozen(slots=True)
class ReconnectAgent:
    """v2's recovery effect: ``StartRecovery(host)`` renamed, with the attempt it makes."""

    host_number: int
    attempt: int


@attrs.frozen(slots=True)
class NeverEmitted:
    """An effect record no version of Alfe returns."""

    host_number: int


def _reconnect(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return (ReconnectAgent(a.data.host, 1),)


def _renamed_recovery() -> Machine:
    from agentfsm.migrate.examples import ALFE_V2

    return Machine(
        ALFE_V2.spec,
        ALFE_V2.implementations.merged(Implementations(effects={"start_recovery": _reconnect})),
        record=ALFE_V2.record,
        policy=ALFE_V2.policy,
    )


ALFE_RECONNECT = _renamed_recovery()
"""Alfe v2 whose recovery effect is ``ReconnectAgent`` (``StartRecovery`` is gone)."""


def _reconnect_migration(rule: Any) -> Migration:
    from agentfsm.migrate.examples import ALFE_V2_INVARIANTS

    return Migration(
        ALFE, ALFE_RECONNECT, outbox={"StartRecovery": rule}, invariants=ALFE_V2_INVARIANTS
    )


OUTBOX_REMAP = _reconnect_migration(
    Remap(ReconnectAgent, defaults={"attempt": 1}, rename={"host": "host_number"})
)
"""Pending ``StartRecovery`` items become ``ReconnectAgent`` (host carried, attempt 1)."""

OUTBOX_REMAP_UNKNOWN = _reconnect_migration(Remap(NeverEmitted, rename={"host": "host_number"}))
"""Into an effect v2 never emits: refused by the check."""

OUTBOX_REMAP_MISSING = _reconnect_migration(Remap(ReconnectAgent, defaults={"attempt": 1}))
"""``host`` is not carried into ``host_number``: a required field nothing fills."""
