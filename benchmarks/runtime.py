"""The durable runtime's throughput, each figure beside bare SQL doing the same work.

    python benchmarks/runtime.py            # a readable table
    python benchmarks/runtime.py --json     # the figures as JSON
    python benchmarks/runtime.py --quick    # smaller counts, for a smoke run

Two workloads, every event accepted:

- ``same_work``: pending Alfe agents cycling billing_suspend -> billing_resume. Each event
  changes the agent's data and writes exactly what the bare-SQL baseline writes: the snapshot
  with a compare-and-set, and one audit row. This is the like-for-like comparison.
- ``with_effects``: running Alfe agents cycling stop -> shutdown_complete -> start ->
  connected: the runtime also writes outbox items (ShutdownHost, PowerOnHost) and sets and
  cancels the boot timer, work the baseline does not do.

The bare-SQL baseline does the minimum on the same schema: the compare-and-set UPDATE and the
audit-log INSERT per event, with the JSON precomputed.

- SQLite (a WAL file, synchronous=NORMAL): one transaction per event, and 100 per transaction;
  each figure the best of three runs, bare SQL and ours taking turns.
- PostgreSQL (a throwaway local server): 1 and 4 writer processes on 1,000 agents, each
  process owning a quarter of the agents; lost updates are counted afterwards (every agent's
  version must equal the events it was sent, and the log must hold each event once). Each
  process connects and prepares before a barrier; the rate is the events sent over the time
  from the first process's start to the last one's finish, for ours and bare SQL alike.
- 100,000 due purge timers fired by a TimerWorker on SQLite.
- A redelivered event (``duplicates``) on an agent with 10, 1,000 and 100,000 events of
  history, on SQLite: answered from its audit row (schema 6 on), and, for comparison, by the
  replay of the agent's log that a row written before schema 6 still takes.

- The codec (``codec``) on the records every event stores: an Alfe agent's data, a Recif
  agent's (with its spec and conditions) and an event's payload, written (each a fresh copy,
  so the codec's memo of recent records does not answer) and read back, by the hand-written
  path and, with the ``fast`` extra installed, by msgspec; beside them orjson, which writes
  the same tree (``Codec.encode``) but not the same text for every value.

Every figure is measured ``--rounds`` times (default 2), each round printed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from agentfsm import Actor, Event
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime import (
    DEFAULT_CODEC,
    Controller,
    Delivery,
    ManualClock,
    PostgresStore,
    SQLiteStore,
    Store,
    ThrowawayPostgres,
    TimerWorker,
)

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
CYCLES: dict[str, tuple[tuple[str, Actor, dict[str, str]], ...]] = {
    "same_work": (
        ("billing_suspend", Actor.SYSTEM, {"reason": "payment_issue"}),
        ("billing_resume", Actor.SYSTEM, {"standing": "good"}),
    ),
    "with_effects": (
        ("stop", Actor.USER, {}),
        ("shutdown_complete", Actor.SYSTEM, {}),
        ("start", Actor.USER, {}),
        ("connected", Actor.SYSTEM, {}),
    ),
}
SPAWN = multiprocessing.get_context("spawn")


def _setup_agents(controller: Controller, ids: list[str], workload: str) -> None:
    """Create agents; for ``with_effects`` bring them to running (setup, not measured)."""
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        controller.create_many([(a, "alfe", AlfeAgent(a, f"name-{a}")) for a in chunk])
        if workload == "with_effects":
            for name in ("provision", "host_up", "connected"):
                controller.handle_many([Delivery(a, Event(name, Actor.SYSTEM)) for a in chunk])


def _events(ids: list[str], count: int, workload: str) -> list[Delivery]:
    """``count`` deliveries walking the agents round-robin through the workload's cycle."""
    cycle = CYCLES[workload]
    out = []
    for n in range(count):
        agent = ids[n % len(ids)]
        name, actor, payload = cycle[(n // len(ids)) % len(cycle)]
        out.append(Delivery(agent, Event(name, actor, payload, id=f"b{n}")))
    return out


# -- ours -----------------------------------------------------------------------------------


def _ours(
    store: Store, ids: list[str], count: int, batch: int, workload: str
) -> tuple[float, float]:
    """Events per second of wall time and of this process's CPU time."""
    clock = ManualClock(T0)
    controller = Controller(MACHINES, store, clock)
    _setup_agents(controller, ids, workload)
    deliveries = _events(ids, count, workload)
    begin, cpu = time.perf_counter(), time.process_time()
    if batch == 1:
        for d in deliveries:
            controller.handle(d.agent_id, d.event)
    else:
        for start in range(0, count, batch):
            controller.handle_many(deliveries[start : start + batch])
    elapsed, cpu = time.perf_counter() - begin, time.process_time() - cpu
    assert controller.stats.handled >= count
    return count / elapsed, count / cpu


# -- bare SQL -------------------------------------------------------------------------------

_DATA = DEFAULT_CODEC.dumps(AlfeAgent("x", "name-x", credentials=1, host=1))
_STATUSES = ("billing_suspended", "pending")
_EVENTS = ("billing_suspend", "billing_resume")


def _bare_sqlite(path: str, ids: list[str], count: int, batch: int) -> tuple[float, float]:
    """Events per second of wall time and of this process's CPU time."""
    SQLiteStore(path).close()  # the same schema and indexes
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    at = T0.isoformat()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO agents (id, machine, status, version, since, data, created_at, updated_at) "
        "VALUES (?, 'alfe', 'pending', 0, ?, ?, ?, ?)",
        [(a, at, _DATA, at, at) for a in ids],
    )
    conn.execute("COMMIT")
    version = dict.fromkeys(ids, 0)
    update = (
        "UPDATE agents SET status = ?, version = ?, since = ?, data = ?, updated_at = ? "
        "WHERE id = ? AND version = ?"
    )
    insert = (
        "INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, from_status, "
        "to_status, version, at, scope) VALUES (?, ?, 'event', 'U', ?, '{}', ?, ?, ?, ?, 'U')"
    )
    begin, cpu = time.perf_counter(), time.process_time()
    n = 0
    while n < count:
        conn.execute("BEGIN IMMEDIATE")
        for _ in range(min(batch, count - n)):
            agent = ids[n % len(ids)]
            step = (n // len(ids)) % 2
            v = version[agent]
            cur = conn.execute(update, (_STATUSES[step], v + 1, at, _DATA, at, agent, v))
            if cur.rowcount != 1:
                raise RuntimeError("lost update in the bare-SQL baseline")
            conn.execute(
                insert, (f"b{n}", agent, _EVENTS[step], _STATUSES[step - 1], _STATUSES[step],
                         v + 1, at),
            )  # fmt: skip
            version[agent] = v + 1
            n += 1
        conn.execute("COMMIT")
    elapsed, cpu = time.perf_counter() - begin, time.process_time() - cpu
    conn.close()
    return count / elapsed, count / cpu


def _bare_pg_writer(
    dsn: str, schema: str, ids: list[str], count: int, tag: str, start: Any
) -> tuple[float, float]:
    """Each event in BEGIN ... COMMIT around the one statement: three round trips."""
    return _bare_pg(dsn, schema, ids, count, tag, start, explicit=True)


def _bare_pg_lean_writer(
    dsn: str, schema: str, ids: list[str], count: int, tag: str, start: Any
) -> tuple[float, float]:
    """Each event as the one statement alone, its own transaction: one round trip."""
    return _bare_pg(dsn, schema, ids, count, tag, start, explicit=False)


def _bare_pg(
    dsn: str,
    schema: str,
    ids: list[str],
    count: int,
    tag: str,
    start: Any,
    *,
    explicit: bool,
) -> tuple[float, float]:
    import contextlib

    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}")
        version = dict.fromkeys(ids, 0)
        cas_and_log = """
            WITH moved AS (
                UPDATE agents SET status = %s, version = %s, since = %s, data = %s::jsonb,
                       updated_at = %s WHERE id = %s AND version = %s RETURNING id)
            INSERT INTO audit (event_id, agent_id, kind, actor, event, payload, from_status,
                               to_status, version, at, scope)
            SELECT %s, id, 'event', 'U', %s, '{}'::jsonb, %s, %s, %s, %s, 'U' FROM moved"""
        start.wait()
        begin = time.perf_counter()
        for n in range(count):
            agent = ids[n % len(ids)]
            step = (n // len(ids)) % 2
            v = version[agent]
            with conn.transaction() if explicit else contextlib.nullcontext():
                cur = conn.execute(
                    cas_and_log,
                    (_STATUSES[step], v + 1, T0, _DATA, T0, agent, v, f"{tag}{n}", _EVENTS[step],
                     _STATUSES[step - 1], _STATUSES[step], v + 1, T0),
                )  # fmt: skip
                if cur.rowcount != 1:
                    raise RuntimeError("lost update in the bare-SQL baseline")
            version[agent] = v + 1
        return begin, time.perf_counter()


def _ours_pg_writer(
    dsn: str, schema: str, ids: list[str], count: int, tag: str, start: Any
) -> tuple[float, float]:
    store = PostgresStore(dsn, schema=schema, max_size=2)
    controller = Controller(MACHINES, store, ManualClock(T0))
    for record in store.load_many(ids).values():  # warm the cache as a long-lived process would
        controller._remember(record)
    deliveries = _events(ids, count, "same_work")
    start.wait()
    begin = time.perf_counter()
    for d in deliveries:
        controller.handle(d.agent_id, attrs.evolve(d.event, id=f"{tag}{d.event.id}"))
    end = time.perf_counter()
    store.close()
    return begin, end


def _pg_process(fn: Callable[..., tuple[float, float]], results: Any, *args: Any) -> None:
    results.put(fn(*args))


def _pg_run(
    dsn: str, schema: str, writers: int, ids: list[str], count: int, fn: Callable[..., Any]
) -> float:
    """Events per second over the writers' common run: each process connects and prepares
    first, then all start together (a barrier); the time is from the first start to the last
    finish (``perf_counter`` is the system-wide monotonic clock on Linux)."""
    parts = [ids[k::writers] for k in range(writers)]
    per = count // writers
    start = SPAWN.Barrier(writers)
    results = SPAWN.Queue()
    procs = [
        SPAWN.Process(
            target=_pg_process, args=(fn, results, dsn, schema, parts[k], per, f"w{k}-", start)
        )
        for k in range(writers)
    ]
    for proc in procs:
        proc.start()
    spans = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"a writer process failed (exit code {proc.exitcode})")
    elapsed = max(end for _, end in spans) - min(begin for begin, _ in spans)
    return per * writers / elapsed


def _bare_schema(dsn: str, schema: str, ids: list[str]) -> str:
    """A schema for a bare-SQL run: the store's tables, with the agents inserted directly."""
    import psycopg

    PostgresStore(dsn, schema=schema).close()  # the same schema and indexes
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO {schema}.agents VALUES (%s, 'alfe', 'running', 0, %s, %s::jsonb, %s, %s)",
            [(a, T0, _DATA, T0, T0) for a in ids],
        )
    return schema


