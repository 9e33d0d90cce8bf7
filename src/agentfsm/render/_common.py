"""What every renderer needs from a machine: its spec, its rows spelled out, and text escaping.

Renderers read ``MachineSpec`` data only (never the functions behind the names), so the same
helpers serve a compiled ``Machine`` and a bare spec alike.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from agentfsm._errors import InvalidInput
from agentfsm._machine import Machine
from agentfsm._spec import SAME, ActionSpec, MachineSpec, TransitionSpec, render_guard_expr
from agentfsm._values import Actor

ACTOR_ORDER = (Actor.USER, Actor.SYSTEM, Actor.TIMER)
"""The order actors are listed in: user actions first, then the platform, then timers."""


def spec_of(machine_or_spec: Machine | MachineSpec) -> MachineSpec:
    """The spec of a compiled machine, or the spec itself.

    Raises:
        InvalidInput: the argument is neither a ``Machine`` nor a ``MachineSpec``.
    """
    if isinstance(machine_or_spec, Machine):
        return machine_or_spec.spec
    if isinstance(machine_or_spec, MachineSpec):
        return machine_or_spec
    raise InvalidInput(
        f"expected a Machine or a MachineSpec, not {type(machine_or_spec).__name__}: "
        "pass for example agentfsm.models.ALFE"
    )


def actor_letters(spec: MachineSpec, event: str) -> str:
    """The actors allowed to send ``event`` as letters (``U``, ``S``, ``T``), comma separated."""
    actors = spec.event(event).actors
    own = sorted(a.code for a in actors if a.__class__ is not Actor)
    return ", ".join([*(a.value for a in ACTOR_ORDER if a in actors), *own])


def guard_text(row: TransitionSpec) -> str:
    """The row's guard as compact text, without the outer parentheses of a top-level group."""
    text = render_guard_expr(row.guard)
    if text.startswith("(") and text.endswith(")") and _balanced_inside(text[1:-1]):
        return text[1:-1]
    return text


def _balanced_inside(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def targets(spec: MachineSpec, row: TransitionSpec, source: str) -> tuple[str, ...]:
    """Every status ``row`` may lead to from ``source`` (a chooser's targets, or one status)."""
    return row.targets_from(source, {c.name: c for c in spec.choosers})


@attrs.frozen(slots=True)
class Edge:
    """One arrow of a diagram: a row, from one source to one of its targets."""

    source: str
    target: str
    row: TransitionSpec
    label: str


def edges(spec: MachineSpec) -> Iterator[Edge]:
    """Every (source, target) arrow of the machine, in table order, with its label.

    The label reads ``event [guard] (actors)``, plus ``via chooser`` when a chooser picks the
    target.
    """
    for row in spec.transitions:
        label = row.event
        guard = guard_text(row)
        if guard:
            label += f" [{guard}]"
        if row.chooser is not None:
            label += f" via {row.chooser}"
        label += f" ({actor_letters(spec, row.event)})"
        for source in row.sources:
            for target in targets(spec, row, source):
                yield Edge(source, target, row, label)


def describe(actions: tuple[ActionSpec, ...], names: tuple[str, ...]) -> str:
    """The descriptions of the named actions, joined by ``; `` (a name stands for a missing one)."""
    known = {a.name: a.description or a.name for a in actions}
    return "; ".join(known.get(n, n) for n in names)


def target_text(spec: MachineSpec, row: TransitionSpec) -> str:
    """The "to" cell of a table row: a status, ``same`` or the chooser and its targets."""
    if row.chooser is not None:
        choices = {c.name: c for c in spec.choosers}[row.chooser].targets
        return f"{row.chooser}: {', '.join(choices)}"
    if row.target == SAME:
        return "same"
    return row.target


def md_cell(text: str) -> str:
    """Text made safe for one Markdown table cell (pipes escaped, newlines flattened)."""
    return text.replace("|", "\\|").replace("\n", " ") or "—"
