"""LocalProcessHost: real agent processes, real loopback connections, real signals."""

from __future__ import annotations

import gc
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _hosts_driver import AlfeDriver

from agentfsm import Actor, Event
from agentfsm.hosts import LocalProcessHost, RecordingSink, TemporaryError, wall_clock
from agentfsm.hosts._agent_program import EXIT_REFUSED, encode, proof
from agentfsm.hosts._processes import AGENT_COMMAND

FAST = {"heartbeat_interval": 0.05, "missed_heartbeats": 4, "stop_timeout": 0.5}


def _gone(pid: int) -> bool:
    """True once ``pid`` is no running process (gone, or a zombie awaiting its parent)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone, even mid-read
        return True


def _wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def host(sink: RecordingSink, tmp_path: Path) -> Iterator[LocalProcessHost]:
    h = LocalProcessHost(sink, base_dir=tmp_path / "hosts", capacity={"small": 2}, **FAST)
    started: list[int] = []
    yield h
    started = h.child_pids()
    h.close()
    assert all(_wait_gone(pid) for pid in started), "an agent process survived close()"


def _running(host: LocalProcessHost, sink: RecordingSink, agent: str, number: int = 1) -> int:
    """Provision, issue credentials and boot by hand; return the agent's pid once connected."""
    assert [e.name for e in host.provision(agent, number, "small")] == ["host_up"]
    host.issue_credentials(agent, number)
    host.boot(agent, number)
    sink.wait_for(agent, "connected", count=sink.names(agent).count("connected") + 1)
    pid = host.pid(agent)
    assert pid is not None
    return pid


def test_alfe_agent_from_pending_to_running_with_a_real_process(
    host: LocalProcessHost, tmp_path: Path
) -> None:
    d = AlfeDriver(wall_clock, host)
    host._sink = d.sink  # the driver decides the reports itself
    d.add("a1")
    d.pump_until("a1", "running")
    obs = host.observe("a1")
    assert (obs.connected, obs.host_up, obs.host, obs.credentials) == (True, True, 1, 1)
    assert obs.last_heartbeat is not None
    secret_file = tmp_path / "hosts" / "a1" / "host-1" / "credentials"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert not d.refused_reports


def test_first_heartbeat_is_connected_and_a_killed_agent_is_connection_lost(
    host: LocalProcessHost, sink: RecordingSink
) -> None:
    pid = _running(host, sink, "a1")
    os.kill(pid, signal.SIGKILL)
    sink.wait_for("a1", "connection_lost")
    assert not host.observe("a1").connected
    host.recover("a1", 1)
    sink.wait_for("a1", "connected", count=2)
    assert host.pid("a1") not in (None, pid)


def test_missed_heartbeats_are_connection_lost(host: LocalProcessHost, sink: RecordingSink) -> None:
    pid = _running(host, sink, "a1")
    os.kill(pid, signal.SIGSTOP)  # alive, connected, silent
    try:
        started = time.monotonic()
        sink.wait_for("a1", "connection_lost", timeout=3)
        assert time.monotonic() - started >= 0.15  # not before a few intervals of silence
    finally:
        os.kill(pid, signal.SIGCONT)
    # the revived process reconnects by itself: that is reported as connected again
    sink.wait_for("a1", "connected", count=2)


def test_stop_is_sigterm_then_shutdown_complete(
    host: LocalProcessHost, sink: RecordingSink
) -> None:
    pid = _running(host, sink, "a1")
    host.power_off("a1", 1)
    sink.wait_for("a1", "shutdown_complete")
    assert _wait_gone(pid)
    assert "connection_lost" not in sink.names("a1")  # a stop is not a lost connection
    assert host.observe("a1").phase == "off"


def test_a_stop_that_sigterm_cannot_end_escalates_to_sigkill(
    sink: RecordingSink, tmp_path: Path
) -> None:
    args = {**FAST, "stop_timeout": 0.3}
    with LocalProcessHost(
        sink, base_dir=tmp_path, extra_agent_args=["--ignore-sigterm"], **args
    ) as h:
        pid = _running(h, sink, "a1")
        started = time.monotonic()
        h.power_off("a1", 1)
        sink.wait_for("a1", "shutdown_complete")
        assert time.monotonic() - started >= 0.3
        assert _wait_gone(pid)