def _lost_updates(store: Store, ids: list[str], expected_per_agent: dict[str, int]) -> int:
    lost = 0
    for record in store.load_many(ids).values():
        if record.snapshot.version != expected_per_agent[record.agent_id]:
            lost += 1
    return lost


# -- the runs -------------------------------------------------------------------------------


def sqlite_figures(
    tmp: Path, count: int, log: Callable[[str], None], repeat: int = 3
) -> dict[str, Any]:
    """Each figure is the best of ``repeat`` runs, bare SQL and ours taking turns, so a slow
    moment of a shared machine does not land on one side only. Beside the wall-clock rates,
    the rates per second of this process's CPU time (SQLite runs in the process, and with
    ``synchronous = NORMAL`` a WAL commit does not wait for the disk): on a loaded machine
    those are what compares the work done, the wall clock also counting the turns waited."""
    ids = [f"a{i:05d}" for i in range(1000)]
    out: dict[str, Any] = {}
    for batch in (1, 100):
        bare = (0.0, 0.0)
        ours: dict[str, tuple[float, float]] = dict.fromkeys(CYCLES, (0.0, 0.0))
        for r in range(repeat):
            got = _bare_sqlite(str(tmp / f"bare-{batch}-{r}.db"), ids, count, batch)
            bare = (max(bare[0], got[0]), max(bare[1], got[1]))
            for workload in CYCLES:
                store = SQLiteStore(tmp / f"ours-{batch}-{workload}-{r}.db")
                got = _ours(store, ids, count, batch, workload)
                best = ours[workload]
                ours[workload] = (max(best[0], got[0]), max(best[1], got[1]))
                store.close()
        figures: dict[str, Any] = {"bare_sql_per_s": round(bare[0]),
                                   "bare_sql_per_cpu_s": round(bare[1])}  # fmt: skip
        for workload, (rate, cpu) in ours.items():
            figures[workload] = {
                "events_per_s": round(rate),
                "ratio": round(rate / bare[0], 3),
                "events_per_cpu_s": round(cpu),
                "cpu_ratio": round(cpu / bare[1], 3),
            }
            log(f"SQLite, {batch}/txn, {workload}: {rate:,.0f} events/s vs bare SQL "
                f"{bare[0]:,.0f}/s ({rate / bare[0]:.0%}); per CPU second {cpu:,.0f} vs "
                f"{bare[1]:,.0f} ({cpu / bare[1]:.0%})")  # fmt: skip
        out[f"sqlite_batch_{batch}"] = figures
    return out


