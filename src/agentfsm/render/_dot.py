"""A machine as Graphviz DOT, laid out to be read: the main path straight, broad rows as fans.

Statuses are rounded boxes (terminal ones doubled); the initial status hangs off a dot. Arrows
between the same two statuses are one arrow with a line per event, and a row that leaves from
nearly every status is drawn once, from a note naming the statuses it skips
(``agentfsm.render._picture``).
"""

from __future__ import annotations

from agentfsm._errors import InvalidInput
from agentfsm._machine import Machine
from agentfsm._spec import MachineSpec
from agentfsm.render._common import spec_of
from agentfsm.render._picture import Picture, neighbourhood, picture

# Labels longer than this put their guard on a line of its own, so arrows stay narrow.
_WRAP_AT = 24
_FONT = "Helvetica"
_MAIN_WEIGHT = 10


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _wrap(label: str) -> str:
    if len(label) <= _WRAP_AT or " [" not in label:
        return label
    head, _, guard = label.partition(" [")
    # A long guard breaks before each "and" / "or", keeping the word with what it joins.
    for word in (" and ", " or "):
        guard = guard.replace(word, f"\n{word.strip()} ")
    return f"{head}\n[{guard}"


def _note(text: str) -> str:
    """A fan's note on short lines: "every status", then the skipped statuses two a line."""
    head, _, rest = text.partition(" but ")
    if not rest:
        return head
    names = rest.split(", ")
    rows = [", ".join(names[i : i + 2]) for i in range(0, len(names), 2)]
    return head + "\nbut " + ",\n".join(rows)


def to_dot(machine_or_spec: Machine | MachineSpec, *, around: str | None = None) -> str:
    """Render a machine as a Graphviz ``digraph``.

    The whole machine is drawn top to bottom with its main path (the way an agent normally comes
    up) kept in one straight column. Each arrow is labelled ``event (actors) [guard]``, one line
    per event; a row that leaves from nearly every status is one arrow from a note saying
    "every status but …".

    Args:
        machine_or_spec: a compiled ``Machine`` or a ``MachineSpec``.
        around: a status name: draw only that status's neighbourhood (the arrows that lead
            into it and the ones it offers), left to right.

    Returns:
        DOT source ending with a newline (render it with ``dot -Tsvg``).

    Raises:
        InvalidInput: the argument is neither a ``Machine`` nor a ``MachineSpec``, or
            ``around`` is not one of its statuses.
    """
    spec = spec_of(machine_or_spec)
    if around is None:
        return _draw(spec, picture(spec), rankdir="TB")
    if around not in spec.state_names:
        raise InvalidInput(
            f"{around!r} is not a status of {spec.name}: use one of {', '.join(spec.state_names)}"
        )
    return _draw(spec, neighbourhood(spec, around), rankdir="LR", focus=around)


def _draw(spec: MachineSpec, pic: Picture, *, rankdir: str, focus: str | None = None) -> str:
    descriptions = {s.name: s.description for s in spec.states}
    lines = [
        f"digraph {_quote(pic.name)} {{",
        f'    graph [rankdir={rankdir}, nodesep=0.35, ranksep=0.45, fontname="{_FONT}"];',
        f'    node [shape=box, style=rounded, fontname="{_FONT}", fontsize=14];',
        f'    edge [fontname="{_FONT}", fontsize=12];',
    ]
    if focus is None or focus == pic.initial:
        lines.append('    "__initial__" [shape=point, label=""];')
    on_path = set(pic.main_path)
    for status in pic.statuses:
        attrs = [f"label={_quote(status)}"]
        if descriptions[status]:
            attrs.append(f"tooltip={_quote(descriptions[status])}")
        if status in pic.terminal:
            attrs.append("peripheries=2")
        if status in on_path:
            attrs.append("group=main")
        if status == focus:
            attrs.append('style="rounded,bold"')
        lines.append(f"    {_quote(status)} [{', '.join(attrs)}];")
    if focus is None or focus == pic.initial:
        lines.append(f'    "__initial__" -> {_quote(pic.initial)};')
    steps = set(zip(pic.main_path, pic.main_path[1:], strict=False))
    for arrow in pic.arrows:
        label = "\n".join(_wrap(x) for x in arrow.labels)
        extra = f", weight={_MAIN_WEIGHT}" if (arrow.source, arrow.target) in steps else ""
        lines.append(
            f"    {_quote(arrow.source)} -> {_quote(arrow.target)} [label={_quote(label)}{extra}];"
        )
    for fan in pic.fans:
        note = _note(fan.text)
        lines.append(
            f"    {_quote(fan.key)} [shape=note, style=dashed, fontsize=12, label={_quote(note)}];"
        )
        for target in fan.targets:
            lines.append(
                f"    {_quote(fan.key)} -> {_quote(target)} "
                f"[label={_quote(_wrap(fan.label))}, style=dashed];"
            )
    for choice in pic.choices:
        key, label = _quote(choice.key), _quote(_wrap(choice.label))
        lines.append(f"    {key} [shape=diamond, fontsize=12, label={_quote(choice.chooser)}];")
        for source in choice.sources:
            lines.append(f"    {_quote(source)} -> {key} [label={label}];")
        for target in choice.targets:
            lines.append(f"    {_quote(choice.key)} -> {_quote(target)} [style=dotted];")
    lines.append("}")
    return "\n".join(lines) + "\n"
