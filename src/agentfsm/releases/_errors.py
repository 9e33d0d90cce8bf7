"""The exceptions the release store raises, each one saying what to do about it."""

from __future__ import annotations

from agentfsm._errors import AgentFSMError, InvalidInput


class ReleaseStoreError(AgentFSMError):
    """The base of every error the release store raises on purpose."""


class ReleaseDocumentError(ReleaseStoreError, InvalidInput):
    """A release document is malformed: bad YAML, a missing field, a value of the wrong type."""


class ReleaseNotFound(ReleaseStoreError, LookupError):
    """The agent or the release version asked for is not in the repository."""


class ReleaseConflict(ReleaseStoreError):
    """The change contradicts the repository: a release for a deleted agent, or an idempotency
    key already used for another agent. Retrying will not help."""


class ReleaseStoreBusy(ReleaseStoreError):
    """Other writers kept moving the branch (or holding its lock) through every retry.

    The change was not written; it is safe to try again later with the same idempotency key.
    """


class PushRejected(ReleaseStoreError):
    """The remote branch cannot be fast-forwarded to ours (it has diverged), or refused the push."""
