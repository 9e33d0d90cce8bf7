"""The HTTP API of agentfsm, generated from the machines (the ``http`` extra).

- ``Authenticator``, ``Caller``, ``TokenAuthenticator``: who is calling (``_auth``).
"""

from agentfsm.http._auth import TENANT_SEPARATOR, Authenticator, Caller, TokenAuthenticator

__all__ = ["TENANT_SEPARATOR", "Authenticator", "Caller", "TokenAuthenticator"]
