"""The Git release store: every Recif release is a commit in a real Git repository.

``GitReleaseStore`` writes ``agents/{slug}/releases/v{N}.yaml`` (immutable) and
``agents/{slug}/current.yaml`` (the active release, or the tombstone once the agent is deleted)
with pygit2, and reads the history back. ``ReleaseEffectHandler`` feeds it the Recif domain
events an outbox delivers. Needs the ``git`` extra: ``pip install 'agentfsm[git]'``.
"""

from agentfsm.releases import _deps  # noqa: F401  # first: a missing extra is named
from agentfsm.releases._documents import (
    API_VERSION,
    DELETED_CHANGELOG,
    KIND,
    RELEASE_EVENTS,
    AgentRelease,
    AgentTombstone,
    ReleaseDocument,
    ReleaseEvent,
    ReleaseMetadata,
    dump_document,
    load_document,
    release_json_schema,
)
from agentfsm.releases._errors import (
    PushRejected,
    ReleaseConflict,
    ReleaseDocumentError,
    ReleaseNotFound,
    ReleaseStoreBusy,
    ReleaseStoreError,
)
from agentfsm.releases._fenced import FencedReleaseStore
from agentfsm.releases._git import GitReleaseStore
from agentfsm.releases._handler import ReleaseEffectHandler
from agentfsm.releases._retry import Backoff
from agentfsm.releases._store import ReleaseInfo, ReleaseStore

__all__ = [
    "API_VERSION",
    "DELETED_CHANGELOG",
    "KIND",
    "RELEASE_EVENTS",
    "AgentRelease",
    "AgentTombstone",
    "Backoff",
    "FencedReleaseStore",
    "GitReleaseStore",
    "PushRejected",
    "ReleaseConflict",
    "ReleaseDocument",
    "ReleaseDocumentError",
    "ReleaseEffectHandler",
    "ReleaseEvent",
    "ReleaseInfo",
    "ReleaseMetadata",
    "ReleaseNotFound",
    "ReleaseStore",
    "ReleaseStoreBusy",
    "ReleaseStoreError",
    "dump_document",
    "load_document",
    "release_json_schema",
]
