"""Schema versions, foreign and corrupt databases, unreachable servers, broken connections."""

from __future__ import annotations

import multiprocessing
import os
import socket
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from runtime_support import T0

from agentfsm import Actor, Event, InvalidInput
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    SCHEMA_VERSION,
    Codec,
    ConnectionLost,
    Controller,
    CorruptDatabase,
    ForeignDatabase,
    ManualClock,
    PostgresStore,
    SchemaTooNew,
    SQLiteStore,
    StoreError,
    StoreUnavailable,
    UnknownMachine,
    UnknownStoredStatus,
    replay_differences,
)
from agentfsm.runtime._codec import DEFAULT_CODEC
from agentfsm.runtime._schema import POSTGRES_V1, SQLITE_V1

S = Actor.SYSTEM


def _v1_rows() -> list[tuple[str, tuple[Any, ...]]]:
    data = DEFAULT_CODEC.dumps(AlfeAgent("old", "Old"))
    at = T0.isoformat()
    return [
        (
            "INSERT INTO agents VALUES ('old', 'alfe', 'pending', 0, {p}, {p}, {p}, {p})",
            ("{at}", data, "{at}", "{at}"),
        ),
        (
            "INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, from_status, "
            "to_status, version, at) VALUES ('create:old', 'old', 'create', NULL, 'alfe', {p}, "
            "NULL, 'pending', 0, {p})",
            ('{"data":' + data + "}", at),
        ),
    ]


# -- SQLite -------------------------------------------------------------------------------


def test_new_sqlite_database_is_at_the_current_version(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    assert store.schema_version() == SCHEMA_VERSION
    store.close()
    again = SQLiteStore(tmp_path / "a.db")  # reopening changes nothing
    assert again.schema_version() == SCHEMA_VERSION
    again.close()


def test_sqlite_version_1_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for stmt in SQLITE_V1:
        conn.execute(stmt)
    at = T0.isoformat()
    for sql, args in _v1_rows():
        conn.execute(sql.format(p="?"), tuple(at if a == "{at}" else a for a in args))
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    assert store.schema_version() == SCHEMA_VERSION
    controller = Controller(MACHINES, store, ManualClock(T0))
    controller.handle("old", Event("provision", S), correlation_id="after-migration")
    assert store.history("old")[-1].correlation_id == "after-migration"
    assert replay_differences(store, MACHINES) == []
    store.close()


def test_newer_sqlite_schema_is_refused(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "a.db").close()
    conn = sqlite3.connect(tmp_path / "a.db")
    conn.execute("UPDATE agentfsm_schema SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNew, match=r"version 99.*upgrade agentfsm"):
        SQLiteStore(tmp_path / "a.db")


def test_foreign_sqlite_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(ForeignDatabase, match="invoices"):
        SQLiteStore(path)
    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    conn.close()
    assert tables == ["invoices"]


@pytest.mark.parametrize(
    "content", [b"this is a text file, not a database\n" * 20, os.urandom(8192)]
)
def test_non_database_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(content)
    with pytest.raises(CorruptDatabase, match="not a usable SQLite database"):
        SQLiteStore(path)
    assert path.read_bytes() == content


def test_damaged_database_pages_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = SQLiteStore(path)
    controller = Controller(MACHINES, store, ManualClock(T0))
    controller.create_many([(f"a{i}", "alfe", AlfeAgent(f"a{i}", "n" * 200)) for i in range(300)])
    store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    raw = bytearray(path.read_bytes())
    raw[4096 * 2 : 4096 * 6] = os.urandom(4096 * 4)
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptDatabase, match="malformed"):
        _read_everything(path)


def _read_everything(path: Path) -> None:
    damaged = SQLiteStore(path)
    damaged.agents()
    damaged.audit_log()


def test_missing_directory_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="cannot open"):
        SQLiteStore(tmp_path / "no" / "such" / "dir" / "a.db")


