"""What every route shares: the controller, the machines, who is calling, and sending one
event with its errors turned into problems.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from fastapi import Request
from starlette.responses import JSONResponse, Response

from agentfsm import wire
from agentfsm._errors import InvalidInput
from agentfsm._machine import Machine
from agentfsm._spec import EventSpec
from agentfsm._values import AnyRole, Event, Refusal, Step
from agentfsm._words import quote
from agentfsm.http._auth import Authenticator, Caller
from agentfsm.http._bodies import payload_problem
from agentfsm.http._problems import Problem
from agentfsm.runtime._async_controller import AsyncController
from agentfsm.runtime._errors import (
    AgentExists,
    CodecError,
    IdempotencyKeyMismatch,
    StoreError,
    UnknownAgent,
    VersionConflict,
)
from agentfsm.runtime._records import AgentRecord

_MACHINE_CACHE = 65_536


class Api:
    """The state every route shares: the controller, the machines, who is calling."""

    def __init__(
        self,
        controller: AsyncController,
        machines: Sequence[Machine],
        authenticator: Authenticator,
        retry_after: int,
    ) -> None:
        self.controller = controller
        self.machines = {m.name: m for m in sorted(machines, key=lambda m: m.version)}
        self.auth = authenticator
        self.retry_after = str(retry_after)
        # An agent's machine never changes (a migration changes its version, not its name),
        # so it is remembered: sending an event then needs no read before the controller's.
        self._machine_of: OrderedDict[str, str] = OrderedDict()

    async def caller(self, request: Request) -> Caller:
        caller = await self.auth.authenticate(request)
        if caller is None:
            raise Problem(
                "unauthenticated",
                "send a credential the server knows (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return caller

    def visible(self, caller: Caller, agent_id: str) -> None:
        if not self.auth.may_see(caller, agent_id):
            raise unknown_agent(agent_id)

    async def visible_agents(
        self,
        caller: Caller,
        *,
        machine: str | None = None,
        status: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> tuple[list[AgentRecord], bool]:
        """The agents ``caller`` may see, by id, of the machines served here: at most
        ``limit`` of them after ``after``, and whether there are more.

        The store does the filtering and the paging; ``may_see`` is asked of every agent it
        returns all the same. An authenticator with an ``id_prefix(caller)`` (a prefix every
        agent the caller may see starts with, such as ``TokenAuthenticator``'s tenant) has the
        store read only those ids.
        """
        narrow = getattr(self.auth, "id_prefix", None)
        prefix = narrow(caller) if callable(narrow) else None
        store = self.controller.store
        want = None if limit is None else limit + 1
        chosen: list[AgentRecord] = []
        while want is None or len(chosen) < want:
            page: list[AgentRecord] = await self.guarded(
                store.agents(machine=machine, status=status, prefix=prefix, after=after, limit=want)
            )
            chosen += [
                r
                for r in page
                if r.machine in self.machines and self.auth.may_see(caller, r.agent_id)
            ]
            if want is None or len(page) < want:
                break
            after = page[-1].agent_id
        if limit is None:
            return chosen, False
        return chosen[:limit], len(chosen) > limit

    async def machine_of(self, agent_id: str) -> Machine:
        name = self._machine_of.get(agent_id)
        if name is None:
            record = await self.guarded(self.controller.get(agent_id), agent_id)
            name = record.machine
            self.remember(agent_id, name)
        return self.machines[name]

    def remember(self, agent_id: str, machine: str) -> None:
        known = self._machine_of
        if agent_id not in known and len(known) >= _MACHINE_CACHE:
            known.popitem(last=False)
        known[agent_id] = machine

    async def guarded(self, call: Awaitable[Any], agent_id: str = "") -> Any:
        """Await a controller call, turning its documented errors into problems."""
        try:
            return await call
        except UnknownAgent:
            raise unknown_agent(agent_id) from None
        except IdempotencyKeyMismatch as exc:
            raise Problem(
                "idempotency-key-reused",
                str(exc),
                {"field": "Idempotency-Key"},
            ) from None
        except AgentExists as exc:
            raise Problem("agent-exists", str(exc)) from None
        except VersionConflict:
            raise Problem(
                "busy",
                "other writers kept changing the agent; nothing was written",
                headers={"Retry-After": self.retry_after},
            ) from None
        except CodecError as exc:
            raise Problem("invalid-request", str(exc)) from None
        except StoreError as exc:
            if exc.retryable:
                raise Problem(
                    "unavailable", "the store is unavailable", headers={"Retry-After": "1"}
                ) from None
            raise
        except InvalidInput as exc:
            raise Problem("invalid-request", str(exc)) from None

    async def send(
        self,
        request: Request,
        agent_id: str,
        name: str,
        payload: Mapping[str, Any],
        key: str | None,
    ) -> Response:
        caller = await self.caller(request)
        self.visible(caller, agent_id)
        machine = await self.machine_of(agent_id)
        try:
            spec = machine.spec.event(name)
        except KeyError:
            raise Problem(
                "not-found", f"the {machine.name} machine has no action {quote(name)}"
            ) from None
        role = sender(caller, spec)
        bad = payload_problem(spec.fields, payload)
        if bad is not None:
            raise Problem("invalid-request", bad[1], {"field": bad[0]})
        try:
            event = Event(name, role, payload, key)
        except InvalidInput as exc:
            raise Problem("invalid-request", str(exc), {"field": "Idempotency-Key"}) from None
        result: Step | Refusal = await self.guarded(
            self.controller.handle(agent_id, event, principal=caller.principal), agent_id
        )
        if isinstance(result, Refusal):
            raise Problem(
                "refused",
                result.message,
                {
                    "code": result.code,
                    "guard": result.guard,
                    "event": result.event,
                    "status_name": result.status,
                },
            )
        return JSONResponse(wire.dump(result))


def unknown_agent(agent_id: str) -> Problem:
    return Problem("unknown-agent", f"there is no agent {quote(agent_id)} you may see")


def sender(caller: Caller, spec: EventSpec) -> AnyRole:
    for role in caller.roles:
        if role in spec.actors:
            return role
    allowed = ", ".join(sorted(a.label for a in spec.actors))
    raise Problem(
        "forbidden",
        f"{spec.label or spec.name} is sent by {allowed}, which this caller is not",
        {"code": "actor_not_allowed", "event": spec.name},
    )
