"""Running a migration against a store: ``plan_migration`` counts, ``apply_migration`` moves.

``apply_migration`` works in batches, each one transaction (see ``runtime._migrate_sql``): the
agents still at the old version are read, each one's move is decided here (its new status, its
new data), and the moves are written with a compare-and-set on the agent's version and machine
version, one ``migrate v1→v2`` audit row per agent. An agent is therefore migrated exactly once,
however many appliers run and however often one is killed and started again; a controller that
wrote an agent meanwhile simply sees its compare-and-set fail and decides again with the new
version.

Where the moves are decided depends on the store. On SQLite a batch is one ``UPDATE`` that
calls the migration's chooser and transform for each agent from inside the database (see
``runtime._migrate_inside``), under the write lock. On PostgreSQL the batch is read, decided
here and written back; without timer or outbox rules it is read outside the write (see
``runtime._migrate_walk``), and the compare-and-set is then what keeps an agent written
meanwhile from being moved by a stale decision, and the walk comes back for it. A chooser and a
transform run once per distinct input of a batch.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from typing import Any

import attrs

from agentfsm._errors import AgentFSMError
from agentfsm._values import Snapshot
from agentfsm.migrate._migration import CANCEL, IDENTITY, KEEP, Migration, Remap, StatusChooser
from agentfsm.runtime._clock import Clock, SystemClock
from agentfsm.runtime._errors import CorruptDatabase
from agentfsm.runtime._migrate_inside import sqlite_inside_batch
from agentfsm.runtime._migrate_sql import (
    Move,
    Rules,
    StoredAgent,
    Unmapped,
    has_side_effects,
    postgres_batch,
    postgres_fresh_statistics,
    postgres_plain_batch,
    postgres_read,
    sqlite_plain_batch,
    sqlite_read,
)
from agentfsm.runtime._migrate_walk import open_walk
from agentfsm.runtime._postgres import PostgresStore
from agentfsm.runtime._sqlite import SQLiteStore
from agentfsm.runtime._store import Store


class MigrationError(AgentFSMError):
    """A migration cannot be run as asked; nothing was written by the batch that found it.

    Raised for a store that cannot run migrations, an agent whose status has no rule, or a
    chooser that returns a status it does not declare.
    """


@attrs.frozen(slots=True)
class PlanRow:
    """How many stored agents one rule moves.

    Attributes:
        from_status: their status now.
        to_status: their status after.
        rule: ``"same name"``, ``"mapped"``, or the chooser's name.
        agents: how many.
    """

    from_status: str
    to_status: str
    rule: str
    agents: int


@attrs.frozen(slots=True)
class TimerChange:
    """Pending timers (or outbox items) a migration changes.

    Attributes:
        name: the timer event (or the outbox record's type).
        rule: ``"cancel"`` or ``"→ new_event"``.
        count: how many are pending now.
    """

    name: str
    rule: str
    count: int


@attrs.frozen(slots=True)
class MigrationPlan:
    """What ``apply_migration`` would do to a store now.

    Attributes:
        migration: its name.
        agents: the agents at the old version.
        rows: by status, how many agents each rule moves.
        timers: the pending timers that change.
        outbox: the pending outbox items that are cancelled or remapped.
        data: the data transform's name and the defaults it fills in.
        unmapped: statuses with agents but no rule (apply would refuse them).
    """

    migration: str
    agents: int
    rows: tuple[PlanRow, ...]
    timers: tuple[TimerChange, ...]
    outbox: tuple[TimerChange, ...]
    data: tuple[str, tuple[tuple[str, str], ...]]
    unmapped: tuple[str, ...] = ()

    def format(self) -> str:
        """The plan for people."""
        lines = [f"{self.migration}: {self.agents:,} agent(s) to migrate"]
        for r in self.rows:
            lines.append(f"  {r.from_status:>18} -> {r.to_status:<18} {r.agents:>9,}  ({r.rule})")
        name, defaults = self.data
        filled = ", ".join(f"{k} = {v}" for k, v in defaults)
        lines.append(f"  data: {name}" + (f" (defaults: {filled})" if filled else ""))
        for label, changes in (("timers", self.timers), ("outbox", self.outbox)):
            for c in changes:
                lines.append(f"  {label}: {c.count:,} pending {c.name} -> {c.rule}")
        lines += [f"  UNMAPPED: agents in {s!r} have no rule" for s in self.unmapped]
        return "\n".join(lines)


@attrs.frozen(slots=True)
class ApplyReport:
    """What ``apply_migration`` did.

    Attributes:
        migration: its name.
        migrated: agents moved by this call.
        batches: transactions committed.
        remaining: agents still at the old version afterwards.
        seconds: how long it took.
        dry_run: true when nothing was written (``plan`` holds what would be).
        plan: the plan, for a dry run.
    """

    migration: str
    migrated: int
    batches: int
    remaining: int
    seconds: float
    dry_run: bool = False
    plan: MigrationPlan | None = None


def _backend(store: Store) -> tuple[Any, Any, str]:
    if isinstance(store, SQLiteStore):
        return None, sqlite_read, "json_extract(o.payload, '$.\"@type\"')"
    if isinstance(store, PostgresStore):
        return postgres_batch, postgres_read, "o.payload->>'@type'"
    raise MigrationError(
        f"migrations run on SQLiteStore and PostgresStore, not {type(store).__name__}"
    )


def _outbox_remaps(migration: Migration, codec: Any) -> dict[str, Callable[[str], str]]:
    """For each remapped record type, the function rewriting a pending item's payload.

    The old payload is read as plain JSON, not through the codec: a type a new version
    removed need not be registered any more. The new record is built by the codec, so its
    own validators run, and written in the codec's form.
    """
    remaps: dict[str, Callable[[str], str]] = {}
    for kind, rule in migration.outbox.items():
        if not isinstance(rule, Remap):
            continue
        if rule.kind not in codec.tags:
            raise MigrationError(
                f"{migration.name} remaps pending {kind} items to {rule.kind}, which the "
                "store's codec does not know (register it with codec.with_types(...)); "
                "nothing was written"
            )

        def convert(text: str, kind: str = kind, rule: Remap = rule) -> str:
            try:
                record = codec.decode(rule.remap_payload(json.loads(text), codec.encode))
                return str(codec.dumps(record))
            except Exception as exc:
                raise MigrationError(
                    f"a pending {kind} outbox item cannot become {rule.kind}: {exc}; nothing "
                    "was written by this batch"
                ) from exc

        remaps[kind] = convert
    return remaps


def _rules(migration: Migration, codec: Any) -> Rules:
    cancel = tuple(e for e, r in migration.timers.items() if r == CANCEL)
    remap = {e: r.kind for e, r in migration.timers.items() if isinstance(r, Remap)}
    return Rules(
        migration.machine,
        migration.from_version,
        migration.to_version,
        migration.event_name,
        f"migrate:v{migration.from_version}-v{migration.to_version}",
        cancel,
        remap,
        tuple(k for k, r in migration.outbox.items() if r == CANCEL),
        f"cancelled by the migration {migration.name}",
        migration.data is not IDENTITY
        or any(isinstance(r, StatusChooser) for r in migration.statuses.values()),
        _outbox_remaps(migration, codec),
        ()
        if migration.data is not IDENTITY
        else tuple(s for s, r in migration.statuses.items() if isinstance(r, StatusChooser)),
    )


class _Decisions:
    """Each stored agent's new status and data under a migration, written once for both
    stores: PostgreSQL's batches call it over the rows they read, SQLite's from inside their
    ``UPDATE`` (``_row_functions``).

    A chooser and a transform are functions of what they are given, so each runs once per
    distinct input of a batch (agents stored alike share the result; ``new_batch`` forgets
    it); a record is decoded once for the two.
    """

    def __init__(self, migration: Migration, codec: Any) -> None:
        self._migration = migration
        self._choosers = {s for s, r in migration.statuses.items() if isinstance(r, StatusChooser)}
        self.keeps_data = migration.data is IDENTITY
        self._transform = migration.data.apply
        self._loads = codec.loads
        # Each new record is written once: the codec need not remember its text.
        self._dumps = getattr(codec, "dumps_once", codec.dumps)
        self._plain: dict[str, str | None] = {}
        self._chosen: dict[tuple[str, int, datetime, str], str | None] = {}
        self._rebuilt: dict[str, str | None] = {}
        self._last: tuple[str, Any] | None = None  # the text decoded last, and its record

    def new_batch(self) -> None:
        """Forget what the last batch remembered: memory stays that of one batch."""
        self._chosen.clear()
        self._rebuilt.clear()
        self._last = None

    def _record(self, text: str) -> Any:
        if self._last is None or self._last[0] != text:
            self._last = (text, self._loads(text))
        return self._last[1]

    def status(self, a: StoredAgent) -> str:
        """The agent's new status.

        Raises:
            MigrationError: its status has no rule.
            InvalidInput: a chooser returned a status it does not declare.
        """
        old = a.status
        new_status = self._migration.new_status
        if old in self._choosers:
            key = (old, a.version, a.since, a.data_json)
            status = self._chosen.get(key, "")
            if status == "":
                snapshot = Snapshot(old, a.version, a.since, self._record(a.data_json))
                status = self._chosen[key] = new_status(snapshot)
        else:
            # Only a chooser looks at the snapshot: the others' status is the status's.
            status = self._plain.get(old, "")
            if status == "":
                status = self._plain[old] = new_status(Snapshot(old, a.version, a.since, None))
        if status is None:
            m = self._migration
            raise MigrationError(
                f"agent {a.agent_id!r} is in {old!r}, which v{m.to_version} does not have "
                f"and {m.name} has no rule for; nothing was written"
            )
        return status

    def data(self, a: StoredAgent) -> str:
        """The agent's new data as stored JSON: ``a.data_json`` itself when the transform
        left the record alone (nothing to re-encode or rewrite, and the audit row need not
        repeat it)."""
        if self.keeps_data:
            return a.data_json
        new_json = self._rebuilt.get(a.data_json, "")
        if new_json == "":
            old = self._record(a.data_json)
            new = self._transform(old)
            # A transform that leaves a record alone returns it.
            new_json = self._rebuilt[a.data_json] = None if new is old else self._dumps(new)
        return a.data_json if new_json is None else new_json


def _guarded(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, whose failures on a stored agent are ``MigrationError`` (a damaged row stays
    ``CorruptDatabase``)."""

    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except (MigrationError, CorruptDatabase):
            raise
        except Exception as exc:
            raise MigrationError(f"{name} failed on a stored agent: {exc}") from exc

    return call


def _decider(migration: Migration, codec: Any) -> Callable[[list[StoredAgent]], list[Move]]:
    decisions = _Decisions(migration, codec)

    def decide(agents: list[StoredAgent]) -> list[Move]:
        decisions.new_batch()
        moves: list[Move] = []
        for a in agents:
            status, data_json = decisions.status(a), decisions.data(a)
            changed = data_json is not a.data_json
            moves.append(Move(a.agent_id, a.version, status, data_json, a.status, changed))
        return moves

    return _guarded(migration.name, decide)


def _row_functions(
    migration: Migration, store: Any
) -> tuple[Callable[..., str] | None, Callable[..., str] | None, Callable[[], None]]:
    """The SQL functions a SQLite batch calls from inside its ``UPDATE``: the chooser's
    ``(id, status, version, since, data) -> status`` and the transform's
    ``(id, version, since, data) -> data``, each ``None`` when the migration has none; and
    the function to call before each batch. Each row is checked as every read checks it (a
    damaged row is ``CorruptDatabase``, naming it), then decided by ``_Decisions``.
    """
    decisions = _Decisions(migration, store.codec)
    stored_agent = store._rows.stored_agent

    def choose(agent_id: Any, status: Any, version: Any, since: Any, data: Any) -> str:
        return decisions.status(stored_agent((agent_id, status, version, since, data)))

    def rebuild(agent_id: Any, version: Any, since: Any, data: Any) -> str:
        return decisions.data(stored_agent((agent_id, "", version, since, data)))

    has_chooser = any(isinstance(r, StatusChooser) for r in migration.statuses.values())
    return (
        _guarded(migration.name, choose) if has_chooser else None,
        None if decisions.keeps_data else _guarded(migration.name, rebuild),
        decisions.new_batch,
    )


def _plain_mapping(migration: Migration, rules: Rules) -> dict[str, str] | None:
    """``old status -> new status`` for every status that has one, when no agent's move
    needs its row in Python (no chooser, no data transform; timer and outbox rules are
    statements of their own); else ``None``."""
    if rules.read_data:
        return None
    return _status_mapping(migration)


def _status_mapping(migration: Migration) -> dict[str, str]:
    """``old status -> new status`` for every status mapped by name or by the map itself (the
    statuses under a chooser, and those without a rule, are left out)."""
    mapping: dict[str, str] = {}
    for status in migration.from_machine.spec.state_names:
        if isinstance(migration.statuses.get(status), StatusChooser):
            continue
        target = migration.new_status(Snapshot(status, 0, datetime.min, None))
        if target is not None:
            mapping[status] = target
    return mapping


def _remaining(store: Store, migration: Migration) -> int:
    _, read, _ = _backend(store)
    rows = read(
        store,
        "SELECT count(*) FROM agents WHERE machine = ? AND machine_version = ?",
        (migration.machine, migration.from_version),
    )
    return int(rows[0][0])


def plan_migration(store: Store, migration: Migration, *, page: int = 2_000) -> MigrationPlan:
    """Count what ``apply_migration`` would do to ``store``'s agents now; writes nothing.

    Agents whose status has a chooser are read (a page at a time) so that each is counted
    under the status it would get; the others are counted by status in the database.

    Raises:
        MigrationError: the store cannot run migrations, or a chooser fails on an agent.
        CorruptDatabase: a stored agent's row is damaged.
    """
    _, read, tag = _backend(store)
    where = ("FROM agents WHERE machine = ? AND machine_version = ?",
             (migration.machine, migration.from_version))  # fmt: skip
    counts = dict(read(store, f"SELECT status, count(*) {where[0]} GROUP BY status", where[1]))
    rows: list[PlanRow] = []
    unmapped: list[str] = []
    codec = store.codec  # type: ignore[attr-defined]
    data = "data" if isinstance(store, SQLiteStore) else "data::text"
    for status in sorted(counts):
        rule = migration.statuses.get(status)
        if isinstance(rule, StatusChooser):
            chosen: Counter[str] = Counter()
            after = ""
            while True:
                got = read(
                    store,
                    f"SELECT id, status, version, since, {data} {where[0]} AND status = ? "
                    "AND id > ? ORDER BY id LIMIT ?",
                    (*where[1], status, after, page),
                )
                if not got:
                    break
                for row in got:
                    # Checked like every read: a damaged row is CorruptDatabase, naming it.
                    a = store._rows.stored_agent(row)  # type: ignore[attr-defined]
                    try:
                        snap = Snapshot(status, a.version, a.since, codec.loads(a.data_json))
                        chosen[rule.choose(snap)] += 1
                    except Exception as exc:
                        raise MigrationError(f"agent {a.agent_id!r}: {exc}") from exc
                after = got[-1][0]
            rows += [PlanRow(status, t, rule.name, n) for t, n in sorted(chosen.items())]
            continue
        target = migration.new_status(Snapshot(status, 0, datetime.min, None))
        if target is None:
            unmapped.append(status)
            continue
        kind = "mapped" if rule is not None else "same name"
        rows.append(PlanRow(status, target, kind, int(counts[status])))
    joined = (
        "FROM timers t JOIN agents a ON a.id = t.agent_id "
        "WHERE a.machine = ? AND a.machine_version = ? GROUP BY t.event"
    )
    timers: list[TimerChange] = []
    for event, n in read(store, f"SELECT t.event, count(*) {joined}", where[1]):
        timer_rule = migration.timer_rule(event)
        if isinstance(timer_rule, Remap):
            timers.append(TimerChange(event, f"\u2192 {timer_rule.kind}", int(n)))
        elif timer_rule == CANCEL:
            timers.append(TimerChange(event, "cancel", int(n)))
    outbox: list[TimerChange] = []
    changed = {k: r for k, r in migration.outbox.items() if r != KEEP}
    if changed:
        sql = (
            f"SELECT {tag}, count(*) FROM outbox o JOIN agents a ON a.id = o.agent_id "
            "WHERE a.machine = ? AND a.machine_version = ? AND o.state = 'pending' "
            f"GROUP BY {tag}"
        )
        for kind_name, n in read(store, sql, where[1]):
            outbox_rule = changed.get(kind_name)
            if isinstance(outbox_rule, Remap):
                outbox.append(TimerChange(kind_name, f"\u2192 {outbox_rule.kind}", int(n)))
            elif outbox_rule == CANCEL:
                outbox.append(TimerChange(str(kind_name), "cancel", int(n)))
    defaults = tuple((k, repr(v)) for k, v in migration.data.defaults.items())
    return MigrationPlan(
        migration.name,
        sum(int(n) for n in counts.values()),
        tuple(rows),
        tuple(sorted(timers, key=lambda t: t.name)),
        tuple(sorted(outbox, key=lambda t: t.name)),
        (migration.data.name, defaults),
        tuple(unmapped),
    )


def apply_migration(
    store: Store,
    migration: Migration,
    *,
    batch_size: int = 1_000,
    dry_run: bool = False,
    clock: Clock | None = None,
    max_batches: int | None = None,
    on_batch: Callable[[int], None] | None = None,
    patience: float = 30.0,
) -> ApplyReport:
    """Migrate every agent of ``store`` still at the migration's old version.

    Args:
        store: a ``SQLiteStore`` or ``PostgresStore``.
        migration: the migration (check it first: ``check_migration``).
        batch_size: agents per transaction.
        dry_run: write nothing; the report carries the plan instead.
        clock: the time written on the rows (default: the system clock).
        max_batches: stop after this many batches (the rest stays for a later run).
        on_batch: called with the number of agents moved after each batch commits.
        patience: seconds to keep coming back for agents another writer holds locked
            (PostgreSQL) before reporting them as remaining.

    Returns:
        An ``ApplyReport``. Running it again after it finished, or after a crash, migrates only
        the agents not migrated yet.

    Raises:
        MigrationError: the store cannot run migrations, or an agent's status has no rule (the
            batch holding it was not written; the batches before it were).
        CorruptDatabase: a stored agent's row is damaged (its batch was not written).
        StoreError: the store failed.
    """
    started = time.perf_counter()
    if batch_size < 1:
        raise MigrationError(f"batch_size must be positive, not {batch_size}")
    if dry_run:
        plan = plan_migration(store, migration)
        return ApplyReport(
            migration.name, 0, 0, plan.agents, time.perf_counter() - started, True, plan
        )
    batch, _, _ = _backend(store)
    rules = _rules(migration, store.codec)  # type: ignore[attr-defined]
    decide = _decider(migration, store.codec)  # type: ignore[attr-defined]
    plain = _plain_mapping(migration, rules)
    if plain is None and isinstance(store, SQLiteStore):
        # Moves decided in Python: the batch's UPDATE calls the migration for each agent.
        mapping = _status_mapping(migration)
        chosen = tuple(s for s, r in migration.statuses.items() if isinstance(r, StatusChooser))
        choose, transform, new_batch = _row_functions(migration, store)

        def batch(s: Any, r: Rules, limit: int, d: Any, now: datetime, after: str) -> Any:
            new_batch()
            try:
                return sqlite_inside_batch(
                    s, r, limit, mapping, chosen, choose, transform, now, after
                )
            except Unmapped as exc:
                raise MigrationError(f"{exc}; nothing was written by this batch") from None

    if plain is not None:
        # Nothing to compute per agent: the database moves the batch itself.
        fast = sqlite_plain_batch if isinstance(store, SQLiteStore) else postgres_plain_batch

        def batch(s: Any, r: Rules, limit: int, d: Any, now: datetime, after: str) -> Any:
            try:
                return fast(s, r, limit, plain, now, after)
            except Unmapped as exc:
                raise MigrationError(f"{exc}; nothing was written by this batch") from None

    if isinstance(store, PostgresStore):
        postgres_fresh_statistics(store)
    clock = clock or SystemClock()
    with ExitStack() as stack:
        if (
            plain is None
            and isinstance(store, PostgresStore)
            and not has_side_effects(rules)
            and store._pool.max_size >= 2
        ):
            # Moves decided in Python, nothing else to write: each batch written on a
            # connection of its own while the next is read and decided on another (a pool of
            # one connection keeps the locked batch).
            batch = stack.enter_context(open_walk(store, rules)).batch
        moved, batches = _walk(
            store, migration, rules, batch, decide, clock, batch_size, max_batches, on_batch,
            patience,
        )  # fmt: skip
    return ApplyReport(
        migration.name, moved, batches, _remaining(store, migration), time.perf_counter() - started
    )


def _walk(
    store: Store,
    migration: Migration,
    rules: Rules,
    batch: Any,
    decide: Any,
    clock: Clock,
    batch_size: int,
    max_batches: int | None,
    on_batch: Callable[[int], None] | None,
    patience: float,
) -> tuple[int, int]:
    """Run ``batch`` until no agent is left at the old version (or ``max_batches`` moved
    some, or ``patience`` ran out); returns the agents moved and the batches that moved them."""
    moved = batches = walk_moved = 0
    deadline: float | None = None
    # Batches walk the ids upwards: a batch never scans past the agents migrated before it
    # (on PostgreSQL their old index entries stay until vacuum). Agents skipped because another
    # writer held them are taken on the next walk.
    after = ""
    while max_batches is None or batches < max_batches:
        n, last = batch(store, rules, batch_size, decide, clock.now(), after)
        if n:
            moved += n
            batches += 1
            walk_moved += n
            deadline = None
            if on_batch is not None:
                on_batch(n)
        if last != after:
            after = last
            continue
        if _remaining(store, migration) == 0:
            break
        after = ""  # the walk is done; start over for the agents it skipped
        if walk_moved:
            walk_moved = 0
            continue
        # Agents remain but a whole walk took none: another writer holds them. Come back.
        deadline = deadline or time.monotonic() + patience
        if time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    return moved, batches
