"""The exceptions the runtime raises: store failures, conflicts, and an effect handler's verdicts.

Every store failure is a ``StoreError`` whose message says what happened and what to do. The
ones worth retrying (a version conflict, a busy database, a lost connection) say so with
``retryable = True``, so callers can retry on the attribute rather than on a list of types.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from agentfsm._errors import AgentFSMError
from agentfsm.runtime._requests import same_value

if TYPE_CHECKING:
    from agentfsm._values import Event


class StoreError(AgentFSMError):
    """A store could not do what was asked. ``retryable`` says whether trying again may work."""

    retryable: bool = False


class VersionConflict(StoreError):
    """Another writer changed the agent between our read and our write (compare-and-set failed).

    Nothing was written. Re-read the agent and decide again; ``Controller.handle`` does this a
    bounded number of times before letting the error out.

    Attributes:
        agent_id: the agent whose version moved.
        expected: the version we read.
    """

    retryable = True

    def __init__(self, agent_id: str, expected: int) -> None:
        self.agent_id = agent_id
        self.expected = expected
        super().__init__(
            f"agent {agent_id!r} changed since version {expected} was read; re-read it and retry"
        )


class DuplicateEvent(StoreError):
    """An idempotency key is already in the audit log, in the same scope; nothing was written.

    Attributes:
        event_id: the key delivered again.
        agent_id: the agent it was delivered to, when the store knows it.
        scope: the key's scope (see ``idempotency_scope``), when the store knows it.
    """

    def __init__(
        self, event_id: str, agent_id: str | None = None, scope: str | None = None
    ) -> None:
        self.event_id = event_id
        self.agent_id = agent_id
        self.scope = scope
        where = f" for agent {agent_id!r} in scope {scope!r}" if agent_id is not None else ""
        super().__init__(f"event {event_id!r} has already been recorded{where}")


class EventIdReused(StoreError):
    """An idempotency key already recorded was sent again with a different request.

    Keys are scoped to their agent and sender (see ``idempotency_scope``), so a key used for
    another agent, or by another sender, is a new key and never this error. The one kind raised
    is ``IdempotencyKeyMismatch``; catching ``EventIdReused`` catches it.
    """


class IdempotencyKeyMismatch(EventIdReused):
    """A key was reused, in its scope, for a different request (another event or payload).

    Nothing was written: the first request's outcome stands, and the second one was not
    decided. Send a different request under a new key.

    Attributes:
        agent_id: the agent.
        scope: the key's scope (the sender: actor code and principal).
        key: the idempotency key.
        recorded: the request first recorded under the key.
        requested: the request just sent under it.
    """

    def __init__(
        self, agent_id: str, scope: str, key: str, recorded: Event, requested: Event
    ) -> None:
        self.agent_id = agent_id
        self.scope = scope
        self.key = key
        self.recorded = recorded
        self.requested = requested
        super().__init__(
            f"idempotency key {key!r} of agent {agent_id!r} (sender {scope!r}) was first used "
            f"for {_describe(recorded)}, and now for {_describe(requested)}; "
            f"{_difference(recorded, requested)}. Nothing was written: send a different request "
            "under a new key"
        )


def _describe(event: Event) -> str:
    # Names only, never values: a payload may be huge or hold what the log must not repeat.
    keys = ", ".join(sorted(event.payload))
    return f"{event.name}({keys})"


def _difference(recorded: Event, requested: Event) -> str:
    if recorded.name != requested.name:
        return "the event differs"
    changed = sorted(
        k
        for k in set(recorded.payload) | set(requested.payload)
        if k not in recorded.payload
        or k not in requested.payload
        or not same_value(recorded.payload[k], requested.payload[k])
    )
    return f"the payload differs in {', '.join(changed)}" if changed else "the payload differs"


class UnknownAgent(StoreError, LookupError):
    """No agent with this id is stored; create it first with ``Controller.create``."""


class AgentExists(StoreError):
    """An agent with this id is already stored; agent ids are never reused."""


class UnknownMachine(StoreError):
    """A stored agent names a machine the controller was not given."""


class UnknownStoredStatus(StoreError):
    """A stored agent is in a status its machine does not know (the machine changed since).

    The runtime reports this instead of mapping the status to a known one: migrate the stored
    status, or give the controller the machine version that knows it.

    Attributes:
        agent_id: the agent.
        machine: the machine's name.
        status: the stored status.
    """

    def __init__(self, agent_id: str, machine: str, status: str, known: tuple[str, ...]) -> None:
        self.agent_id = agent_id
        self.machine = machine
        self.status = status
        super().__init__(
            f"agent {agent_id!r} is stored in status {status!r}, which the {machine!r} machine "
            f"does not know (its statuses are {', '.join(known)}); migrate the stored status or "
            "use the machine version that defines it"
        )


class MachineVersionMismatch(StoreError):
    """A stored agent was decided by another version of its machine than the controller has.

    The runtime never decides an agent with a version it was not decided by: the statuses,
    data and timers of one version mean nothing certain to another. Migrate the agents with a
    checked ``agentfsm.migrate.Migration`` (``agentfsm migrate apply``), or give the controller
    the version they record.

    Attributes:
        agent_id: the agent.
        machine: the machine's name.
        stored: the version the agent's row records.
        given: the versions of that machine the controller (or replay) was given.
    """

    def __init__(self, agent_id: str, machine: str, stored: int, given: tuple[int, ...]) -> None:
        self.agent_id = agent_id
        self.machine = machine
        self.stored = stored
        self.given = given
        have = ", ".join(f"v{v}" for v in given) or "none"
        if given and stored > max(given):
            fix = (
                f"the agent was migrated past this controller's versions; give it "
                f"{machine!r} v{stored}"
            )
        else:
            target = f"v{max(given)}" if given else "a version given"
            fix = (
                f"the migration {machine} v{stored}\u2192{target} is missing; apply one "
                f"(agentfsm migrate apply) or give the controller {machine!r} v{stored}"
            )
        super().__init__(
            f"agent {agent_id!r} was decided by {machine!r} v{stored}, but this controller has "
            f"{machine!r} {have}: {fix}"
        )


class SchemaError(StoreError):
    """The database is not one this version of agentfsm can use as it is."""


class SchemaTooNew(SchemaError):
    """The database was written by a newer agentfsm; upgrade agentfsm to open it."""


class ForeignDatabase(SchemaError):
    """The database holds tables that are not agentfsm's; point the store at its own database."""


