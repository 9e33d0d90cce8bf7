"""A throwaway PostgreSQL server for tests and benchmarks: ``initdb`` into a temporary
directory, ``pg_ctl start`` on 127.0.0.1 with a free port, and ``stop`` removes it all.

It uses the Debian server binaries under ``/usr/lib/postgresql/*/bin`` (or ``$PG_BIN``). When
run as root it runs the server as the ``postgres`` system user (PostgreSQL refuses to run as
root). Durability is switched off (``fsync=off``, ``synchronous_commit=off``) unless asked
for: the data is thrown away anyway. ``durable=True`` keeps PostgreSQL's defaults, as a
production server runs, for benchmarks where a commit's flush to disk is what counts.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from agentfsm.runtime._errors import StoreUnavailable

INSTALL_HINT = (
    "the PostgreSQL server binaries (initdb, pg_ctl) are missing: install them with "
    "`apt-get install postgresql` (Debian/Ubuntu), or set PG_BIN to their directory"
)


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl`` (newest version first), or ``None``."""
    env = os.environ.get("PG_BIN")
    if env and (Path(env) / "initdb").exists():
        return Path(env)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
        reverse=True,
    )
    return Path(found[0]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayPostgres:
    """A PostgreSQL server in a temporary directory, for one test session or one benchmark.

    Use as a context manager, or call ``start`` and ``stop``. ``dsn`` connects as the
    ``postgres`` superuser to the ``postgres`` database.

    Args:
        bin_dir: the directory of ``initdb`` and ``pg_ctl`` (default: ``find_pg_bin``).
        max_connections: the server's ``max_connections``.
        durable: keep PostgreSQL's durability defaults (``fsync=on``,
            ``synchronous_commit=on``, ``full_page_writes=on``): each commit waits for its
            log flush. Off by default: a throwaway server need not survive a crash.

    Raises:
        StoreUnavailable: the binaries are missing, or the server would not start (the
            message includes its log).
    """

    def __init__(
        self, bin_dir: Path | None = None, *, max_connections: int = 200, durable: bool = False
    ) -> None:
        found = bin_dir or find_pg_bin()
        if found is None:
            raise StoreUnavailable(INSTALL_HINT)
        self.bin_dir = found
        self.max_connections = max_connections
        self.durable = durable
        self.port = 0
        self.root: Path | None = None
        self._as_user: list[str] = []

    @property
    def dsn(self) -> str:
        """The connection string of the running server."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._as_user, *args], capture_output=True, text=True, timeout=120, check=False
        )

    def start(self) -> ThrowawayPostgres:
        """Initialise and start the server; returns ``self``."""
        self.root = Path(tempfile.mkdtemp(prefix="agentfsm-pg-"))
        data, log = self.root / "data", self.root / "server.log"
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise StoreUnavailable("running as root needs `runuser` to start PostgreSQL")
            self._as_user = [runuser, "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")
            os.chmod(self.root, 0o700)
        self.port = _free_port()
        done = self._run(
            str(self.bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
            "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        if done.returncode:
            raise StoreUnavailable(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        quick = (
            ""
            if self.durable
            else "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} {quick}"
            f"-c max_connections={self.max_connections}"
        )
        done = self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip
        if done.returncode:
            text = log.read_text() if log.exists() else done.stderr
            self.stop()
            raise StoreUnavailable(f"PostgreSQL would not start:\n{text[-2000:]}")
        return self

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        if self.root is None:
            return
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
