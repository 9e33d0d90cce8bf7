"""``check_migration``: prove a migration over the model checker's finite abstraction.

Both machines are explored (``_explore``). Then, breadth-first over the old machine's states,
each one is migrated as ``apply_migration`` would migrate a stored agent in it, and:

- ``status-map``: the map has a rule for its status (a status the new machine lacks needs one),
  and a chooser returns a status it declares;
- ``into-terminal``: it does not land in a terminal status unless the migration says it may;
- ``data-transform``: the data transform does not raise;
- ``timers``: every pending timer still has a timer event of the new machine to deliver, and one
  the old status handled is still handled by the new status;
- ``outbox``: an outbox ``Remap`` turns a record type the old machine emits into one the new
  machine emits, and every required field of the new record is carried over or defaulted
  (each record the exploration met is converted as ``apply_migration`` would, and built);
- ``reachable``: the migrated agent (its abstraction and pending timers) is one the new machine
  can reach on its own;
- ``invariant <name>``: every event decided from the migrated agent keeps every invariant of
  the new machine;
- ``actions``: every user action offered before is offered after, unless the migration lists
  it in ``changes``.

The first failure of each check comes with a shortest path of old events to the state that
breaks it, the old snapshot, the migrated one, and what broke.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from typing import Any

import attrs

from agentfsm._engine import offered
from agentfsm._values import Actor, Context, Snapshot
from agentfsm.analysis._checker import DEFAULT_MAX_STATES, PathStep, _oracle_machine
from agentfsm.analysis._invariants import Invariant, invariants_for
from agentfsm.analysis._profiles import START, CheckProfile, profile_for
from agentfsm.migrate._explore import Explored, Reached, cases_for, decisions, explore
from agentfsm.migrate._migration import Migration, Remap
from agentfsm.runtime._codec import DEFAULT_CODEC, Codec
from agentfsm.runtime._errors import CodecError

CHECKS = (
    "status-map", "into-terminal", "data-transform", "timers", "outbox", "reachable", "actions",
)  # fmt: skip
"""The checks every migration goes through, beside one ``invariant <name>`` per invariant."""


@attrs.frozen(slots=True)
class MigrationFailure:
    """One check that fails, with a shortest counterexample.

    Attributes:
        check: which check (``"status-map"``, ``"reachable"``, ``"invariant alfe-4"``…).
        message: what went wrong.
        path: the old machine's events from its first agent to the state that breaks it.
        old: the old snapshot at the end of ``path``.
        timers: the timer events pending there.
        mapped: the snapshot the migration makes of it, when it makes one.
        invariant: the broken invariant's name, for an invariant failure.
    """

    check: str
    message: str
    path: tuple[PathStep, ...]
    old: Snapshot
    timers: tuple[str, ...]
    mapped: Snapshot | None = None
    invariant: str | None = None

    def format(self) -> str:
        """The failure for people: the check, the message, the path and both snapshots."""
        lines = [f"  {self.check}: {self.message}"]
        lines.append(f"    old path ({len(self.path)} events):")
        lines += [f"      {i}. {s.format()}" for i, s in enumerate(self.path, 1)]
        pending = ", ".join(self.timers) or "none"
        lines.append(f"    old snapshot: {self.old.status} {self.old.data!r} (timers: {pending})")
        if self.mapped is not None:
            lines.append(f"    migrated snapshot: {self.mapped.status} {self.mapped.data!r}")
        return "\n".join(lines)


@attrs.frozen(slots=True)
class MigrationReport:
    """What ``check_migration`` found.

    Attributes:
        migration: the migration's name.
        old_states: abstract states of the old machine explored (with their pending timers).
        new_states: abstract states of the new machine explored.
        checks: the names of the checks run.
        failures: one per failing check, with a shortest counterexample.
        problems: exploration limits hit.
    """

    migration: str
    old_states: int
    new_states: int
    checks: tuple[str, ...]
    failures: tuple[MigrationFailure, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every check passed on every reachable state."""
        return not self.failures and not self.problems

    def failure(self, check: str) -> MigrationFailure | None:
        """The failure of ``check``, if it failed."""
        return next((f for f in self.failures if f.check == check), None)

    def format(self) -> str:
        """The report for people."""
        explored = f"{self.old_states:,} old and {self.new_states:,} new states explored"
        if self.ok:
            return f"{self.migration}: ok: {len(self.checks)} checks hold ({explored})"
        lines = [
            f"{self.migration}: FAILED: {len(self.failures)} check(s) broken, "
            f"{len(self.problems)} problem(s) ({explored})"
        ]
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f.format() for f in self.failures]
        return "\n".join(lines)