def postgres_figures(
    count: int, log: Callable[[str], None], writers_counts: tuple[int, ...] = (1, 4)
) -> dict[str, Any]:
    """On a throwaway server: ours and both bare baselines with each number of writers."""
    ids = [f"a{i:05d}" for i in range(1000)]
    out: dict[str, Any] = {}
    with ThrowawayPostgres() as pg:
        for writers in writers_counts:
            schema = f"ours_{writers}"
            store = PostgresStore(pg.dsn, schema=schema)
            _setup_agents(Controller(MACHINES, store, ManualClock(T0)), ids, "same_work")
            ours = _pg_run(pg.dsn, schema, writers, ids, count, _ours_pg_writer)
            per = count // writers
            expected = {}
            for k in range(writers):
                part = ids[k::writers]
                for a in part:
                    expected[a] = sum(1 for n in range(per) if part[n % len(part)] == a)
            lost = _lost_updates(store, ids, expected)
            logged = sum(1 for r in store.audit_log(0, None) if r.kind == "event")
            store.close()
            bare, lean = (
                _pg_run(pg.dsn, _bare_schema(pg.dsn, f"{kind}_{writers}", ids), writers, ids,
                        count, fn)
                for kind, fn in (("bare", _bare_pg_writer), ("lean", _bare_pg_lean_writer))
            )  # fmt: skip
            out[f"postgres_writers_{writers}"] = {
                "events_per_s": round(ours),
                "bare_sql_per_s": round(bare),
                "ratio": round(ours / bare, 3),
                "bare_sql_one_statement_per_s": round(lean),
                "ratio_to_one_statement": round(ours / lean, 3),
                "lost_updates": lost,
                "events_sent": per * writers,
                "event_rows_logged": logged,
            }
            log(f"PostgreSQL, {writers} writer(s): {ours:,.0f} events/s vs bare SQL "
                f"{bare:,.0f}/s ({ours / bare:.0%}) and one bare statement per event "
                f"{lean:,.0f}/s ({ours / lean:.0%}), lost updates: {lost}")  # fmt: skip
    return out


