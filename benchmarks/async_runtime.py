"""The asyncio runtime beside the sync one and beside bare SQL, and how fast workers wake.

    python benchmarks/async_runtime.py            # a readable table
    python benchmarks/async_runtime.py --json     # the figures as JSON
    python benchmarks/async_runtime.py --quick    # smaller counts, for a smoke run

1. Throughput: events/s with 1, 4 and 16 concurrent callers, each owning its own agents and
   cycling billing_suspend -> billing_resume (each event a compare-and-set and an audit row,
   no outbox), one ``handle`` at a time:
   - async: ``AsyncController`` on ``AsyncSQLiteStore`` / ``AsyncPostgresStore``, n tasks;
   - sync: ``Controller`` on ``SQLiteStore`` / ``PostgresStore``, n threads;
   - bare SQL with the same driver doing the same writes: sqlite3 on one thread awaited
     from n tasks (what ``AsyncSQLiteStore`` does) and psycopg's async pool with n tasks,
     the compare-and-set and the audit row in one statement (what ``PostgresStore`` sends).
2. Commit-to-effect latency: from ``handle`` returning (an event with one effect committed)
   to the outbox worker's handler starting, p50 and p99, with the worker woken by the store
   (NOTIFY on PostgreSQL, the in-process signal on SQLite) and with polling alone.

Every figure is measured twice; the table shows both runs and the ratios of their means.
Throughput on a shared two-core machine is noisy; the ratios within one run are what count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agentfsm import Actor, Event
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    DEFAULT_CODEC,
    AsyncController,
    AsyncOutboxWorker,
    AsyncPostgresStore,
    AsyncSQLiteStore,
    Controller,
    ManualClock,
    PostgresStore,
    SQLiteStore,
    ThrowawayPostgres,
)
from agentfsm.runtime._postgres import _CAS_AND_LOG

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
CYCLE = (
    Event("billing_suspend", Actor.SYSTEM, {"reason": "payment_issue"}),
    Event("billing_resume", Actor.SYSTEM, {"standing": "good"}),
)
STATUSES = ("billing_suspended", "pending")
TASKS = (1, 4, 16)
_DATA = DEFAULT_CODEC.dumps(AlfeAgent("x", "name-x"))
_AT = T0.isoformat()


def _ids(tasks: int, per_task: int) -> list[list[str]]:
    return [[f"t{t}-a{i}" for i in range(per_task)] for t in range(tasks)]


def _plan(ids: list[str], count: int) -> list[tuple[str, Event]]:
    """The caller's events: its agents round robin through the cycle, with fresh ids."""
    out = []
    for n in range(count):
        agent = ids[n % len(ids)]
        e = CYCLE[(n // len(ids)) % 2]
        out.append((agent, Event(e.name, e.actor, e.payload, f"{agent}-{n}")))
    return out


# -- throughput: ours ------------------------------------------------------------------------


async def _async_ours(store: Any, tasks: int, count: int) -> float:
    clock = ManualClock(T0)
    controller = AsyncController(MACHINES, store, clock)
    groups = _ids(tasks, 8)
    for ids in groups:
        await controller.create_many([(a, "alfe", AlfeAgent(a, f"name-{a}")) for a in ids])
    plans = [_plan(ids, count // tasks) for ids in groups]

    async def caller(plan: list[tuple[str, Event]]) -> None:
        for agent, event in plan:
            await controller.handle(agent, event)

    begin = time.perf_counter()
    await asyncio.gather(*(caller(p) for p in plans))
    return sum(map(len, plans)) / (time.perf_counter() - begin)


def _sync_ours(store: Any, tasks: int, count: int) -> float:
    controller = Controller(MACHINES, store, ManualClock(T0))
    groups = _ids(tasks, 8)
    for ids in groups:
        controller.create_many([(a, "alfe", AlfeAgent(a, f"name-{a}")) for a in ids])
    plans = [_plan(ids, count // tasks) for ids in groups]

    def caller(plan: list[tuple[str, Event]]) -> None:
        for agent, event in plan:
            controller.handle(agent, event)

    threads = [threading.Thread(target=caller, args=(p,)) for p in plans]
    begin = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(map(len, plans)) / (time.perf_counter() - begin)


# -- throughput: bare SQL ----------------------------------------------------------------------


def _insert_agents(rows: Sequence[str]) -> list[tuple[str, ...]]:
    return [(a, _AT, _DATA, _AT, _AT) for a in rows]


async def _bare_sqlite(path: str, tasks: int, count: int) -> float:
    import sqlite3

    SQLiteStore(path).close()  # the same schema and indexes
    thread = ThreadPoolExecutor(1)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    groups = _ids(tasks, 8)
    conn.executemany(
        "INSERT INTO agents VALUES (?, 'alfe', 'pending', 0, ?, ?, ?, ?, 1)",
        _insert_agents([a for g in groups for a in g]),
    )
    version: dict[str, int] = {}

    def write(agent: str, step: int, event_id: str) -> None:
        v = version.get(agent, 0)
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute(
            "UPDATE agents SET status = ?, version = ?, since = ?, data = ?, updated_at = ? "
            "WHERE id = ? AND version = ?",
            (STATUSES[step], v + 1, _AT, _DATA, _AT, agent, v),
        )
        if cur.rowcount != 1:
            raise RuntimeError("lost update in the bare-SQL baseline")
        conn.execute(
            "INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, from_status, "
            "to_status, version, at, scope, machine_version, before_since, before_data) "
            "VALUES (?, ?, 'event', 'S', ?, '{}', ?, ?, ?, ?, 'S', 1, ?, ?)",
            (
                event_id,
                agent,
                CYCLE[step].name,
                STATUSES[step - 1],
                STATUSES[step],
                v + 1,
                _AT,
                _AT,
                _DATA,
            ),
        )
        conn.execute("COMMIT")
        version[agent] = v + 1

    loop = asyncio.get_running_loop()
    plans = [_plan(ids, count // tasks) for ids in groups]

    async def caller(plan: list[tuple[str, Event]]) -> None:
        for n, (agent, event) in enumerate(plan):
            step = (n // 8) % 2
            await loop.run_in_executor(thread, write, agent, step, event.id)

    begin = time.perf_counter()
    await asyncio.gather(*(caller(p) for p in plans))
    rate = sum(map(len, plans)) / (time.perf_counter() - begin)
    conn.close()
    thread.shutdown()
    return rate


async def _bare_pg(dsn: str, schema: str, tasks: int, count: int) -> float:
    import psycopg_pool

    PostgresStore(dsn, schema=schema).close()  # the same schema and indexes
    groups = _ids(tasks, 8)

    async def configure(conn: Any) -> None:
        await conn.execute(f"SET search_path TO {schema}")

    pool = psycopg_pool.AsyncConnectionPool(
        dsn, min_size=tasks, max_size=tasks, kwargs={"autocommit": True}, configure=configure,
        open=False,
    )  # fmt: skip
    await pool.open(wait=True)
    async with pool.connection() as conn:
        await conn.cursor().executemany(
            "INSERT INTO agents VALUES (%s, 'alfe', 'pending', 0, %s, %s::jsonb, %s, %s)",
            [(a, T0, _DATA, T0, T0) for g in groups for a in g],
        )
    plans = [_plan(ids, count // tasks) for ids in groups]

    async def caller(plan: list[tuple[str, Event]]) -> None:
        version: dict[str, int] = {}
        for n, (agent, event) in enumerate(plan):
            step = (n // 8) % 2
            v = version.get(agent, 0)
            async with pool.connection() as conn:
                cur = await conn.execute(
                    _CAS_AND_LOG,
                    (STATUSES[step], v + 1, T0, _DATA, T0, agent, v, event.id, "event", "S",
                     event.name, "{}", STATUSES[step - 1], STATUSES[step], v + 1, T0, None, "S",
                     None, 1, T0, _DATA),
                )  # fmt: skip
                if cur.rowcount != 1:
                    raise RuntimeError("lost update in the bare-SQL baseline")
            version[agent] = v + 1

    begin = time.perf_counter()
    await asyncio.gather(*(caller(p) for p in plans))
    rate = sum(map(len, plans)) / (time.perf_counter() - begin)
    await pool.close()
    return rate


# -- latency -----------------------------------------------------------------------------------


class _PollingOnly:
    """The store without its wake-up: the worker finds work by polling alone."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in ("work_seen", "wait_for_work"):
            raise AttributeError(name)
        return getattr(self._inner, name)


async def _latency(store: Any, samples: int, wake: bool, poll: float) -> list[float]:
    controller = AsyncController(MACHINES, store)
    started: dict[str, float] = {}
    rng = random.Random(1)

    async def handler(agent_id: str, effect: Any, key: str) -> Sequence[Event]:
        started.setdefault(agent_id, time.perf_counter())
        return ()

    worker = AsyncOutboxWorker(controller, handler)
    if not wake:
        worker.store = _PollingOnly(store)
    tag = f"{'w' if wake else 'p'}{time.monotonic_ns()}"
    ids = [f"{tag}-{i}" for i in range(samples)]
    await controller.create_many([(a, "alfe", AlfeAgent(a, "lat")) for a in ids])
    task = asyncio.ensure_future(worker.run(idle=poll))
    out = []
    try:
        for a in ids:
            await asyncio.sleep(rng.uniform(0, poll))  # commits land anywhere in a poll interval
            await controller.handle(a, Event("provision", Actor.SYSTEM))
            committed = time.perf_counter()
            while a not in started:
                await asyncio.sleep(0.0005)
            out.append(started[a] - committed)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# -- the run -----------------------------------------------------------------------------------


def _measure(kind: str, tmp: Path, pg: ThrowawayPostgres | None, count: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tasks in TASKS:
        runs: dict[str, list[float]] = {"async": [], "sync": [], "bare": []}
        for attempt in range(2):
            tag = f"{kind}_{tasks}_{attempt}"
            if kind == "sqlite":

                async def a_ours(path: str = str(tmp / f"a{tag}.db"), tasks: int = tasks) -> float:
                    async with AsyncSQLiteStore(path) as store:
                        return await _async_ours(store, tasks, count)

                runs["async"].append(asyncio.run(a_ours()))
                sync_store: Any = SQLiteStore(tmp / f"s{tag}.db")
                runs["sync"].append(_sync_ours(sync_store, tasks, count))
                sync_store.close()
                runs["bare"].append(
                    asyncio.run(_bare_sqlite(str(tmp / f"b{tag}.db"), tasks, count))
                )
            else:
                assert pg is not None

                async def a_pg(schema: str = f"a{tag}", tasks: int = tasks) -> float:
                    async with AsyncPostgresStore(pg.dsn, schema=schema, max_size=16) as store:
                        return await _async_ours(store, tasks, count)

                runs["async"].append(asyncio.run(a_pg()))
                sync_store = PostgresStore(pg.dsn, schema=f"s{tag}", max_size=16)
                runs["sync"].append(_sync_ours(sync_store, tasks, count))
                sync_store.close()
                runs["bare"].append(asyncio.run(_bare_pg(pg.dsn, f"b{tag}", tasks, count)))
        out[f"tasks_{tasks}"] = runs
    return out


def _latencies(kind: str, tmp: Path, pg: ThrowawayPostgres | None, samples: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    poll = 0.2
    for wake in (True, False):
        runs = []
        for attempt in range(2):

            async def go(attempt: int = attempt, wake: bool = wake) -> list[float]:
                store: Any
                if kind == "sqlite":
                    store = AsyncSQLiteStore(tmp / f"lat-{wake}-{attempt}.db")
                else:
                    assert pg is not None
                    store = AsyncPostgresStore(pg.dsn, schema=f"lat_{int(wake)}_{attempt}")
                async with store:
                    return await _latency(store, samples, wake, poll)

            values = asyncio.run(go())
            runs.append({"p50_ms": _pct(values, 0.5), "p99_ms": _pct(values, 0.99)})
        out["notify" if wake else f"polling_{poll}s"] = runs
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    count = 480 if args.quick else 3200
    samples = 20 if args.quick else 100
    results: dict[str, Any] = {}
    pg = None if args.no_postgres else ThrowawayPostgres().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for kind in ("sqlite", "postgres") if pg else ("sqlite",):
                results[kind] = {
                    "throughput": _measure(kind, Path(tmp), pg, count),
                    "latency": _latencies(kind, Path(tmp), pg, samples),
                }
    finally:
        if pg is not None:
            pg.stop()
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
        return 0
    for kind, r in results.items():
        print(f"\n{kind}: events/s (run 1 / run 2)")
        one = statistics.mean(r["throughput"]["tasks_1"]["async"])
        for key, runs in r["throughput"].items():
            mean = {k: statistics.mean(v) for k, v in runs.items()}
            cells = "  ".join(f"{k} {v[0]:7.0f} /{v[1]:7.0f}" for k, v in runs.items())
            print(
                f"  {key:9} {cells}  async/sync {mean['async'] / mean['sync']:.2f}  "
                f"async/bare {mean['async'] / mean['bare']:.2f}  "
                f"async vs 1 task {mean['async'] / one:.2f}x"
            )
        print(f"{kind}: commit-to-effect latency (ms)")
        for mode, runs in r["latency"].items():
            cells = "  ".join(f"p50 {x['p50_ms']:6.1f} p99 {x['p99_ms']:6.1f}" for x in runs)
            print(f"  {mode:14} {cells}")
        notify = statistics.mean(x["p50_ms"] for x in r["latency"]["notify"])
        polled = next(v for k, v in r["latency"].items() if k != "notify")
        ratio = statistics.mean(x["p50_ms"] for x in polled) / notify
        print(f"  p50 polling / notify: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
