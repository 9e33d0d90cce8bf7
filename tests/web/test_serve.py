"""``agentfsm serve`` in a real process: a live fleet behind the API, stopped by Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentfsm.cli import main

pytestmark = pytest.mark.slow

USER = {"Authorization": "Bearer user-secret"}


def _wait(client: httpx.Client, path: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(path, headers=USER).json()
        if check(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never got there: {body}")
        time.sleep(0.2)


def test_serve_shows_a_live_fleet_and_a_stop_reaches_stopped(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [
        sys.executable, "-c", "from agentfsm.cli import main; raise SystemExit(main())",
        "serve", "--dir", str(tmp_path / "serve"), "--port", "0", "--faults", "0",
        "--user-token", "user-secret", "--platform-token", "platform-secret",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        found = re.search(r"(http://\S+/api/v1)", first)
        assert found, first
        with httpx.Client(base_url=found.group(1), timeout=10) as client:
            fleet = _wait(
                client,
                "/agents",
                lambda b: {a["status"] for a in b["items"]} == {"running", "Running"},
            )
            assert len(fleet["items"]) == 4
            stopped = client.post("/agents/demo.alfe-1/stop", headers=USER)
            assert stopped.status_code == 200, stopped.text
            # The platform's simulated host shuts it down and reports it: no one else acts.
            _wait(client, "/agents/demo.alfe-1", lambda b: b["status"] == "stopped")
            forbidden = client.post("/agents/demo.alfe-1/connected", headers=USER)
            assert forbidden.status_code == 403
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code == 130  # the command line's status for Ctrl-C, as for the demo
    assert (tmp_path / "serve" / "agentfsm.db").exists()


def test_serve_refuses_bad_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["serve", "--dir", str(tmp_path), "--agents", "99"]) == 2
    assert "--agents" in capsys.readouterr().err
