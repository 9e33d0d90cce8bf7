"""A migration as data: how agents of one machine version become agents of the next.

A ``Migration`` names its two machines and says, for every stored status, which status the
agent moves to (or which named chooser picks it from the snapshot), how its data record is
rebuilt (a named transform with the defaults of the fields it adds), and what happens to each
pending timer and outbox item. Nothing in it runs on its own: ``check_migration`` proves it
over the model checker's abstraction, and ``apply_migration`` runs it against a store.

Defaults keep small migrations short: a status the new machine still has maps to itself, a
timer event the new machine still has is kept, an outbox item is kept. Everything else must be
stated, and the check reports what was not.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Union

import attrs

from agentfsm._errors import InvalidInput
from agentfsm._machine import Machine
from agentfsm._values import Snapshot
from agentfsm.analysis._invariants import Invariant
from agentfsm.analysis._profiles import CheckProfile

KEEP = "keep"
"""A timer or outbox rule: leave the item as it is."""
CANCEL = "cancel"
"""A timer or outbox rule: drop the item (a timer is deleted, an outbox item is closed)."""


@attrs.frozen(slots=True)
class Remap:
    """A timer or outbox rule: the pending item becomes another one.

    A timer rule, ``Remap("capacity_retry")``: the pending timer is delivered as that event
    instead, at the same time.

    An outbox rule, ``Remap(ReconnectAgent, defaults={"attempt": 1}, rename={"host":
    "host_number"})``: each pending item becomes a record of that type, in the batch that
    migrates its agent. Every field of the old record is carried over under its own name (or
    the one ``rename`` gives it) when the new type has it; every field the new type adds takes
    its value from ``defaults``; fields the new type lacks are dropped. The item keeps its
    idempotency key and its attempts; a claim on it is released, so a worker performing the
    old record cannot mark the new one done. ``check_migration`` refuses (check ``outbox``) a
    type the new machine never emits and a required field nothing fills.

    Attributes:
        event: the new machine's timer event, or the effect record type (the attrs class) the
            pending outbox items become.
        defaults: outbox rules only: the value of each field the new record adds.
        rename: outbox rules only: old field name -> new field name.
    """

    event: str | type[Any]
    defaults: Mapping[str, Any] = attrs.field(factory=dict)
    rename: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def kind(self) -> str:
        """The timer event, or the name of the effect record type (its stored tag)."""
        return self.event if isinstance(self.event, str) else self.event.__name__

    def target_fields(self) -> tuple[str, ...]:
        """An outbox rule's record type's fields (as stored); empty for a timer rule."""
        if isinstance(self.event, str):
            return ()
        return tuple(f.name for f in attrs.fields(self.event) if f.init)

    def required_fields(self) -> frozenset[str]:
        """The fields of an outbox rule's record type that have no default of their own."""
        if isinstance(self.event, str):
            return frozenset()
        return frozenset(
            f.name for f in attrs.fields(self.event) if f.init and f.default is attrs.NOTHING
        )

    def carried(self, old_fields: Iterable[str]) -> frozenset[str]:
        """The new record's fields filled from a pending record with ``old_fields``."""
        names = set(self.target_fields())
        return frozenset(self.rename.get(f, f) for f in old_fields) & names

    def remap_payload(self, payload: Mapping[str, Any], encode: Callable[[Any], Any]) -> Any:
        """The stored (JSON-able) form of the new record for a stored old one.

        Args:
            payload: the old record as stored: its fields and its ``"@type"`` tag.
            encode: turns a default into its stored form (the store's ``codec.encode``).

        Returns:
            The new record's stored form, tagged with the new type; the codec builds it.
        """
        names = set(self.target_fields())
        new: dict[str, Any] = {"@type": self.kind}
        for name, value in payload.items():
            target = self.rename.get(name, name)
            if not name.startswith("@") and target in names:
                new[target] = value
        for name, value in self.defaults.items():
            if name not in new:
                new[name] = encode(value)
        return new


Rule = Union[str, Remap]
"""``KEEP``, ``CANCEL`` or a ``Remap``."""


