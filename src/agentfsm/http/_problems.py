"""RFC 9457 problem details: the only error bodies the HTTP API sends.

Each problem type is a documented URI (see docs/http.md); a response's ``type`` is always one of
``PROBLEM_TYPES``, whatever the request was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.responses import Response

PROBLEM_BASE = "https://agentfsm.dev/problems/"
"""Every problem type is this URI followed by its name (``…/problems/refused``)."""

MEDIA_TYPE = "application/problem+json"

PROBLEM_TYPES: Mapping[str, tuple[int, str]] = {
    "refused": (409, "The event was refused"),
    "agent-exists": (409, "An agent with this id exists"),
    "invalid-request": (422, "The request is not valid"),
    "idempotency-key-reused": (422, "The idempotency key was used for another request"),
    "unknown-agent": (404, "No such agent"),
    "not-found": (404, "No such resource"),
    "method-not-allowed": (405, "Method not allowed"),
    "unauthenticated": (401, "The request names no known caller"),
    "forbidden": (403, "The caller may not do this"),
    "busy": (503, "The agent is changing too often; try again"),
    "unavailable": (503, "The store is unavailable; try again"),
    "server-error": (500, "The server could not answer"),
}
"""Each problem type's name, with its HTTP status and title."""


class Problem(Exception):
    """An error the API answers with a problem document.

    Args:
        name: the problem type's name (a key of ``PROBLEM_TYPES``).
        detail: a sentence about this occurrence.
        extra: further members (``code``, ``guard``, ``field``…).
        headers: response headers (``Retry-After``).
    """

    def __init__(
        self,
        name: str,
        detail: str,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        assert name in PROBLEM_TYPES, name
        super().__init__(detail)
        self.name = name
        self.detail = detail
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def response(self, instance: str | None = None) -> Response:
        """The ``application/problem+json`` response."""
        status, title = PROBLEM_TYPES[self.name]
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.name,
            "title": title,
            "status": status,
            "detail": self.detail,
        }
        if instance is not None:
            body["instance"] = instance
        body.update(self.extra)
        from starlette.responses import Response

        text = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8", "replace")
        return Response(text, status, headers=self.headers, media_type=MEDIA_TYPE)


def problem_schema() -> dict[str, Any]:
    """The JSON Schema of a problem document, for the OpenAPI document."""
    return {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "enum": [PROBLEM_BASE + n for n in PROBLEM_TYPES]},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "code": {"type": "string", "description": "the refusal code (refused)"},
            "guard": {"type": ["string", "null"], "description": "the failed guard (refused)"},
            "event": {"type": "string"},
            "status_name": {"type": "string", "description": "the agent's status (refused)"},
            "field": {"type": "string", "description": "the offending field (invalid-request)"},
        },
    }
