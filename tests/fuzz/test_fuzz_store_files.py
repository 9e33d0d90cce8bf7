"""The stores' open and read paths on foreign, non-SQLite and damaged databases, and read
methods given hostile arguments.

Contracts: ``SQLiteStore(path)`` raises ``ForeignDatabase`` for another program's database,
``CorruptDatabase`` for a file that is not SQLite or is damaged, ``SchemaTooNew``,
``StoreUnavailable``; reading damaged contents gives ``CorruptDatabase`` (``CodecError`` for
stored JSON naming an unknown type, ``UnknownStoredStatus``/``UnknownMachine`` through the
controller), never ``ValueError``/``KeyError``/``UnicodeDecodeError``. A refusal leaves a foreign
or damaged file byte-for-byte untouched, with no new file beside it.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentfsm import Event, InvalidInput, MissingExtra
from agentfsm.models import MACHINES
from agentfsm.runtime import (
    CodecError,
    Controller,
    CorruptDatabase,
    ManualClock,
    PostgresStore,
    SchemaError,
    SQLiteStore,
    Store,
    StoreError,
    ThrowawayPostgres,
    UnknownMachine,
    UnknownStoredStatus,
)

from . import _hostile as h
from ._stores import STORE_KINDS, dump, open_store, record_for
from ._tally import attempt, fuzz_settings, unchanged

FUZZ = fuzz_settings(25)
READ_ERRORS = (CorruptDatabase, CodecError, UnknownStoredStatus, UnknownMachine)
OPEN_ERRORS = (SchemaError,)  # ForeignDatabase, CorruptDatabase, SchemaTooNew

_names = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz_"), min_size=1, max_size=12)


def files_in(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def new_folder(base: Path) -> Path:
    folder = base / uuid.uuid4().hex[:10]
    folder.mkdir()
    return folder


def _open_and_read(path: Path, entry: str, *inputs: object) -> None:
    """Open a SQLite store on ``path`` and, if it opens, read everything it offers."""
    store = attempt(entry, OPEN_ERRORS, lambda: SQLiteStore(path), *inputs)
    if not isinstance(store, SQLiteStore):
        return
    try:
        _read_everything(store, "SQLiteStore.read", *inputs)
    finally:
        store.close()


def _read_everything(store: Store, entry: str, *inputs: object) -> None:
    ids = attempt(entry, READ_ERRORS, lambda: [a.agent_id for a in store.agents()], *inputs)
    agent_ids = ids if isinstance(ids, list) else ["a-1"]
    controller = Controller(MACHINES, store, ManualClock(h.T0))
    for agent_id in agent_ids[:3]:
        attempt(entry, READ_ERRORS, lambda a=agent_id: store.load(a), *inputs)
        attempt(entry, READ_ERRORS, lambda a=agent_id: store.load_many([a]), *inputs)
        attempt(entry, READ_ERRORS, lambda a=agent_id: store.history(a), *inputs)
        attempt(entry, READ_ERRORS, lambda a=agent_id: controller.get(a), *inputs)
        attempt(entry, READ_ERRORS, lambda a=agent_id: store.timers(a), *inputs)
    attempt(entry, READ_ERRORS, store.audit_log, *inputs)
    attempt(entry, READ_ERRORS, lambda: store.audit_row("a-1", "create", "create:a-1"), *inputs)
    attempt(entry, READ_ERRORS, store.outbox, *inputs)
    attempt(entry, READ_ERRORS, store.timers, *inputs)
    attempt(entry, READ_ERRORS, store.schema_version, *inputs)


def _foreign_db(path: Path, tables: list[str], rows: list[Any], wal: bool, ours: bool) -> None:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode = WAL")
    for name in tables:
        conn.execute(f'CREATE TABLE IF NOT EXISTS "{name}" (k, v)')
        conn.executemany(
            f'INSERT INTO "{name}" VALUES (?, ?)', [(i, r) for i, r in enumerate(rows)]
        )
    if ours:  # a schema table of the same name that is not agentfsm's
        conn.execute("CREATE TABLE agentfsm_schema (version INTEGER, application TEXT)")
        conn.execute("INSERT INTO agentfsm_schema VALUES (1, 'someone-else')")
    conn.commit()
    conn.close()


@FUZZ
@given(
    tables=st.lists(st.one_of(_names, st.sampled_from(("agents", "audit", "outbox"))),
                    min_size=1, max_size=4),
    rows=st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20),
                            st.binary(max_size=20)),
                  max_size=5),
    wal=st.booleans(),
    ours=st.booleans(),
)  # fmt: skip
def test_fuzz_sqlite_store_leaves_a_foreign_database_untouched(
    tmp_path: Path, tables: list[str], rows: list[Any], wal: bool, ours: bool
) -> None:
    """Another program's SQLite file is refused (``ForeignDatabase``) and left byte-for-byte."""
    folder = new_folder(tmp_path)
    path = folder / "their.db"
    _foreign_db(path, tables, rows, wal, ours)
    before = files_in(folder)
    _open_and_read(path, "SQLiteStore(foreign file)", tables, wal, ours)
    unchanged("SQLiteStore(foreign file)", before, files_in(folder), tables, wal, ours)