@attrs.frozen(slots=True)
class StatusChooser:
    """A named function that picks an agent's new status from its old snapshot.

    Like a transition's chooser: it is named, it declares every status it may return (the
    check needs them), and a result outside them is a failure, never a guess.

    Attributes:
        name: how reports refer to it.
        targets: every status of the new machine it may return.
        fn: ``old snapshot -> new status``.
        description: how it chooses, for people.
    """

    name: str
    targets: tuple[str, ...]
    fn: Callable[[Snapshot], str] = attrs.field(repr=False)
    description: str = ""

    def choose(self, snapshot: Snapshot) -> str:
        """The status ``fn`` picks for ``snapshot``.

        Raises:
            InvalidInput: the result is not one of ``targets``.
        """
        status = self.fn(snapshot)
        if status not in self.targets:
            raise InvalidInput(
                f"the status chooser {self.name!r} returned {status!r}, which is not one of the "
                f"targets it declares ({', '.join(self.targets)})"
            )
        return status


@attrs.frozen(slots=True)
class DataTransform:
    """A named function from an agent's old data record to its new one.

    Attributes:
        name: how reports refer to it.
        fn: ``(old data, defaults) -> new data``.
        defaults: the value each field the new record adds gets; passed to ``fn``, and listed
            by ``migrate plan`` and the docs.
        description: what it does, for people.
    """

    name: str
    fn: Callable[[Any, Mapping[str, Any]], Any] = attrs.field(repr=False)
    defaults: Mapping[str, Any] = attrs.field(factory=dict)
    description: str = ""

    def apply(self, data: Any) -> Any:
        """The new data record for ``data``."""
        return self.fn(data, self.defaults)


def _same(data: Any, defaults: Mapping[str, Any]) -> Any:
    return data


IDENTITY = DataTransform("unchanged", _same, description="the data record is kept as it is")
"""The data transform of a migration that does not change the record."""


def _check_rule(kind: str, event: str, rule: object) -> None:
    if rule in (KEEP, CANCEL) or isinstance(rule, Remap):
        return
    raise InvalidInput(
        f"the {kind} rule for {event!r} must be KEEP, CANCEL or Remap(event), not {rule!r}"
    )


def _check_timer_remap(event: str, rule: Remap) -> None:
    if not isinstance(rule.event, str) or rule.defaults or rule.rename:
        raise InvalidInput(
            f"a timer rule remaps {event!r} to a timer event's name, with no defaults or "
            f"renamed fields, not {rule!r}"
        )


def _check_outbox_remap(kind: str, rule: Remap) -> None:
    if not (isinstance(rule.event, type) and attrs.has(rule.event)):
        raise InvalidInput(
            f"an outbox rule remaps {kind!r} to an effect record type (an attrs class), "
            f"not {rule.event!r}"
        )
    names = set(rule.target_fields())
    unknown = sorted({*rule.defaults, *rule.rename.values()} - names)
    if unknown:
        raise InvalidInput(
            f"the outbox rule for {kind!r} names {', '.join(map(repr, unknown))}, which "
            f"{rule.kind} has no field for"
        )


