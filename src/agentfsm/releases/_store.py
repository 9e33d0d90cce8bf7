"""The release store's role, as a Protocol, and the record it reads back for each change."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from agentfsm.releases._documents import (
    AgentRelease,
    AgentTombstone,
    ReleaseDocument,
    ReleaseEvent,
)


@attrs.frozen
class ReleaseInfo:
    """One recorded change of an agent, as read back from the repository.

    Attributes:
        slug: the agent's slug.
        version: the release number N, or ``None`` for a tombstone.
        document: the ``AgentRelease`` (or ``AgentTombstone``) as stored.
        commit: the id (hex) of the commit that recorded it.
        author: who recorded it, as ``Name <email>``.
        time: when the change happened (the commit's author time, timezone-aware).
        key: the idempotency key it was recorded under, when the commit names one.
    """

    slug: str
    version: int | None
    document: ReleaseDocument
    commit: str
    author: str
    time: datetime
    key: str | None = None

    @property
    def is_tombstone(self) -> bool:
        """True when this change is the agent's deletion."""
        return isinstance(self.document, AgentTombstone)

    @property
    def release(self) -> AgentRelease:
        """The release document.

        Raises:
            TypeError: this change is a tombstone, which has no release.
        """
        if not isinstance(self.document, AgentRelease):
            raise TypeError(f"the change recorded in {self.commit[:12]} is a tombstone")
        return self.document


@runtime_checkable
class ReleaseStore(Protocol):
    """Where releases are recorded: immutable ``v{N}`` documents, a current one, tombstones.

    Every write names an idempotency key: writing again with a key already recorded changes
    nothing and returns what the first write recorded.
    """

    def record_release(
        self,
        slug: str,
        *,
        event: ReleaseEvent,
        image: str,
        replicas: int,
        config: Mapping[str, str],
        at: datetime,
        key: str,
        changelog: str | None = None,
    ) -> ReleaseInfo:
        """Record the agent's next release (v1 for a new agent) and make it current."""
        ...

    def record_deletion(self, slug: str, *, at: datetime, key: str) -> ReleaseInfo:
        """Replace the agent's current document with a tombstone; keep every release."""
        ...

    def history(self, slug: str) -> list[ReleaseInfo]:
        """Every release of the agent, oldest first, then its tombstone if it was deleted."""
        ...

    def current(self, slug: str) -> ReleaseInfo | None:
        """The agent's current release or tombstone; ``None`` for an agent never recorded."""
        ...

    def release(self, slug: str, version: int) -> ReleaseInfo:
        """Release ``version`` of the agent."""
        ...