def _user_offers(machine: Any, snapshot: Snapshot, context: Context) -> set[str]:
    return {o.event for o in offered(machine, snapshot, context) if o.offered}


def check_migration(
    migration: Migration,
    *,
    invariants: Iterable[Invariant] | None = None,
    old_profile: CheckProfile | None = None,
    new_profile: CheckProfile | None = None,
    max_states: int = DEFAULT_MAX_STATES,
) -> MigrationReport:
    """Prove ``migration`` over the finite abstraction of both machines (see the module).

    Args:
        migration: the migration to check.
        invariants: the new machine's invariants (default: the migration's, else
            ``invariants_for(to_machine)``).
        old_profile: how to abstract the old machine (default: its registered profile).
        new_profile: how to abstract the new one (default: the migration's, else the old
            profile, which is what a version of the same model wants).
        max_states: the exploration bound of each machine.

    Returns:
        A ``MigrationReport``; ``report.ok`` is true when every check held.
    """
    old, new = migration.from_machine, migration.to_machine
    if invariants is None:
        invariants = migration.invariants
    checked = tuple(invariants_for(new) if invariants is None else invariants)
    old_profile = old_profile or profile_for(old)
    new_profile = new_profile or migration.new_profile or old_profile
    before = explore(old, old_profile, max_states)
    after = explore(new, new_profile, max_states)
    problems = [
        f"exploring v{m.version} stopped after {max_states:,} states; use a coarser profile"
        for m, e in ((old, before), (new, after))
        if e.truncated
    ]
    failures: dict[str, MigrationFailure] = {}
    new_key = new_profile.abstraction
    oracle_machine, oracle = _oracle_machine(new, new_profile.exact_guards)
    cases = cases_for(new, new_profile)
    invariants_checked: set[Hashable] = set()
    timer_events = {e.name for e in new.spec.events if Actor.TIMER in e.actors}

    for reached in before.states.values():
        snap = reached.snapshot

        def fail(
            check: str,
            message: str,
            mapped: Snapshot | None = None,
            invariant: str | None = None,
            *,
            at: Reached = reached,
        ) -> None:
            if check not in failures:
                failures[check] = MigrationFailure(
                    check, message, at.path(), at.snapshot, tuple(sorted(at.timers)), mapped,
                    invariant,
                )  # fmt: skip

        context = Context(now=START + old_profile.tick * (reached.depth + 1))
        try:
            status = migration.new_status(snap)
        except Exception as exc:
            fail("status-map", f"the status chooser failed on {snap.status!r}: {exc}")
            continue
        if status is None:
            fail(
                "status-map",
                f"agents in {snap.status!r} have no rule: v{new.version} has no such status and "
                "the status map does not say where they go",
            )
            continue
        was_terminal = old.spec.state(snap.status).terminal
        if (
            new.spec.state(status).terminal
            and not was_terminal
            and snap.status not in migration.into_terminal
        ):
            fail(
                "into-terminal",
                f"{snap.status!r} is mapped into the terminal status {status!r}, which the "
                "migration does not list in into_terminal",
            )
        try:
            mapped = migration.migrate_snapshot(snap)
        except Exception as exc:
            fail("data-transform", f"{migration.data.name!r} raised {exc!r}")
            continue
        timers = _check_timers(migration, reached, mapped, timer_events, fail)
        if (new_key(mapped), timers) not in after.states:
            fail(
                "reachable",
                f"the migrated agent ({mapped.status!r}, timers: "
                f"{', '.join(sorted(timers)) or 'none'}) is not one v{new.version} can reach",
                mapped,
            )
        lost = _user_offers(old, snap, context) - _user_offers(new, mapped, context)
        lost = {
            e for e in lost
            if (snap.status, e) not in migration.changes and ("*", e) not in migration.changes
        }  # fmt: skip
        if lost:
            fail(
                "actions",
                f"{', '.join(sorted(lost))} offered in {snap.status!r} before but not in "
                f"{mapped.status!r} after, and not listed as a change",
                mapped,
            )
        k = new_key(mapped)
        if k in invariants_checked:
            continue
        invariants_checked.add(k)
        tried = decisions(new, oracle_machine, oracle, mapped, cases, context, new_profile)
        for (ev, actor, _payload, _fits), event, _guards, result, error in tried:
            if result is None:
                fail("invariant decide-never-raises", f"decide raised {error!r}", mapped)
                continue
            for inv in checked:
                name = f"invariant {inv.name}"
                if name in failures:
                    continue
                try:
                    message = inv.check(mapped, event, result, oracle_machine, context)
                except Exception as exc:
                    message = f"the check raised {exc!r}"
                if message is not None:
                    fail(
                        name, f"{ev.name} by {actor.label} from the migrated agent: {message}",
                        mapped, invariant=inv.name,
                    )  # fmt: skip
    oracle.forced.clear()
    for check, message, at in _check_outbox(migration, before, after):
        if check not in failures:
            failures[check] = MigrationFailure(
                check, message, at.path(), at.snapshot, tuple(sorted(at.timers))
            )
    names = (*CHECKS, *(f"invariant {inv.name}" for inv in checked))
    order = {n: i for i, n in enumerate(names)}
    return MigrationReport(
        migration.name,
        len(before.states),
        len(after.states),
        names,
        tuple(sorted(failures.values(), key=lambda f: order.get(f.check, len(order)))),
        tuple(problems),
    )


