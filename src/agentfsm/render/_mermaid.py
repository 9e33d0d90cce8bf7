"""A machine as a Mermaid ``stateDiagram-v2``: one arrow per (source, target) of every row.

Edge labels carry the event, its guard in brackets and the actors allowed to send it; the
initial status hangs off ``[*]`` and terminal statuses lead to ``[*]`` and are styled apart.
"""

from __future__ import annotations

import re

from agentfsm._machine import Machine
from agentfsm._spec import MachineSpec
from agentfsm.render._common import edges, spec_of

_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_]")


def _node_id(name: str) -> str:
    # Mermaid ids must be plain words; a status like "billing-suspended" still gets a safe id
    # and keeps its real name as the displayed text.
    return _UNSAFE_ID.sub("_", name)


def _label(text: str) -> str:
    # ";" ends a Mermaid statement and "#" starts an entity code: keep both out of labels.
    return text.replace(";", ",").replace("#", "no.").replace(":", " ")


def to_mermaid(machine_or_spec: Machine | MachineSpec) -> str:
    """Render a machine as Mermaid ``stateDiagram-v2`` source.

    Args:
        machine_or_spec: a compiled ``Machine`` or a ``MachineSpec``.

    Returns:
        The diagram source, ending with a newline, ready for a ```` ```mermaid ```` block.

    Raises:
        InvalidInput: the argument is neither a ``Machine`` nor a ``MachineSpec``.
    """
    spec = spec_of(machine_or_spec)
    lines = ["stateDiagram-v2"]
    for state in spec.states:
        node = _node_id(state.name)
        if node != state.name:
            lines.append(f'    state "{_label(state.name)}" as {node}')
    lines.append(f"    [*] --> {_node_id(spec.initial)}")
    for edge in edges(spec):
        lines.append(
            f"    {_node_id(edge.source)} --> {_node_id(edge.target)} : {_label(edge.label)}"
        )
    terminals = [_node_id(s.name) for s in spec.states if s.terminal]
    for node in terminals:
        lines.append(f"    {node} --> [*]")
    if terminals:
        lines.append("    classDef terminal fill:#eee,stroke:#333,stroke-width:3px")
        lines.append(f"    class {','.join(terminals)} terminal")
    return "\n".join(lines) + "\n"
