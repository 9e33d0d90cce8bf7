"""Export a machine as an XState v5 machine config (plain JSON-able data).

XState has no actors on events, no refusal codes and no history-like target functions, so:
actors go into each transition's ``meta``; a chooser row becomes one guarded transition per
possible target (guard ``{"type": "chooses", "params": {"chooser": ..., "target": ...}}``);
guard combinators become ``{"type": "and" | "or" | "not", "guards": [...]}`` objects, which an
XState app maps to its ``and``/``or``/``not`` helpers. Updates and effects are named actions.
"""

from __future__ import annotations

from typing import Any

from agentfsm._machine import Machine
from agentfsm._spec import SAME, AllOf, Guard, GuardExpr, MachineSpec, Not


def _guard(expr: GuardExpr) -> Any:
    if isinstance(expr, Guard):
        return expr.name
    if isinstance(expr, Not):
        return {"type": "not", "guards": [_guard(expr.item)]}
    kind = "and" if isinstance(expr, AllOf) else "or"
    return {"type": kind, "guards": [_guard(i) for i in expr.items]}


def to_xstate(machine: Machine | MachineSpec) -> dict[str, Any]:
    """The machine as an XState v5 ``createMachine`` config."""
    spec = machine.spec if isinstance(machine, Machine) else machine
    choosers = {c.name: c for c in spec.choosers}
    actors = {e.name: sorted(a.value for a in e.actors) for e in spec.events}
    states: dict[str, Any] = {s.name: {"description": s.description, "on": {}} for s in spec.states}
    for s in spec.states:
        if s.terminal:
            states[s.name]["tags"] = ["terminal"]
        if s.phase:
            states[s.name]["meta"] = {"phase": s.phase}
    for row in spec.transitions:
        for source in row.sources:
            targets = (
                [
                    (t, {"type": "chooses", "params": {"chooser": row.chooser, "target": t}})
                    for t in choosers[row.chooser].targets
                ]
                if row.chooser
                else [(source if row.target == SAME else row.target, None)]
            )
            for target, chooses in targets:
                entry: dict[str, Any] = {
                    "target": target,
                    "actions": [*(f"update.{u}" for u in row.updates), *row.effects],
                    "meta": {"actors": actors[row.event]},
                }
                guards = [
                    g for g in (None if row.guard is None else _guard(row.guard), chooses) if g
                ]
                if len(guards) == 1:
                    entry["guard"] = guards[0]
                elif guards:
                    entry["guard"] = {"type": "and", "guards": guards}
                if target == source:
                    entry["reenter"] = row.reenter
                states[source]["on"].setdefault(row.event, []).append(entry)
    return {
        "id": spec.name,
        "description": spec.description,
        "initial": spec.initial,
        "states": states,
    }