def timer_figures(tmp: Path, count: int, log: Callable[[str], None]) -> dict[str, Any]:
    store = SQLiteStore(tmp / "timers.db")
    clock = ManualClock(T0)
    controller = Controller(MACHINES, store, clock, cache_size=0)
    ids = [f"t{i:06d}" for i in range(count)]
    for start in range(0, count, 1000):
        chunk = ids[start : start + 1000]
        controller.create_many([(a, "alfe", AlfeAgent(a, f"name-{a}")) for a in chunk])
        controller.handle_many([Delivery(a, Event("delete", Actor.USER)) for a in chunk])
    clock.advance(controller.machines["alfe"].policy.grace_period + timedelta(seconds=1))
    worker = TimerWorker(controller, batch_size=1000)
    begin = time.perf_counter()
    report = worker.drain()
    elapsed = time.perf_counter() - begin
    assert report.accepted == count, report
    assert store.timers() == []
    store.close()
    log(f"{count:,} due timers fired in {elapsed:.2f} s ({count / elapsed:,.0f}/s)")
    return {"timers": count, "seconds": round(elapsed, 2), "per_s": round(count / elapsed)}


def _history(store: Store, agent: str, events: int) -> Controller:
    """An agent with ``events`` accepted events of history (billing suspend and resume)."""
    controller = Controller(MACHINES, store, ManualClock(T0))
    controller.create(agent, "alfe", AlfeAgent(agent, f"name-{agent}"))
    cycle = CYCLES["same_work"]
    for start in range(0, events, 500):
        controller.handle_many(
            [Delivery(agent, Event(cycle[n % 2][0], cycle[n % 2][1], cycle[n % 2][2],
                                   id=f"h{n}"))
             for n in range(start, min(start + 500, events))]
        )  # fmt: skip
    return controller


