"""Shared pieces of the Kubernetes tests: a Recif agent driven through a host, round by round.

``Story`` fires user events on the real ``RECIF`` machine, hands their effects to the host as
a runtime's outbox would, and runs the operator's loop (settle, ``sync``, feed the platform
event back) until the machine reaches the status a test expects.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from agentfsm import Actor, Context, Event, Snapshot, fire
from agentfsm.effects import Emit
from agentfsm.kubernetes import KubernetesHost, SyncResult
from agentfsm.models import RECIF, RecifAgent, RecifSpec
from agentfsm.recif import DesiredSpec, ObservedState

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)
SLUG = "support-agent"
NAMESPACE = "team-a"
IMAGE = "ghcr.io/recif/corail:1.4"
BAD_IMAGE = "registry.invalid/recif/corail:missing"
CONFIG = {"model_type": "openai", "strategy": "react", "tools": "search,calendar"}
SPEC = RecifSpec(image=IMAGE, replicas=2, config=CONFIG, credential_secret="support-creds")


class Story:
    """One Recif agent: its machine snapshot, the host that does its work, and the loop.

    Args:
        host: the host under test.
        settle: lets the cluster move on between two looks (``fake.settle`` or a sleep).
        spec: the agent's spec; ``slug``: its name (also its runtime agent id).
    """

    def __init__(
        self,
        host: KubernetesHost,
        settle: Callable[[], None],
        spec: RecifSpec = SPEC,
        slug: str = SLUG,
    ) -> None:
        self.host = host
        self.settle = settle
        self.slug = slug
        self.snapshot: Snapshot = RECIF.initial(RecifAgent(slug, spec), T0)
        self.released: list[Any] = []
        self.minute = 0
        self.observed: list[ObservedState] = []
        self.statuses: list[str] = [self.snapshot.status]

    def _context(self) -> Context:
        self.minute += 1
        return Context(T0 + timedelta(minutes=self.minute))

    def user(self, name: str, **payload: Any) -> None:
        """Fire a user event and perform its effects (domain events are kept in ``released``)."""
        step = fire(RECIF, self.snapshot, Event(name, Actor.USER, payload), self._context())
        self.snapshot = step.snapshot
        self.statuses.append(self.snapshot.status)
        for i, effect in enumerate(step.effects):
            if isinstance(effect, Emit):
                self.released.append(effect.event)
            else:
                assert self.host(self.slug, effect, f"{self.snapshot.version}:{i}") == ()

    def desired(self) -> DesiredSpec:
        """What the machine's snapshot declares."""
        return DesiredSpec.from_snapshot(self.snapshot)

    def sync_once(self) -> SyncResult:
        """One round of the operator's loop: settle, sync, feed the platform event back."""
        self.settle()
        sync = self.host.sync(self.desired(), phase=self.snapshot.status, now=self._context().now)
        self.observed.append(sync.observed)
        if sync.event is not None:
            step = fire(RECIF, self.snapshot, sync.event, self._context())
            self.snapshot = step.snapshot
            self.statuses.append(self.snapshot.status)
            self.released += [e.event for e in step.effects if isinstance(e, Emit)]
        return sync

    def run_until(self, status: str, rounds: int = 6) -> ObservedState:
        """Loop until the machine is in ``status`` and reconcile has nothing left to do."""
        for _ in range(rounds):
            sync = self.sync_once()
            if self.snapshot.status == status and sync.result.converged:
                return sync.observed
        raise AssertionError(
            f"{self.slug} did not reach {status} in {rounds} rounds; it is "
            f"{self.snapshot.status}, last seen {self.observed[-1] if self.observed else None}"
        )
