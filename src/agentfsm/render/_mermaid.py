"""A machine as a Mermaid ``stateDiagram-v2``, drawn from the same picture as the DOT renderer.

Arrows between the same two statuses are one arrow whose label names every event; a row that
leaves from nearly every status comes once from a pseudo-state named "every status but …"; a
chooser is a Mermaid ``<<choice>>`` state. The initial status hangs off ``[*]``; terminal
statuses lead to ``[*]`` and are styled apart.
"""

from __future__ import annotations

import re

from agentfsm._machine import Machine
from agentfsm._spec import MachineSpec
from agentfsm.render._common import spec_of
from agentfsm.render._picture import picture

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
    pic = picture(spec)
    lines = ["stateDiagram-v2"]
    for status in pic.statuses:
        node = _node_id(status)
        if node != status:
            lines.append(f'    state "{_label(status)}" as {node}')
    for fan in pic.fans:
        lines.append(f'    state "{_label(fan.text)}" as {_node_id(fan.key)}')
    for choice in pic.choices:
        lines.append(f"    state {_node_id(choice.key)} <<choice>>")
    lines.append(f"    [*] --> {_node_id(pic.initial)}")
    for arrow in pic.arrows:
        label = _label(", ".join(arrow.labels))
        lines.append(f"    {_node_id(arrow.source)} --> {_node_id(arrow.target)} : {label}")
    for fan in pic.fans:
        for target in fan.targets:
            lines.append(f"    {_node_id(fan.key)} --> {_node_id(target)} : {_label(fan.label)}")
    for choice in pic.choices:
        for source in choice.sources:
            label = _label(f"{choice.label} via {choice.chooser}")
            lines.append(f"    {_node_id(source)} --> {_node_id(choice.key)} : {label}")
        for target in choice.targets:
            lines.append(f"    {_node_id(choice.key)} --> {_node_id(target)}")
    terminals = [_node_id(s) for s in pic.terminal]
    for node in terminals:
        lines.append(f"    {node} --> [*]")
    if terminals:
        lines.append("    classDef terminal fill:#eee,stroke:#333,stroke-width:3px")
        lines.append(f"    class {','.join(terminals)} terminal")
    if pic.fans:
        lines.append("    classDef fan fill:#fff,stroke-dasharray:4 3")
        lines.append(f"    class {','.join(_node_id(f.key) for f in pic.fans)} fan")
    return "\n".join(lines) + "\n"
