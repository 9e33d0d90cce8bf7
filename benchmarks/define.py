"""Events built by name: what a control plane pays when events arrive from requests and queues.

Run it from the repository root (it is not part of the test suite)::

    python benchmarks/define.py                  # the table
    python benchmarks/define.py --events 200000  # a quicker run
    python benchmarks/define.py --json

One run replays the core benchmark's seeded Alfe walk (``benchmarks/_walk.py``) four ways:

- ``baseline``: the hand-written dict-and-if baseline of ``benchmarks/core.py``;
- ``prebuilt``: agentfsm deciding ``Event`` values made before the clock starts (as core.py);
- ``Event.named``: each step builds its event by name as it arrives, then decides it;
- ``decide by name``: each step passes the name, payload and actor to ``decide`` directly.

It also times building one event alone: ``Event.named`` without a payload, with one, and the
``Event(...)`` constructor, in ns per event (best of several runs, CPU time).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _walk import KINDS, POLICY, Walk
from core import ALFE, Agentfsm, Baseline, _payloads, per_event

from agentfsm import Actor, Context, Event, Step, decide


class _ByName(Agentfsm):
    """agentfsm, each event built by ``Event.named`` when its step comes."""

    name = "named"
    label = "agentfsm, Event.named per step"

    def items(self, walk: Walk, agents: list[Any], times: list[Any]) -> list[Any]:
        contexts = [Context(t, POLICY) for t in times]
        payloads = _payloads(walk)
        actors = {a.value: a for a in Actor}
        out = []
        for a, k, s in zip(walk.agent, walk.kind, walk.second, strict=True):
            name, actor, payload = KINDS[k]
            out.append((a, name, actors[actor], payloads(k, a) if payload else None, contexts[s]))
        return out

    def run(self, agents: list[Any], items: list[Any]) -> None:
        machine, step, named = ALFE, Step, Event.named
        for a, name, actor, payload, context in items:
            result = decide(machine, agents[a], named(name, actor, payload), context)
            if result.__class__ is step:
                agents[a] = result[0]


class _DecideByName(_ByName):
    """agentfsm, ``decide(machine, snapshot, name, context, payload=..., actor=...)``."""

    name = "decide_by_name"
    label = "agentfsm, decide by name"

    def run(self, agents: list[Any], items: list[Any]) -> None:
        machine, step = ALFE, Step
        for a, name, actor, payload, context in items:
            result = decide(machine, agents[a], name, context, payload=payload, actor=actor)
            if result.__class__ is step:
                agents[a] = result[0]


def _ns(stmt: str, scope: dict[str, Any], number: int = 200_000) -> float:
    runs = timeit.repeat(stmt, globals=scope, number=number, repeat=7, timer=time.process_time)
    return min(runs) / number * 1e9


def building_costs() -> dict[str, float]:
    """ns to build one event: by name without and with a payload, and with the constructor."""
    system, payload = Actor.SYSTEM, {"reason": "payment_issue"}
    scope = {"named": Event.named, "Event": Event, "S": system, "P": payload}
    Event.named("connected", system)  # the first one is made and kept; the rest are looked up
    empty = _ns("pass", scope)
    costs = {
        "named_without_payload": _ns('named("connected", S)', scope),
        "named_with_payload": _ns('named("billing_suspend", S, P)', scope),
        "constructor_without_payload": _ns('Event("connected", S)', scope),
        "constructor_with_payload": _ns('Event("billing_suspend", S, P)', scope),
    }
    return {k: v - empty for k, v in costs.items()}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="walk length (1,000,000)")
    parser.add_argument("--agents", type=int, default=10_000, help="agents in the walk (10,000)")
    parser.add_argument("--seed", type=int, default=2026, help="the walk's seed (2026)")
    parser.add_argument("--repeat", type=int, default=3, help="replays per figure, best kept")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    walk = Walk(args.events, args.agents, args.seed)
    times = walk.times()
    n = len(walk)
    figures: dict[str, float] = {}
    for impl in (Baseline(), Agentfsm(), _ByName(), _DecideByName()):
        figures[impl.name] = per_event(impl, walk, times, n, args.repeat)
        if impl.last_statuses != walk.statuses:  # every way ends where the walk ended
            raise SystemExit(f"{impl.label} disagrees with the walk")
    built = building_costs()
    if args.json:
        print(json.dumps({"walk_ns_per_event": figures, "build_ns_per_event": built}, indent=2))
        return 0
    base = figures["baseline"]
    print(f"Alfe walk: {n:,} events over {args.agents:,} agents (seed {args.seed})")
    labels = {
        "baseline": "hand-written baseline",
        "agentfsm": "agentfsm, prebuilt events",
        "named": "agentfsm, Event.named per step",
        "decide_by_name": "agentfsm, decide by name",
    }
    for key, ns in figures.items():
        print(f"  {labels[key]:<34} {ns:7.0f} ns/event  {ns / base:5.2f}x baseline")
    print("Building one event (ns):")
    for key, ns in built.items():
        print(f"  {key.replace('_', ' '):<34} {ns:7.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
