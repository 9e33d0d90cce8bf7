"""``diff_machines``: what changed between two versions of a machine, for people.

Statuses and events added and removed (and renamed, when a migration's status map says so),
transitions whose target, guard, updates or effects changed, and the user actions each status
offers before and after (by the transition table; guards that depend on the agent are left to
``check_migration``). ``MachineDiff.to_text`` prints it; ``to_mermaid`` and ``to_dot`` draw the
new machine with what is new, changed and gone highlighted.
"""

from __future__ import annotations

import attrs

from agentfsm._machine import Machine
from agentfsm._spec import SAME, MachineSpec, render_guard_expr
from agentfsm.migrate._migration import Migration, StatusChooser

_Row = tuple[str, str]  # (event, source status)


@attrs.frozen(slots=True)
class RowChange:
    """One (event, source status) whose transition was added, removed or changed.

    Attributes:
        event: the event.
        source: the status it leaves from.
        before: the old row's summary (``"-> running [guard] {effects}"``), empty when added.
        after: the new row's summary, empty when removed.
    """

    event: str
    source: str
    before: str
    after: str

    @property
    def kind(self) -> str:
        """``"added"``, ``"removed"`` or ``"changed"``."""
        if not self.before:
            return "added"
        return "removed" if not self.after else "changed"


@attrs.frozen(slots=True)
class MachineDiff:
    """What changed from machine ``a`` to machine ``b``.

    Attributes:
        name: the machines' name (``"alfe v1 -> v2"``).
        statuses_added, statuses_removed: status names.
        renamed: ``(old, new)`` statuses a migration maps one to one.
        events_added, events_removed: event names.
        rows: the transitions added, removed or changed, by (event, source).
        actions: per status, the user actions its rows offer before and after.
        mermaid: the picture ``to_mermaid`` returns.
        dot: the picture ``to_dot`` returns.
    """

    name: str
    statuses_added: tuple[str, ...]
    statuses_removed: tuple[str, ...]
    renamed: tuple[tuple[str, str], ...]
    events_added: tuple[str, ...]
    events_removed: tuple[str, ...]
    rows: tuple[RowChange, ...]
    actions: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]
    mermaid: str = attrs.field(default="", repr=False)
    dot: str = attrs.field(default="", repr=False)

    @property
    def empty(self) -> bool:
        """True when nothing changed."""
        return not (
            self.statuses_added or self.statuses_removed or self.events_added
            or self.events_removed or self.rows
        )  # fmt: skip

    def to_text(self) -> str:
        """The diff as plain text, with a table of the actions offered per status."""
        lines = [f"{self.name}"]
        for label, names in (
            ("statuses added", self.statuses_added),
            ("statuses removed", self.statuses_removed),
            ("events added", self.events_added),
            ("events removed", self.events_removed),
        ):
            if names:
                lines.append(f"  {label}: {', '.join(names)}")
        for old, new in self.renamed:
            lines.append(f"  status renamed: {old} -> {new}")
        if self.rows:
            lines.append("  transitions:")
            for r in self.rows:
                if r.kind == "added":
                    lines.append(f"    + {r.event} from {r.source} {r.after}")
                elif r.kind == "removed":
                    lines.append(f"    - {r.event} from {r.source} {r.before}")
                else:
                    lines.append(f"    ~ {r.event} from {r.source} {r.before}  =>  {r.after}")
        if self.empty:
            lines.append("  no changes")
        width = max((len(s) for s, _, _ in self.actions), default=6)
        lines.append("")
        lines.append(f"  {'status':<{width}}  {'actions before':<40}  actions after")
        for status, before, after in self.actions:
            mark = "" if before == after else "  *"
            lines.append(
                f"  {status:<{width}}  {', '.join(before) or '-':<40}  "
                f"{', '.join(after) or '-'}{mark}"
            )
        return "\n".join(lines) + "\n"

    def to_mermaid(self) -> str:
        """A Mermaid state diagram of the new machine plus what it lost, changes highlighted.

        New statuses are green, removed ones red, and each added, removed or changed
        transition is labelled ``(new)``, ``(gone)`` or ``(changed)``.
        """
        return self.mermaid

    def to_dot(self) -> str:
        """A Graphviz ``digraph`` of the new machine plus what it lost, changes highlighted.

        Statuses and arrows are drawn by how they changed: added ones green (bold), removed
        ones red (dashed), changed ones amber, the rest grey; labels end in ``(new)``,
        ``(gone)`` or ``(changed)``, so the picture reads in black and white too. A status
        is changed when a transition leaving it changed or the actions it offers did; a
        renamed status has a dotted arrow to its new name. Render it with ``dot -Tsvg``.
        """
        return self.dot


