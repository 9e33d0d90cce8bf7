"""A small JSON Schema (draft 2020-12) checker for the keywords ``agentfsm.wire`` uses.

``jsonschema`` is not a dependency; this checks type, const, enum, properties, required,
additionalProperties, items, prefixItems, anyOf, $ref into $defs and format date-time, and
fails on any other keyword so a schema cannot silently outgrow it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

_KNOWN = {
    "$schema", "$defs", "$ref", "title", "description", "type", "const", "enum", "properties",
    "required", "additionalProperties", "items", "prefixItems", "anyOf", "format",
}  # fmt: skip

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def problems(value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None) -> list[str]:
    """Every way ``value`` breaks ``schema`` (empty when it validates)."""
    root = schema if root is None else root
    unknown = set(schema) - _KNOWN
    assert not unknown, f"the checker does not know {unknown}"
    out: list[str] = []
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        out += problems(value, root["$defs"][name], root)
    kind = schema.get("type")
    if kind is not None and not _is(value, kind):
        return [f"{value!r} is not {kind}"]
    if "const" in schema and value != schema["const"]:
        out.append(f"{value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{value!r} not in {schema['enum']!r}")
    if schema.get("format") == "date-time" and isinstance(value, str):
        try:
            if datetime.fromisoformat(value).utcoffset() is None:
                out.append(f"{value!r} has no offset")
        except ValueError:
            out.append(f"{value!r} is not a date-time")
    if "anyOf" in schema and all(problems(value, s, root) for s in schema["anyOf"]):
        out.append(f"{value!r} matches none of anyOf")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out += [f"missing {k}" for k in schema.get("required", ()) if k not in value]
        for key, item in value.items():
            if key in props:
                out += problems(item, props[key], root)
            elif schema.get("additionalProperties") is False:
                out.append(f"unexpected {key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                out += problems(item, schema["additionalProperties"], root)
    if isinstance(value, list):
        if "prefixItems" in schema:
            for item, sub in zip(value, schema["prefixItems"], strict=False):
                out += problems(item, sub, root)
        elif "items" in schema:
            for item in value:
                out += problems(item, schema["items"], root)
    return out


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])
