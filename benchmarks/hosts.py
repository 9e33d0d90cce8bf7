"""Benchmark the local-process host: provision-to-running time, and heartbeating capacity.

    python benchmarks/hosts.py --json

1. ``provision_to_running``: 20 Alfe agents are provisioned together and driven through the
   Alfe machine with ``agentfsm.decide`` (effects performed by a ``HostEffectHandler`` over a
   ``LocalProcessHost``) until each is ``running``; per-agent latencies and the total.
2. ``heartbeating``: agents are added in steps; after each step every agent must stay
   connected through a hold period with no ``connection_lost``. The largest step that held is
   the figure. Bounded by ``--max-agents`` and ``--max-seconds``; loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections import deque
from typing import Any

from agentfsm import Actor, Context, Event, Refusal, Snapshot, decide
from agentfsm.effects import CancelTimer, Emit, ScheduleTimer
from agentfsm.hosts import HostEffectHandler, LocalProcessHost, RecordingSink, wall_clock
from agentfsm.models import ALFE, AlfeAgent


class _Driver:
    """Decides each agent's reports as they arrive and performs the effects (no timers)."""

    def __init__(self) -> None:
        self.inbox: deque[tuple[str, Event]] = deque()
        self.agents: dict[str, Snapshot] = {}
        self.refused: list[Refusal] = []
        self.lock = threading.Lock()

    def sink(self, agent_id: str, event: Event) -> None:
        self.inbox.append((agent_id, event))

    def send(self, handler: HostEffectHandler, agent_id: str, event: Event) -> None:
        result = decide(ALFE, self.agents[agent_id], event, Context(wall_clock()))
        if isinstance(result, Refusal):
            self.refused.append(result)
            return
        self.agents[agent_id] = result.snapshot
        for i, effect in enumerate(result.effects):
            if not isinstance(effect, ScheduleTimer | CancelTimer | Emit):
                key = f"{agent_id}:{result.snapshot.version}:{i}"
                self.inbox.extend((agent_id, e) for e in handler(agent_id, effect, key))

    def drain(self, handler: HostEffectHandler) -> None:
        while self.inbox:
            agent_id, event = self.inbox.popleft()
            self.send(handler, agent_id, event)


def provision_to_running(n: int, interval: float) -> dict[str, Any]:
    driver = _Driver()
    with LocalProcessHost(driver.sink, heartbeat_interval=interval) as host:
        handler = HostEffectHandler(host)
        started: dict[str, float] = {}
        running: dict[str, float] = {}
        t0 = time.perf_counter()
        for i in range(n):
            agent_id = f"bench-{i}"
            driver.agents[agent_id] = Snapshot(
                "pending", 0, wall_clock(), AlfeAgent(agent_id, agent_id)
            )
            started[agent_id] = time.perf_counter()
            driver.send(handler, agent_id, Event("provision", Actor.SYSTEM))
            driver.drain(handler)
        deadline = time.perf_counter() + 60
        while len(running) < n and time.perf_counter() < deadline:
            driver.drain(handler)
            for agent_id, snap in driver.agents.items():
                if snap.status == "running" and agent_id not in running:
                    running[agent_id] = time.perf_counter()
            time.sleep(0.001)
        total = time.perf_counter() - t0
    latencies = sorted(running[a] - started[a] for a in running)
    return {
        "agents": n,
        "reached_running": len(running),
        "heartbeat_interval_s": interval,
        "total_s": round(total, 3),
        "per_agent_s": {
            "median": round(statistics.median(latencies), 3),
            "p95": round(latencies[max(0, int(0.95 * len(latencies)) - 1)], 3),
            "max": round(latencies[-1], 3),
        },
        "refused_reports": len(driver.refused),
    }


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 2**20


def heartbeating(
    max_agents: int, max_seconds: float, interval: float, hold: float
) -> dict[str, Any]:
    sink = RecordingSink()
    steps: list[dict[str, Any]] = []
    held = 0
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    with LocalProcessHost(sink, heartbeat_interval=interval, missed_heartbeats=3) as host:
        n = 0
        size = 25
        while n < max_agents and time.perf_counter() - t0 < max_seconds:
            target = min(max_agents, n + size)
            spawn0 = time.perf_counter()
            for i in range(n, target):
                agent_id = f"hb-{i}"
                host.provision(agent_id, 1, "small")
                host.issue_credentials(agent_id, 1)
                host.boot(agent_id, 1)
            try:
                for i in range(n, target):
                    sink.wait_for(f"hb-{i}", "connected", timeout=max(30.0, target * 0.1))
            except TimeoutError:
                steps.append({"agents": target, "held": False, "why": "not all connected"})
                break
            n = target
            spawned = time.perf_counter() - spawn0
            lost_before = sum(1 for _, e in sink.events if e.name == "connection_lost")
            cpu_before, wall_before = time.process_time(), time.perf_counter()
            time.sleep(hold)
            cpu_share = (time.process_time() - cpu_before) / (time.perf_counter() - wall_before)
            lost = sum(1 for _, e in sink.events if e.name == "connection_lost") - lost_before
            connected = sum(1 for i in range(n) if host.observe(f"hb-{i}").connected)
            ok = lost == 0 and connected == n
            steps.append(
                {
                    "agents": n,
                    "held": ok,
                    "connected": connected,
                    "connection_lost": lost,
                    "spawn_s": round(spawned, 2),
                    "control_plane_cpu_share": round(cpu_share, 3),
                    "agents_rss_mb": round(_rss_mb(host.child_pids()), 1),
                }
            )
            if not ok:
                break
            held = n
            size = n  # double each step
        elapsed = time.perf_counter() - t0
    return {
        "heartbeat_interval_s": interval,
        "hold_s": hold,
        "max_agents_tried": max_agents,
        "agents_kept_heartbeating": held,
        "bounded_by": "count" if held >= max_agents else "time or failure",
        "elapsed_s": round(elapsed, 1),
        "control_plane_cpu_s": round(time.process_time() - cpu0, 2),
        "steps": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.1, help="heartbeat interval (s)")
    parser.add_argument("--max-agents", type=int, default=800)
    parser.add_argument("--max-seconds", type=float, default=240.0)
    parser.add_argument("--hb-interval", type=float, default=1.0)
    parser.add_argument("--hold", type=float, default=5.0)
    args = parser.parse_args()
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "provision_to_running": provision_to_running(args.agents, args.interval),
        "heartbeating": heartbeating(
            args.max_agents, args.max_seconds, args.hb_interval, args.hold
        ),
    }
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        for name, figures in result.items():
            print(name, figures)


if __name__ == "__main__":
    main()
