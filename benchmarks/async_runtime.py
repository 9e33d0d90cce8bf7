"""The asyncio runtime beside the sync one and beside bare SQL, and how fast workers wake.

    python benchmarks/async_runtime.py            # a readable table
    python benchmarks/async_runtime.py --json     # the figures as JSON
    python benchmarks/async_runtime.py --quick    # smaller counts, for a smoke run
    python benchmarks/async_runtime.py --pg-modes durable --no-latency   # one server, rates

1. Throughput: events/s with 1, 4 and 16 concurrent callers, each owning its own agents and
   cycling billing_suspend -> billing_resume (each event a compare-and-set and an audit row,
   no outbox), one ``handle`` at a time:
   - async: ``AsyncController`` on ``AsyncSQLiteStore`` / ``AsyncPostgresStore``, n tasks;
   - sync: ``Controller`` on ``SQLiteStore`` / ``PostgresStore``, n threads;
   - bare SQL with the same driver doing the same writes: sqlite3 on one thread awaited
     from n tasks (what ``AsyncSQLiteStore`` does) and psycopg's async pool with n tasks,
     the compare-and-set and the audit row in one statement (what ``PostgresStore`` sends);
   - on PostgreSQL also bare_sync: the same statements on psycopg's blocking pool, n threads,
     so that bare async / bare sync shows what the driver's asyncio face costs by itself.
   Beside each rate: the benchmark process's CPU time per event (all its threads; on
   PostgreSQL the server's is not in it), steadier than wall time on a shared machine.
2. PostgreSQL twice: ``fast`` (the throwaway server's fsync=off, synchronous_commit=off: a
   commit costs no flush, so the figures are CPU-bound and concurrency cannot show) and
   ``durable`` (PostgreSQL's defaults, as a production server runs: each commit waits for its
   log flush, and concurrent commits share flushes). For each PostgreSQL figure, the most
   transactions seen running at once on the server (sampled every 10 ms) and, durable, the
   events per log flush (``pg_stat_wal.wal_sync``): more than 1 is group commit.
3. Commit-to-effect latency: from ``handle`` returning (an event with one effect committed)
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


class _Timed:
    """Wall and CPU time of a block, per event: ``rate`` (events/s) and ``cpu_us``."""

    def __init__(self, events: int) -> None:
        self.events = events
        self.rate = 0.0
        self.cpu_us = 0.0

    def __enter__(self) -> _Timed:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.rate = self.events / (time.perf_counter() - self._wall)
        self.cpu_us = (time.process_time() - self._cpu) / self.events * 1e6

    def figures(self) -> tuple[float, float]:
        return self.rate, self.cpu_us


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


async def _async_ours(store: Any, tasks: int, count: int) -> tuple[float, float]:
    clock = ManualClock(T0)
    controller = AsyncController(MACHINES, store, clock)
    groups = _ids(tasks, 8)
    for ids in groups:
        await controller.create_many([(a, "alfe", AlfeAgent(a, f"name-{a}")) for a in ids])
    plans = [_plan(ids, count // tasks) for ids in groups]

    async def caller(plan: list[tuple[str, Event]]) -> None:
        for agent, event in plan:
            await controller.handle(agent, event)

    with _Timed(sum(map(len, plans))) as timed:
        await asyncio.gather(*(caller(p) for p in plans))
    return timed.figures()


def _sync_ours(store: Any, tasks: int, count: int) -> tuple[float, float]:
    controller = Controller(MACHINES, store, ManualClock(T0))
    groups = _ids(tasks, 8)
    for ids in groups:
        controller.create_many([(a, "alfe", AlfeAgent(a, f"name-{a}")) for a in ids])
    plans = [_plan(ids, count // tasks) for ids in groups]

    def caller(plan: list[tuple[str, Event]]) -> None:
        for agent, event in plan:
            controller.handle(agent, event)

    threads = [threading.Thread(target=caller, args=(p,)) for p in plans]
    with _Timed(sum(map(len, plans))) as timed:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return timed.figures()


# -- throughput: bare SQL ----------------------------------------------------------------------


def _insert_agents(rows: Sequence[str]) -> list[tuple[str, ...]]:
    return [(a, _AT, _DATA, _AT, _AT) for a in rows]


async def _bare_sqlite(path: str, tasks: int, count: int) -> tuple[float, float]:
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

    with _Timed(sum(map(len, plans))) as timed:
        await asyncio.gather(*(caller(p) for p in plans))
    conn.close()
    thread.shutdown()
    return timed.figures()


async def _bare_pg(dsn: str, schema: str, tasks: int, count: int) -> tuple[float, float]:
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
            v = version.get(agent, 0)
            async with pool.connection() as conn:
                cur = await conn.execute(_CAS_AND_LOG, _bare_args(agent, event, n, v))
                if cur.rowcount != 1:
                    raise RuntimeError("lost update in the bare-SQL baseline")
            version[agent] = v + 1

    with _Timed(sum(map(len, plans))) as timed:
        await asyncio.gather(*(caller(p) for p in plans))
    await pool.close()
    return timed.figures()


def _bare_args(agent: str, event: Event, n: int, version: int) -> tuple[Any, ...]:
    """The arguments of ``_CAS_AND_LOG`` for a caller's ``n``-th event (one of its 8 agents)."""
    step = (n // 8) % 2
    v = version
    return (STATUSES[step], v + 1, T0, _DATA, T0, agent, v, event.id, "event", "S",
            event.name, "{}", STATUSES[step - 1], STATUSES[step], v + 1, T0, None, "S",
            None, 1, T0, _DATA)  # fmt: skip


def _bare_pg_sync(dsn: str, schema: str, tasks: int, count: int) -> tuple[float, float]:
    """The same statements on psycopg's blocking pool, one thread per caller: with
    ``_bare_pg`` beside it, what the driver's asyncio face costs on its own."""
    import psycopg_pool

    PostgresStore(dsn, schema=schema).close()
    groups = _ids(tasks, 8)

    def configure(conn: Any) -> None:
        conn.execute(f"SET search_path TO {schema}")

    pool = psycopg_pool.ConnectionPool(
        dsn, min_size=tasks, max_size=tasks, kwargs={"autocommit": True}, configure=configure,
        open=False,
    )  # fmt: skip
    pool.open(wait=True)
    with pool.connection() as conn:
        conn.cursor().executemany(
            "INSERT INTO agents VALUES (%s, 'alfe', 'pending', 0, %s, %s::jsonb, %s, %s)",
            [(a, T0, _DATA, T0, T0) for g in groups for a in g],
        )
    plans = [_plan(ids, count // tasks) for ids in groups]

    def caller(plan: list[tuple[str, Event]]) -> None:
        version: dict[str, int] = {}
        for n, (agent, event) in enumerate(plan):
            v = version.get(agent, 0)
            with pool.connection() as conn:
                cur = conn.execute(_CAS_AND_LOG, _bare_args(agent, event, n, v))
                if cur.rowcount != 1:
                    raise RuntimeError("lost update in the bare-SQL baseline")
            version[agent] = v + 1

    threads = [threading.Thread(target=caller, args=(p,)) for p in plans]
    with _Timed(sum(map(len, plans))) as timed:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    pool.close()
    return timed.figures()


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


# -- what the server saw ----------------------------------------------------------------------


class _ServerWatch:
    """During a block: the most transactions running at once on the server (other than the
    watcher's), sampled every 10 ms, and the log flushes (``pg_stat_wal.wal_sync``)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self.max_active = 0
        self.flushes = 0
        self._stop = threading.Event()

    def _flushes(self, conn: Any) -> int:
        return int(conn.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()[0])

    def _sample(self, conn: Any) -> None:
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND state IN ('active', 'idle in transaction') AND pid <> pg_backend_pid()"
        )
        while not self._stop.wait(0.01):
            self.max_active = max(self.max_active, int(conn.execute(query).fetchone()[0]))

    def __enter__(self) -> _ServerWatch:
        import psycopg

        self._conn = psycopg.connect(self._dsn, autocommit=True)
        self._before = self._flushes(self._conn)
        self._thread = threading.Thread(target=self._sample, args=(self._conn,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.flushes = self._flushes(self._conn) - self._before
        self._conn.close()


# -- the run -----------------------------------------------------------------------------------

_WAYS = ("async", "sync", "bare")
_PG_WAYS = (*_WAYS, "bare_sync")


def _measure(kind: str, tmp: Path, pg: ThrowawayPostgres | None, count: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tasks in TASKS:
        ways = _WAYS if kind == "sqlite" else _PG_WAYS
        runs: dict[str, list[float]] = {w: [] for w in ways}
        cpu: dict[str, list[float]] = {w: [] for w in ways}
        server: dict[str, list[dict[str, float | None]]] = {w: [] for w in ways}
        for attempt in range(2):
            tag = f"{kind}_{tasks}_{attempt}"
            figures: dict[str, tuple[float, float]] = {}
            if kind == "sqlite":

                async def a_ours(path: str = str(tmp / f"a{tag}.db"), tasks: int = tasks) -> Any:
                    async with AsyncSQLiteStore(path) as store:
                        return await _async_ours(store, tasks, count)

                figures["async"] = asyncio.run(a_ours())
                sync_store: Any = SQLiteStore(tmp / f"s{tag}.db")
                figures["sync"] = _sync_ours(sync_store, tasks, count)
                sync_store.close()
                figures["bare"] = asyncio.run(_bare_sqlite(str(tmp / f"b{tag}.db"), tasks, count))
            else:
                assert pg is not None

                async def a_pg(schema: str = f"a{tag}", tasks: int = tasks) -> Any:
                    async with AsyncPostgresStore(pg.dsn, schema=schema, max_size=16) as store:
                        return await _async_ours(store, tasks, count)

                def sync_pg(schema: str = f"s{tag}", tasks: int = tasks) -> Any:
                    store = PostgresStore(pg.dsn, schema=schema, max_size=16)
                    try:
                        return _sync_ours(store, tasks, count)
                    finally:
                        store.close()

                runners = {
                    "async": lambda: asyncio.run(a_pg()),
                    "sync": sync_pg,
                    "bare": lambda t=tasks, g=tag: asyncio.run(_bare_pg(pg.dsn, f"b{g}", t, count)),
                    "bare_sync": lambda t=tasks, g=tag: _bare_pg_sync(pg.dsn, f"bs{g}", t, count),
                }
                for way, run in runners.items():
                    with _ServerWatch(pg.dsn) as watch:
                        figures[way] = run()
                    per_flush = count / watch.flushes if watch.flushes else None
                    server[way].append({"max_active": watch.max_active, "per_flush": per_flush})
            for way, (rate, per_event) in figures.items():
                runs[way].append(rate)
                cpu[way].append(per_event)
        out[f"tasks_{tasks}"] = {"events_per_s": runs, "cpu_us_per_event": cpu}
        if kind != "sqlite":
            out[f"tasks_{tasks}"]["server"] = server
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


_LABELS = {
    "sqlite": "SQLite (WAL, synchronous=NORMAL)",
    "postgres_fast": "PostgreSQL fast (fsync=off, synchronous_commit=off)",
    "postgres_durable": "PostgreSQL durable (fsync=on, synchronous_commit=on: the defaults)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--pg-modes",
        default="fast,durable",
        help="PostgreSQL servers to run, comma-separated: fast (fsync=off), durable "
        "(PostgreSQL's defaults); default: both",
    )
    parser.add_argument(
        "--no-latency", action="store_true", help="throughput only, no commit-to-effect run"
    )
    args = parser.parse_args(argv)
    count = 480 if args.quick else 3200
    samples = 20 if args.quick else 100
    modes = [] if args.no_postgres else [m.strip() for m in args.pg_modes.split(",") if m]
    if any(m not in ("fast", "durable") for m in modes):
        parser.error(f"--pg-modes takes fast and durable, not {args.pg_modes!r}")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = _run_kind("sqlite", Path(tmp), None, count, samples, args)
        for mode in modes:
            with ThrowawayPostgres(durable=mode == "durable") as pg:
                kind = f"postgres_{mode}"
                results[kind] = _run_kind(kind, Path(tmp), pg, count, samples, args)
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        print()
        return 0
    for kind, r in results.items():
        _print_kind(kind, r)
    return 0


def _run_kind(
    kind: str, tmp: Path, pg: ThrowawayPostgres | None, count: int, samples: int, args: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {"throughput": _measure(kind, tmp, pg, count)}
    if not args.no_latency:
        out["latency"] = _latencies("sqlite" if pg is None else "postgres", tmp, pg, samples)
    return out


def _print_kind(kind: str, r: dict[str, Any]) -> None:
    print(f"\n{_LABELS[kind]}: events/s (run 1 / run 2), CPU µs per event of this process")
    one = statistics.mean(r["throughput"]["tasks_1"]["events_per_s"]["async"])
    for key, entry in r["throughput"].items():
        runs, cpu = entry["events_per_s"], entry["cpu_us_per_event"]
        mean = {k: statistics.mean(v) for k, v in runs.items()}
        cells = "  ".join(
            f"{k} {v[0]:6.0f} /{v[1]:6.0f} ({statistics.mean(cpu[k]):4.0f} µs)"
            for k, v in runs.items()
        )
        print(
            f"  {key:9} {cells}  async/sync {mean['async'] / mean['sync']:.2f}  "
            f"async/bare {mean['async'] / mean['bare']:.2f}  "
            f"async vs 1 task {mean['async'] / one:.2f}x  "
            f"CPU async/sync {statistics.mean(cpu['async']) / statistics.mean(cpu['sync']):.2f}"
        )
        if "bare_sync" in mean:
            # The driver's own asyncio cost: the same statements, asyncio over blocking.
            print(f"  {'':9} bare async/bare sync {mean['bare'] / mean['bare_sync']:.2f}")
        if "server" in entry:
            seen = []
            for way, watched in entry["server"].items():
                active = max(int(w["max_active"] or 0) for w in watched)
                flushes = [w["per_flush"] for w in watched if w["per_flush"]]
                per = f", {statistics.mean(flushes):.1f} events/flush" if flushes else ""
                seen.append(f"{way} {active} at once{per}")
            print(f"  {'':9} server: " + "; ".join(seen))
    if "latency" not in r:
        return
    print(f"{_LABELS[kind]}: commit-to-effect latency (ms)")
    for mode, runs in r["latency"].items():
        cells = "  ".join(f"p50 {x['p50_ms']:6.1f} p99 {x['p99_ms']:6.1f}" for x in runs)
        print(f"  {mode:14} {cells}")
    notify = statistics.mean(x["p50_ms"] for x in r["latency"]["notify"])
    polled = next(v for k, v in r["latency"].items() if k != "notify")
    ratio = statistics.mean(x["p50_ms"] for x in polled) / notify
    print(f"  p50 polling / notify: {ratio:.1f}x")


if __name__ == "__main__":
    raise SystemExit(main())