def _check_timers(
    migration: Migration, reached: Reached, mapped: Snapshot, timer_events: set[str], fail: Any
) -> frozenset[str]:
    old, new = migration.from_machine, migration.to_machine
    after: set[str] = set()
    for event in sorted(reached.timers):
        target = migration.new_timer_event(event)
        if target is None:
            continue
        if target not in timer_events:
            fail(
                "timers",
                f"a pending {event!r} timer is left with no timer event to deliver in "
                f"v{new.version} (cancel it or remap it to one)",
                mapped,
            )
            continue
        handled_before = bool(old.events[event].by_status.get(reached.snapshot.status))
        handled_after = bool(new.events[target].by_status.get(mapped.status))
        if handled_before and not handled_after:
            fail(
                "timers",
                f"a pending {event!r} timer was handled in {reached.snapshot.status!r}, but "
                f"{target!r} is not handled in {mapped.status!r}: the deadline would be lost",
                mapped,
            )
        after.add(target)
    return frozenset(after)


def _check_outbox(
    migration: Migration, before: Explored, after: Explored
) -> Iterator[tuple[str, str, Reached]]:
    """``("outbox", message, where)`` for each outbox remap that cannot work."""
    old, new = migration.from_machine, migration.to_machine
    start = next(iter(before.states.values()))
    for kind, rule in sorted(migration.outbox.items()):
        if not isinstance(rule, Remap):
            continue
        source = before.effects.get(kind)
        if source is None:
            yield (
                "outbox",
                f"the outbox rule remaps {kind}, which v{old.version} never emits",
                start,
            )
            continue
        target = after.effects.get(rule.kind)
        if target is None or target.type is not rule.event:
            yield (
                "outbox",
                f"pending {kind} items are remapped to {rule.kind}, an effect v{new.version} "
                "never emits: no handler of the new version expects it",
                source.first,
            )
            continue
        old_fields = [f.name for f in attrs.fields(source.type) if f.init]
        missing = sorted(rule.required_fields() - rule.carried(old_fields) - set(rule.defaults))
        if missing:
            yield (
                "outbox",
                f"pending {kind} items are remapped to {rule.kind}, whose required field(s) "
                f"{', '.join(missing)} nothing fills (carry them over with rename, or give "
                "defaults)",
                source.first,
            )
            continue
        codec = _codec_for(source.type, rule.event)
        for record in source.examples:
            try:
                codec.decode(rule.remap_payload(codec.encode(record), codec.encode))
            except Exception as exc:
                yield (
                    "outbox",
                    f"the pending {record!r} cannot become {rule.kind}: {exc}",
                    source.first,
                )
                break


def _codec_for(*types: type[Any]) -> Codec:
    try:
        return DEFAULT_CODEC.with_types(*types)
    except CodecError:  # a type of the model's own shares a name with a built-in one
        return Codec(types)
