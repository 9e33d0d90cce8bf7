"""The HTTP API of agentfsm, generated from the machines (the ``http`` extra: FastAPI, uvicorn).

- ``create_app(controller, machines, authenticator)``: the API as an ASGI app to serve or mount.
- ``Authenticator``, ``Caller``, ``TokenAuthenticator``: who is calling, and what they may see.
- ``PROBLEM_TYPES``, ``PROBLEM_BASE``: the RFC 9457 problem types every error is one of.

See docs/http.md.
"""

from agentfsm.http._auth import TENANT_SEPARATOR, Authenticator, Caller, TokenAuthenticator
from agentfsm.http._factory import create_app
from agentfsm.http._problems import PROBLEM_BASE, PROBLEM_TYPES

__all__ = [
    "PROBLEM_BASE",
    "PROBLEM_TYPES",
    "TENANT_SEPARATOR",
    "Authenticator",
    "Caller",
    "TokenAuthenticator",
    "create_app",
]
