"""A machine as Graphviz DOT: statuses as rounded boxes, terminal ones doubled, rows as arrows."""

from __future__ import annotations

from agentfsm._machine import Machine
from agentfsm._spec import MachineSpec
from agentfsm.render._common import edges, spec_of


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(machine_or_spec: Machine | MachineSpec) -> str:
    """Render a machine as a Graphviz ``digraph``.

    The initial status is pointed at from a dot; terminal statuses get a double border. Each
    arrow is labelled ``event [guard] (actors)``.

    Args:
        machine_or_spec: a compiled ``Machine`` or a ``MachineSpec``.

    Returns:
        DOT source ending with a newline (render it with ``dot -Tsvg``).

    Raises:
        InvalidInput: the argument is neither a ``Machine`` nor a ``MachineSpec``.
    """
    spec = spec_of(machine_or_spec)
    lines = [
        f"digraph {_quote(spec.name)} {{",
        "    rankdir=LR;",
        '    node [shape=box, style=rounded, fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
        '    "__initial__" [shape=point, label=""];',
    ]
    for state in spec.states:
        attrs = [f"label={_quote(state.name)}"]
        if state.description:
            attrs.append(f"tooltip={_quote(state.description)}")
        if state.terminal:
            attrs.append("peripheries=2")
        lines.append(f"    {_quote(state.name)} [{', '.join(attrs)}];")
    lines.append(f'    "__initial__" -> {_quote(spec.initial)};')
    for edge in edges(spec):
        lines.append(
            f"    {_quote(edge.source)} -> {_quote(edge.target)} [label={_quote(edge.label)}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"
