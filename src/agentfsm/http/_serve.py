"""``agentfsm serve``: the HTTP API on the embedded defaults, with a live fleet behind it.

Everything lives in one folder (``./.agentfsm-serve/`` by default): a SQLite store, a SQLite
billing ledger and, with the ``git`` extra, a Git release repository. A ``Platform`` ticks in a
background thread over simulated hosts that take a few seconds per step and fail now and then
(seeded random faults), and a simulated cluster for the Recif agents; the API's
``AsyncController`` decides on the same database file. Writers never clash silently: both
compare-and-set on an agent's version, and the loser re-reads and decides again.

This module imports nothing from the ``http`` extra until the command runs, so the command
line can register it without FastAPI installed.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from agentfsm._errors import AgentFSMError, MissingExtra

DEFAULT_SERVE_DIR = Path(".agentfsm-serve")
"""The folder ``agentfsm serve`` keeps its files in, relative to the current directory."""

DB_FILE = "agentfsm.db"
LEDGER_FILE = "billing.db"
RELEASES_DIR = "recif-state"
TENANT = "demo"
PRICE_SMALL = 100


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` command to an ``argparse`` sub-parser set.

    Args:
        subparsers: what ``ArgumentParser.add_subparsers`` returned.

    Returns:
        The command's parser.
    """
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="serve the HTTP API over a live simulated fleet"
    )
    p.description = (
        "Serve the HTTP API (/api/v1: agents, actions, audit logs, machines, OpenAPI) with "
        "uvicorn, over a live fleet on the embedded defaults: a SQLite store and billing "
        "ledger in DIR, simulated hosts with faults, a simulated cluster and a Git release "
        "repository for the Recif agents. It prints a user token and a platform token. "
        "Ctrl-C stops it."
    )
    p.add_argument("--dir", type=Path, default=DEFAULT_SERVE_DIR, help="the folder for its files")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    p.add_argument("--port", type=int, default=8000, help="the port (0: any free one)")
    p.add_argument("--agents", type=int, default=4, help="agents to start with (0 to 50)")
    p.add_argument("--faults", type=float, default=0.1, help="the fault rate, 0 to 1")
    p.add_argument("--seed", type=int, default=0, help="the faults' random seed")
    p.add_argument("--user-token", default=None, help="the user's bearer token (default: random)")
    p.add_argument(
        "--platform-token", default=None, help="the platform's bearer token (default: random)"
    )
    return p


