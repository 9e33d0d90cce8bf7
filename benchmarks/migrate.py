"""Migrating stored agents, beside a bare-SQL UPDATE of the same rows.

    python benchmarks/migrate.py             # 100,000 agents on SQLite and PostgreSQL, twice
    python benchmarks/migrate.py --agents 10000 --runs 1    # a quick look
    python benchmarks/migrate.py --json

The fleet: ``--agents`` Alfe v1 agents, every other one provisioned (so the store holds two
statuses, outbox items and the log rows a real fleet has). Ours: ``apply_migration`` in batches
of ``--batch`` agents: per agent a compare-and-set of its row (new status, version and machine
version) and one ``migrate v1→v2`` audit row, each batch one transaction. Four migrations, by
the path they take (``PATHS``): status-only and a timer rule (the database moves the rows),
a status chooser and a data transform (every agent through Python); the fleet is put back at v1
between them. The baseline, on the same rows right after: one bare ``UPDATE agents SET
machine_version = 3, version = version + 1, updated_at = ...`` over all of them, in one
statement, with no audit row. The ratio is ours over the baseline's agents per second.

Also timed: ``check_migration`` of the shipped examples, and the issue's scenario at its size:
``--live`` Alfe agents (10,000) in every status, with pending timers, migrated on each store
while a controller keeps handling events for them; afterwards every agent has exactly one
migration row and replay equals the store.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from agentfsm import Actor, Event, Snapshot
from agentfsm.migrate import (
    CANCEL,
    DataTransform,
    Migration,
    StatusChooser,
    apply_migration,
    check_migration,
)
from agentfsm.migrate.examples import ALFE_V1_TO_V2, ALFE_V2, RECIF_V1_TO_V2
from agentfsm.models import ALFE, AlfeAgent
from agentfsm.runtime import (
    Controller,
    Delivery,
    ManualClock,
    PostgresStore,
    SQLiteStore,
    Store,
    SystemClock,
    ThrowawayPostgres,
    replay_differences,
)

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
_BARE = (
    "UPDATE agents SET machine_version = 3, version = version + 1, updated_at = {p} "
    "WHERE machine = 'alfe' AND machine_version = 2"
)


def _fleet(store: Store, count: int) -> None:
    controller = Controller(ALFE, store, ManualClock(T0), cache_size=0)
    for start in range(0, count, 1_000):
        ids = [f"a{i:07d}" for i in range(start, min(start + 1_000, count))]
        controller.create_many([(a, "alfe", AlfeAgent(a, f"name-{a}")) for a in ids])
        controller.handle_many(
            [Delivery(a, Event("provision", Actor.SYSTEM, id=f"p-{a}")) for a in ids[::2]]
        )


def _renamed(data: AlfeAgent, defaults: Mapping[str, Any]) -> AlfeAgent:
    return attrs.evolve(data, name=data.name + "-v2")


def _keep_provisioning(snapshot: Snapshot) -> str:
    return "provisioning"


PATHS: dict[str, Migration] = {
    # Moved by the database: no agent row is read into Python.
    "status-only": ALFE_V1_TO_V2,
    "timer rule": Migration(ALFE, ALFE_V2, timers={"boot_timeout": CANCEL}),
    # Every agent through Python: a chooser reads the data of the agents it chooses for...
    "chooser": Migration(
        ALFE,
        ALFE_V2,
        statuses={"provisioning": StatusChooser("stay", ("provisioning",), _keep_provisioning)},
    ),
    # ...and a data transform decodes, rebuilds and re-encodes every agent's record.
    "data transform": Migration(ALFE, ALFE_V2, data=DataTransform("rename", _renamed)),
}
"""The migrations timed, by the path they take through ``apply_migration``."""


def _ours(store: Store, migration: Migration, count: int, batch: int) -> float:
    report = apply_migration(store, migration, batch_size=batch, clock=ManualClock(T0))
    if report.migrated != count or report.remaining:
        raise RuntimeError(f"migrated {report.migrated} of {count}")
    return count / report.seconds


_TEXTS = "SELECT status, data FROM agents ORDER BY id LIMIT ?"
_PG_TEXTS = "SELECT status, data::text FROM agents ORDER BY id LIMIT %s"
_DECIDED = ("chooser", "data transform")
"""The paths decided in Python: their ratio is printed beside what bounds it."""
_AT_V2 = "UPDATE agents SET machine_version = 2 WHERE machine_version = 1"
"""Where the baselines start (a migration leaves the fleet there; ``_RESET`` takes it back)."""

_RESET = (
    "DELETE FROM audit WHERE kind = 'migrate'",
    "UPDATE agents SET machine_version = 1",
)
"""Back to a v1 fleet after a migration and its baseline (the rows' versions stay higher)."""


_SAME_WRITES = (
    "INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, from_status, "
    "to_status, version, at, scope, machine_version) SELECT 'bare', id, 'migrate', NULL, "
    "'bare v2-v3', {payload}, status, status, version + 1, {p}, 'migrate', 3 FROM agents "
    "WHERE machine = 'alfe' AND machine_version = 2",
    "UPDATE agents SET data = {data}, machine_version = 3, version = version + 1, "
    "updated_at = {p} WHERE machine = 'alfe' AND machine_version = 2",
)
"""The writes a data transform makes, in bare SQL: an audit row carrying the new record, and
the row rewritten with it (the record's text rewritten unchanged, in the database)."""

_SQLITE_DATA = {"data": "replace(data, 'small', 'small')",
                "payload": "'{\"data\":' || replace(data, 'small', 'small') || '}'"}  # fmt: skip
_POSTGRES_DATA = {"data": "replace(data::text, 'small', 'small')::jsonb",
                  "payload": "jsonb_build_object('data', replace(data::text, 'small', "
                             "'small')::jsonb)"}  # fmt: skip
_KEPT = {"data": "data", "payload": "'{}'"}
"""A chooser's writes: the audit row carries no record, the row keeps its own."""


def _python_alone(store: Store, migration: Migration, read: str, count: int) -> float:
    """Seconds per agent that the migration's own Python takes alone, with no database: for
    a data transform, decoding, transforming and encoding each stored record; for a chooser,
    decoding the records of the agents it chooses for and choosing."""
    codec = store.codec  # type: ignore[attr-defined]
    rows = store._read(read, (min(count, 20_000),))  # type: ignore[attr-defined]
    apply, loads, dumps = migration.data.apply, codec.loads, codec.dumps_once
    chosen = {s for s, r in migration.statuses.items() if isinstance(r, StatusChooser)}
    new_status = migration.new_status
    begin = time.perf_counter()
    if chosen:
        for status, text in rows:
            if status in chosen:
                new_status(Snapshot(status, 1, T0, loads(text)))
    else:
        for _status, text in rows:
            dumps(apply(loads(text)))
    return (time.perf_counter() - begin) / len(rows)


def _bare_sqlite(
    path: str, count: int, sql: tuple[str, ...] = (_BARE,), data: Mapping[str, str] = _SQLITE_DATA
) -> float:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(_AT_V2)
    begin = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for statement in sql:
        changed = conn.execute(statement.format(p="?", **data), (T0.isoformat(),)).rowcount
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - begin
    for reset in _RESET:
        conn.execute(reset)
    conn.close()
    if changed != count:
        raise RuntimeError(f"the baseline updated {changed} of {count}")
    return count / elapsed


def _bare_postgres(
    dsn: str,
    schema: str,
    count: int,
    sql: tuple[str, ...] = (_BARE,),
    data: Mapping[str, str] = _POSTGRES_DATA,
) -> float:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        conn.execute(_AT_V2)
        begin = time.perf_counter()
        with conn.transaction():
            for statement in sql:
                changed = conn.execute(statement.format(p="%s", **data), (T0,)).rowcount
        elapsed = time.perf_counter() - begin
        for reset in _RESET:
            conn.execute(reset)
        conn.execute("VACUUM ANALYZE agents")
        conn.execute("VACUUM ANALYZE audit")
    if changed != count:
        raise RuntimeError(f"the baseline updated {changed} of {count}")
    return count / elapsed


_S, _U = Actor.SYSTEM, Actor.USER
_RUNNING = [("provision", _S, {}), ("host_up", _S, {}), ("connected", _S, {})]
_SCRIPTS: list[list[tuple[str, Actor, dict[str, str]]]] = [
    [], [("provision", _S, {})], [("capacity_unavailable", _S, {})], _RUNNING[:2], _RUNNING,
    [*_RUNNING, ("connection_lost", _S, {})], [*_RUNNING, ("stop", _U, {})],
    [*_RUNNING, ("stop", _U, {}), ("shutdown_complete", _S, {})],
    [*_RUNNING, ("restart", _U, {})], [("provision", _S, {}), ("provisioning_failed", _S, {})],
    [("provision", _S, {}), ("billing_suspend", _S, {"reason": "payment_issue"})],
    [("delete", _U, {})],
]  # fmt: skip
_WORK = (
    ("start", _U, {}), ("stop", _U, {}), ("restart", _U, {}), ("connected", _S, {}),
    ("connection_lost", _S, {}), ("shutdown_complete", _S, {}), ("hibernate", _S, {}),
    ("billing_resume", _S, {"standing": "good"}),
)  # fmt: skip


def _every_status(store: Store, count: int) -> list[str]:
    """``count`` agents spread over every v1 status (the pending timers come with them)."""
    controller = Controller(ALFE, store, ManualClock(T0))
    ids = [f"s{i:06d}" for i in range(count)]
    for start in range(0, count, 1_000):
        chunk = ids[start : start + 1_000]
        controller.create_many([(a, "alfe", AlfeAgent(a, f"name-{a}")) for a in chunk])
        scripts = [_SCRIPTS[(start + i) % len(_SCRIPTS)] for i in range(len(chunk))]
        for step in range(max(len(s) for s in scripts)):
            controller.handle_many([
                Delivery(a, Event(s[step][0], s[step][1], s[step][2], id=f"{a}:{step}"))
                for a, s in zip(chunk, scripts, strict=True) if step < len(s)
            ])  # fmt: skip
    return ids


def live(store: Store, count: int, batch: int) -> dict[str, Any]:
    """Migrate ``count`` agents in every status while a controller handles events for them."""
    ids = _every_status(store, count)
    timers = len(store.timers())
    controller = Controller([ALFE, ALFE_V2], store, SystemClock())
    stop = threading.Event()
    handled = [0]

    def work() -> None:
        rng = random.Random(1)
        while not stop.is_set():
            name, actor, payload = rng.choice(_WORK)
            controller.handle(rng.choice(ids), Event(name, actor, payload))
            handled[0] += 1

    worker = threading.Thread(target=work)
    worker.start()
    while handled[0] < 100:
        time.sleep(0.01)  # the controller is at work before the migration starts
    before = handled[0]
    try:
        # A short pause between batches, as a throttled migration on a live platform takes.
        report = apply_migration(
            store, ALFE_V1_TO_V2, batch_size=batch, on_batch=lambda n: time.sleep(0.005)
        )
        during = handled[0] - before
    finally:
        stop.set()
        worker.join()
    once = Counter(r.agent_id for r in store.audit_log() if r.kind == "migrate")
    if set(once.values()) != {1} or len(once) != count or report.remaining:
        raise RuntimeError("an agent was not migrated exactly once")
    if replay_differences(store, [ALFE, ALFE_V2]):
        raise RuntimeError("replay differs from the store")
    return {
        "agents": count,
        "pending_timers": timers,
        "migrated_per_s": round(report.migrated / report.seconds),
        "events_handled_during": during,
        "conflicts": controller.stats.conflicts,
    }


def _figure(path: str, ours: float, bare: float) -> dict[str, Any]:
    return {"path": path, "ours_per_s": round(ours), "bare_per_s": round(bare),
            "ratio": round(ours / bare, 3)}  # fmt: skip


def _ceiling(figure: dict[str, Any], same_writes: float, python: float) -> None:
    """The data transform's own costs beside its ratio: the same writes in bare SQL, its
    Python alone, and the ratio one interpreter could reach doing both one after the other."""
    figure["same_writes_per_s"] = round(same_writes)
    figure["python_us"] = round(python * 1e6, 2)
    figure["ceiling"] = round(1 / (python + 1 / same_writes) / figure["bare_per_s"], 3)


def run(
    count: int, runs: int, batch: int, live_count: int, paths: list[str], log: Any
) -> dict[str, Any]:
    """Every figure, ``runs`` times each."""
    out: dict[str, Any] = {"agents": count, "batch": batch, "sqlite": [], "postgres": []}
    if live_count:
        with tempfile.TemporaryDirectory() as tmp:
            store = SQLiteStore(str(Path(tmp) / "live.db"))
            out["live_sqlite"] = live(store, live_count, batch)
            store.close()
        log(f"live migration, sqlite: {out['live_sqlite']}")
        with ThrowawayPostgres() as pg:
            store = PostgresStore(pg.dsn, schema="live")
            out["live_postgres"] = live(store, live_count, batch)
            store.close()
        log(f"live migration, postgres: {out['live_postgres']}")
    started = time.perf_counter()
    assert check_migration(ALFE_V1_TO_V2).ok
    assert check_migration(RECIF_V1_TO_V2).ok
    out["check_migration_s"] = round(time.perf_counter() - started, 3)
    log(f"check-migration of both examples: {out['check_migration_s']:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(runs):
            path = str(Path(tmp) / f"run{n}.db")
            store = SQLiteStore(path)
            log(f"sqlite run {n + 1}: storing {count:,} agents")
            _fleet(store, count)
            store.close()
            for name in paths:
                store = SQLiteStore(path)
                ours = _ours(store, PATHS[name], count, batch)
                store.close()
                figure = _figure(name, ours, _bare_sqlite(path, count))
                if name in _DECIDED:
                    store = SQLiteStore(path)
                    alone = _python_alone(store, PATHS[name], _TEXTS, count)
                    store.close()
                    kept = _KEPT if name == "chooser" else _SQLITE_DATA
                    _ceiling(figure, _bare_sqlite(path, count, _SAME_WRITES, kept), alone)
                out["sqlite"].append(figure)
                log(f"  sqlite: {figure}")
    with ThrowawayPostgres() as pg:
        for n in range(runs):
            schema = f"migrate_{n}"
            store = PostgresStore(pg.dsn, schema=schema)
            log(f"postgres run {n + 1}: storing {count:,} agents")
            _fleet(store, count)
            for name in paths:
                ours = _ours(store, PATHS[name], count, batch)
                figure = _figure(name, ours, _bare_postgres(pg.dsn, schema, count))
                if name in _DECIDED:
                    alone = _python_alone(store, PATHS[name], _PG_TEXTS, count)
                    kept = _KEPT if name == "chooser" else _POSTGRES_DATA
                    same = _bare_postgres(pg.dsn, schema, count, _SAME_WRITES, kept)
                    _ceiling(figure, same, alone)
                out["postgres"].append(figure)
                log(f"  postgres: {figure}")
            store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--live", type=int, default=10_000, help="agents in the live scenario")
    parser.add_argument(
        "--path", action="append", choices=sorted(PATHS),
        help="a migration to time (repeatable; default: all of them)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    figures = run(args.agents, args.runs, args.batch, args.live, args.path or list(PATHS), log)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"\nmigrating {args.agents:,} agents (batches of {args.batch:,}):")
    print(f"{'store':<10} {'migration':<15} {'ours/s':>10} {'bare UPDATE/s':>14} {'ratio':>7}")
    for kind in ("sqlite", "postgres"):
        for f in figures[kind]:
            print(
                f"{kind:<10} {f['path']:<15} {f['ours_per_s']:>10,} {f['bare_per_s']:>14,} "
                f"{f['ratio']:>7.1%}"
            )
            if "ceiling" in f:
                print(
                    f"{'':<10}   the same writes in bare SQL {f['same_writes_per_s']:,}/s; "
                    f"Python alone {f['python_us']} µs an agent; doing both, one after the "
                    f"other: {f['ceiling']:.1%}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
