"""The durable runtime: the engine's decisions made durable, concurrent-safe and replayable.

A ``Controller`` loads an agent from a ``Store``, decides an event with the pure engine, and
writes the new snapshot (compare-and-set on its version), the audit row, the outbox items and
the timer changes in one transaction. An ``OutboxWorker`` performs the outbox through an
``EffectHandler`` and feeds the results back as platform events; a ``TimerWorker`` fires due
timers. ``replay`` rebuilds every snapshot from the audit log alone.

Stores: ``SQLiteStore`` (standard library, the embedded default) and ``PostgresStore`` (the
``postgres`` extra, for several control-plane replicas).

For asyncio: ``AsyncController`` on ``AsyncSQLiteStore`` or ``AsyncPostgresStore``, with
``AsyncOutboxWorker``, ``AsyncTimerWorker`` and ``AsyncReconcileLoop``: the same logic, awaited.

For several replicas: ``SharedReconcileLoop`` shares reconcile work through the store (per-key
leases), and every lease and outbox claim carries a fencing token (``current_fence()``) that a
resource checks with a ``FenceGuard`` such as ``FenceBook``, refusing late work (``StaleFence``).
"""

from agentfsm.runtime._async_controller import AsyncController
from agentfsm.runtime._async_postgres import AsyncPostgresStore
from agentfsm.runtime._async_sqlite import AsyncSQLiteStore
from agentfsm.runtime._async_store import AsyncStore
from agentfsm.runtime._async_workers import (
    AsyncEffectHandler,
    AsyncOutboxWorker,
    AsyncReconcileLoop,
    AsyncTimerWorker,
)
from agentfsm.runtime._clock import Clock, ManualClock, SystemClock
from agentfsm.runtime._codec import DEFAULT_CODEC, Codec
from agentfsm.runtime._controller import (
    ERASE_EVENT,
    Controller,
    ControllerStats,
    Delivery,
    Scrubber,
    default_scrub,
)
from agentfsm.runtime._errors import (
    AgentExists,
    CodecError,
    ConnectionLost,
    CorruptDatabase,
    DuplicateEvent,
    EventIdReused,
    ForeignDatabase,
    IdempotencyKeyMismatch,
    MachineVersionMismatch,
    PermanentError,
    SchemaError,
    SchemaTooNew,
    StoreError,
    StoreUnavailable,
    TemporaryError,
    UnknownAgent,
    UnknownMachine,
    UnknownStoredStatus,
    VersionConflict,
)
from agentfsm.runtime._fencing import Fence, FenceBook, FenceGuard, StaleFence, current_fence
from agentfsm.runtime._gauges import StoreCounts, StoreGauges
from agentfsm.runtime._leases import Lease
from agentfsm.runtime._outbox import (
    BatchReport,
    EffectHandler,
    EffectRouter,
    OutboxWorker,
    RetainedDataRemover,
    exponential_backoff,
)
from agentfsm.runtime._pgserver import ThrowawayPostgres
from agentfsm.runtime._postgres import PostgresStore
from agentfsm.runtime._reconcile_loop import (
    GONE,
    PassReport,
    ReconcileLoop,
    Reconciler,
    Requeue,
    TerminalError,
    backoff_delay,
)
from agentfsm.runtime._records import (
    CREATE,
    DOMAIN_EVENT,
    DONE,
    EFFECT,
    ERASE,
    EVENT,
    MIGRATE,
    PARKED,
    PENDING,
    AgentRecord,
    AuditRow,
    OutboxEntry,
    OutboxItem,
    TimerEntry,
    TimerRow,
    Write,
    idempotency_scope,
)
from agentfsm.runtime._replay import ReplayMismatch, replay, replay_agent, replay_differences
from agentfsm.runtime._schema import SCHEMA_VERSION
from agentfsm.runtime._shared_loop import AsyncSharedReconcileLoop, SharedReconcileLoop
from agentfsm.runtime._sqlite import SQLiteStore
from agentfsm.runtime._store import Store
from agentfsm.runtime._telemetry import use_telemetry_providers
from agentfsm.runtime._timers import TimerReport, TimerWorker

__all__ = [
    "CREATE",
    "DEFAULT_CODEC",
    "DOMAIN_EVENT",
    "DONE",
    "EFFECT",
    "ERASE",
    "ERASE_EVENT",
    "EVENT",
    "GONE",
    "MIGRATE",
    "PARKED",
    "PENDING",
    "SCHEMA_VERSION",
    "AgentExists",
    "AgentRecord",
    "AsyncController",
    "AsyncEffectHandler",
    "AsyncOutboxWorker",
    "AsyncPostgresStore",
    "AsyncReconcileLoop",
    "AsyncSQLiteStore",
    "AsyncSharedReconcileLoop",
    "AsyncStore",
    "AsyncTimerWorker",
    "AuditRow",
    "BatchReport",
    "Clock",
    "Codec",
    "CodecError",
    "ConnectionLost",
    "Controller",
    "ControllerStats",
    "CorruptDatabase",
    "Delivery",
    "DuplicateEvent",
    "EffectHandler",
    "EffectRouter",
    "EventIdReused",
    "Fence",
    "FenceBook",
    "FenceGuard",
    "ForeignDatabase",
    "IdempotencyKeyMismatch",
    "Lease",
    "MachineVersionMismatch",
    "ManualClock",
    "OutboxEntry",
    "OutboxItem",
    "OutboxWorker",
    "PassReport",
    "PermanentError",
    "PostgresStore",
    "ReconcileLoop",
    "Reconciler",
    "ReplayMismatch",
    "Requeue",
    "RetainedDataRemover",
    "SQLiteStore",
    "SchemaError",
    "SchemaTooNew",
    "Scrubber",
    "SharedReconcileLoop",
    "StaleFence",
    "Store",
    "StoreCounts",
    "StoreError",
    "StoreGauges",
    "StoreUnavailable",
    "SystemClock",
    "TemporaryError",
    "TerminalError",
    "ThrowawayPostgres",
    "TimerEntry",
    "TimerReport",
    "TimerRow",
    "TimerWorker",
    "UnknownAgent",
    "UnknownMachine",
    "UnknownStoredStatus",
    "VersionConflict",
    "Write",
    "backoff_delay",
    "current_fence",
    "default_scrub",
    "exponential_backoff",
    "idempotency_scope",
    "replay",
    "replay_agent",
    "replay_differences",
    "use_telemetry_providers",
]