@FUZZ
@given(
    content=st.one_of(
        st.binary(min_size=1, max_size=2048),
        st.binary(min_size=0, max_size=200).map(lambda b: b"SQLite format 3\x00" + b),
        st.binary(min_size=1, max_size=64).map(lambda b: b * 64),
    )
)
def test_fuzz_sqlite_store_refuses_a_file_that_is_not_sqlite(
    tmp_path: Path, content: bytes
) -> None:
    """A file of other bytes is refused (``CorruptDatabase``) and left byte-for-byte."""
    folder = new_folder(tmp_path)
    path = folder / "not.db"
    path.write_bytes(content)
    before = files_in(folder)
    _open_and_read(path, "SQLiteStore(not SQLite)", content[:32])
    unchanged("SQLiteStore(not SQLite)", before, files_in(folder), content[:32])


def _real_store_file(folder: Path) -> Path:
    path = folder / "agents.db"
    store = SQLiteStore(path)
    c = Controller(MACHINES, store, ManualClock(h.T0))
    for agent_id, machine in (("a-1", "alfe"), ("r-1", "recif")):
        c.create(agent_id, machine, record_for(machine, agent_id))
    c.handle("a-1", Event("provision", "S"))
    c.handle("a-1", Event("host_up", "S"))
    c.handle("a-1", Event("stop", "U"))
    c.handle("r-1", Event("deploy", "U"))
    store.close()
    return path


# (table, column, SQL expression of the damaged value); rows are damaged where ``id``/``seq`` is
# their first, so every read path meets the damage.
DAMAGE = (
    ("agents", "since", "'not a time'"),
    ("agents", "since", "''"),
    ("agents", "since", "42"),
    ("agents", "since", "CAST(x'ff' AS TEXT)"),
    ("agents", "created_at", "'2026-13-45T99:99:99'"),
    ("agents", "data", "'not json'"),
    ("agents", "data", '\'{"@type": "Nope"}\''),
    ("agents", "data", '\'{"@type": "AlfeAgent", "agent_id": 3}\''),
    ("agents", "data", "'1' || printf('%.5000c', '0')"),
    ("agents", "data", "printf('%.5000c', '[')"),
    ("agents", "data", "x'fffe00'"),
    ("agents", "data", "CAST(x'c3' AS TEXT)"),
    ("agents", "data", "NULL"),
    ("agents", "status", "'no-such-status'"),
    ("agents", "status", "NULL"),
    ("agents", "version", "'seven'"),
    ("agents", "version", "1e300"),
    ("agents", "machine", "'no-such-machine'"),
    ("audit", "actor", "'Z'"),
    ("audit", "actor", "''"),
    ("audit", "at", "'yesterday'"),
    ("audit", "payload", "'{'"),
    ("audit", "payload", "'[1,2]'"),
    ("audit", "kind", "'weird'"),
    ("audit", "refusal_code", "'x'"),
    ("audit", "version", "'v'"),
    ("audit", "event_id", "CAST(x'ff' AS TEXT)"),
    ("outbox", "payload", '\'{"@type": "Nope"}\''),
    ("outbox", "next_attempt_at", "'soon'"),
    ("outbox", "state", "'limbo'"),
    ("timers", "due_at", "'later'"),
    ("agentfsm_schema", "version", "0"),
    ("agentfsm_schema", "version", "-1"),
    ("agentfsm_schema", "version", "'two'"),
    ("agentfsm_schema", "version", "NULL"),
    ("agentfsm_schema", "version", "1e300"),
    ("agentfsm_schema", "application", "'agentfsm '"),
)


def _damage(path: Path, table: str, column: str, value: str, every: bool) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA ignore_check_constraints = ON")
    first = f" WHERE rowid = (SELECT MIN(rowid) FROM {table})"
    try:
        conn.execute(f"UPDATE {table} SET {column} = {value}{'' if every else first}")
    except sqlite3.IntegrityError:  # NOT NULL or UNIQUE: damage one row, or write the text
        try:
            conn.execute(f"UPDATE {table} SET {column} = {value}{first}")
        except sqlite3.IntegrityError:
            conn.execute(f"UPDATE {table} SET {column} = 'NULL'{first}")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


