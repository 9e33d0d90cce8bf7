"""The core benchmark: agentfsm's engine against transitions, python-statemachine and a baseline.

Run it from the repository root (it is not part of the test suite)::

    python benchmarks/core.py                # the table
    python benchmarks/core.py --json         # the figures as JSON
    python benchmarks/core.py --events 200000 --agents 2000 --runs 1   # a quicker run

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

from _plain import PlainWalk
from _rows import PLAIN_IMPLEMENTATIONS, baseline_offered
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


def offered_costs(memo: dict[str, Any]) -> dict[str, float]:
    """ns per guard-aware listing of user actions, averaged over the twelve statuses.

    agentfsm's ``offered`` (an ``Offer`` per user action, with its refusal when not offered),
    the baseline's hand-written listing (a prebuilt reason string when not offered), and
    transitions' ``get_triggers`` (the triggers of the status: no guards, no reasons).
    """
    later = T0 + timedelta(minutes=1)
    context = Context(later, POLICY)
    base = ALFE.initial(AlfeAgent("a", "a"), Context(T0, POLICY))
    statuses = sorted(ALFE.states)
    snapshots = [base._replace(status=st) for st in statuses]
    agents = []
    for st in statuses:
        agent = BaselineAgent("a", T0)
        agent.status = st
        agents.append(agent)
    tr = memo.setdefault("transitions", Transitions())
    user = {e.name for e in ALFE.spec.user_actions}
    triggers = tr.machine.get_triggers

    def trans_listing(st: str) -> list[str]:
        return [t for t in triggers(st) if t in user]

    return {
        "agentfsm": statistics.fmean(
            _ns(lambda s=s: offered(ALFE, s, context), number=2_000) for s in snapshots
        ),
        "baseline": statistics.fmean(
            _ns(lambda a=a: baseline_offered(a, later), number=2_000) for a in agents
        ),
        "transitions": statistics.fmean(
            _ns(lambda st=st: trans_listing(st), number=2_000) for st in statuses
        ),
    }


def plain_costs(walk: PlainWalk, limit_psm: int, repeat: int) -> dict[str, float]:
    """ns per event replaying the plain-table walk on each implementation."""
    n = len(walk)
    out: dict[str, float] = {}
    for make in PLAIN_IMPLEMENTATIONS:
        impl = make()
        limit = limit_psm if impl.name == "python-statemachine" else n
        best = None
        for _ in range(repeat if impl.name.startswith(("baseline", "agentfsm")) else 1):
            agents = impl.track(walk.names)
            items = impl.items(walk, agents)[:limit]
            ns = _timed(lambda impl=impl, agents=agents, items=items: impl.run(agents, items))
            best = ns if best is None else min(best, ns)
            if limit == n and impl.statuses(agents) != walk.statuses:
                raise SystemExit(f"{impl.label} disagrees with the plain walk")
        assert best is not None
        out[impl.name] = best / limit
    return out


# ---------------------------------------------------------------------------------------------
# The run

GOALS = {
    "alfe_walk_ratio": 3.5,
    "plain_ratio": 2.0,
    "plain_named_ratio": 3.0,
    "offered_ratio": 4.0,
    "bytes_per_agent": 150.0,
}
"""The goals of the engine rows (issue 14): ratios to the baseline, bytes per tracked agent."""


def one_run(
    args: argparse.Namespace, walk: Walk, plain: PlainWalk, say: Callable[[str], None]
) -> dict[str, Any]:
    """Every figure once: the Alfe walk, the plain table, offered, memory, refusals."""
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
        say(f"replaying {limit:,} Alfe events on {impl.label}…")
        ns = per_event(impl, walk, times, limit, repeat)
        figures[impl.name] = {"ns_per_event": ns, "events_timed": limit}
    # Honesty check: every implementation ends where the walk's generator ended.
    for impl in impls:
        if impl.name == "python-statemachine":
            expected = Walk(psm_n, args.agents, args.seed).statuses
        else:
            expected = walk.statuses
        if impl.last_statuses != expected:
            raise SystemExit(f"{impl.label} disagrees with the Alfe walk's final statuses")
    for impl in impls:
        count = {
            "python-statemachine": args.psm_memory_agents,
            "transitions": args.peer_memory_agents,
        }.get(impl.name, args.memory_agents)
        say(f"tracking {count:,} agents with {impl.label}…")
        figures[impl.name]["bytes_per_agent"] = bytes_per_agent(impl, count)
        figures[impl.name]["agents_tracked"] = count
    say(f"replaying {len(plain):,} plain-table events…")
    plain_ns = plain_costs(plain, min(args.psm_events, len(plain)), args.repeat)
    say("timing refusals and offered actions…")
    memo: dict[str, Any] = {}
    return {
        "alfe": figures,
        "plain": plain_ns,
        "offered": offered_costs(memo),
        "refusals": refusal_costs(),
        "loop_overhead_ns": loop_overhead(walk, times, n),
    }


def ratios(run: dict[str, Any]) -> dict[str, float]:
    """The engine rows of the issue's table, from one run's figures."""
    alfe, plain, offers = run["alfe"], run["plain"], run["offered"]
    base = alfe["baseline"]["ns_per_event"]
    out = {
        "alfe_walk_ratio": alfe["agentfsm"]["ns_per_event"] / base,
        "plain_ratio": plain["agentfsm"] / plain["baseline"],
        "plain_named_ratio": plain["agentfsm_named"] / plain["baseline"],
        "plain_by_name_ratio": plain["agentfsm_by_name"] / plain["baseline"],
        "offered_ratio": offers["agentfsm"] / offers["baseline"],
        "bytes_per_agent": alfe["agentfsm"]["bytes_per_agent"],
    }
    for peer in ("transitions", "python-statemachine"):
        if peer in alfe:
            out[f"alfe_walk_{peer}_ratio"] = alfe[peer]["ns_per_event"] / base
        if peer in plain:
            out[f"plain_{peer}_ratio"] = plain[peer] / plain["baseline"]
    if "transitions" in offers:
        out["offered_transitions_ratio"] = offers["transitions"] / offers["baseline"]
    return out


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
        "--peer-memory-agents",
        type=int,
        default=10_000,
        help="agents tracked for transitions' memory (10,000): ~15 KB each, and slow to trace",
    )
    parser.add_argument(
        "--psm-memory-agents",
        type=int,
        default=2_000,
        help="agents tracked for python-statemachine's memory (2,000): ~250 KB each",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="replays of the baseline and agentfsm; best kept (3)"
    )
    parser.add_argument("--runs", type=int, default=2, help="whole runs, each reported (2)")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated Alfe-walk implementations to run besides the baseline (default: all)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    say: Callable[[str], None] = (
        (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else print
    )
    say(f"generating a walk of {args.events:,} events over {args.agents:,} agents…")
    walk = Walk(args.events, args.agents, args.seed)
    plain = PlainWalk(args.events, args.agents, args.seed)
    runs = []
    for i in range(args.runs):
        say(f"run {i + 1} of {args.runs}")
        run = one_run(args, walk, plain, say)
        run["ratios"] = ratios(run)
        runs.append(run)
    result = {
        "walk": {"events": len(walk), "agents": args.agents, "seed": args.seed},
        "python": platform.python_version(),
        "goals": GOALS,
        "runs": runs,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_table(result)
    return 0


_ROWS = (
    ("full Alfe walk, decide+apply, × baseline", "alfe_walk_ratio", "alfe_walk_transitions_ratio"),
    ("plain 12-status table, × baseline", "plain_ratio", "plain_transitions_ratio"),
    ("the same, each event built by name (Event.named)", "plain_named_ratio", None),
    ("the same, decide(machine, snapshot, name)", "plain_by_name_ratio", None),
    (
        "offered (guard-aware, with reasons), × baseline's",
        "offered_ratio",
        "offered_transitions_ratio",
    ),
    ("memory per tracked agent, bytes", "bytes_per_agent", None),
)


def _print_table(r: dict[str, Any]) -> None:
    runs = r["runs"]
    walk = r["walk"]
    print(f"\nPython {r['python']}; walk {walk['events']:,} events, {walk['agents']:,} agents")
    head = "".join(f"{'run ' + str(i + 1):>10}" for i in range(len(runs)))
    peers = "".join(f"{'transitions ' + str(i + 1):>15}" for i in range(len(runs)))
    print(f"\n{'engine row':<52}{head}{'goal':>8}{peers}")
    for label, key, peer in _ROWS:
        cells = "".join(f"{run['ratios'][key]:>10.2f}" for run in runs)
        goal = GOALS.get(key)
        goal_cell = f"{'≤ ' + format(goal, 'g'):>8}" if goal is not None else " " * 8
        peer_cells = "".join(
            f"{run['ratios'].get(peer, float('nan')):>15.1f}" if peer else " " * 15 for run in runs
        )
        print(f"{label:<52}{cells}{goal_cell}{peer_cells}")
    for i, run in enumerate(runs):
        print(f"\nrun {i + 1}: the Alfe walk (ns/event, B/agent)")
        base = run["alfe"]["baseline"]
        for name, f in run["alfe"].items():
            ns, size = f["ns_per_event"], f["bytes_per_agent"]
            print(
                f"  {name:<24}{ns:>9,.0f} ns {ns / base['ns_per_event']:>7.1f}×"
                f"{size:>10,.0f} B {size / base['bytes_per_agent']:>6.1f}×"
                f"  ({f['events_timed']:,} events, {f['agents_tracked']:,} agents)"
            )
        print(f"run {i + 1}: the plain table (ns/event)")
        for name, ns in run["plain"].items():
            print(f"  {name:<24}{ns:>9,.0f} ns {ns / run['plain']['baseline']:>7.1f}×")
        print(f"run {i + 1}: listing user actions (ns per call, mean over the statuses)")
        for name, ns in run["offered"].items():
            print(f"  {name:<24}{ns:>9,.0f} ns {ns / run['offered']['baseline']:>7.1f}×")
        print(f"run {i + 1}: refusals (ns)")
        for k, v in run["refusals"].items():
            print(f"  {k:<46}{v:>10,.0f}")
        overhead = run["loop_overhead_ns"]
        print(f"run {i + 1}: replay loop overhead (included above): {overhead:.0f} ns/event")


if __name__ == "__main__":
    sys.exit(main())
