"""The benchmark's workload: a seeded random walk of Alfe events, and the hand-written baseline.

The walk is generated once and replayed, identically, on every implementation. At each step it
picks an agent, then an event its current status handles in the Alfe table (guards are not
consulted: a timer that fires early or a Start on an agent that is not stuck yet is part of the
workload, and every implementation must refuse it), with the right actor and a valid payload.
A virtual clock advances between steps; steps within one second share a ``Context``.

The table itself (sources, targets, guard names, the resume table) is read from
``ALFE_SPEC`` so that no implementation can disagree with the model by a typo; each
implementation then decides events its own way.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from agentfsm import SAME, AllOf, Guard, Policy
from agentfsm._spec import GuardExpr
from agentfsm.models._alfe import ALFE_SPEC, BILLING_REASONS, RESUME_TABLE

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)

# The default grace period (30 days) is longer than the walk's virtual time, so purges would
# never pass their guard; one hour lets the walk exercise them. Every implementation uses it.
POLICY = Policy(grace_period=timedelta(hours=1))
STUCK_AFTER = POLICY.stuck_after
BOOT_TIMEOUT = POLICY.boot_timeout
RECOVERY_TIMEOUT = POLICY.recovery_timeout
GRACE_PERIOD = POLICY.grace_period

# Relative weights of events when several are handled by a status: deletions are rare so that
# the population stays alive through the walk, billing suspensions are uncommon (their weight
# is shared by the three reasons), and every other event is equally likely.
_WEIGHTS = {"delete": 0.01, "billing_suspend": 0.1 / len(BILLING_REASONS)}

# On average each agent sees one event every this many seconds of virtual time, so that the
# time-based guards (stuck after 10 min, boot timeout 5 min, recovery 15 min) pass sometimes.
MEAN_GAP_SECONDS = 240.0

Payload = Mapping[str, Any]

# -- the event kinds of the walk ------------------------------------------------------------------

CONFIRM = "<the agent's name>"
"""Placeholder in a kind's payload: replaced by the agent's own name (Recreate's confirmation)."""


def _kinds() -> list[tuple[str, str, Payload]]:
    """Every (event, actor value, payload) the walk sends; billing_suspend once per reason."""
    out: list[tuple[str, str, Payload]] = []
    for ev in ALFE_SPEC.events:
        (actor,) = tuple(ev.actors)
        if ev.name == "recreate":
            out.append((ev.name, actor.value, {"confirmation": CONFIRM}))
        elif ev.name == "billing_suspend":
            out += [(ev.name, actor.value, {"reason": r}) for r in BILLING_REASONS]
        elif ev.name == "billing_resume":
            out.append((ev.name, actor.value, {"standing": "good"}))
        else:
            out.append((ev.name, actor.value, {}))
    return out


KINDS = _kinds()


def payload_for(kind: int, name: str) -> dict[str, Any]:
    """The payload of ``kind`` sent to the agent called ``name``."""
    return {k: (name if v == CONFIRM else v) for k, v in KINDS[kind][2].items()}


# -- the hand-written baseline ---------------------------------------------------------------


class BaselineAgent:
    """What the baseline tracks per agent: its status and the few facts its guards read."""

    __slots__ = ("name", "purge_at", "purged_at", "remembered", "since", "status")

    def __init__(self, name: str, now: datetime) -> None:
        self.name = name
        self.status = "pending"
        self.since = now
        self.remembered: str | None = None
        self.purge_at: datetime | None = None
        self.purged_at: datetime | None = None


GuardFn = Callable[[BaselineAgent, Payload, datetime], bool]
ApplyFn = Callable[[BaselineAgent, Payload, datetime], None]

GUARDS: dict[str, GuardFn] = {
    "stuck": lambda a, p, now: now - a.since > STUCK_AFTER,
    "boot_deadline_passed": lambda a, p, now: now - a.since >= BOOT_TIMEOUT,
    "recovery_deadline_passed": lambda a, p, now: now - a.since >= RECOVERY_TIMEOUT,
    "confirmation_matches": lambda a, p, now: p.get("confirmation") == a.name,
    "size_valid": lambda a, p, now: p.get("size") is None or bool(str(p["size"]).strip()),
    "billing_reason_valid": lambda a, p, now: p.get("reason") in BILLING_REASONS,
    "billing_in_good_standing": lambda a, p, now: p.get("standing") == "good",
    "remembers_status": lambda a, p, now: a.remembered in RESUME_TABLE,
    "grace_period_over": lambda a, p, now: a.purge_at is not None and now >= a.purge_at,
    "not_purged": lambda a, p, now: a.purged_at is None,
}


def _remember(a: BaselineAgent, p: Payload, now: datetime) -> None:
    a.remembered = a.status


def _forget(a: BaselineAgent, p: Payload, now: datetime) -> None:
    a.remembered = None


def _mark_deleted(a: BaselineAgent, p: Payload, now: datetime) -> None:
    a.purge_at = now + GRACE_PERIOD


def _mark_purged(a: BaselineAgent, p: Payload, now: datetime) -> None:
    a.purged_at = now


# Only the updates whose result a guard reads; host and credential generations are not tracked.
def _reenter(a: BaselineAgent, p: Payload, now: datetime) -> None:
    a.since = now  # a row that re-enters its own status restarts the status clock


REENTER = "reenter"
"""A pseudo-update every implementation applies for rows with ``TransitionSpec.reenter``."""

UPDATES: dict[str, ApplyFn] = {
    REENTER: _reenter,
    "remember_status": _remember,
    "forget_status": _forget,
    "mark_deleted": _mark_deleted,
    "mark_purged": _mark_purged,
}


def leaf_guards(expr: GuardExpr | None) -> tuple[str, ...]:
    """The guard names of an Alfe guard expression, all of which must hold."""
    if expr is None:
        return ()
    if isinstance(expr, Guard):
        return (expr.name,)
    assert isinstance(expr, AllOf), "the Alfe table only combines guards with AllOf"
    return tuple(n for item in expr.items for n in leaf_guards(item))


def table_rows() -> list[tuple[str, str, str | None, tuple[str, ...], tuple[str, ...]]]:
    """(source, event, target or None for the resume table, guard names, update names)."""
    rows = []
    for t in ALFE_SPEC.transitions:
        for source in t.sources:
            target = None if t.chooser else (source if t.target == SAME else t.target)
            updates = (*t.updates, REENTER) if t.reenter else t.updates
            rows.append((source, t.event, target, leaf_guards(t.guard), updates))
    return rows


Row = tuple["str | None", "GuardFn | None", "ApplyFn | None"]


def _all(fns: list[GuardFn]) -> GuardFn | None:
    if not fns:
        return None
    if len(fns) == 1:
        return fns[0]
    first, second = fns
    return lambda a, p, now: first(a, p, now) and second(a, p, now)


def baseline_table() -> dict[tuple[str, str], Row]:
    """The baseline's table: (status, event) -> (target, guard, update).

    In Alfe no (status, event) pair has two rows, so one entry per key is enough.
    """
    table: dict[tuple[str, str], Row] = {}
    for source, event, target, guards, updates in table_rows():
        assert (source, event) not in table
        assert len(updates) <= 1
        update = UPDATES.get(updates[0]) if updates else None
        table[(source, event)] = (target, _all([GUARDS[g] for g in guards]), update)
    return table


TABLE = baseline_table()


def baseline_fire(agent: BaselineAgent, event: str, payload: Payload, now: datetime) -> bool:
    """Apply ``event`` to ``agent`` if its status handles it and its guard holds."""
    row = TABLE.get((agent.status, event))
    if row is None:
        return False
    target, guard, update = row
    if guard is not None and not guard(agent, payload, now):
        return False
    if target is None:  # billing_resume: the resume table, read before the update forgets
        target = RESUME_TABLE[agent.remembered]  # type: ignore[index]
    if update is not None:
        update(agent, payload, now)
    if target != agent.status:
        agent.status = target
        agent.since = now
    return True


# -- the walk --------------------------------------------------------------------------------------


class Walk:
    """A seeded random walk of Alfe events over ``agents`` agents.

    Attributes:
        agents: how many agents the walk touches.
        names: each agent's name (also its id), created once and shared by every implementation.
        agent, kind, second: one entry per step: which agent, which of ``KINDS``, and the virtual
            clock in whole seconds after ``T0``.
        statuses: each agent's status at the end, according to the generator.
    """

    def __init__(self, events: int, agents: int, seed: int = 2026) -> None:
        rng = random.Random(seed)
        self.agents = agents
        self.names = [f"agent-{i:06d}" for i in range(agents)]
        by_status: dict[str, tuple[list[int], list[float]]] = {}
        handled = {(source, event) for source, event, *_ in table_rows()}
        for status in (s.name for s in ALFE_SPEC.states):
            kinds = [k for k, (ev, _, _) in enumerate(KINDS) if (status, ev) in handled]
            cum: list[float] = []
            total = 0.0
            for k in kinds:
                total += _WEIGHTS.get(KINDS[k][0], 1.0)
                cum.append(total)
            by_status[status] = (kinds, cum)
        recs = [BaselineAgent(name, T0) for name in self.names]
        self.agent = array("i")
        self.kind = array("i")
        self.second = array("i")
        step_ms = MEAN_GAP_SECONDS * 1000.0 / agents
        clock_ms = 0.0
        payloads: dict[tuple[int, int], dict[str, Any]] = {}
        for _ in range(events):
            clock_ms += rng.random() * 2 * step_ms
            second = int(clock_ms // 1000)
            now = T0 + timedelta(seconds=second)
            a = rng.randrange(agents)
            kinds, cum = by_status[recs[a].status]
            k = rng.choices(kinds, cum_weights=cum)[0]
            key = (k, a) if KINDS[k][0] == "recreate" else (k, 0)
            payload = payloads.get(key)
            if payload is None:
                payload = payloads[key] = payload_for(k, self.names[a])
            baseline_fire(recs[a], KINDS[k][0], payload, now)
            self.agent.append(a)
            self.kind.append(k)
            self.second.append(second)
        self.statuses = [r.status for r in recs]

    def __len__(self) -> int:
        return len(self.agent)

    def times(self) -> list[datetime]:
        """One aware datetime per virtual second the walk reaches, shared by implementations."""
        last = self.second[-1] if len(self.second) else 0
        return [T0 + timedelta(seconds=s) for s in range(last + 1)]
