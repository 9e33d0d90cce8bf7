"""Typed request bodies, generated from the machines' payload fields (pydantic models).

They give the OpenAPI document its schemas and FastAPI its first check; the agent's own
machine checks the payload again (``payload_problem``) before anything is decided, since two
machines may declare one action with different fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from pydantic import create_model as _create_model

from agentfsm._machine import field_problem
from agentfsm._spec import EventSpec, FieldSpec
from agentfsm._words import quote

_KINDS: dict[str, Any] = {
    "str": StrictStr,
    "int": StrictInt,
    "bool": StrictBool,
    "datetime": AwareDatetime,
    "mapping": dict[str, Any],
}


def body_model(name: str, events: list[EventSpec]) -> type[BaseModel] | None:
    """The body of the action ``name``, from every machine's declaration of it (None: no body).

    A field is required only when every machine declaring the action requires it; fields
    declared with different kinds accept either.
    """
    fields: dict[str, list[FieldSpec]] = {}
    for ev in events:
        for f in ev.fields:
            fields.setdefault(f.name, []).append(f)
    if not fields:
        return None
    made: dict[str, Any] = {}
    for fname, specs in fields.items():
        kinds = tuple(dict.fromkeys(_KINDS[f.kind] for f in specs))
        tp: Any = kinds[0]
        for k in kinds[1:]:
            tp = tp | k
        required = len(specs) == len(events) and all(f.required for f in specs)
        desc = next((f.description for f in specs if f.description), None)
        made[fname] = (
            (tp, Field(description=desc))
            if required
            else (tp | None, Field(default=None, description=desc))
        )
    title = "".join(part.capitalize() for part in name.split("_")) + "Body"
    model: type[BaseModel] = _create_model(title, __config__=ConfigDict(extra="forbid"), **made)
    return model


class CreateBody(BaseModel):
    """``POST /agents``: the new agent's id, its machine, and its record (an attrs record's
    fields as an object, or the plain value of a machine whose record is a plain type)."""

    model_config = ConfigDict(extra="forbid")

    agent_id: StrictStr
    machine: StrictStr
    data: Any = None


def payload_problem(
    fields: tuple[FieldSpec, ...], payload: Mapping[str, object]
) -> tuple[str, str] | None:
    """The first field of ``payload`` that does not fit ``fields``, and why (None: it fits)."""
    known = {f.name for f in fields}
    for key in payload:
        if key not in known:
            return key, f"unexpected field {quote(key)}"
    for f in fields:
        if f.name not in payload:
            if f.required:
                return f.name, f"{f.name} is required"
            continue
        problem = field_problem(f, payload[f.name])
        if problem:
            return f.name, problem
    return None
