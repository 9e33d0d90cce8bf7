"""The exceptions agentfsm raises. Refusals are values; these are for callers who asked for them."""

from __future__ import annotations

from agentfsm._refusal import Refusal


class AgentFSMError(Exception):
    """The base of every exception agentfsm raises on purpose."""


class InvalidInput(AgentFSMError, ValueError):
    """A value given at the API boundary is malformed: a naive datetime, an unknown actor…"""


class InvalidMachine(AgentFSMError):
    """A machine definition breaks a rule; the message names the state, event or guard to fix.

    Attributes:
        problems: every problem found, one sentence each.
    """

    def __init__(self, machine: str, problems: list[str]) -> None:
        self.machine = machine
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"machine {machine!r} is invalid:\n{lines}")


class TransitionRefused(AgentFSMError):
    """Raised by ``fire`` when the engine refuses an event. Carries the ``Refusal``."""

    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal
        super().__init__(f"[{refusal.code}] {refusal.message}")


class MissingExtra(AgentFSMError, ImportError):
    """An optional part was used without its extra installed; the message names the extra."""

    def __init__(self, feature: str, extra: str, module: str) -> None:
        super().__init__(
            f"{feature} needs the optional dependency {module!r}: "
            f"install it with  pip install 'agentfsm[{extra}]'"
        )
