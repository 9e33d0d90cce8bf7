"""A refusal: an event the engine will not apply, and why, as a value.

It stands alone, depending on nothing else of agentfsm, so ``TransitionRefused`` (in
``_errors``) can carry one without the exceptions depending on the values that raise them.
"""

from __future__ import annotations

from typing import Literal

import attrs


@attrs.frozen(slots=True)
class Refusal:
    """An event the engine will not apply, and why. A refusal changes nothing.

    Attributes:
        code: a stable machine code (``not_allowed_from_status``, ``confirmation_mismatch``…).
        message: a sentence a person can read.
        event: the refused event's name.
        status: the status the agent was in.
        guard: the name of the guard that failed, when a guard was the reason.
    """

    code: str
    message: str
    event: str
    status: str
    guard: str | None = None

    @property
    def accepted(self) -> Literal[False]:
        """Always false; see ``Step.accepted``."""
        return False