@FUZZ
@given(damage=st.sampled_from(DAMAGE), every=st.booleans())
def test_fuzz_sqlite_store_reads_damaged_contents(
    tmp_path: Path, damage: tuple[str, str, str], every: bool
) -> None:
    """Damaged contents: every read path answers or raises a documented error, and the file
    is left as it was."""
    folder = new_folder(tmp_path)
    path = _real_store_file(folder)
    _damage(path, *damage, every)
    before = files_in(folder)
    _open_and_read(path, "SQLiteStore(damaged)", damage)
    unchanged("SQLiteStore(damaged)", before, files_in(folder), damage)


@FUZZ
@given(damage=st.sampled_from(DAMAGE))
def test_fuzz_sqlite_store_handle_on_damaged_contents(
    tmp_path: Path, damage: tuple[str, str, str]
) -> None:
    """``Controller.handle`` on damaged contents: an outcome or a documented error; an error
    writes nothing."""
    folder = new_folder(tmp_path)
    path = _real_store_file(folder)
    _damage(path, *damage, True)
    before = files_in(folder)
    store = attempt("SQLiteStore(damaged)", OPEN_ERRORS, lambda: SQLiteStore(path), damage)
    if not isinstance(store, SQLiteStore):
        return
    c = Controller(MACHINES, store, ManualClock(h.T0))
    try:
        result = attempt(
            "Controller.handle[SQLiteStore damaged]",
            (StoreError,),
            lambda: c.handle("a-1", Event("start", "U")),
            damage,
        )
    finally:
        store.close()
    if isinstance(result, BaseException):
        unchanged("Controller.handle[SQLiteStore damaged]", before, files_in(folder), damage)


# -- PostgreSQL --------------------------------------------------------------------------------

PG_DAMAGE = (
    ("agents", "data", '\'{"@type": "Nope"}\'::jsonb'),
    ("agents", "data", "'\"just a string\"'::jsonb"),
    ("agents", "data", "('1' || repeat('0', 5000))::jsonb"),
    ("agents", "data", "(repeat('[', 5000) || repeat(']', 5000))::jsonb"),
    ("agents", "data", '\'{"@type": "AlfeAgent", "agent_id": 3}\'::jsonb'),
    ("agents", "status", "'no-such-status'"),
    ("agents", "machine", "'no-such-machine'"),
    ("agents", "since", "'infinity'::timestamptz"),
    ("agents", "since", "'-infinity'::timestamptz"),
    ("agents", "version", "-1"),
    ("audit", "actor", "'Z'"),
    ("audit", "kind", "'weird'"),
    ("audit", "payload", "'[1, 2]'::jsonb"),
    ("audit", "at", "'infinity'::timestamptz"),
    ("outbox", "payload", '\'{"@type": "Nope"}\'::jsonb'),
    ("timers", "due_at", "'infinity'::timestamptz"),
    ("agentfsm_schema", "version", "0"),
    ("agentfsm_schema", "version", "-1"),
    ("agentfsm_schema", "application", "'someone-else'"),
)


def _pg_tables(server: ThrowawayPostgres, schema: str) -> Any:
    import psycopg

    out = {}
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        for table in ("agentfsm_schema", "agents", "audit", "outbox", "timers"):
            # As text: the driver cannot read some damage back (a timestamptz of infinity).
            rows = conn.execute(f'SELECT t::text FROM "{schema}".{table} t').fetchall()
            out[table] = sorted(repr(r) for r in rows)
    return out


def _pg_damage(server: ThrowawayPostgres, schema: str, table: str, column: str, value: str) -> None:
    import psycopg

    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f'UPDATE "{schema}".{table} SET {column} = {value}')


@FUZZ
@given(damage=st.sampled_from(PG_DAMAGE))
def test_fuzz_postgres_store_reads_damaged_contents(
    fuzz_pg: ThrowawayPostgres, damage: tuple[str, str, str]
) -> None:
    """Damaged rows in PostgreSQL: documented errors only, and reading changes no row."""
    schema = f"d_{uuid.uuid4().hex[:12]}"
    store = PostgresStore(fuzz_pg.dsn, schema=schema, max_size=2)
    c = Controller(MACHINES, store, ManualClock(h.T0))
    for agent_id, machine in (("a-1", "alfe"), ("r-1", "recif")):
        c.create(agent_id, machine, record_for(machine, agent_id))
    c.handle("a-1", Event("provision", "S"))
    c.handle("r-1", Event("deploy", "U"))
    store.close()
    _pg_damage(fuzz_pg, schema, *damage)
    before = _pg_tables(fuzz_pg, schema)
    reopened = attempt(
        "PostgresStore(damaged)",
        OPEN_ERRORS,
        lambda: PostgresStore(fuzz_pg.dsn, schema=schema, max_size=2),
        damage,
    )
    if isinstance(reopened, PostgresStore):
        try:
            _read_everything(reopened, "PostgresStore.read", damage)
        finally:
            reopened.close()
    unchanged("PostgresStore(damaged)", before, _pg_tables(fuzz_pg, schema), damage)