def _summary(spec: MachineSpec, event: str, source: str) -> str:
    parts = []
    for row in spec.transitions:
        if row.event != event or source not in row.sources:
            continue
        target = (
            f"choose({row.chooser})"
            if row.chooser
            else (source if row.target == SAME else row.target)
        )
        text = f"-> {target}"
        guard = render_guard_expr(row.guard)
        if guard:
            text += f" [{guard}]"
        if row.updates:
            text += f" updates({', '.join(row.updates)})"
        if row.effects:
            text += f" effects({', '.join(row.effects)})"
        parts.append(text)
    return " | ".join(parts)


def _rows(spec: MachineSpec) -> set[_Row]:
    return {(r.event, s) for r in spec.transitions for s in r.sources}


def _offers(spec: MachineSpec, status: str) -> tuple[str, ...]:
    users = {e.name for e in spec.user_actions}
    found = {r.event for r in spec.transitions if status in r.sources and r.event in users}
    return tuple(e.name for e in spec.user_actions if e.name in found)


def _edges(spec: MachineSpec, event: str, source: str) -> list[str]:
    out = []
    for row in spec.transitions:
        if row.event == event and source in row.sources:
            if row.chooser:
                out += [t for c in spec.choosers if c.name == row.chooser for t in c.targets]
            else:
                out.append(source if row.target == SAME else row.target)
    return out


def diff_machines(a: Machine, b: Machine, migration: Migration | None = None) -> MachineDiff:
    """What changed from ``a`` to ``b``.

    Args:
        a: the old machine.
        b: the new machine.
        migration: when given, its one-to-one status map names the renamed statuses.

    Returns:
        A ``MachineDiff``.
    """
    old, new = a.spec, b.spec
    added = tuple(s for s in new.state_names if s not in a.states)
    removed = tuple(s for s in old.state_names if s not in b.states)
    renamed: list[tuple[str, str]] = []
    if migration is not None:
        for status, rule in migration.statuses.items():
            if not isinstance(rule, StatusChooser) and status in removed and rule in added:
                renamed.append((status, rule))
    rows: list[RowChange] = []
    old_rows, new_rows = _rows(old), _rows(new)
    order = [*(e.name for e in old.events), *(e.name for e in new.events if e.name not in a.events)]
    statuses = [*old.state_names, *added]
    for event in dict.fromkeys(order):
        for status in statuses:
            key = (event, status)
            if key not in old_rows and key not in new_rows:
                continue
            before = _summary(old, event, status) if key in old_rows else ""
            after = _summary(new, event, status) if key in new_rows else ""
            if before != after:
                rows.append(RowChange(event, status, before, after))
    actions = tuple(
        (s, _offers(old, s) if s in a.states else (), _offers(new, s) if s in b.states else ())
        for s in statuses
    )
    name = f"{old.name} v{old.version} -> v{new.version}"
    diff = MachineDiff(
        name,
        added,
        removed,
        tuple(renamed),
        tuple(e.name for e in new.events if e.name not in a.events),
        tuple(e.name for e in old.events if e.name not in b.events),
        tuple(rows),
        actions,
    )
    return attrs.evolve(diff, mermaid=_mermaid(diff, old, new), dot=_dot(diff, old, new))


_Edge = tuple[str, str, str, str]  # (source, target, event, "added"/"changed"/"removed"/"")


def _diff_edges(diff: MachineDiff, old: MachineSpec, new: MachineSpec) -> list[_Edge]:
    """Every arrow of the new machine, plus the old machine's arrows that are gone, each with
    how its row changed; one per (source, target, event)."""
    changed = {(r.event, r.source): r.kind for r in diff.rows}
    edges: list[_Edge] = []
    seen: set[tuple[str, str, str]] = set()

    def add(source: str, target: str, event: str, kind: str) -> None:
        if (source, target, event) not in seen:
            seen.add((source, target, event))
            edges.append((source, target, event, kind))

    for spec, statuses in ((new, new.state_names), (old, diff.statuses_removed)):
        for row in spec.transitions:
            for source in row.sources:
                if source not in statuses and spec is old:
                    continue
                kind = changed.get((row.event, source))
                if spec is old and kind not in ("removed", None):
                    continue
                for target in _edges(spec, row.event, source):
                    add(source, target, row.event, kind or "")
    for r in diff.rows:
        if r.kind == "removed" and r.source in new.state_names:
            for target in _edges(old, r.event, r.source):
                add(r.source, target, r.event, "removed")
    return edges