def _duplicate_seconds(store: Store, agent: str, event_id: str, n: int, repeat: int) -> float:
    """The best of ``repeat`` runs of the median of ``n`` redeliveries, each on a controller
    that has nothing cached (as after a restart, or on another process)."""
    name, actor, payload = CYCLES["same_work"][int(event_id[1:]) % 2]
    event = Event(name, actor, payload, id=event_id)
    best = float("inf")
    for _ in range(repeat):
        times = []
        for _ in range(n):
            controller = Controller(MACHINES, store, ManualClock(T0))
            begin = time.perf_counter()
            result = controller.handle(agent, event)
            times.append(time.perf_counter() - begin)
            assert controller.stats.duplicates == 1
            assert result.accepted
        best = min(best, sorted(times)[len(times) // 2])
    return best


def duplicate_figures(
    tmp: Path, sizes: tuple[int, ...], log: Callable[[str], None]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for size in sizes:
        store = SQLiteStore(tmp / f"dup-{size}.db")
        _history(store, "d", size)
        middle = f"h{size // 2}"  # a duplicate of an event in the middle of the history
        lookup = _duplicate_seconds(store, "d", middle, 50, 3)
        # A row written before schema 6 has no snapshot: the replay answers it.
        conn = store._conn()
        conn.execute("UPDATE audit SET before_since = NULL, before_data = NULL")
        runs = 1 if size > 10_000 else 3
        replayed = _duplicate_seconds(store, "d", middle, runs if size > 10_000 else 20, runs)
        store.close()
        out[f"history_{size}"] = {
            "lookup_us": round(lookup * 1e6, 1),
            "replay_us": round(replayed * 1e6, 1),
        }
        log(f"duplicate on an agent with {size:,} events of history: {lookup * 1e6:,.0f} us "
            f"from its row; by replay (a row from before schema 6) "
            f"{replayed * 1e6:,.0f} us")  # fmt: skip
    return out


def _per_call(fn: Callable[[Any], Any], make: Callable[[], list[Any]], repeat: int = 5) -> float:
    """The best of ``repeat`` runs: CPU microseconds per call of ``fn`` over fresh inputs."""
    best = float("inf")
    for _ in range(repeat):
        values = make()
        begin = time.process_time()
        for v in values:
            fn(v)
        best = min(best, (time.process_time() - begin) / len(values))
    return best * 1e6


def codec_figures(log: Callable[[str], None]) -> dict[str, Any]:
    from agentfsm.models import Condition, RecifAgent, RecifSpec
    from agentfsm.runtime import Codec

    hand = DEFAULT_CODEC.with_types()
    hand._fast = None  # the core-only codec
    spec = RecifSpec(config={"model": "gpt", "strategy": "react"})
    ready = Condition("Ready", "True", "PodsReady", "All pods are ready.", 1, T0)
    samples: dict[str, Any] = {
        "alfe_data": AlfeAgent("a00001", "name-a00001", credentials=1, host=1,
                               remembered="running", suspend_reason="payment_issue"),
        "recif_data": RecifAgent("support-agent", spec, ready_replicas=1, conditions=(ready,)),
        "payload": {"reason": "payment_issue"},
    }  # fmt: skip
    codecs: list[tuple[str, Codec]] = [("hand-written", hand)]
    if DEFAULT_CODEC._fast is not None:
        codecs.append(("msgspec", DEFAULT_CODEC))
    out: dict[str, Any] = {}
    for name, value in samples.items():

        def fresh(value: Any = value) -> list[Any]:
            copy = (lambda v: dict(v)) if isinstance(value, dict) else attrs.evolve
            return [copy(value) for _ in range(2000)]

        figures: dict[str, Any] = {}
        for label, codec in codecs:
            text = codec.dumps(value)
            figures[label] = {
                "dumps_us": round(_per_call(codec.dumps, fresh), 2),
                "loads_us": round(_per_call(codec.loads, lambda t=text: [t] * 2000), 2),
            }
        try:
            import orjson

            figures["orjson (same tree)"] = {
                "dumps_us": round(_per_call(lambda v: orjson.dumps(hand.encode(v)), fresh), 2),
                "loads_us": round(
                    _per_call(lambda t: hand.decode(orjson.loads(t)), lambda t=text: [t] * 2000),
                    2,
                ),
            }  # fmt: skip
        except ImportError:
            pass
        out[name] = figures
        log(f"codec, {name}: " + "; ".join(
            f"{label} {f['dumps_us']:.2f} us to write, {f['loads_us']:.2f} us to read"
            for label, f in figures.items()
        ))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument(
        "--only",
        default="codec,sqlite,postgres,timers,duplicates",
        help="comma-separated parts to run (codec, sqlite, postgres, timers, duplicates; "
        "default: all)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="measure every figure N times")
    args = parser.parse_args()
    log: Callable[[str], None] = (
        (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else print
    )
    events = 4_000 if args.quick else 20_000
    timers = 10_000 if args.quick else 100_000
    sizes = (10, 1_000, 10_000) if args.quick else (10, 1_000, 100_000)
    result: dict[str, Any] = {"python": sys.version.split()[0], "rounds": []}
    parts = {p.strip() for p in args.only.split(",")}
    unknown = parts - {"codec", "sqlite", "postgres", "timers", "duplicates"}
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    for n in range(args.rounds):
        log(f"-- round {n + 1} of {args.rounds}")
        figures: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix="agentfsm-bench-") as tmp:
            if "codec" in parts:
                figures["codec"] = codec_figures(log)
            if "sqlite" in parts:
                figures.update(sqlite_figures(Path(tmp), events, log))
            if "postgres" in parts and not args.no_postgres:
                figures.update(postgres_figures(events // 2 if not args.quick else 2_000, log))
            if "timers" in parts:
                figures["timers_sqlite"] = timer_figures(Path(tmp), timers, log)
            if "duplicates" in parts:
                figures["duplicates_sqlite"] = duplicate_figures(Path(tmp), sizes, log)
        result["rounds"].append(figures)
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
