"""The two failures a host adapter reports to whoever performs its effects.

A runtime retries a ``TemporaryError`` after its delay and gives up on a ``PermanentError``
(it records the failure and does not retry); any other exception is a bug.
"""

from __future__ import annotations

from agentfsm._errors import AgentFSMError


class TemporaryError(AgentFSMError):
    """The work could not be done now; try the same effect again after ``delay`` seconds.

    Attributes:
        delay: how long to wait before retrying, in seconds (never negative).
    """

    def __init__(self, message: str, delay: float = 1.0) -> None:
        if delay < 0:
            raise ValueError(f"a retry delay cannot be negative, got {delay}")
        self.delay = float(delay)
        super().__init__(f"{message} (retry in {self.delay:g} s)")


class PermanentError(AgentFSMError):
    """The work can never be done as asked; retrying the same effect would fail again."""
