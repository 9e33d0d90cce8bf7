"""Structural checks run when a machine is built, so a bad definition fails at once, not mid-run.

Each check returns sentences that name the state, event or guard at fault and say how to fix it.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque

from agentfsm._spec import (
    FIELD_KINDS,
    SAME,
    AllOf,
    AnyOf,
    GuardExpr,
    MachineSpec,
    Not,
    TransitionSpec,
    evaluate_guard_expr,
    guard_names,
    render_guard_expr,
)


def structural_problems(spec: MachineSpec, *, strict: bool | None = None) -> list[str]:
    """Every structural problem of ``spec``; an empty list means it is sound.

    ``strict`` (default: ``spec.strict``) adds the check that every user action is handled or
    explained in every status.
    """
    problems: list[str] = []
    if isinstance(spec.version, bool) or not isinstance(spec.version, int) or spec.version < 1:
        problems.append(f"the version must be a positive integer, not {spec.version!r}")
    problems += _unique_names(spec)
    problems += _known_names(spec)
    if problems:
        return problems  # the checks below assume every name resolves
    problems += _reachability(spec)
    problems += _overlapping_guards(spec)
    problems += _terminal_states(spec)
    if spec.strict if strict is None else strict:
        problems += _user_actions_covered(spec)
    problems += _explanations_not_contradicted(spec)
    return problems


def _unique_names(spec: MachineSpec) -> list[str]:
    problems = []
    for kind, names in (
        ("status", [s.name for s in spec.states]),
        ("event", [e.name for e in spec.events]),
        ("guard", [g.name for g in spec.guards]),
        ("update", [u.name for u in spec.updates]),
        ("effect", [e.name for e in spec.effects]),
        ("chooser", [c.name for c in spec.choosers]),
    ):
        for name, count in Counter(names).items():
            if count > 1:
                problems.append(f"the {kind} {name!r} is defined {count} times: keep one")
    return problems


def _known_names(spec: MachineSpec) -> list[str]:
    states = set(spec.state_names)
    events = {e.name for e in spec.events}
    choosers = {c.name: c for c in spec.choosers}
    problems = []
    if spec.initial not in states:
        problems.append(f"the initial status {spec.initial!r} is not one of the statuses")
    for ev in spec.events:
        if not ev.actors:
            problems.append(f"event {ev.name!r} has no actor allowed to send it")
        for f in ev.fields:
            if f.kind not in FIELD_KINDS:
                problems.append(
                    f"field {f.name!r} of event {ev.name!r} has the unknown kind {f.kind!r}: "
                    f"use one of {', '.join(FIELD_KINDS)}"
                )
    for row in spec.transitions:
        where = _where(row)
        if row.event not in events:
            problems.append(f"{where}: the event {row.event!r} is not declared")
        if not row.sources:
            problems.append(f"{where}: it has no source status")
        for src in row.sources:
            if src not in states:
                problems.append(f"{where}: the source {src!r} is not a status")
        if row.chooser is None and row.target != SAME and row.target not in states:
            problems.append(f"{where}: the target {row.target!r} is not a status")
        if _has_empty_any_of(row.guard):
            # The engine would pass it (no item failed) and the analysis fail it (no item
            # passed): refuse it rather than let the two disagree.
            problems.append(f"{where}: its guard has an AnyOf with no items: list its guards")
        if row.chooser is not None and row.chooser not in choosers:
            problems.append(f"{where}: the chooser {row.chooser!r} is not declared")
        elif row.chooser is not None:
            for t in choosers[row.chooser].targets:
                if t not in states:
                    problems.append(f"chooser {row.chooser!r} may return {t!r}, not a status")
    for status, event, _ in spec.explanations:
        if status != "*" and status not in states:
            problems.append(f"an explanation names the unknown status {status!r}")
        if event != "*" and event not in events:
            problems.append(f"an explanation names the unknown event {event!r}")
    return problems


def _has_empty_any_of(expr: GuardExpr | None) -> bool:
    if isinstance(expr, AnyOf) and not expr.items:
        return True
    if isinstance(expr, Not):
        return _has_empty_any_of(expr.item)
    if isinstance(expr, AllOf | AnyOf):
        return any(_has_empty_any_of(item) for item in expr.items)
    return False


def _where(row: TransitionSpec) -> str:
    return f"transition {row.event!r} from {', '.join(row.sources) or '(nothing)'}"


def _edges(spec: MachineSpec) -> dict[str, set[str]]:
    choosers = {c.name: c for c in spec.choosers}
    edges: dict[str, set[str]] = {s: set() for s in spec.state_names}
    for row in spec.transitions:
        for src in row.sources:
            edges[src].update(row.targets_from(src, choosers))
    return edges


def _reachability(spec: MachineSpec) -> list[str]:
    edges = _edges(spec)
    seen = {spec.initial}
    queue = deque([spec.initial])
    while queue:
        for nxt in edges[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return [
        f"status {s!r} cannot be reached from the initial status {spec.initial!r}: "
        f"add a transition into it or remove it"
        for s in spec.state_names
        if s not in seen
    ]


def _overlapping_guards(spec: MachineSpec) -> list[str]:
    """Two rows for one (status, event) must have guards that can never both pass."""
    problems = []
    by_key: dict[tuple[str, str], list[TransitionSpec]] = {}
    for row in spec.transitions:
        for src in row.sources:
            by_key.setdefault((src, row.event), []).append(row)
    for (status, event), rows in by_key.items():
        for a, b in itertools.combinations(rows, 2):
            if _can_both_pass(a, b):
                ga = f"guard {render_guard_expr(a.guard)}" if a.guard else "no guard"
                gb = f"guard {render_guard_expr(b.guard)}" if b.guard else "no guard"
                problems.append(
                    f"from {status!r}, event {event!r} has two transitions that can both apply "
                    f"({ga}; {gb}): make their guards exclusive, e.g. G and Not(G)"
                )
    return problems


def _can_both_pass(a: TransitionSpec, b: TransitionSpec) -> bool:
    if a.guard is None or b.guard is None:
        return True
    atoms = sorted(set(guard_names(a.guard)) | set(guard_names(b.guard)))
    for values in itertools.product((False, True), repeat=len(atoms)):
        outcome = dict(zip(atoms, values, strict=True))
        if evaluate_guard_expr(a.guard, outcome) and evaluate_guard_expr(b.guard, outcome):
            return True
    return False


def _terminal_states(spec: MachineSpec) -> list[str]:
    choosers = {c.name: c for c in spec.choosers}
    problems = []
    for state in spec.states:
        if not state.terminal:
            continue
        for row in spec.transitions:
            if state.name in row.sources:
                leaves = [t for t in row.targets_from(state.name, choosers) if t != state.name]
                if leaves:
                    problems.append(
                        f"status {state.name!r} is terminal but event {row.event!r} leads from it "
                        f"to {', '.join(leaves)}: remove it from the row's sources"
                    )
    return problems


def _user_actions_covered(spec: MachineSpec) -> list[str]:
    """Every user action on every status is handled, or the spec says why it is refused."""
    explained = {(s, e) for s, e, _ in spec.explanations}
    handled = {(src, row.event) for row in spec.transitions for src in row.sources}
    problems = []
    for ev in spec.user_actions:
        for status in spec.state_names:
            if (status, ev.name) in handled:
                continue
            if {(status, ev.name), ("*", ev.name), (status, "*")} & explained:
                continue
            problems.append(
                f"user action {ev.name!r} is neither handled nor explained in status {status!r}: "
                f"add a transition, or an explanation ({status!r}, {ev.name!r}, 'why not')"
            )
    return problems


def _explanations_not_contradicted(spec: MachineSpec) -> list[str]:
    """An explanation for one (status, event) pair says why it is refused; a row that handles
    the same pair contradicts it, and one of the two is a mistake. Wildcards are exempt: they
    explain whatever is left unhandled."""
    handled = {(src, row.event) for row in spec.transitions for src in row.sources}
    return [
        f"status {status!r} both handles {event!r} and explains why it is refused: "
        f"remove the explanation or the transition"
        for status, event, _ in spec.explanations
        if (status, event) in handled
    ]