def _pairs(value: Iterable[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    return frozenset((str(a), str(b)) for a, b in value)


def _names(value: Iterable[str]) -> frozenset[str]:
    return frozenset(str(v) for v in value)


@attrs.frozen(slots=True)
class Migration:
    """How stored agents of ``from_machine`` become agents of ``to_machine``.

    Args:
        from_machine: the machine version the agents are stored under.
        to_machine: the next version (same name, a higher version).
        statuses: old status -> new status, or a ``StatusChooser``. A status left out maps to
            the status of the same name, when the new machine has one.
        data: how the data record is rebuilt (default: unchanged).
        timers: per timer event of the old machine, ``KEEP``, ``CANCEL`` or ``Remap(event)``.
            An event left out is kept.
        outbox: per effect type (its record's type name, ``"StartRecovery"``), ``KEEP``,
            ``CANCEL`` or ``Remap(NewRecordType, defaults=..., rename=...)`` for pending outbox
            items. A type left out is kept.
        changes: the user actions the migration takes away on purpose, as
            ``(old status, event)`` pairs (``"*"`` for any status); any other action an agent
            loses is a failure of the check.
        into_terminal: the old statuses that may map into a terminal status of the new machine;
            any other mapping into a terminal status is a failure of the check.
        name: how reports and audit rows name it (default ``"alfe v1→v2"``).
        invariants: the new machine's invariants for ``check_migration`` (default: those
            registered under its name), for a version whose rules differ from the last one's.
        new_profile: how the checker abstracts the new machine (default: the old machine's).

    Raises:
        InvalidInput: the machines' names differ, the versions do not increase, a status or
            timer rule names something neither machine has, or a rule is malformed.
    """

    from_machine: Machine
    to_machine: Machine
    statuses: Mapping[str, str | StatusChooser] = attrs.field(factory=dict)
    data: DataTransform = IDENTITY
    timers: Mapping[str, Rule] = attrs.field(factory=dict)
    outbox: Mapping[str, Rule] = attrs.field(factory=dict)
    changes: frozenset[tuple[str, str]] = attrs.field(default=frozenset(), converter=_pairs)
    into_terminal: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    name: str = ""
    invariants: tuple[Invariant, ...] | None = None
    new_profile: CheckProfile | None = None

    def __attrs_post_init__(self) -> None:
        old, new = self.from_machine, self.to_machine
        if old.name != new.name:
            raise InvalidInput(
                f"a migration moves agents between versions of one machine, not from "
                f"{old.name!r} to {new.name!r}"
            )
        if new.version <= old.version:
            raise InvalidInput(
                f"a migration goes to a higher version: {old.name!r} v{old.version} to "
                f"v{new.version} does not"
            )
        for status, target in self.statuses.items():
            if status not in old.states:
                raise InvalidInput(f"the status map names {status!r}, which v{old.version} lacks")
            targets = target.targets if isinstance(target, StatusChooser) else (target,)
            for t in targets:
                if t not in new.states:
                    raise InvalidInput(
                        f"the status map sends {status!r} to {t!r}, which v{new.version} lacks"
                    )
        for event, rule in self.timers.items():
            _check_rule("timer", event, rule)
            if isinstance(rule, Remap):
                _check_timer_remap(event, rule)
            if event not in old.events:
                raise InvalidInput(f"the timer rules name {event!r}, which v{old.version} lacks")
        for kind, rule in self.outbox.items():
            _check_rule("outbox", kind, rule)
            if isinstance(rule, Remap):
                _check_outbox_remap(kind, rule)
        if not self.name:
            object.__setattr__(self, "name", f"{old.name} v{old.version}\u2192v{new.version}")

    @property
    def machine(self) -> str:
        """The machine's name."""
        return self.from_machine.name

    @property
    def from_version(self) -> int:
        """The version agents are migrated from."""
        return self.from_machine.version

    @property
    def to_version(self) -> int:
        """The version agents are migrated to."""
        return self.to_machine.version

    @property
    def event_name(self) -> str:
        """The name of the audit row each migrated agent gets: ``"migrate v1→v2"``."""
        return f"migrate v{self.from_version}\u2192v{self.to_version}"

    def target_statuses(self, status: str) -> tuple[str, ...]:
        """Every new status an agent stored in ``status`` may move to (empty: none)."""
        rule = self.statuses.get(status)
        if rule is None:
            return (status,) if status in self.to_machine.states else ()
        return rule.targets if isinstance(rule, StatusChooser) else (rule,)

    def new_status(self, snapshot: Snapshot) -> str | None:
        """The status ``snapshot`` moves to, or ``None`` when the map has no rule for it.

        Raises:
            InvalidInput: a chooser returned a status it does not declare.
        """
        rule = self.statuses.get(snapshot.status)
        if rule is None:
            return snapshot.status if snapshot.status in self.to_machine.states else None
        return rule.choose(snapshot) if isinstance(rule, StatusChooser) else rule

    def timer_rule(self, event: str) -> Rule:
        """What happens to a pending timer of ``event``."""
        return self.timers.get(event, KEEP)

    def new_timer_event(self, event: str) -> str | None:
        """The event a pending timer of ``event`` delivers after the migration (``None``: it is
        cancelled)."""
        rule = self.timer_rule(event)
        if rule == CANCEL:
            return None
        return rule.kind if isinstance(rule, Remap) else event

    def outbox_rule(self, effect_type: str) -> Rule:
        """What happens to a pending outbox item whose record is of ``effect_type``."""
        return self.outbox.get(effect_type, KEEP)

    def migrate_snapshot(self, snapshot: Snapshot) -> Snapshot:
        """The agent after the migration: new status, new data, the next version.

        ``since`` is kept: the agent did not change, only the model describing it did.

        Raises:
            InvalidInput: the map has no rule for the snapshot's status, or a chooser returned
                a status it does not declare.
        """
        status = self.new_status(snapshot)
        if status is None:
            raise InvalidInput(
                f"the migration {self.name} has no rule for the status {snapshot.status!r}, "
                f"which v{self.to_version} does not have"
            )
        return Snapshot(
            status, snapshot.version + 1, snapshot.since, self.data.apply(snapshot.data)
        )


def chain(*migrations: Migration) -> list[Migration]:
    """Check that ``migrations`` follow one another (v1→v2, v2→v3, …) and return them in order.

    A store holding agents at several versions migrates each agent along the rest of the
    chain, one step at a time, so every step keeps its own audit row and its own check.

    Raises:
        InvalidInput: the list is empty, or one step does not start where the previous ended.
    """
    if not migrations:
        raise InvalidInput("a chain needs at least one migration")
    for a, b in itertools.pairwise(migrations):
        if a.to_machine is not b.from_machine and (
            a.to_machine.name != b.from_machine.name or a.to_version != b.from_version
        ):
            raise InvalidInput(f"{b.name} does not start where {a.name} ends (v{a.to_version})")
    return list(migrations)


def _then(first: Remap, second: Remap) -> Remap:
    """One outbox remap doing ``first`` then ``second`` (A to B, then B to C)."""
    final = set(second.target_fields())
    middle = set(first.target_fields())
    rename = {}
    for old in {*first.rename, *second.rename}:
        new = second.rename.get(first.rename.get(old, old), first.rename.get(old, old))
        if new != old and new in final:
            rename[old] = new
    defaults = {second.rename.get(k, k): v for k, v in first.defaults.items() if k in middle}
    defaults = {k: v for k, v in defaults.items() if k in final}
    return Remap(second.event, {**defaults, **second.defaults}, rename)


def compose(first: Migration, second: Migration) -> Migration:
    """One migration doing ``first`` then ``second`` (v1→v3 from v1→v2 and v2→v3).

    The statuses, data transform and timer rules compose; the changes of both are kept. Check
    the composition like any migration: each step being sound does not make it so by itself
    (it does, for the reachable states, but the check says which path and snapshot if not).

    Raises:
        InvalidInput: ``second`` does not start where ``first`` ends.
    """
    chain(first, second)

    def status_of(snapshot: Snapshot) -> str:
        middle = first.migrate_snapshot(snapshot)
        target = second.new_status(middle)
        if target is None:
            raise InvalidInput(f"{second.name} has no rule for the status {middle.status!r}")
        return target

    statuses: dict[str, str | StatusChooser] = {}
    for status in first.from_machine.spec.state_names:
        targets = tuple(
            dict.fromkeys(
                t for m in first.target_statuses(status) for t in second.target_statuses(m)
            )
        )
        if not first.target_statuses(status):
            continue
        statuses[status] = StatusChooser(
            f"{status} by {first.name}, then {second.name}",
            targets,
            status_of,
            f"{first.name}, then {second.name}",
        )

    def data(value: Any, defaults: Mapping[str, Any]) -> Any:
        return second.data.apply(first.data.apply(value))

    timers: dict[str, Rule] = {}
    for event in first.from_machine.events:
        middle = first.new_timer_event(event)
        final = None if middle is None else second.new_timer_event(middle)
        timers[event] = CANCEL if final is None else (KEEP if final == event else Remap(final))
    outbox: dict[str, Rule] = {}
    for kind, rule in first.outbox.items():
        if isinstance(rule, Remap):
            then = second.outbox_rule(rule.kind)
            outbox[kind] = _then(rule, then) if isinstance(then, Remap) else (
                CANCEL if then == CANCEL else rule
            )  # fmt: skip
        elif rule == CANCEL:
            outbox[kind] = CANCEL
    # Items the first step keeps are the second step's to change.
    outbox.update({k: r for k, r in second.outbox.items() if outbox.get(k, KEEP) == KEEP})
    mid_statuses = set(first.to_machine.spec.state_names)
    changes = set(first.changes) | {
        (s, e) for (m, e) in second.changes for s in first.from_machine.spec.state_names
        if m == "*" or (m in mid_statuses and m in first.target_statuses(s))
    }  # fmt: skip
    return Migration(
        first.from_machine,
        second.to_machine,
        statuses,
        DataTransform(
            f"{first.data.name}, then {second.data.name}",
            data,
            {**first.data.defaults, **second.data.defaults},
        ),
        timers,
        outbox,
        frozenset(changes),
        frozenset(
            s
            for s in first.from_machine.spec.state_names
            if s in first.into_terminal
            or any(m in second.into_terminal for m in first.target_statuses(s))
        ),
    )
