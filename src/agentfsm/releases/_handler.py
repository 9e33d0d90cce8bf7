"""``ReleaseEffectHandler``: the Recif release pipeline's last step, from outbox to repository.

The runtime delivers each ``Emit`` effect at least once, with a key that is the same on every
delivery; the handler passes that key to the store, so a redelivery writes nothing. Failures are
sorted for the runtime: a busy branch or a disk error is worth retrying (``TemporaryError``), a
bad slug or a release for a deleted agent never will be (``PermanentError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pygit2

from agentfsm._effects import (
    AgentCanaryPromoted,
    AgentConfigChanged,
    AgentDeleted,
    AgentDeployed,
    Emit,
)
from agentfsm._effects import ReleaseEvent as ReleaseDomainEvent
from agentfsm._errors import InvalidInput
from agentfsm._values import Event
from agentfsm.releases._documents import ReleaseEvent
from agentfsm.releases._errors import ReleaseConflict, ReleaseStoreBusy
from agentfsm.releases._store import ReleaseInfo, ReleaseStore
from agentfsm.runtime import PermanentError, TemporaryError

_EVENT_NAMES: dict[type, ReleaseEvent] = {
    AgentDeployed: "AgentDeployed",
    AgentConfigChanged: "AgentConfigChanged",
    AgentCanaryPromoted: "AgentCanaryPromoted",
}


class ReleaseEffectHandler:
    """Performs ``Emit(AgentDeployed | AgentConfigChanged | AgentCanaryPromoted | AgentDeleted)``.

    ``AgentDeployed`` records release v1 (or the next one after a restart),
    ``AgentConfigChanged`` and ``AgentCanaryPromoted`` the next version, ``AgentDeleted`` the
    tombstone. Follows the runtime's effect handler protocol.

    Args:
        store: where releases go (a ``GitReleaseStore``, or any ``ReleaseStore``).
        busy_delay: the retry delay asked for when the store stayed busy.
    """

    def __init__(self, store: ReleaseStore, *, busy_delay: timedelta = timedelta(seconds=1)):
        self._store = store
        self._busy_delay = busy_delay
        self.last: ReleaseInfo | None = None
        """What the last call recorded (or found already recorded), for callers who look."""

    @staticmethod
    def handles(effect: object) -> bool:
        """True for the effects this handler performs: a release domain event, bare (as the
        runtime's outbox stores domain events) or wrapped in the engine's ``Emit``."""
        event = effect.event if isinstance(effect, Emit) else effect
        return isinstance(event, (ReleaseDomainEvent, AgentDeleted))

    def __call__(self, agent_id: str, effect: object, key: str) -> Sequence[Event]:
        """Record the release or tombstone ``effect`` asks for, once per ``key``.

        Args:
            agent_id: the agent the outbox item belongs to (the event names its slug).
            effect: a release domain event, or an ``Emit`` of one.
            key: the outbox item's idempotency key, the same on every delivery.

        Returns:
            No events: a release changes nothing in the agent's machine.

        Raises:
            PermanentError: not an effect this handler performs, an invalid event, or a release
                for an agent already deleted.
            TemporaryError: the repository stayed busy or could not be written; retry later.
        """
        if not self.handles(effect):
            raise PermanentError(
                f"the release handler performs Emit of AgentDeployed, AgentConfigChanged, "
                f"AgentCanaryPromoted or AgentDeleted, not {effect!r} (agent {agent_id})"
            )
        event = effect.event if isinstance(effect, Emit) else effect
        assert isinstance(event, (ReleaseDomainEvent, AgentDeleted))  # handles() checked it
        try:
            if isinstance(event, AgentDeleted):
                self.last = self._store.record_deletion(event.slug, at=event.at, key=key)
            else:
                self.last = self._store.record_release(
                    event.slug,
                    event=_EVENT_NAMES[type(event)],
                    image=event.image,
                    replicas=event.replicas,
                    config=event.config,
                    at=event.at,
                    key=key,
                )
        except ReleaseStoreBusy as exc:
            raise TemporaryError(str(exc), self._busy_delay) from exc
        except (InvalidInput, ReleaseConflict) as exc:
            raise PermanentError(f"agent {agent_id}: {exc}") from exc
        except (OSError, pygit2.GitError) as exc:
            raise TemporaryError(f"the release repository could not be written: {exc}") from exc
        return ()
