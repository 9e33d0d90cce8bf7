"""``diff_machines``: what changed between two versions of a machine, for people.

Statuses and events added and removed (and renamed, when a migration's status map says so),
transitions whose target, guard, updates or effects changed, and the user actions each status
offers before and after (by the transition table; guards that depend on the agent are left to
``check_migration``). ``MachineDiff.to_text`` prints it; ``to_mermaid`` draws the new machine
with what is new, changed and gone highlighted.
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
    return attrs.evolve(diff, mermaid=_mermaid(diff, old, new))


def _mermaid(diff: MachineDiff, old: MachineSpec, new: MachineSpec) -> str:
    changed = {(r.event, r.source): r.kind for r in diff.rows}
    lines = ["stateDiagram-v2", f"    [*] --> {new.initial}"]
    seen: set[tuple[str, str, str]] = set()
    for spec, statuses in ((new, new.state_names), (old, diff.statuses_removed)):
        for row in spec.transitions:
            for source in row.sources:
                if source not in statuses and spec is old:
                    continue
                kind = changed.get((row.event, source))
                if spec is old and kind not in ("removed", None):
                    continue
                for target in _edges(spec, row.event, source):
                    edge = (source, target, row.event)
                    if edge in seen:
                        continue
                    seen.add(edge)
                    tag = {"added": " (new)", "changed": " (changed)", "removed": " (gone)"}
                    lines.append(f"    {source} --> {target}: {row.event}{tag.get(kind or '', '')}")
    for r in diff.rows:
        if r.kind == "removed" and r.source in new.state_names:
            for target in _edges(old, r.event, r.source):
                edge = (r.source, target, r.event)
                if edge not in seen:
                    seen.add(edge)
                    lines.append(f"    {r.source} --> {target}: {r.event} (gone)")
    lines.append("    classDef added fill:#d4f7d4,stroke:#2a8a2a")
    lines.append("    classDef removed fill:#f7d4d4,stroke:#a02a2a,stroke-dasharray: 4 2")
    lines += [f"    class {s} added" for s in diff.statuses_added]
    lines += [f"    class {s} removed" for s in diff.statuses_removed]
    return "\n".join(lines) + "\n"
