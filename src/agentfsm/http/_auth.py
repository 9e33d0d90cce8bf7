"""Who is calling: the one place an HTTP request becomes an actor, a principal and a tenant.

agentfsm trusts the code that builds an ``Event`` (see docs/security.md): the HTTP layer never
takes the actor from a request body. An ``Authenticator`` maps the request's credentials to a
``Caller``; the app sends every event as one of the caller's roles, under its principal (the
scope of its idempotency keys), and shows it only the agents ``may_see`` allows.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from agentfsm._errors import InvalidInput
from agentfsm._values import Actor, AnyRole, Role

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection


def _roles(value: object) -> tuple[AnyRole, ...]:
    if isinstance(value, Actor | Role):
        return (value,)
    if isinstance(value, tuple | list | frozenset | set):
        held = tuple(value)
        if held and all(isinstance(r, Actor | Role) for r in held):
            return held
    raise InvalidInput(
        f"a caller's roles must be an Actor, a Role or a sequence of them: {value!r}"
    )


def _principal(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value or "/" in value:
        raise InvalidInput(f"a principal must be a non-empty string without '/', not {value!r}")


@attrs.frozen(slots=True)
class Caller:
    """Who sent a request, as the authenticator established it.

    Attributes:
        principal: who it is (an account, an API client): the scope of its idempotency keys,
            and recorded on every audit row it causes.
        roles: the roles it holds, first the one it acts in by default (``(Actor.USER,)`` for
            a person, ``(Actor.SYSTEM,)`` for the platform's observers). An event is sent in the
            first role held that the event allows.
        tenant: the tenant it belongs to, or ``None`` for a caller of the platform itself.

    Raises:
        InvalidInput: a principal that is empty or holds ``/``, or roles that are not roles.
    """

    principal: str = attrs.field(validator=_principal)
    roles: tuple[AnyRole, ...] = attrs.field(default=(Actor.USER,), converter=_roles)
    tenant: str | None = None

    @property
    def actor(self) -> AnyRole:
        """The role the caller acts in by default (the first it holds)."""
        return self.roles[0]

    @property
    def is_platform(self) -> bool:
        """True when the caller holds ``Actor.SYSTEM``: the platform's observers."""
        return Actor.SYSTEM in self.roles


@runtime_checkable
class Authenticator(Protocol):
    """Maps a request to a ``Caller`` and says which agents that caller may see.

    ``create_app`` calls ``authenticate`` once per request (a ``None`` answer is a 401), and
    ``may_see`` before it reads, lists, creates or sends anything to an agent: an agent a
    caller may not see is answered exactly as an agent that does not exist (404), so no id
    leaks across tenants.

    An authenticator may also have ``id_prefix(caller) -> str | None``: a prefix that every
    agent id the caller may see starts with. Listings then have the store read only those
    ids (``may_see`` is still asked of each); without it a listing reads every id in turn.
    """

    async def authenticate(self, request: HTTPConnection) -> Caller | None:
        """The caller the request's credentials name, or ``None`` when they name nobody."""
        ...

    def may_see(self, caller: Caller, agent_id: str) -> bool:
        """Whether ``caller`` may see (and so act on, or create) the agent ``agent_id``."""
        ...


TENANT_SEPARATOR = "."
"""Between a tenant and the rest of an agent id, for ``TokenAuthenticator`` (``acme.bot-1``)."""


class TokenAuthenticator:
    """Bearer tokens to callers, and agents to tenants by the prefix of their id.

    A caller with a tenant sees exactly the agents whose id starts with ``"<tenant>."``; a
    caller without one (the platform) sees every agent. Tokens are compared in constant time.

    Args:
        tokens: each bearer token and the caller it stands for.

    Raises:
        InvalidInput: a token that is not a non-empty string, a value that is not a
            ``Caller``, or a tenant that is empty or holds the separator.
    """

    def __init__(self, tokens: Mapping[str, Caller]) -> None:
        for token, caller in tokens.items():
            if not isinstance(token, str) or not token or not isinstance(caller, Caller):
                raise InvalidInput("tokens must map non-empty strings to Caller records")
            if caller.tenant is not None and (
                not caller.tenant or TENANT_SEPARATOR in caller.tenant
            ):
                # "a" would otherwise see the agents of "a.b" ("a.b.x" starts with "a.").
                raise InvalidInput(
                    f"a tenant must be a non-empty name without {TENANT_SEPARATOR!r}: "
                    f"{caller.tenant!r}"
                )
        self._tokens = dict(tokens)

    async def authenticate(self, request: HTTPConnection) -> Caller | None:
        """The caller of the request's ``Authorization: Bearer <token>``, or ``None``."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        found: Caller | None = None
        given = token.strip().encode("utf-8", "surrogatepass")
        for known, caller in self._tokens.items():
            # Every token is compared, so the time taken says nothing about which one matched.
            if hmac.compare_digest(known.encode("utf-8"), given):
                found = caller
        return found

    def may_see(self, caller: Caller, agent_id: str) -> bool:
        """True for the platform; for a tenant's caller, when the id carries its prefix."""
        if caller.tenant is None:
            return True
        return agent_id.startswith(caller.tenant + TENANT_SEPARATOR)

    def id_prefix(self, caller: Caller) -> str | None:
        """What every agent id ``caller`` may see starts with (``"<tenant>."``), or ``None``
        for the platform: listings read only those ids from the store."""
        return None if caller.tenant is None else caller.tenant + TENANT_SEPARATOR