_TAGS = {"added": " (new)", "changed": " (changed)", "removed": " (gone)"}


def _mermaid(diff: MachineDiff, old: MachineSpec, new: MachineSpec) -> str:
    lines = ["stateDiagram-v2", f"    [*] --> {new.initial}"]
    for source, target, event, kind in _diff_edges(diff, old, new):
        lines.append(f"    {source} --> {target}: {event}{_TAGS.get(kind, '')}")
    lines.append("    classDef added fill:#d4f7d4,stroke:#2a8a2a")
    lines.append("    classDef removed fill:#f7d4d4,stroke:#a02a2a,stroke-dasharray: 4 2")
    lines += [f"    class {s} added" for s in diff.statuses_added]
    lines += [f"    class {s} removed" for s in diff.statuses_removed]
    return "\n".join(lines) + "\n"


# How each kind of change is drawn: nodes by status, arrows by row.
_NODE_STYLE = {
    "added": 'style="rounded,filled", fillcolor="#d4f7d4", color="#2a8a2a", penwidth=2',
    "removed": 'style="rounded,dashed,filled", fillcolor="#f7d4d4", color="#a02a2a"',
    "changed": 'style="rounded,filled", fillcolor="#fdf0c8", color="#b07d00"',
    "": 'style=rounded, color="#555555"',
}
_EDGE_STYLE = {
    "added": 'color="#2a8a2a", fontcolor="#2a8a2a", penwidth=2',
    "removed": 'color="#a02a2a", fontcolor="#a02a2a", style=dashed',
    "changed": 'color="#b07d00", fontcolor="#b07d00", penwidth=2',
    "": 'color="#777777", fontcolor="#555555"',
}


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _status_changes(diff: MachineDiff) -> dict[str, str]:
    """Each status of either machine: ``"added"``, ``"removed"``, ``"changed"`` (a row
    leaving it changed, or the actions it offers did) or ``""``."""
    kinds = {s: "" for s, _before, _after in diff.actions}
    for r in diff.rows:
        if kinds.get(r.source) == "":
            kinds[r.source] = "changed"
    for status, before, after in diff.actions:
        if before != after and kinds[status] == "":
            kinds[status] = "changed"
    kinds.update(dict.fromkeys(diff.statuses_added, "added"))
    kinds.update(dict.fromkeys(diff.statuses_removed, "removed"))
    return kinds


def _dot(diff: MachineDiff, old: MachineSpec, new: MachineSpec) -> str:
    lines = [
        f"digraph {_quote(diff.name)} {{",
        "    graph [rankdir=TB, nodesep=0.35, ranksep=0.45, "
        f"label={_quote(diff.name)}, labelloc=t];",
        "    node [shape=box, fontsize=14];",
        "    edge [fontsize=11];",
        '    "__initial__" [shape=point, label=""];',
    ]
    renamed = dict(diff.renamed)
    for status, kind in _status_changes(diff).items():
        label = status + _TAGS.get(kind, "")
        if status in renamed:
            label += f"\n(now {renamed[status]})"
        terminal = (new if status in new.state_names else old).state(status).terminal
        shape = ", peripheries=2" if terminal else ""
        lines.append(f"    {_quote(status)} [label={_quote(label)}, {_NODE_STYLE[kind]}{shape}];")
    lines.append(f'    "__initial__" -> {_quote(new.initial)};')
    for source, target, event, kind in _diff_edges(diff, old, new):
        label = _quote(event + _TAGS.get(kind, ""))
        lines.append(
            f"    {_quote(source)} -> {_quote(target)} [label={label}, {_EDGE_STYLE[kind]}];"
        )
    for old_name, new_name in diff.renamed:
        lines.append(
            f"    {_quote(old_name)} -> {_quote(new_name)} "
            '[style=dotted, arrowhead=empty, label="renamed", color="#3060b0"];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"