class CorruptDatabase(SchemaError):
    """The file is not a SQLite database, or its contents are damaged.

    Every read path raises it for a row it cannot read back as the store wrote it (a time that
    does not parse, an unknown code, JSON the codec refuses, a wrong type, text that is not
    UTF-8); the message names the table and the row.
    """


class StoreUnavailable(StoreError):
    """The database cannot be reached (bad DSN, server down, connection lost, file locked)."""

    retryable = True


class ConnectionLost(StoreUnavailable):
    """The connection broke during a transaction; the database rolled the transaction back."""


class CodecError(StoreError):
    """A value cannot be stored, or stored JSON names a type the codec does not know.

    A write raises it before any statement runs, so nothing is written: for a value with no
    JSON form (NaN, bytes, an int over 4,300 digits, nesting too deep or circular), for text no
    store can hold (a lone surrogate; on PostgreSQL also U+0000) in any field, and for a text
    field that is not a string. Stores report stored JSON they cannot read as
    ``CorruptDatabase``, with the ``CodecError`` as its cause.
    """


class TemporaryError(AgentFSMError):
    """Raised by an effect handler: the work failed but may succeed later; the item is retried.

    Args:
        message: what went wrong (kept as the item's last error).
        delay: how long to wait before the next attempt; ``None`` lets the worker back off
            exponentially.
    """

    def __init__(self, message: str, delay: timedelta | None = None) -> None:
        self.delay = delay
        super().__init__(message)


class PermanentError(AgentFSMError):
    """Raised by an effect handler: the work can never succeed; the item is parked at once."""
