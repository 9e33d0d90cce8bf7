"""``FencedReleaseStore``: a release store refusing writes whose fencing token is out of date.

The release store is written by the outbox's ``ReleaseEffectHandler``. With several replicas,
a worker whose claim lapsed while it was paused could record a release after the newer
claim's worker recorded a later one; the idempotency key already makes the same release
record once, and the fence makes sure a late writer changes nothing at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from agentfsm.releases._documents import ReleaseEvent
from agentfsm.releases._store import ReleaseInfo, ReleaseStore
from agentfsm.runtime import FenceGuard
from agentfsm.runtime._fencing import admit_current


class FencedReleaseStore:
    """A ``ReleaseStore`` that admits each write's fencing token through ``guard`` first.

    Args:
        store: the store recording releases (``GitReleaseStore``…).
        guard: keeps the largest token applied per agent slug.

    ``record_release`` and ``record_deletion`` raise ``StaleFence`` (a ``PermanentError``),
    recording nothing, when the slug has seen a newer token; reads are never fenced.
    """

    def __init__(self, store: ReleaseStore, guard: FenceGuard) -> None:
        self.store = store
        self.guard = guard

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
        """See ``ReleaseStore.record_release``; fenced."""
        admit_current(self.guard, slug)
        return self.store.record_release(
            slug, event=event, image=image, replicas=replicas, config=config, at=at, key=key,
            changelog=changelog,
        )  # fmt: skip

    def record_deletion(self, slug: str, *, at: datetime, key: str) -> ReleaseInfo:
        """See ``ReleaseStore.record_deletion``; fenced."""
        admit_current(self.guard, slug)
        return self.store.record_deletion(slug, at=at, key=key)

    def history(self, slug: str) -> list[ReleaseInfo]:
        """See ``ReleaseStore.history``."""
        return self.store.history(slug)

    def current(self, slug: str) -> ReleaseInfo | None:
        """See ``ReleaseStore.current``."""
        return self.store.current(slug)

    def release(self, slug: str, version: int) -> ReleaseInfo:
        """See ``ReleaseStore.release``."""
        return self.store.release(slug, version)
