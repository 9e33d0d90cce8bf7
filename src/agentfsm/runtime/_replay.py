"""Replay: rebuild agents' snapshots from the audit log alone.

The log holds everything a decision depended on: the creation row carries the agent's first
data, each event row its name, actor, payload and time, each removal of retained data the data
left. Deciding the accepted events again, in order, with the recorded times, must land on the
stored snapshot; a refused event must be refused again with the same code. Any difference is a
``ReplayMismatch``: the machine changed under the log, or something wrote around the runtime.

Every row records the machine version that decided it, so a log that crosses a migration is
replayed with each version in turn: a ``migrate`` row carries the snapshot the migration left
(status, data), and the rows after it are decided by the new version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from agentfsm._engine import decide
from agentfsm._machine import Machine
from agentfsm._values import Context, Event, Refusal, Snapshot
from agentfsm.runtime._errors import StoreError, UnknownMachine
from agentfsm.runtime._records import CREATE, ERASE, MIGRATE, AuditRow
from agentfsm.runtime._store import Store


class ReplayMismatch(StoreError):
    """Replaying an agent's audit log does not reproduce what was recorded.

    Attributes:
        agent_id: the agent.
        seq: the audit row where replay and record part ways.
    """

    def __init__(self, agent_id: str, seq: int, detail: str) -> None:
        self.agent_id = agent_id
        self.seq = seq
        super().__init__(f"replaying agent {agent_id!r} diverges at audit row {seq}: {detail}")


def _by_version(machines: Machine | Sequence[Machine]) -> dict[int, Machine]:
    if isinstance(machines, Machine):
        return {machines.version: machines}
    return {m.version: m for m in machines}


def replay_agent(machine: Machine | Sequence[Machine], rows: Iterable[AuditRow]) -> Snapshot:
    """The snapshot that an agent's audit rows (oldest first) lead to, each row decided under
    its machine's policy (the one the controller decided with).

    Args:
        machine: the agent's machine, or several versions of it (each row is decided by the
            version it records; a log crossing a migration needs every version it crosses).
        rows: the agent's audit rows, oldest first.

    Returns:
        The snapshot the rows lead to.

    Raises:
        ReplayMismatch: the rows do not start with the creation, a row names a machine version
            that was not given, or a decision comes out differently from the recorded one.
    """
    versions = _by_version(machine)
    snap: Snapshot | None = None
    for row in rows:
        current = versions.get(row.machine_version)
        if current is None:
            raise ReplayMismatch(
                row.agent_id, row.seq, f"the row was decided by machine version "
                f"{row.machine_version}, which replay was not given (it has "
                f"{', '.join(str(v) for v in sorted(versions))})"
            )  # fmt: skip
        machine = current
        if row.kind == CREATE:
            snap = machine.initial(row.payload["data"], row.at)
            if snap.status != row.to_status:
                raise ReplayMismatch(
                    row.agent_id, row.seq, f"created in {row.to_status!r}, machine starts in "
                    f"{snap.status!r}"
                )  # fmt: skip
            continue
        if snap is None:
            raise ReplayMismatch(row.agent_id, row.seq, "the log does not start with a creation")
        if row.kind == ERASE:
            snap = snap._replace(version=row.version, data=row.payload["data"])
            continue
        if row.kind == MIGRATE:
            # The migration's outcome is recorded, not recomputed: its transform is code that
            # may have changed since, and the row is what the agent became.
            # A row without data records a migration that kept the data as it was.
            data = row.payload.get("data", snap.data)
            snap = snap._replace(status=row.to_status, version=row.version, data=data)
            continue
        event = Event(row.event, row.actor or "U", row.payload, row.event_id)
        result = decide(machine, snap, event, Context(row.at))
        if isinstance(result, Refusal):
            if row.refusal is None:
                raise ReplayMismatch(
                    row.agent_id, row.seq, f"{row.event!r} was accepted but replays as refused "
                    f"({result.code})"
                )  # fmt: skip
            if result.code != row.refusal.code:
                raise ReplayMismatch(
                    row.agent_id, row.seq, f"{row.event!r} was refused with "
                    f"{row.refusal.code!r} but replays as {result.code!r}"
                )  # fmt: skip
            continue
        if row.refusal is not None:
            raise ReplayMismatch(
                row.agent_id, row.seq, f"{row.event!r} was refused but replays as accepted"
            )
        after = result.snapshot
        if after.status != row.to_status or after.version != row.version:
            raise ReplayMismatch(
                row.agent_id, row.seq, f"recorded {row.to_status!r} v{row.version}, replayed "
                f"{after.status!r} v{after.version}"
            )  # fmt: skip
        snap = after
    if snap is None:
        raise ReplayMismatch("?", 0, "no audit rows")
    return snap


def replay(
    store: Store,
    machines: Machine | Mapping[str, Machine] | Sequence[Machine],
    *,
    page: int = 5_000,
) -> dict[str, Snapshot]:
    """Every agent's snapshot, rebuilt from the audit log alone (the agents table is not read).

    Args:
        store: the store whose log to replay.
        machines: one machine, machines by name (the creation row names each agent's), or a
            sequence of machines that may hold several versions of one (a log crossing a
            migration is replayed with each version it crosses); each decides under its own
            policy, as the controller did.
        page: how many audit rows to read at a time.

    Returns:
        ``agent_id -> Snapshot``.

    Raises:
        ReplayMismatch: some agent's log does not reproduce its recorded decisions.
        UnknownMachine: an agent was created with a machine not given here.
    """
    if isinstance(machines, Machine):
        machines = [machines]
    elif isinstance(machines, Mapping):
        machines = list(machines.values())
    named: dict[str, list[Machine]] = {}
    for m in machines:
        named.setdefault(m.name, []).append(m)
    rows_by_agent: dict[str, list[AuditRow]] = {}
    after = 0
    while True:
        rows = store.audit_log(after, page)
        if not rows:
            break
        for row in rows:
            rows_by_agent.setdefault(row.agent_id, []).append(row)
        after = rows[-1].seq
    out: dict[str, Snapshot] = {}
    for agent_id, rows in rows_by_agent.items():
        first = rows[0]
        name = first.event if first.kind == CREATE else "?"
        machine = named.get(name)
        if machine is None:
            raise UnknownMachine(
                f"agent {agent_id!r} was created with the machine {name!r}, which replay was "
                "not given"
            )
        out[agent_id] = replay_agent(machine, rows)
    return out


def replay_differences(
    store: Store, machines: Machine | Mapping[str, Machine] | Sequence[Machine]
) -> list[str]:
    """Where the stored snapshots differ from the replayed ones: one sentence per agent.

    An empty list means the audit log alone reproduces every stored snapshot.
    """
    replayed = replay(store, machines)
    problems: list[str] = []
    stored = {r.agent_id: r.snapshot for r in store.agents()}
    for agent_id in sorted(set(stored) | set(replayed)):
        a, b = stored.get(agent_id), replayed.get(agent_id)
        if a != b:
            problems.append(f"agent {agent_id!r}: stored {a!r}, replayed {b!r}")
    return problems