@FUZZ
@given(schema=st.one_of(h.text(), st.sampled_from(("pg_catalog", "information_schema", "public"))),
       dsn=st.one_of(st.just("real"), h.text(), h.anything()))  # fmt: skip
def test_fuzz_postgres_store_open(fuzz_pg: ThrowawayPostgres, schema: Any, dsn: Any) -> None:
    """Hostile schema names and DSNs: a store, or ``StoreError`` (``MissingExtra``)."""
    target = fuzz_pg.dsn if dsn == "real" else h.real(dsn)
    name = h.real(schema)
    store = attempt(
        "PostgresStore(open)",
        (StoreError, MissingExtra, InvalidInput),
        lambda: PostgresStore(target, schema=name, max_size=1, connect_timeout=1),
        target,
        name,
    )
    if isinstance(store, PostgresStore):
        store.close()


@FUZZ
@given(
    path=st.one_of(h.text(), h.anything()),
    synchronous=st.one_of(st.just("NORMAL"), h.text(), h.anything()),
)
def test_fuzz_sqlite_store_open_arguments(tmp_path: Path, path: Any, synchronous: Any) -> None:
    """Hostile paths and settings: a store, or a ``StoreError`` (``InvalidInput`` for a value
    of the wrong type)."""
    target = h.real(path)
    if isinstance(target, str) and not (type(target) is str and target == ":memory:"):
        # Keep every file this test may create inside tmp_path; a str subclass stays one
        # (one that equals everything would otherwise name a file in the working directory).
        name = str.replace(str.replace(target, "/", "_"), "\\", "_")[:200]
        target = type(target)(os.path.join(new_folder(tmp_path), name))
    elif isinstance(target, bytes | bytearray | memoryview | os.PathLike):
        return  # bytes paths are relative to the working directory: not those
    sync = h.real(synchronous)
    store = attempt(
        "SQLiteStore(open)",
        (StoreError, InvalidInput),
        lambda: SQLiteStore(target, synchronous=sync),
        target,
        sync,
    )
    if isinstance(store, SQLiteStore):
        store.close()


# -- read methods with hostile arguments ---------------------------------------------------------


@pytest.fixture(params=STORE_KINDS)
def filled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    server = request.getfixturevalue("fuzz_pg") if request.param == "postgres" else None
    store = open_store(request.param, tmp_path, server)
    c = Controller(MACHINES, store, ManualClock(h.T0))
    c.create("a-1", "alfe", record_for("alfe", "a-1"))
    c.handle("a-1", Event("provision", "S"))
    try:
        yield store
    finally:
        store.close()


@FUZZ
@given(a=st.one_of(h.text(), h.anything()), b=st.one_of(h.ints(), h.floats(), h.anything()),
       c=st.one_of(h.datetimes(), h.anything()))  # fmt: skip
def test_fuzz_store_read_methods(filled: Store, a: Any, b: Any, c: Any) -> None:
    """Every read method with hostile arguments: an answer or a ``StoreError``/``InvalidInput``,
    and nothing stored changes."""
    a, b, c = h.real(a), h.real(b), h.real(c)
    entry = f"{type(filled).__name__}.read(hostile arguments)"
    allowed = (StoreError, InvalidInput)
    before = dump(filled)
    attempt(entry, allowed, lambda: filled.load(a), a)
    attempt(entry, allowed, lambda: filled.load_many([a, "a-1"]), a)
    attempt(entry, allowed, lambda: filled.load_many(a), a)
    attempt(entry, allowed, lambda: filled.history(a), a)
    attempt(entry, allowed, lambda: filled.audit_row(a, "S", "e"), a)
    attempt(entry, allowed, lambda: filled.audit_row("a-1", a, "e"), a)
    attempt(entry, allowed, lambda: filled.audit_row("a-1", "S", a), a)
    attempt(entry, allowed, lambda: filled.audit_log(b), b)
    attempt(entry, allowed, lambda: filled.audit_log(0, b), b)
    attempt(entry, allowed, lambda: filled.outbox(state=a), a)
    attempt(entry, allowed, lambda: filled.outbox(agent_id=a, limit=b), a, b)
    attempt(entry, allowed, lambda: filled.timers(a), a)
    attempt(entry, allowed, lambda: filled.agents(machine=a, status=a), a)
    attempt(entry, allowed, lambda: filled.agents(prefix=a, after=a, limit=b), a, b)
    attempt(entry, allowed, lambda: filled.prune_done(c, b), c, b)
    unchanged(entry, before, dump(filled), a, b, c)