class ServeError(AgentFSMError):
    """``agentfsm serve`` cannot start; the message says why."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound socket for uvicorn (port 0: any free one, known before the server starts).

    Connections accepted on it inherit ``TCP_NODELAY``: uvicorn sets it only on sockets it
    binds itself, and without it every small answer waits for the client's delayed ACK
    (about 40 ms on Linux loopback).

    The socket already listens: a client told the address (the banner is printed before
    uvicorn starts) waits in the backlog instead of being refused.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def _log_to(path: Path) -> None:
    """Send the runtime's log (faults, retried effects) to a file: the terminal shows the
    address and the tokens, not the simulated hosts' failures."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("agentfsm")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``agentfsm serve`` until interrupted.

    Args:
        args: the parsed arguments of the ``serve`` parser.
        out: where to print the address and the tokens (default: standard output).

    Returns:
        0 when the server stopped of its own accord, 2 when it could not start (a line on
        standard error says why). Ctrl-C stops it with ``KeyboardInterrupt``, which the
        command line turns into status 130.
    """
    out = out or sys.stdout
    try:
        return _Serve(args, out).run()
    except (ServeError, MissingExtra, OSError) as error:
        sys.stderr.write(f"agentfsm serve: error: {error}\n")
        return 2


class _Serve:
    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        if not 0 <= args.agents <= 50:
            raise ServeError("--agents must be between 0 and 50")
        if not 0.0 <= args.faults <= 1.0:
            raise ServeError("--faults must be between 0 and 1")
        if not 0 <= args.port <= 65535:
            raise ServeError("--port must be between 0 and 65535")
        self.args = args
        self.out = out
        self.dir: Path = args.dir.absolute()
        self.user_token: str = args.user_token or secrets.token_urlsafe(18)
        self.platform_token: str = args.platform_token or secrets.token_urlsafe(18)

    def run(self) -> int:
        try:
            import uvicorn

            from agentfsm.http._app import build_app
        except ImportError as exc:
            raise MissingExtra("agentfsm serve", "http", exc.name or "fastapi") from exc
        self.dir.mkdir(parents=True, exist_ok=True)
        _log_to(self.dir / "serve.log")
        platform, closers = self._platform()
        try:
            app = build_app(*self._api(), lifespan=self._lifespan)
            sock = listening_socket(self.args.host, self.args.port)
            port = sock.getsockname()[1]
            self._seed(platform)
            platform.start(interval=0.1)
            self._banner(port)
            # The dashboard's event streams stay open: Ctrl-C ends them after 2 s.
            config = uvicorn.Config(
                app, log_level="warning", lifespan="on", access_log=False,
                timeout_graceful_shutdown=2,
            )  # fmt: skip
            server = uvicorn.Server(config)
            server.run(sockets=[sock])
            return 0
        finally:
            platform.close()
            for close in closers:
                close()

    def _platform(self) -> tuple[Any, list[Any]]:
        from agentfsm.billing import PriceTable, SQLiteLedger
        from agentfsm.hosts import SimulatedDelays, SimulatedHost, random_faults, wall_clock
        from agentfsm.platform import Platform, SimulatedCluster
        from agentfsm.runtime import SQLiteStore

        store = SQLiteStore(self.dir / DB_FILE)
        ledger = SQLiteLedger(
            self.dir / LEDGER_FILE, PriceTable({"small": PRICE_SMALL, "large": 4 * PRICE_SMALL})
        )
        now = datetime.now(UTC)
        ledger.top_up(f"serve-{now:%Y%m%d%H}", PRICE_SMALL * 24 * max(self.args.agents, 1), now)
        quick = SimulatedDelays(
            provision=(1.0, 3.0),
            capacity=(0.5, 1.0),
            boot=(1.0, 3.0),
            reconnect=(1.0, 3.0),
            shutdown=(1.0, 2.0),
        )
        faults = [random_faults(self.args.faults, self.args.seed)] if self.args.faults else []

        def host(sink: Any) -> Any:
            return SimulatedHost(wall_clock, sink, seed=self.args.seed, faults=faults, delays=quick)

        platform = Platform(
            store,
            host=host,
            cluster=SimulatedCluster(),
            releases=self._releases(),
            ledger=ledger,
        )
        return platform, [store.close, ledger.close]

    def _releases(self) -> Any:
        try:
            from agentfsm.releases import GitReleaseStore
        except MissingExtra:
            self.out.write("  (releases are not recorded: pip install 'agentfsm[git]')\n")
            return None
        return GitReleaseStore(self.dir / RELEASES_DIR, gc_every=None, repack_every=None)

    def _api(self) -> tuple[Any, None, Any]:
        from agentfsm import Actor
        from agentfsm.http._auth import Caller, TokenAuthenticator
        from agentfsm.models import MACHINES
        from agentfsm.runtime import AsyncController, AsyncSQLiteStore

        self.api_store = AsyncSQLiteStore(self.dir / DB_FILE)
        controller = AsyncController(MACHINES, self.api_store)
        tokens = {
            self.user_token: Caller("user", Actor.USER, tenant=TENANT),
            self.platform_token: Caller("platform", Actor.SYSTEM),
        }
        return controller, None, TokenAuthenticator(tokens)

    @asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        await self.api_store.open()
        try:
            yield
        finally:
            await self.api_store.close()

    def _seed(self, platform: Any) -> None:
        from agentfsm.models import AlfeAgent, RecifAgent
        from agentfsm.runtime import UnknownAgent

        for i in range(1, self.args.agents + 1):
            agent_id = f"{TENANT}.{'alfe' if i % 2 else 'recif'}-{(i + 1) // 2}"
            try:
                platform.get(agent_id)
                continue  # kept from an earlier run
            except UnknownAgent:
                pass
            if i % 2:
                platform.create_agent(agent_id, "alfe", AlfeAgent(agent_id, f"assistant-{i}"))
            else:
                platform.create_agent(agent_id, "recif", RecifAgent(f"support-{i}"))
                platform.send(agent_id, "deploy")

    def _banner(self, port: int) -> None:
        host = self.args.host if ":" not in self.args.host else f"[{self.args.host}]"
        base = f"http://{host}:{port}/api/v1"
        self.out.write(
            f"agentfsm serve: {base}  (files and serve.log in {self.dir})\n"
            f"  OpenAPI:         {base}/openapi.json\n"
            f"  dashboard:       http://{host}:{port}/ui/   (sign in with the user token)\n"
            f"  user token:      {self.user_token}   (tenant {TENANT!r}: agents {TENANT}.…)\n"
            f"  platform token:  {self.platform_token}\n"
            f"  try:  curl -H 'Authorization: Bearer {self.user_token}' {base}/agents\n"
            "  Ctrl-C stops it.\n"
        )
        self.out.flush()
