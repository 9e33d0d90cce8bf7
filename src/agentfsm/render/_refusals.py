"""Every refusal code, in one generated table: what it means and which events and guards give it.

The engine's own codes (an unknown event or status, the wrong sender, a bad payload, a status the
event does not leave from, a malformed snapshot, a negated guard) are listed in ``ENGINE_CODES``;
the guards' codes are read from the machines. The page is written and drift-checked with the
model pages (``agentfsm.render.expected_pages``).
"""

from __future__ import annotations

from collections.abc import Mapping

from agentfsm._machine import Machine
from agentfsm._spec import GuardExpr, MachineSpec, Not, guard_names
from agentfsm.render._common import md_cell

REFUSALS_PAGE = "refusal-codes.md"
"""The file name of the generated refusal-code page, beside the model pages."""

ENGINE_CODES: Mapping[str, str] = {
    "unknown_event": "The machine has no event of that name; the sentence lists its events.",
    "unknown_status": (
        "The snapshot's status is not one of the machine's (a record from another model, or "
        "one written by hand); the sentence lists its statuses."
    ),
    "actor_not_allowed": (
        "The event was sent by an actor who may not send it (a user sending what only the "
        "platform reports, say)."
    ),
    "invalid_payload": (
        "The payload lacks a required field, has a field of the wrong kind, or names a field "
        "the event does not carry; the sentence lists each problem."
    ),
    "not_allowed_from_status": (
        "The event does not leave from the agent's status; the sentence says why, and what to "
        "do instead where the model knows."
    ),
    "invalid_snapshot": (
        "The snapshot is malformed: its data is not the machine's record type, its version is "
        "not a whole number, or its `since` is not a timezone-aware datetime."
    ),
    "time_out_of_range": (
        "A time the decision needs cannot be computed: the context's `now` is so near the end "
        "of the calendar (or a policy duration so long) that adding a duration overflows."
    ),
    "guard_failed": ("A negated guard (`not …`) failed: the thing it must not be true is true."),
}
"""The codes the engine itself gives, whatever the machine, with what each means."""


def _has_not(expr: GuardExpr | None) -> bool:
    if expr is None:
        return False
    if isinstance(expr, Not):
        return True
    items = getattr(expr, "items", ())
    return any(_has_not(item) for item in items)


def _engine_sources(spec: MachineSpec, code: str) -> list[str]:
    """Which of ``spec``'s events can give the engine code ``code``."""
    if code in ("unknown_event",):
        return []  # any name that is not an event
    if code == "actor_not_allowed":
        return [e.name for e in spec.events if set(e.actors) != set(spec.roles)]
    if code == "invalid_payload":
        return [e.name for e in spec.events]  # a field it does not carry is refused too
    if code == "not_allowed_from_status":
        leaving: dict[str, set[str]] = {}
        for row in spec.transitions:
            leaving.setdefault(row.event, set()).update(row.sources)
        everywhere = set(spec.state_names)
        return [e.name for e in spec.events if leaving.get(e.name, set()) != everywhere]
    if code == "guard_failed":
        return list(dict.fromkeys(r.event for r in spec.transitions if _has_not(r.guard)))
    return [e.name for e in spec.events]


def _events_text(names: list[str], every: int) -> str:
    if not names:
        return ""
    if len(names) == every:
        return "every event"
    return ", ".join(f"`{n}`" for n in names)


def refusal_codes_page(machines: Mapping[str, Machine]) -> str:
    """The generated Markdown page listing every refusal code of ``machines``.

    Args:
        machines: the machines whose guards to list, by name (``agentfsm.models.MACHINES``).

    Returns:
        The page, starting with a generated-file banner and ending with a newline.
    """
    lines = [
        "<!-- Generated from the engine and the machines by `agentfsm docs --write`. Do not edit "
        "by hand: change the machine, then regenerate. -->",
        "",
        "# Refusal codes",
        "",
        "A refused event changes nothing and says why: a `Refusal` carries a stable `code` (for "
        "programs) and a sentence (for people). The codes below are all there are.",
        "",
        "## Codes the engine gives",
        "",
        "Whatever the machine. The engine checks in this order and gives the first reason: "
        "unknown event, unknown status, actor, payload, status, then guards.",
        "",
        "| code | means | events that can give it |",
        "|---|---|---|",
    ]
    for code, meaning in ENGINE_CODES.items():
        sources = []
        for name, machine in machines.items():
            spec = machine.spec
            text = _events_text(_engine_sources(spec, code), len(spec.events))
            if text:
                sources.append(f"{name}: {text}")
        if code == "unknown_event":
            sources = ["any name that is not one of the machine's events"]
        elif sources and all(x.endswith(": every event") for x in sources):
            sources = ["every event of every model"]
        cells = [f"`{code}`", meaning, "; ".join(sources) or "none"]
        lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    lines += [
        "",
        "## Codes the guards give",
        "",
        "A guard that fails refuses the event with its own code. Several guards may share one.",
        "",
        "| code | model | guard | refused when this is not so | events |",
        "|---|---|---|---|---|",
    ]
    rows = []
    for name, machine in machines.items():
        spec = machine.spec
        for guard in spec.guards:
            events = list(
                dict.fromkeys(
                    r.event for r in spec.transitions if guard.name in guard_names(r.guard)
                )
            )
            used = ", ".join(f"`{e}`" for e in events) or "none"
            rows.append((guard.code, name, f"`{guard.name}`", guard.description, used))
    for code, name, guard_name, means, used in sorted(rows, key=lambda r: (r[0], r[1])):
        cells = [f"`{code}`", name, guard_name, means, used]
        lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