def test_restart_keeps_the_credentials_and_starts_a_new_process(
    host: LocalProcessHost, sink: RecordingSink, tmp_path: Path
) -> None:
    pid = _running(host, sink, "a1")
    secret = (tmp_path / "hosts" / "a1" / "host-1" / "credentials").read_text()
    host.reboot("a1", 1)
    sink.wait_for("a1", "connected", count=2)
    assert host.pid("a1") != pid
    assert _wait_gone(pid)
    assert (tmp_path / "hosts" / "a1" / "host-1" / "credentials").read_text() == secret
    assert host.observe("a1").credentials == 1
    assert "connection_lost" not in sink.names("a1")


def test_recreate_revokes_old_credentials_and_an_agent_holding_them_is_refused(
    host: LocalProcessHost, sink: RecordingSink, tmp_path: Path
) -> None:
    _running(host, sink, "a1")
    old_dir = tmp_path / "hosts" / "a1" / "host-1"
    stolen = tmp_path / "stolen-credentials"
    stolen.write_text((old_dir / "credentials").read_text())
    # Recreate's effects, in the model's order
    host.destroy("a1", 1)
    host.revoke_credentials("a1", 1)
    host.provision("a1", 2, "small")
    host.issue_credentials("a1", 2)
    host.boot("a1", 2)
    sink.wait_for("a1", "connected", count=2)
    assert not old_dir.exists()
    new_secret = (tmp_path / "hosts" / "a1" / "host-2" / "credentials").read_text()
    assert new_secret != stolen.read_text()
    assert host.observe("a1").credentials == 2
    stray = subprocess.run(
        [*AGENT_COMMAND, "--port", str(host.port),
         "--agent", "a1", "--host", "1", "--generation", "1", "--credentials", str(stolen),
         "--boot", "x", "--interval-ms", "50", "--orphan-timeout", "2"],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert stray.returncode == EXIT_REFUSED
    assert "credentials revoked" in stray.stderr


def test_revoking_live_credentials_refuses_the_running_agent(
    host: LocalProcessHost, sink: RecordingSink
) -> None:
    pid = _running(host, sink, "a1")
    lost = host.revoke_credentials("a1", 1)
    assert [e.name for e in lost] == ["connection_lost"]
    assert _wait_gone(pid)
    log = (host.base_dir / "a1" / "host-1" / "agent.log").read_text()
    assert "credentials revoked" in log


def test_a_connection_with_a_wrong_proof_is_refused(
    host: LocalProcessHost, sink: RecordingSink
) -> None:
    _running(host, sink, "a1")
    with socket.create_connection(("127.0.0.1", host.port), timeout=5) as s:
        f = s.makefile("rb")
        nonce = __import__("json").loads(f.readline())["nonce"]
        hello = {"agent": "a1", "host": 1, "generation": 1, "boot": "b", "proof": "0" * 64}
        s.sendall(encode(hello))
        assert b"bad proof" in f.readline()
        assert proof("s", nonce, "a1", 1, "b") != hello["proof"]


def test_capacity_per_size_reports_capacity_unavailable(
    host: LocalProcessHost, sink: RecordingSink
) -> None:
    assert [e.name for e in host.provision("a1", 1, "small")] == ["host_up"]
    assert [e.name for e in host.provision("a2", 1, "small")] == ["host_up"]
    assert [e.name for e in host.provision("a3", 1, "small")] == ["capacity_unavailable"]
    assert [e.name for e in host.provision("a4", 1, "large")] == ["host_up"]  # not limited
    host.stop("a1", 1)  # a deleted agent frees its slot
    assert [e.name for e in host.provision("a3", 1, "small")] == ["host_up"]


def test_alfe_agent_is_waitlisted_for_real_when_capacity_is_full(
    sink: RecordingSink, tmp_path: Path
) -> None:
    with LocalProcessHost(sink, base_dir=tmp_path, capacity={"small": 1}, **FAST) as h:
        d = AlfeDriver(wall_clock, h)
        h._sink = d.sink
        d.add("a1")
        d.add("a2")
        d.pump_until("a1", "running")
        assert d.status("a2") == "waitlisted"
        d.send("a1", Event("delete"))
        d.send("a2", Event("capacity_retry", Actor.TIMER))
        d.pump_until("a2", "running")


def test_pause_reports_nothing_and_resume_reconnects(
    host: LocalProcessHost, sink: RecordingSink
) -> None:
    pid = _running(host, sink, "a1")
    host.pause("a1", 1)
    time.sleep(0.5)  # far more than the missed-heartbeat window
    assert sink.names("a1") == ["connected"]
    assert host.observe("a1").phase == "paused"
    host.resume("a1", 1)
    sink.wait_for("a1", "connected", count=2)
    assert host.pid("a1") == pid


def test_boot_without_credentials_is_a_temporary_error(host: LocalProcessHost) -> None:
    host.provision("a1", 1, "small")
    with pytest.raises(TemporaryError, match="no usable credentials"):
        host.boot("a1", 1)


def test_remove_data_kills_and_deletes_everything(
    host: LocalProcessHost, sink: RecordingSink
) -> None:
    pid = _running(host, sink, "a1")
    host.stop("a1", 1)
    assert (host.base_dir / "a1").exists()  # data is retained after delete
    host.remove_data("a1")
    assert not (host.base_dir / "a1").exists()
    assert _wait_gone(pid)
    assert host.observe("a1").host is None


def test_close_kills_every_child_and_removes_its_temporary_dir(sink: RecordingSink) -> None:
    h = LocalProcessHost(sink, **FAST)
    pids = [_running(h, sink, f"a{i}") for i in range(3)]
    base = h.base_dir
    h.close()
    assert all(_wait_gone(pid) for pid in pids)
    assert not base.exists()
    h.close()  # twice is fine


def test_an_unclosed_host_kills_its_children_when_collected(sink: RecordingSink) -> None:
    h = LocalProcessHost(sink, **FAST)
    pid = _running(h, sink, "a1")
    base = h.base_dir
    del h
    gc.collect()
    assert _wait_gone(pid)
    import shutil

    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_agents_die_with_a_control_plane_that_is_killed(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from agentfsm.hosts import LocalProcessHost, RecordingSink\n"
        "s = RecordingSink()\n"
        f"h = LocalProcessHost(s, base_dir={str(tmp_path)!r}, heartbeat_interval=0.05)\n"
        "for i in range(2):\n"
        "    a = f'a{i}'\n"
        "    h.provision(a, 1, 'small'); h.issue_credentials(a, 1); h.boot(a, 1)\n"
        "    s.wait_for(a, 'connected')\n"
        "print(' '.join(str(h.pid(f'a{i}')) for i in range(2)), flush=True)\n"
        "time.sleep(60)\n"
    )
    plane = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert plane.stdout is not None
        pids = [int(p) for p in plane.stdout.readline().split()]
        assert len(pids) == 2
        plane.kill()  # no close(), no finaliser: the kernel and the agents must cope
        plane.wait()
        assert all(_wait_gone(pid, timeout=10) for pid in pids)
    finally:
        plane.kill()


def test_regression_a_relative_base_dir_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Agent processes run inside their own directory: a relative base would not resolve there.
    monkeypatch.chdir(tmp_path)
    with LocalProcessHost(RecordingSink(), base_dir="hosts", **FAST) as host:
        assert host.base_dir.is_absolute()
        assert host.base_dir == tmp_path / "hosts"


@pytest.mark.parametrize("trial", range(5))
def test_regression_heartbeat_buffered_before_revocation_counted_as_connected(
    host: LocalProcessHost, sink: RecordingSink, trial: int
) -> None:
    # The interleaving that let a revoked agent back in, made deterministic: a heartbeat has
    # arrived on the connection (the transport handed it to the reader) but the connection's
    # task has not read it yet when the credentials are revoked. Both happen in one callback
    # on the adapter's loop, so nothing can run in between.
    _running(host, sink, "a1")

    def revoke_with_a_heartbeat_buffered() -> list[str]:
        [writer] = host._agents["a1"].connections
        writer.transport.get_protocol().data_received(encode({"type": "heartbeat"}))
        return [e.name for e in host.revoke_credentials("a1", 1)]

    assert host._loop.call(revoke_with_a_heartbeat_buffered) == ["connection_lost"]
    time.sleep(10 * FAST["heartbeat_interval"])  # the buffered heartbeat has long been read
    assert sink.names("a1").count("connected") == 1  # the boot's, and no other
    assert not host.observe("a1").connected


def test_regression_a_rebooted_process_reconnecting_before_it_stops_counts_as_the_new_boot(
    sink: RecordingSink, tmp_path: Path
) -> None:
    # The old process outlives SIGTERM here (it ignores it until SIGKILL), as a loaded one
    # may: it reconnects during the stop. Its boot was superseded by the reboot, so it is
    # refused: the reboot's connected comes from the new process, and the old one's death is
    # not a lost connection.
    args = {**FAST, "stop_timeout": 0.6}
    with LocalProcessHost(
        sink, base_dir=tmp_path, extra_agent_args=["--ignore-sigterm"], **args
    ) as h:
        old = _running(h, sink, "a1")
        h.reboot("a1", 1)
        sink.wait_for("a1", "connected", count=2)
        new = h.pid("a1")
        assert new is not None
        assert new != old
        assert _wait_gone(old)
        assert h.observe("a1").connected
        assert "connection_lost" not in sink.names("a1")
