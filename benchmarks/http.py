"""The HTTP API beside a bare endpoint on the same framework doing the same store writes.

    python benchmarks/http.py             # a readable table (SQLite and PostgreSQL)
    python benchmarks/http.py --json      # the figures as JSON
    python benchmarks/http.py --quick     # shorter rounds, for a smoke run

One uvicorn server in a process of its own serves, on one ``AsyncController``:

- the API (``create_app``): ``POST /api/v1/agents/{id}/stop`` and ``…/restart`` and
  ``GET /api/v1/agents/{id}`` (bearer token checked, tenant checked, payload checked, the step
  and the agent with its offered actions in their wire form);
- the bare endpoints, FastAPI routes that call ``controller.handle`` and ``controller.get``
  on the same agents and answer the status and version only.

n httpx clients on loopback (n = 1, 8, 64), each owning one Recif agent, cycle
POST stop, GET, POST restart, GET for a fixed time; each POST is a compare-and-set and an audit
row. The table gives requests/s and p99 latency for both, and the API's share of the bare
throughput (the goal is 70% or more). Each figure is measured in two runs. The machine may be
shared: the ratios within one run are what count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LEVELS = (1, 8, 64)


def _unshadow() -> None:
    """Run as ``python benchmarks/http.py``, this folder is first on the path, and this file
    would stand in for the standard library's ``http`` package: take the folder off."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    if getattr(sys.modules.get("http"), "__file__", None) == str(Path(__file__).resolve()):
        del sys.modules["http"]


TOKEN = "bench-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def _serve(kind: str, where: str, ready: Any) -> None:
    """The server process: the API and the bare routes on one controller."""
    _unshadow()
    from contextlib import asynccontextmanager

    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from agentfsm import Actor, Event, Refusal
    from agentfsm.http import Caller, TokenAuthenticator, create_app
    from agentfsm.models import MACHINES
    from agentfsm.runtime import AsyncController, AsyncPostgresStore, AsyncSQLiteStore

    store: Any = (
        AsyncSQLiteStore(where)
        if kind == "sqlite"
        else AsyncPostgresStore(where, schema="bench_http", min_size=4, max_size=16)
    )
    controller = AsyncController(MACHINES, store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        await store.open()
        yield
        await store.close()

    auth = TokenAuthenticator({TOKEN: Caller("bench", Actor.USER, tenant="bench")})
    app = create_app(controller, None, auth, lifespan=lifespan)

    async def bare_post(agent_id: str, event: str) -> JSONResponse:
        result = await controller.handle(agent_id, Event.named(event, Actor.USER))
        if isinstance(result, Refusal):
            return JSONResponse({"refused": result.code}, 409)
        return JSONResponse({"status": result.snapshot.status, "version": result.snapshot.version})

    async def bare_get(agent_id: str) -> JSONResponse:
        record = await controller.get(agent_id)
        snap = record.snapshot
        return JSONResponse({"status": snap.status, "version": snap.version})

    app.add_api_route("/bare/{agent_id}/{event}", bare_post, methods=["POST"])
    app.add_api_route("/bare/{agent_id}", bare_get, methods=["GET"])
    from agentfsm.http._serve import listening_socket

    sock = listening_socket("127.0.0.1", 0)  # TCP_NODELAY: no 40 ms delayed-ACK waits
    ready.put(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


async def _round(base: str, n: int, seconds: float, bare: bool) -> dict[str, float]:
    import httpx

    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    latencies: list[float] = []
    stops: list[float] = []
    failures = 0
    async with httpx.AsyncClient(base_url=base, limits=limits, headers=HEADERS) as client:
        deadline = time.perf_counter() + seconds

        async def one(i: int) -> None:
            nonlocal failures
            agent = f"bench.c{i}"
            root = f"/bare/{agent}" if bare else f"/api/v1/agents/{agent}"
            while time.perf_counter() < deadline:
                for method, path in (
                    ("POST", f"{root}/stop"),
                    ("GET", root),
                    ("POST", f"{root}/restart"),
                    ("GET", root),
                ):
                    began = time.perf_counter()
                    answer = await client.request(method, path)
                    took = time.perf_counter() - began
                    if answer.status_code != 200:
                        failures += 1
                    latencies.append(took)
                    if path.endswith("/stop"):
                        stops.append(took)

        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - began
    return {
        "requests_per_s": len(latencies) / elapsed,
        "p99_ms": _p99(latencies) * 1000,
        "stop_p99_ms": _p99(stops) * 1000,
        "failures": failures,
    }


def _p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100)[98]


async def _prepare(base: str) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base, headers=HEADERS) as client:
        for i in range(max(LEVELS)):
            agent = f"bench.c{i}"
            made = await client.post(
                "/api/v1/agents",
                json={"agent_id": agent, "machine": "recif", "data": {"slug": f"c{i}"}},
            )
            assert made.status_code == 201, made.text
            deployed = await client.post(f"/api/v1/agents/{agent}/deploy")
            assert deployed.status_code == 200, deployed.text


def _measure(kind: str, where: str, seconds: float, runs: int) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Queue()
    server = ctx.Process(target=_serve, args=(kind, where, ready), daemon=True)
    server.start()
    try:
        port = ready.get(timeout=60)
        base = f"http://127.0.0.1:{port}"
        _wait_up(port)
        asyncio.run(_prepare(base))
        rows: list[dict[str, Any]] = []
        for run in range(1, runs + 1):
            for n in LEVELS:
                # Alternate, so drift on a shared machine falls on both alike.
                bare = asyncio.run(_round(base, n, seconds, bare=True))
                api = asyncio.run(_round(base, n, seconds, bare=False))
                rows.append({"store": kind, "run": run, "clients": n, "api": api, "bare": bare,
                             "ratio": api["requests_per_s"] / bare["requests_per_s"]})  # fmt: skip
        return rows
    finally:
        server.terminate()
        server.join(10)


def _wait_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def _failures(api: dict[str, float], bare: dict[str, float]) -> str:
    if not (api["failures"] or bare["failures"]):
        return ""
    return f"  failures api={api['failures']:.0f} bare={bare['failures']:.0f}"


def main(argv: list[str] | None = None) -> int:
    _unshadow()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="short rounds (a smoke run)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    seconds = 0.5 if args.quick else 3.0
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += _measure("sqlite", str(Path(tmp) / "bench.db"), seconds, 2)
    if not args.no_postgres:
        from agentfsm.runtime import ThrowawayPostgres
        from agentfsm.runtime._pgserver import find_pg_bin

        if find_pg_bin() is None:
            print("(PostgreSQL binaries not found: SQLite only)", file=sys.stderr)
        else:
            server = ThrowawayPostgres().start()
            try:
                rows += _measure("postgres", server.dsn, seconds, 2)
            finally:
                server.stop()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'store':9}{'run':>4}{'clients':>8}{'api req/s':>11}{'bare req/s':>12}"
          f"{'ratio':>7}{'api p99 ms':>12}{'bare p99 ms':>13}{'api stop p99':>14}")  # fmt: skip
    for r in rows:
        api, bare = r["api"], r["bare"]
        print(
            f"{r['store']:9}{r['run']:>4}{r['clients']:>8}{api['requests_per_s']:>11.0f}"
            f"{bare['requests_per_s']:>12.0f}{r['ratio']:>7.0%}{api['p99_ms']:>12.1f}"
            f"{bare['p99_ms']:>13.1f}{api['stop_p99_ms']:>14.1f}" + _failures(api, bare)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
