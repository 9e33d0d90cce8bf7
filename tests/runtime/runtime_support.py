"""Helpers for the runtime tests: store descriptions that survive pickling (so spawned
processes can open the same database), random events, and fakes for fault injection."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, NamedTuple

from agentfsm import Actor, Event, Machine
from agentfsm import effects as fx
from agentfsm.models import AlfeAgent, RecifAgent
from agentfsm.runtime import (
    PostgresStore,
    SQLiteStore,
    Store,
    TemporaryError,
    VersionConflict,
    Write,
)

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)


class StoreSpec(NamedTuple):
    """Where a test database is: ``("sqlite", path)`` or ``("postgres", dsn, schema)``."""

    kind: str
    target: str
    schema: str = ""

    def open(self) -> Store:
        if self.kind == "sqlite":
            return SQLiteStore(self.target)
        return PostgresStore(self.target, schema=self.schema, max_size=4)


def agent_data(machine: str, agent_id: str) -> Any:
    if machine == "recif":
        return RecifAgent(agent_id)
    return AlfeAgent(agent_id, f"name-{agent_id}")


_STRINGS = ("good", "bad", "payment_issue", "credits_exhausted", "", "img:v2", "CrashLoop")


def random_event(rng: random.Random, machine: Machine, agent_name: str | None = None) -> Event:
    """A random event of ``machine``, usually with a plausible actor and payload."""
    spec = rng.choice(machine.spec.events)
    actors = sorted(spec.actors, key=lambda a: a.value)
    actor = rng.choice(actors) if rng.random() < 0.95 else rng.choice(list(Actor))
    payload: dict[str, Any] = {}
    for f in spec.fields:
        if not f.required and rng.random() < 0.5:
            continue
        if f.kind == "int":
            payload[f.name] = rng.randint(0, 11)
        elif f.kind == "bool":
            payload[f.name] = rng.random() < 0.5
        elif f.kind == "datetime":
            payload[f.name] = T0 + timedelta(seconds=rng.randint(0, 10_000))
        elif f.kind == "mapping":
            payload[f.name] = {"model": rng.choice(("a", "b"))}
        elif f.name == "confirmation" and agent_name and rng.random() < 0.7:
            payload[f.name] = agent_name
        else:
            payload[f.name] = rng.choice(_STRINGS)
    return Event(spec.name, actor, payload)


class FakeHost:
    """An effect handler that pretends to be a host adapter and records what it was asked.

    It answers host work with the platform event a real host would send (a provisioned host
    comes up, a booted agent connects…), so effects drive agents forward. Thread-safe.
    """

    _ANSWERS: ClassVar[dict[type[Any], str]] = {
        fx.ProvisionHost: "host_up",
        fx.BootAgent: "connected",
        fx.PowerOnHost: "connected",
        fx.PowerCycleHost: "connected",
        fx.RebootHost: "connected",
        fx.ShutdownHost: "shutdown_complete",
    }

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, str]] = []
        self._lock = threading.Lock()

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        with self._lock:
            self.calls.append((agent_id, effect, key))
        answer = self._ANSWERS.get(type(effect))
        return (Event(answer, Actor.SYSTEM),) if answer else ()


class FaultyHost(FakeHost):
    """A ``FakeHost`` whose calls fail temporarily ``failures`` times per key first."""

    def __init__(self, failures: int, delay: timedelta | None = None) -> None:
        super().__init__()
        self.failures = failures
        self.delay = delay
        self.seen: dict[str, int] = {}

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        n = self.seen.get(key, 0)
        self.seen[key] = n + 1
        if n < self.failures:
            raise TemporaryError(f"host busy (attempt {n + 1})", self.delay)
        return super().__call__(agent_id, effect, key)


class FaultyStore:
    """Wraps a store; its ``commit`` raises ``VersionConflict`` for the first ``conflicts``
    calls, as if another writer always got there first."""

    def __init__(self, inner: Store, conflicts: int) -> None:
        self.inner = inner
        self.conflicts = conflicts

    def commit(self, writes: Sequence[Write]) -> None:
        if self.conflicts > 0:
            self.conflicts -= 1
            raise VersionConflict(writes[0].agent_id, writes[0].expected_version or 0)
        self.inner.commit(writes)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class FakeLedger:
    """A side database where a fake effect handler records every call and every effect it
    applied, so a test can check "at least once, never twice" across killed processes."""

    def __init__(self, path: str) -> None:
        self.path = path
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT, pid INTEGER, done INTEGER)")
        conn.execute("CREATE TABLE IF NOT EXISTS applied (key TEXT PRIMARY KEY, n INTEGER)")
        conn.close()

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, isolation_level=None, timeout=30)


class FakeIdempotentHost:
    """An effect handler keyed by the outbox key: it applies each key's effect once, however
    often it is called, and records each call in a ``FakeLedger``. It answers like
    ``FakeHost`` for the effect types in ``answers``."""

    def __init__(
        self, ledger_path: str, pid: int, answers: dict[type[Any], str], pause: float = 0.0
    ) -> None:
        self.conn = FakeLedger(ledger_path).connect()
        self.pid = pid
        self.answers = answers
        self.pause = pause

    def __call__(self, agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        self.conn.execute("INSERT INTO calls VALUES (?, ?, 0)", (key, self.pid))
        if self.pause:
            time.sleep(self.pause)  # real adapters take time: widens the window for a kill
        self.conn.execute(
            "INSERT INTO applied VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET n = n", (key,)
        )
        self.conn.execute(
            "UPDATE calls SET done = 1 WHERE key = ? AND pid = ? AND done = 0", (key, self.pid)
        )
        answer = self.answers.get(type(effect))
        return (Event(answer, Actor.SYSTEM),) if answer else ()
