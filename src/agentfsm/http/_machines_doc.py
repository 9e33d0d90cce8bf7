"""What the API says about a machine: its actions' payload schemas, refusal codes, diagram."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from agentfsm._machine import Machine
from agentfsm._spec import EventSpec, MachineSpec, Not, guard_names
from agentfsm._values import Actor

_KIND_SCHEMA: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "bool": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
    "mapping": {"type": "object"},
}

ENGINE_REFUSALS = ("not_allowed_from_status", "actor_not_allowed", "invalid_payload")
"""The refusal codes the engine may give any event, whatever the machine."""


def payload_schema(event: EventSpec) -> dict[str, Any]:
    """The JSON Schema of an event's payload (its declared fields, nothing else)."""
    props: dict[str, Any] = {}
    for f in event.fields:
        props[f.name] = dict(_KIND_SCHEMA[f.kind])
        if f.description:
            props[f.name]["description"] = f.description
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{event.label or event.name} payload",
        "type": "object",
        "properties": props,
        "required": [f.name for f in event.fields if f.required],
        "additionalProperties": False,
    }


def refusal_codes(spec: MachineSpec, event: str) -> list[str]:
    """Every refusal code ``event`` may get from ``spec``: the engine's, then its guards'."""
    codes = list(ENGINE_REFUSALS)
    guards = {g.name: g for g in spec.guards}
    for row in spec.transitions:
        if row.event != event:
            continue
        for name in guard_names(row.guard):
            code = guards[name].code
            if code not in codes:
                codes.append(code)
        if _negates(row.guard) and "guard_failed" not in codes:
            codes.append("guard_failed")
    return codes


def _negates(expr: object) -> bool:
    if isinstance(expr, Not):
        return True
    return any(_negates(item) for item in getattr(expr, "items", ()))


def http_events(spec: MachineSpec) -> tuple[EventSpec, ...]:
    """The events the API accepts: every one but those only the runtime's timers send."""
    return tuple(e for e in spec.events if set(e.actors) - {Actor.TIMER})


def machine_document(machine: Machine, svg_url: str | None) -> dict[str, Any]:
    """The machine as JSON: its spec document, each action's schema and codes, its diagram."""
    from agentfsm.interop import to_document
    from agentfsm.render import to_dot, to_mermaid

    spec = machine.spec
    return {
        "name": spec.name,
        "version": spec.version,
        "machine": to_document(machine).model_dump(mode="json", by_alias=True),
        "actions": [
            {
                "event": e.name,
                "label": e.label or e.name,
                "description": e.description,
                "actors": sorted(a.code for a in e.actors),
                "user_action": e.is_user_action,
                "schema": payload_schema(e),
                "refusal_codes": refusal_codes(spec, e.name),
            }
            for e in http_events(spec)
        ],
        "diagram": {"mermaid": to_mermaid(machine), "dot": to_dot(machine), "svg": svg_url},
    }


_SVG: dict[tuple[str, int], bytes | None] = {}


def svg(machine: Machine) -> bytes | None:
    """The machine's diagram as SVG, drawn by Graphviz when ``dot`` is installed (else None)."""
    key = (machine.name, machine.version)
    if key not in _SVG:
        _SVG[key] = _draw(machine)
    return _SVG[key]


def _draw(machine: Machine) -> bytes | None:
    from agentfsm.render import to_dot

    dot = shutil.which("dot")
    if dot is None:
        return None
    try:
        done = subprocess.run(
            [dot, "-Tsvg"], input=to_dot(machine).encode(), capture_output=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 and done.stdout else None
