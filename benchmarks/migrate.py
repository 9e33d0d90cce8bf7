"""Migrating stored agents, beside a bare-SQL UPDATE of the same rows.

    python benchmarks/migrate.py             # 100,000 agents on SQLite and PostgreSQL, twice
    python benchmarks/migrate.py --agents 10000 --runs 1    # a quick look
    python benchmarks/migrate.py --json

The fleet: ``--agents`` Alfe v1 agents, every other one provisioned (so the store holds two
statuses, outbox items and the log rows a real fleet has). Ours: ``apply_migration`` of
``ALFE_V1_TO_V2`` in batches of ``--batch`` agents: per agent a compare-and-set of its row (new
status, version and machine version) and one ``migrate v1→v2`` audit row, each batch one
transaction. The baseline, on the same rows right after: one bare ``UPDATE agents SET
machine_version = 3, version = version + 1, updated_at = ...`` over all of them, in one
statement, with no audit row. The ratio is ours over the baseline's agents per second.

Also timed: ``check_migration`` of the shipped examples.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentfsm import Actor, Event
from agentfsm.migrate import apply_migration, check_migration
from agentfsm.migrate.examples import ALFE_V1_TO_V2, RECIF_V1_TO_V2
from agentfsm.models import ALFE, AlfeAgent
from agentfsm.runtime import (
    Controller,
    Delivery,
    ManualClock,
    PostgresStore,
    SQLiteStore,
    Store,
    ThrowawayPostgres,
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


def _ours(store: Store, count: int, batch: int) -> float:
    report = apply_migration(store, ALFE_V1_TO_V2, batch_size=batch, clock=ManualClock(T0))
    if report.migrated != count or report.remaining:
        raise RuntimeError(f"migrated {report.migrated} of {count}")
    return count / report.seconds


def _bare_sqlite(path: str, count: int) -> float:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    begin = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    changed = conn.execute(_BARE.format(p="?"), (T0.isoformat(),)).rowcount
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - begin
    conn.close()
    if changed != count:
        raise RuntimeError(f"the baseline updated {changed} of {count}")
    return count / elapsed


def _bare_postgres(dsn: str, schema: str, count: int) -> float:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        begin = time.perf_counter()
        changed = conn.execute(_BARE.format(p="%s"), (T0,)).rowcount
        elapsed = time.perf_counter() - begin
    if changed != count:
        raise RuntimeError(f"the baseline updated {changed} of {count}")
    return count / elapsed


def _figure(ours: float, bare: float) -> dict[str, float]:
    return {"ours_per_s": round(ours), "bare_per_s": round(bare), "ratio": round(ours / bare, 3)}


def run(count: int, runs: int, batch: int, log: Any) -> dict[str, Any]:
    """Every figure, ``runs`` times each."""
    out: dict[str, Any] = {"agents": count, "batch": batch, "sqlite": [], "postgres": []}
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
            ours = _ours(store, count, batch)
            store.close()
            figure = _figure(ours, _bare_sqlite(path, count))
            out["sqlite"].append(figure)
            log(f"  sqlite: {figure}")
    with ThrowawayPostgres() as pg:
        for n in range(runs):
            schema = f"migrate_{n}"
            store = PostgresStore(pg.dsn, schema=schema)
            log(f"postgres run {n + 1}: storing {count:,} agents")
            _fleet(store, count)
            ours = _ours(store, count, batch)
            store.close()
            figure = _figure(ours, _bare_postgres(pg.dsn, schema, count))
            out["postgres"].append(figure)
            log(f"  postgres: {figure}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    figures = run(args.agents, args.runs, args.batch, log)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"\nmigrating {args.agents:,} agents (batches of {args.batch:,}):")
    print(f"{'store':<10} {'run':>3} {'ours/s':>10} {'bare UPDATE/s':>14} {'ratio':>7}")
    for kind in ("sqlite", "postgres"):
        for i, f in enumerate(figures[kind], 1):
            print(
                f"{kind:<10} {i:>3} {f['ours_per_s']:>10,} {f['bare_per_s']:>14,} "
                f"{f['ratio']:>7.1%}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
