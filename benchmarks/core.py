"""The core benchmark: agentfsm's engine against transitions, python-statemachine and a baseline.

Run it from the repository root (it is not part of the test suite)::

    python benchmarks/core.py                # the table
    python benchmarks/core.py --json         # the figures as JSON
    python benchmarks/core.py --events 200000 --agents 2000   # a quicker run

What each figure means is written in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
import timeit
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _walk import (
    GUARDS,
    KINDS,
    POLICY,
    RESUME_TABLE,
    T0,
    UPDATES,
    BaselineAgent,
    Walk,
    baseline_fire,
    payload_for,
    table_rows,
)

from agentfsm import Actor, Context, Event, Snapshot, Step, decide, offered
from agentfsm.models import ALFE as _ALFE
from agentfsm.models._alfe import AlfeAgent

# The walk's policy is the machine's own, as a Controller would decide with it.
ALFE = _ALFE.with_policy(POLICY)

# ---------------------------------------------------------------------------------------------
# Implementations. Each one can track agents, turn the walk into the arguments it takes, replay
# them, and report the statuses it ends with.


class Baseline:
    """A dict from (status, event) to (target, guard, update), applied to a slotted object."""

    name = "baseline"
    label = "hand-written baseline"

    def track(self, names: Sequence[str]) -> list[BaselineAgent]:
        return [BaselineAgent(n, T0) for n in names]

    def items(self, walk: Walk, agents: list[BaselineAgent], times: list[datetime]) -> list[Any]:
        payloads = _payloads(walk)
        return [
            (agents[a], KINDS[k][0], payloads(k, a), times[s])
            for a, k, s in zip(walk.agent, walk.kind, walk.second, strict=True)
        ]

    def run(self, agents: list[BaselineAgent], items: list[Any]) -> None:
        fire = baseline_fire
        for agent, event, payload, now in items:
            fire(agent, event, payload, now)

    def statuses(self, agents: list[BaselineAgent]) -> list[str]:
        return [a.status for a in agents]


class Agentfsm:
    """agentfsm: one compiled machine; each agent is a ``Snapshot`` holding an ``AlfeAgent``."""

    name = "agentfsm"
    label = "agentfsm"

    def track(self, names: Sequence[str]) -> list[Snapshot]:
        context = Context(T0, POLICY)
        return [ALFE.initial(AlfeAgent(n, n), context) for n in names]

    def items(self, walk: Walk, agents: list[Snapshot], times: list[datetime]) -> list[Any]:
        contexts = [Context(t, POLICY) for t in times]
        payloads = _payloads(walk)
        events: dict[tuple[int, int], Event] = {}

        def event(k: int, a: int) -> Event:
            # Events are values: one Event per distinct (name, payload) serves every step.
            key = (k, a) if KINDS[k][0] == "recreate" else (k, -1)
            ev = events.get(key)
            if ev is None:
                ev = events[key] = Event(KINDS[k][0], KINDS[k][1], payloads(k, a))
            return ev

        return [
            (a, event(k, a), contexts[s])
            for a, k, s in zip(walk.agent, walk.kind, walk.second, strict=True)
        ]

    def run(self, agents: list[Snapshot], items: list[Any]) -> None:
        machine, step = ALFE, Step
        for a, event, context in items:
            result = decide(machine, agents[a], event, context)
            if result.__class__ is step:
                agents[a] = result[0]

    def statuses(self, agents: list[Snapshot]) -> list[str]:
        return [s.status for s in agents]


class TransitionsModel:
    """A model object for ``transitions``: the same facts the baseline tracks."""

    def __init__(self, name: str, now: datetime) -> None:
        self.name = name
        self.since = now
        self.remembered: str | None = None
        self.purge_at: datetime | None = None
        self.purged_at: datetime | None = None


class Transitions:
    """transitions 0.9: one shared Machine, many models, conditions for guards."""

    name = "transitions"
    label = "transitions 0.9"

    def __init__(self) -> None:
        from transitions import Machine as TMachine

        def since(ed: Any) -> None:
            if ed.transition.source != ed.transition.dest:
                ed.model.since = ed.kwargs["now"]

        self.machine = TMachine(
            model=None,
            states=[s.name for s in ALFE.spec.states],
            initial="pending",
            transitions=_transitions_rows(),
            send_event=True,
            auto_transitions=False,
            ignore_invalid_triggers=True,
            model_attribute="status",
            after_state_change=since,
        )

    def track(self, names: Sequence[str]) -> list[TransitionsModel]:
        models = []
        for n in names:
            model = TransitionsModel(n, T0)
            self.machine.add_model(model)
            models.append(model)
        return models

    def items(self, walk: Walk, agents: list[TransitionsModel], times: list[datetime]) -> list[Any]:
        payloads = _payloads(walk)
        return [
            (agents[a].trigger, KINDS[k][0], payloads(k, a), times[s])
            for a, k, s in zip(walk.agent, walk.kind, walk.second, strict=True)
        ]

    def run(self, agents: list[TransitionsModel], items: list[Any]) -> None:
        for trigger, event, payload, now in items:
            trigger(event, now=now, **payload)

    def statuses(self, agents: list[TransitionsModel]) -> list[str]:
        return [m.status for m in agents]  # type: ignore[attr-defined]


def _transitions_rows() -> list[dict[str, Any]]:
    def cond(g: str) -> Callable[[Any], bool]:
        fn = GUARDS[g]
        return lambda ed: fn(ed.model, ed.kwargs, ed.kwargs["now"])

    def update(u: str) -> Callable[[Any], None]:
        fn = UPDATES[u]
        return lambda ed: fn(ed.model, ed.kwargs, ed.kwargs["now"])

    rows: list[dict[str, Any]] = []
    for source, event, target, guards, updates in table_rows():
        before = [update(u) for u in updates if u in UPDATES]
        conditions = [cond(g) for g in guards]
        if target is not None:
            rows.append(
                {
                    "trigger": event,
                    "source": source,
                    "dest": target,
                    "conditions": conditions,
                    "before": before,
                }
            )
            continue
        # The resume table: one row per target, each guarded by "remembered maps here".
        for dest in dict.fromkeys(RESUME_TABLE.values()):
            rows.append(
                {
                    "trigger": event,
                    "source": source,
                    "dest": dest,
                    "conditions": [*conditions, _resumes_to(dest)],
                    "before": before,
                }
            )
    return rows


def _resumes_to(dest: str) -> Callable[[Any], bool]:
    return lambda ed: RESUME_TABLE.get(ed.model.remembered) == dest


class PythonStatemachine:
    """python-statemachine 3: one machine instance per model, as its docs recommend."""

    name = "python-statemachine"
    label = "python-statemachine 3"

    def __init__(self) -> None:
        self.cls = _psm_class()

    def track(self, names: Sequence[str]) -> list[Any]:
        return [self.cls(TransitionsModel(n, T0), state_field="status") for n in names]

    def items(self, walk: Walk, agents: list[Any], times: list[datetime]) -> list[Any]:
        payloads = _payloads(walk)
        return [
            (agents[a].send, KINDS[k][0], payloads(k, a), times[s])
            for a, k, s in zip(walk.agent, walk.kind, walk.second, strict=True)
        ]

    def run(self, agents: list[Any], items: list[Any]) -> None:
        for send, event, payload, now in items:
            send(event, now=now, **payload)

    def statuses(self, agents: list[Any]) -> list[str]:
        return [m.model.status for m in agents]


def _psm_class() -> type:
    from statemachine import State, StateMachine

    statuses = [s.name for s in ALFE.spec.states]
    states = {s: State(s, value=s, initial=(s == "pending")) for s in statuses}

    def cond(g: str) -> Callable[..., bool]:
        fn = GUARDS[g]
        return lambda model, now, **kwargs: fn(model, kwargs, now)

    def update(u: str) -> Callable[..., None]:
        fn = UPDATES[u]
        return lambda model, now, **kwargs: fn(model, kwargs, now)

    def resumes_to(dest: str) -> Callable[..., bool]:
        return lambda model, **kwargs: RESUME_TABLE.get(model.remembered) == dest

    events: dict[str, Any] = {}
    for source, event, target, guards, updates in table_rows():
        before = [update(u) for u in updates if u in UPDATES]
        conds = [cond(g) for g in guards]
        pairs = (
            [(target, conds)]
            if target is not None
            else [(d, [*conds, resumes_to(d)]) for d in dict.fromkeys(RESUME_TABLE.values())]
        )
        for dest, cs in pairs:
            t = states[source].to(states[dest], cond=cs or None, before=before or None)
            events[event] = t if event not in events else events[event] | t

    def after_transition(self: Any, source: Any, target: Any, now: datetime) -> None:
        if source is not target:
            self.model.since = now

    namespace: dict[str, Any] = {
        **states,
        **events,
        "allow_event_without_transition": True,
        "after_transition": after_transition,
    }
    return type("AlfeStateMachine", (StateMachine,), namespace)


def _payloads(walk: Walk) -> Callable[[int, int], dict[str, Any]]:
    """A shared payload dict per kind (per agent for Recreate): built once, not per step."""
    cache: dict[tuple[int, int], dict[str, Any]] = {}

    def get(k: int, a: int) -> dict[str, Any]:
        key = (k, a) if KINDS[k][0] == "recreate" else (k, -1)
        p = cache.get(key)
        if p is None:
            p = cache[key] = payload_for(k, walk.names[a])
        return p

    return get


# ---------------------------------------------------------------------------------------------
# Measurements


def _timed(fn: Callable[[], None]) -> int:
    """CPU nanoseconds ``fn`` takes, with everything allocated before it out of the collector's way.

    CPU time of this process, not wall time: the replay is single-threaded, and other work on
    the machine then inflates the figures much less.
    """
    gc.collect()
    gc.freeze()  # set-up objects are not rescanned by collections the run triggers
    try:
        start = time.process_time_ns()
        fn()
        return time.process_time_ns() - start
    finally:
        gc.unfreeze()


def per_event(impl: Any, walk: Walk, times: list[datetime], limit: int, repeat: int) -> float:
    """ns per event for ``impl`` replaying the first ``limit`` steps (best of ``repeat``)."""
    best = None
    for _ in range(repeat):
        agents = impl.track(walk.names)
        items = impl.items(walk, agents, times)[:limit]
        ns = _timed(lambda agents=agents, items=items: impl.run(agents, items))
        best = ns if best is None else min(best, ns)
        impl.last_statuses = impl.statuses(agents)
        del items
    assert best is not None
    return best / limit


def loop_overhead(walk: Walk, times: list[datetime], limit: int) -> float:
    """ns per step of a replay loop that unpacks its items and calls a function doing nothing."""
    items = [(a, k, times[s]) for a, k, s in zip(walk.agent, walk.kind, walk.second, strict=True)]
    items = items[:limit]

    def nothing(a: object, k: object, t: object) -> None:
        return None

    def run() -> None:
        for a, k, t in items:
            nothing(a, k, t)

    return _timed(run) / limit


def bytes_per_agent(impl: Any, count: int) -> float:
    """Bytes allocated per agent while tracking ``count`` new agents.

    Counted: every object the implementation allocates to track one more agent (its record,
    snapshot, model, per-model machine or bound methods, and its slot in the list holding them).
    Not counted: the identity strings (made beforehand and shared) and the creation time.
    """
    names = [f"agent-{i:06d}" for i in range(count)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    agents = impl.track(names)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del agents
    return (after - before) / count


def _ns(stmt: Callable[[], object], number: int = 20_000) -> float:
    """CPU ns per call of ``stmt``, best of five."""
    runs = timeit.repeat(stmt, number=number, repeat=5, timer=time.process_time)
    return min(runs) / number * 1e9


def refusal_costs() -> dict[str, float]:
    """ns per refused event, for agentfsm's refusal paths and the others' "start on running"."""
    context = Context(T0 + timedelta(minutes=1), POLICY)
    running = ALFE.initial(AlfeAgent("a", "a"), Context(T0, POLICY))._replace(status="running")
    starting = running._replace(status="starting")
    user_connected = Event("connected", Actor.USER)
    start = Event("start")
    out = {
        "agentfsm_actor_not_allowed": _ns(lambda: decide(ALFE, running, user_connected, context)),
        "agentfsm_not_allowed_from_status": _ns(lambda: decide(ALFE, running, start, context)),
        "agentfsm_guard_failed": _ns(lambda: decide(ALFE, starting, start, context)),
    }
    base = BaselineAgent("a", T0)
    base.status = "running"
    now = context.now
    out["baseline_not_allowed_from_status"] = _ns(lambda: baseline_fire(base, "start", {}, now))
    tr = Transitions()
    (model,) = tr.track(["a"])
    model.status = "running"  # type: ignore[attr-defined]
    trig = model.trigger  # type: ignore[attr-defined]
    out["transitions_not_allowed_from_status"] = _ns(lambda: trig("start", now=now))
    psm = PythonStatemachine()
    (sm,) = psm.track(["a"])
    sm.send("provision", now=now)
    sm.send("host_up", now=now)
    sm.send("connected", now=now)
    assert sm.model.status == "running"
    out["python_statemachine_not_allowed_from_status"] = _ns(
        lambda: sm.send("start", now=now), number=2_000
    )
    return out


def offered_costs() -> dict[str, float]:
    """ns per ``offered()`` call: on a running agent, and averaged over every status."""
    context = Context(T0 + timedelta(minutes=1), POLICY)
    base = ALFE.initial(AlfeAgent("a", "a"), Context(T0, POLICY))
    running = base._replace(status="running")
    snapshots = [base._replace(status=st) for st in sorted(ALFE.states)]
    per_status = [_ns(lambda s=s: offered(ALFE, s, context), number=2_000) for s in snapshots]
    return {
        "running": _ns(lambda: offered(ALFE, running, context), number=5_000),
        "mean_over_statuses": statistics.fmean(per_status),
    }


# ---------------------------------------------------------------------------------------------
# The run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="walk length (1,000,000)")
    parser.add_argument("--agents", type=int, default=10_000, help="agents in the walk (10,000)")
    parser.add_argument("--seed", type=int, default=2026, help="the walk's seed (2026)")
    parser.add_argument(
        "--psm-events",
        type=int,
        default=50_000,
        help="python-statemachine replays only this many first steps (50,000): it is slow",
    )
    parser.add_argument(
        "--memory-agents", type=int, default=100_000, help="agents tracked for memory (100,000)"
    )
    parser.add_argument(
        "--psm-memory-agents",
        type=int,
        default=2_000,
        help="agents tracked for python-statemachine's memory (2,000): ~250 KB each",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the baseline and agentfsm; best kept (3)"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated implementations to run besides the baseline (default: all)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    say: Callable[[str], None] = (
        (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else print
    )

    say(f"generating a walk of {args.events:,} events over {args.agents:,} agents…")
    walk = Walk(args.events, args.agents, args.seed)
    times = walk.times()
    n = len(walk)
    psm_n = min(args.psm_events, n)

    impls: list[Any] = [Baseline(), Agentfsm(), Transitions(), PythonStatemachine()]
    if args.only:
        wanted = {"baseline", *args.only.split(",")}
        impls = [i for i in impls if i.name in wanted]
    figures: dict[str, dict[str, Any]] = {}
    for impl in impls:
        limit = psm_n if impl.name == "python-statemachine" else n
        repeat = args.repeat if impl.name in ("baseline", "agentfsm") else 1
        say(f"replaying {limit:,} events on {impl.label}…")
        ns = per_event(impl, walk, times, limit, repeat)
        figures[impl.name] = {"ns_per_event": ns, "events_timed": limit}

    # Honesty check: every implementation ends where the walk's generator ended.
    agrees = {}
    for impl in impls:
        if impl.name == "python-statemachine":
            expected = Walk(psm_n, args.agents, args.seed).statuses
        else:
            expected = walk.statuses
        agrees[impl.name] = impl.last_statuses == expected
    if not all(agrees.values()):
        say(f"implementations disagree on the final statuses: {agrees}")
        return 1

    for impl in impls:
        count = args.psm_memory_agents if impl.name == "python-statemachine" else args.memory_agents
        say(f"tracking {count:,} agents with {impl.label}…")
        figures[impl.name]["bytes_per_agent"] = bytes_per_agent(impl, count)
        figures[impl.name]["agents_tracked"] = count

    say("timing refusals and offered actions…")
    refusals = refusal_costs()
    offers = offered_costs()
    overhead = loop_overhead(walk, times, n)
    base_ns = figures["baseline"]["ns_per_event"]
    base_bytes = figures["baseline"]["bytes_per_agent"]
    for f in figures.values():
        f["ns_ratio"] = f["ns_per_event"] / base_ns
        f["bytes_ratio"] = f["bytes_per_agent"] / base_bytes
    result = {
        "walk": {"events": n, "agents": args.agents, "seed": args.seed},
        "python": platform.python_version(),
        "implementations": figures,
        "loop_overhead_ns": overhead,
        "refusal_ns": refusals,
        "offered_ns": offers,
        "targets": {
            "ns_ratio_max": 3.0,
            "ns_ratio_met": figures["agentfsm"]["ns_ratio"] <= 3.0,
            "bytes_per_agent_max": 250,
            "bytes_per_agent_met": figures["agentfsm"]["bytes_per_agent"] <= 250,
        },
        "final_statuses_agree": agrees,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_table(result)
    return 0


def _print_table(r: dict[str, Any]) -> None:
    figures = r["implementations"]
    print()
    head = ("implementation", "events", "ns/event", "× base", "B/agent", "× base")
    print(f"{head[0]:<24}{head[1]:>11}{head[2]:>11}{head[3]:>9}{head[4]:>10}{head[5]:>9}")
    for name, f in figures.items():
        print(
            f"{name:<24}{f['events_timed']:>11,}{f['ns_per_event']:>11,.0f}{f['ns_ratio']:>9.1f}"
            f"{f['bytes_per_agent']:>10,.0f}{f['bytes_ratio']:>9.1f}"
        )
    print(f"\nreplay loop overhead (included above): {r['loop_overhead_ns']:.0f} ns/event")
    print("refusals (ns):")
    for k, v in r["refusal_ns"].items():
        print(f"  {k:<46}{v:>10,.0f}")
    print("offered actions (ns per call):")
    for k, v in r["offered_ns"].items():
        print(f"  {k:<46}{v:>10,.0f}")
    t = r["targets"]
    print(
        f"\ntargets: ≤ 3× baseline: {'met' if t['ns_ratio_met'] else 'NOT met'}; "
        f"≤ 250 B/agent: {'met' if t['bytes_per_agent_met'] else 'NOT met'}"
    )


if __name__ == "__main__":
    sys.exit(main())
