"""A machine as a Markdown transition table: one row per ``TransitionSpec``, notes included."""

from __future__ import annotations

from agentfsm._machine import Machine
from agentfsm._spec import MachineSpec
from agentfsm.render._common import (
    actor_letters,
    describe,
    guard_text,
    md_cell,
    spec_of,
    target_text,
)

TABLE_COLUMNS = ("event", "actor", "from", "to", "guard", "effects", "updates", "note")
"""The table's columns, in order."""


def to_markdown_table(machine_or_spec: Machine | MachineSpec) -> str:
    """Render a machine's transitions as a Markdown table.

    One row per ``TransitionSpec``: its event, the actors allowed to send it (``U`` user,
    ``S`` platform, ``T`` timer), the source statuses, the target (``same`` for a row that stays,
    or a chooser with every status it may pick), the guard, the descriptions of its effects and
    data updates, and its note (which says where a row is our choice).

    Args:
        machine_or_spec: a compiled ``Machine`` or a ``MachineSpec``.

    Returns:
        The table, ending with a newline.

    Raises:
        InvalidInput: the argument is neither a ``Machine`` nor a ``MachineSpec``.
    """
    spec = spec_of(machine_or_spec)
    lines = [
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "|" + "---|" * len(TABLE_COLUMNS),
    ]
    for row in spec.transitions:
        cells = (
            row.event,
            actor_letters(spec, row.event),
            ", ".join(row.sources),
            target_text(spec, row),
            guard_text(row),
            describe(spec.effects, row.effects),
            describe(spec.updates, row.updates),
            row.note,
        )
        lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