def test_unknown_stored_status_is_reported_not_mapped(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    controller = Controller(MACHINES, store, ManualClock(T0))
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    store._conn().execute("UPDATE agents SET status = 'hibernating' WHERE id = 'a1'")
    fresh = Controller(MACHINES, store, ManualClock(T0))
    with pytest.raises(UnknownStoredStatus, match=r"'hibernating'.*migrate") as caught:
        fresh.handle("a1", Event("provision", S))
    error = caught.value
    assert (error.agent_id, error.machine, error.status) == ("a1", "alfe", "hibernating")
    with pytest.raises(UnknownStoredStatus):
        fresh.get("a1")
    assert len(store.history("a1")) == 1
    only_recif = Controller({"recif": MACHINES["recif"]}, store, ManualClock(T0))
    with pytest.raises(UnknownMachine, match="'alfe'"):
        only_recif.get("a1")
    store.close()


class _KillingCodec(Codec):
    """A codec that kills its own process while encoding an outbox item: the process dies in
    the middle of a write transaction."""

    def encode(self, value: Any) -> Any:
        from agentfsm import effects as fx

        if isinstance(value, fx.IssueCredentials):
            os.kill(os.getpid(), 9)
        return super().encode(value)


def _die_mid_commit(path: str) -> None:
    store = SQLiteStore(path, codec=_KillingCodec(DEFAULT_CODEC._by_tag.values()))
    Controller(MACHINES, store, ManualClock(T0)).handle("a1", Event("provision", S))


def test_sqlite_process_killed_mid_transaction_writes_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "a.db")
    store = SQLiteStore(path)
    Controller(MACHINES, store, ManualClock(T0)).create("a1", "alfe", AlfeAgent("a1", "Bob"))
    proc = multiprocessing.get_context("spawn").Process(target=_die_mid_commit, args=(path,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -9
    reopened = SQLiteStore(path)
    assert reopened.load("a1").snapshot.version == 0
    assert len(reopened.history("a1")) == 1
    assert reopened.outbox() == []
    # And the database still takes writes.
    Controller(MACHINES, reopened, ManualClock(T0)).handle("a1", Event("provision", S))
    assert reopened.load("a1").snapshot.version == 1
    store.close()
    reopened.close()


# -- PostgreSQL ---------------------------------------------------------------------------


def _schema() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.mark.postgres
def test_postgres_version_1_is_migrated_and_newer_refused(pg_dsn: str) -> None:
    schema = _schema()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        for stmt in POSTGRES_V1:
            conn.execute(stmt)
        for sql, args in _v1_rows():
            conn.execute(sql.format(p="%s"), tuple(T0 if a == "{at}" else a for a in args))
    store = PostgresStore(pg_dsn, schema=schema)
    assert store.schema_version() == SCHEMA_VERSION
    Controller(MACHINES, store, ManualClock(T0)).handle("old", Event("provision", S))
    assert replay_differences(store, MACHINES) == []
    store.close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"UPDATE {schema}.agentfsm_schema SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaTooNew, match=f"version {SCHEMA_VERSION + 1}"):
        PostgresStore(pg_dsn, schema=schema)


@pytest.mark.postgres
def test_postgres_foreign_schema_is_refused(pg_dsn: str) -> None:
    schema = _schema()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.agents (id int)")
    with pytest.raises(ForeignDatabase, match="agents"):
        PostgresStore(pg_dsn, schema=schema)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("dsn", "error", "message"),
    [
        ("host=127.0.0.1 port=notaport", StoreError, "malformed|invalid"),
        ("this is = not a dsn = at all", StoreError, "malformed|invalid|syntax"),
        ("postgresql://postgres@127.0.0.1:{port}/nosuchdb", StoreUnavailable, "nosuchdb"),
    ],
)
def test_postgres_bad_dsn_is_a_clear_error(
    pg_server: Any, dsn: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        PostgresStore(dsn.format(port=pg_server.port), connect_timeout=2)


@pytest.mark.postgres
def test_postgres_unreachable_server_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(StoreUnavailable, match="cannot connect") as caught:
            PostgresStore(f"host=127.0.0.1 port={port} user=x password=secret", connect_timeout=2)
    assert caught.value.retryable
    assert "secret" not in str(caught.value)


@pytest.mark.postgres
def test_postgres_bad_schema_name_is_refused(pg_dsn: str) -> None:
    with pytest.raises(StoreError, match="schema name"):
        PostgresStore(pg_dsn, schema="x; DROP TABLE y")


def test_regression_store_opened_with_an_argument_of_another_type_raised_type_error(
    tmp_path: Path,
) -> None:
    # None, a number, a list: each was a TypeError or an AttributeError from inside the store.
    for path in (None, 5, ["x.db"], b"x.db"):
        with pytest.raises(InvalidInput, match="path must be a string"):
            SQLiteStore(path)  # type: ignore[arg-type]
    for sync in (None, 1, ["FULL"]):
        with pytest.raises(InvalidInput, match="synchronous must be a string"):
            SQLiteStore(tmp_path / "a.db", synchronous=sync)  # type: ignore[arg-type]
    for timeout in (None, float("nan"), -1, "30"):
        with pytest.raises(InvalidInput, match="busy_timeout"):
            SQLiteStore(tmp_path / "a.db", busy_timeout=timeout)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="synchronous must be OFF"):
        SQLiteStore(tmp_path / "a.db", synchronous="sometimes")
    assert list(tmp_path.iterdir()) == []  # every refusal came before the file was made


def test_regression_path_with_a_lone_surrogate_raised_unicode_encode_error(
    tmp_path: Path,
) -> None:
    for name in ("a\udcff.db", "a\ud800.db", "a\x00.db"):
        with pytest.raises(InvalidInput, match="NUL or a lone surrogate"):
            SQLiteStore(str(tmp_path / name))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
def test_regression_postgres_store_opened_with_none_raised_type_error(pg_dsn: str) -> None:
    for dsn in (None, 5, ("host=x",)):
        with pytest.raises(InvalidInput, match="DSN must be a string"):
            PostgresStore(dsn)  # type: ignore[arg-type]
    for schema in (None, ("a", "b"), 7):
        with pytest.raises(InvalidInput, match="schema name must be a string"):
            PostgresStore(pg_dsn, schema=schema)  # type: ignore[arg-type]
    for sizes in ((-1, 8), (1, 0), (9, 8), (1, 2**70), (True, 8)):
        with pytest.raises(InvalidInput):
            PostgresStore(pg_dsn, min_size=sizes[0], max_size=sizes[1])
    with pytest.raises(InvalidInput, match="connect_timeout"):
        PostgresStore(pg_dsn, connect_timeout=float("inf"))


@pytest.mark.postgres
def test_regression_surrogate_in_dsn_raised_unicode_encode_error(pg_dsn: str) -> None:
    for dsn in ("\udcff", pg_dsn + " application_name=\ud800", "host=x\x00"):
        with pytest.raises(StoreError, match="NUL or a lone surrogate"):
            PostgresStore(dsn)


class _TerminatingCodec(Codec):
    """A codec that, while the store is mid-transaction, has the server kill that connection."""

    dsn = ""

    def encode(self, value: Any) -> Any:
        from agentfsm import effects as fx

        if isinstance(value, fx.IssueCredentials):
            with psycopg.connect(self.dsn, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE state = 'idle in transaction' AND pid <> pg_backend_pid()"
                )
        return super().encode(value)


@pytest.mark.postgres
def test_postgres_connection_killed_mid_transaction_writes_nothing(pg_dsn: str) -> None:
    schema = _schema()
    codec = _TerminatingCodec(DEFAULT_CODEC._by_tag.values())
    codec.dsn = pg_dsn
    store = PostgresStore(pg_dsn, schema=schema, codec=codec)
    controller = Controller(MACHINES, store, ManualClock(T0))
    controller.create("a1", "alfe", AlfeAgent("a1", "Bob"))
    with pytest.raises(ConnectionLost, match="rolled back") as caught:
        controller.handle("a1", Event("provision", S))
    assert caught.value.retryable
    assert store.load("a1").snapshot.version == 0
    assert len(store.history("a1")) == 1
    assert store.outbox() == []
    # The pool drops the broken connection; the store keeps working.
    plain = PostgresStore(pg_dsn, schema=schema)
    Controller(MACHINES, plain, ManualClock(T0)).handle("a1", Event("provision", S))
    assert store.load("a1").snapshot.version == 1
    store.close()
    plain.close()
