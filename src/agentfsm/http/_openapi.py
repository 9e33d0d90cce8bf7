"""Pieces of the OpenAPI document: problem responses and the wire forms of the answers."""

from __future__ import annotations

from typing import Any

from agentfsm import wire
from agentfsm._values import Offer, Step
from agentfsm.http._problems import MEDIA_TYPE, PROBLEM_TYPES, problem_schema
from agentfsm.runtime._records import AuditRow

_WHY = {
    401: "unauthenticated",
    403: "forbidden",
    404: "unknown-agent, not-found",
    405: "method-not-allowed",
    409: "refused (with `code`, `guard`), agent-exists",
    422: "invalid-request (with `field`), idempotency-key-reused",
    503: "busy, unavailable (with `Retry-After`)",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for the given error statuses, each a problem document."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        names = [n for n, (s, _) in PROBLEM_TYPES.items() if s == status]
        out[status] = {
            "description": f"problem: {_WHY.get(status, ', '.join(names))}",
            "content": {MEDIA_TYPE: {"schema": problem_schema()}},
        }
    return out


def wire_response(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI response whose body is a ``Step`` in its wire form."""
    return {
        status: {
            "description": description,
            "content": {"application/json": {"schema": inline(wire.schema(Step))}},
        }
    }


def inline(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` substituted where they are referred to (OpenAPI resolves
    ``#/…`` references against its own document, not against the embedded schema)."""
    defs = schema.get("$defs", {})

    def walk(node: Any, depth: int) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/") and depth < 8:
                return walk(defs[ref.removeprefix("#/$defs/")], depth + 1)
            return {k: walk(v, depth) for k, v in node.items() if k not in ("$defs", "$schema")}
        if isinstance(node, list):
            return [walk(v, depth) for v in node]
        return node

    made: dict[str, Any] = walk(schema, 0)
    return made


_STR = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}


def agent_schema() -> dict[str, Any]:
    """The schema of ``GET /agents/{id}``'s answer."""
    props: dict[str, Any] = {
        "agent_id": _STR,
        "machine": _STR,
        "machine_version": {"type": "integer"},
        "status": _STR,
        "phase": {"anyOf": [_STR, {"type": "null"}]},
        "conditions": {"type": "array", "items": {"type": "object"}},
        "version": {"type": "integer"},
        "since": _TIME,
        "created_at": _TIME,
        "updated_at": _TIME,
        "data": {"type": "object", "description": "the agent's record, with its @type"},
        "offered": {"type": "array", "items": inline(wire.schema(Offer))},
    }
    return {"type": "object", "properties": props, "required": list(props)}


def page_schema(item: dict[str, Any]) -> dict[str, Any]:
    """The schema of a cursor-paged answer of ``item``s."""
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": item},
            "next": {"anyOf": [_STR, {"type": "null"}], "description": "the next page's cursor"},
        },
        "required": ["items", "next"],
    }


def json_response(status: int, description: str, schema: dict[str, Any]) -> dict[int | str, Any]:
    """An OpenAPI response with a JSON body of ``schema``."""
    return {
        status: {"description": description, "content": {"application/json": {"schema": schema}}}
    }


def audit_row_schema() -> dict[str, Any]:
    """The wire schema of an audit row, inlined for the OpenAPI document."""
    return inline(wire.schema(AuditRow))


def listed_agent_schema() -> dict[str, Any]:
    """One agent of ``GET /agents``."""
    props = {k: v for k, v in agent_schema()["properties"].items()
             if k in ("agent_id", "machine", "status", "phase", "version", "since")}  # fmt: skip
    return {"type": "object", "properties": props, "required": list(props)}
