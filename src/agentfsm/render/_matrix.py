"""The offered-actions matrix: for every status and every user action, offered or why not.

Each status is asked about twice by default: just after the agent entered it, and a minute past
the policy's ``stuck_after`` (stuck means *longer than* the limit). The only time-dependent user
rule today is Alfe's "Start recovers a stuck agent", and asking twice shows that rule both ways
instead of hiding one side of it behind an arbitrary clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType

import attrs

from agentfsm._engine import offered
from agentfsm._errors import InvalidInput
from agentfsm._machine import Machine
from agentfsm._values import DEFAULT_POLICY, Offer, Policy
from agentfsm.render._common import md_cell
from agentfsm.render._samples import DataFor, sample_context, sample_snapshot


def duration_text(span: timedelta) -> str:
    """A duration for people: ``0 s``, ``30 s``, ``10 min``, ``2 h``, ``30 days``."""
    seconds = int(span.total_seconds())
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@attrs.frozen(slots=True)
class OfferedMatrix:
    """Which user actions each status offers, asked at one or more waits after entering it.

    Attributes:
        machine: the machine's name.
        statuses: the rows, in the machine's order.
        actions: the user actions' event names, the columns, in the machine's order.
        labels: each action's name for people.
        waits: how long the sample agent had been in its status, per question.
        cells: ``(status, action) -> one Offer per wait``.
    """

    machine: str
    statuses: tuple[str, ...]
    actions: tuple[str, ...]
    labels: Mapping[str, str]
    waits: tuple[timedelta, ...]
    cells: Mapping[tuple[str, str], tuple[Offer, ...]]

    def offer(self, status: str, action: str, wait: int = 0) -> Offer:
        """The offer of ``action`` in ``status`` at the ``wait``-th wait.

        Raises:
            InvalidInput: the status or action is not in the matrix.
        """
        found = self.cells.get((status, action))
        if found is None:
            raise InvalidInput(
                f"the {self.machine} matrix has no cell ({status!r}, {action!r}); statuses: "
                f"{', '.join(self.statuses)}; actions: {', '.join(self.actions)}"
            )
        return found[wait]

    def to_markdown(self) -> str:
        """The matrix as a Markdown table, followed by the numbered refusal sentences."""
        reasons: dict[tuple[str, str], int] = {}
        header = ["status", *(self.labels[a] for a in self.actions)]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for status in self.statuses:
            row = [f"`{status}`"]
            for action in self.actions:
                row.append(self._cell_text(self.cells[status, action], reasons))
            lines.append("| " + " | ".join(md_cell(c) for c in row) + " |")
        lines.append("")
        for (code, message), number in reasons.items():
            lines.append(f"{number}. `{code}`: {message}")
        return "\n".join(lines) + "\n"

    def _cell_text(self, offers: tuple[Offer, ...], reasons: dict[tuple[str, str], int]) -> str:
        parts: list[str] = []
        previous: str | None = None
        for wait, offer in zip(self.waits, offers, strict=True):
            text = _one(offer, reasons)
            if text == previous:
                continue
            parts.append(text if previous is None else f"{text} after {duration_text(wait)}")
            previous = text
        return "; ".join(parts)


def _one(offer: Offer, reasons: dict[tuple[str, str], int]) -> str:
    if offer.offered:
        needs = ", ".join(f"`{n}`" for n in offer.needs)
        return f"✓ needs {needs}" if needs else "✓"
    assert offer.refusal is not None
    key = (offer.refusal.code, offer.refusal.message)
    number = reasons.setdefault(key, len(reasons) + 1)
    return f"✗ ({number})"


def default_waits(policy: Policy = DEFAULT_POLICY) -> tuple[timedelta, timedelta]:
    """Just entered, and a minute past ``policy.stuck_after``."""
    return (timedelta(0), policy.stuck_after + timedelta(minutes=1))


def offered_matrix(
    machine: Machine,
    *,
    waits: tuple[timedelta, ...] | None = None,
    policy: Policy | None = None,
    data_for: DataFor | None = None,
) -> OfferedMatrix:
    """Ask ``agentfsm.offered`` about a representative agent in every status.

    Args:
        machine: a compiled machine.
        waits: how long the agent has been in its status when asked; by default just entered
            and a minute past ``policy.stuck_after``, so time-dependent rules show both ways.
        policy: the durations the guards read (default: the machine's own policy).
        data_for: builds the agent's record per status; needed only for machines other than
            the shipped ones (see ``agentfsm.render`` samples).

    Returns:
        An ``OfferedMatrix``; ``.to_markdown()`` renders it.

    Raises:
        InvalidInput: ``machine`` is not a ``Machine``, a wait is negative, or no sample agent
            is known for the machine and no ``data_for`` was given.
    """
    if not isinstance(machine, Machine):
        raise InvalidInput(f"offered_matrix needs a compiled Machine, not {type(machine).__name__}")
    chosen = waits if waits is not None else default_waits(policy or machine.policy)
    if not chosen or any(w < timedelta(0) for w in chosen):
        raise InvalidInput(f"waits must be one or more non-negative timedeltas, not {chosen!r}")
    contexts = [sample_context(w, policy) for w in chosen]
    actions = machine.spec.user_actions
    cells: dict[tuple[str, str], tuple[Offer, ...]] = {}
    for status in machine.spec.state_names:
        snapshot = sample_snapshot(machine, status, data_for)
        per_wait = [{o.event: o for o in offered(machine, snapshot, c)} for c in contexts]
        for action in actions:
            cells[status, action.name] = tuple(offers[action.name] for offers in per_wait)
    return OfferedMatrix(
        machine=machine.name,
        statuses=machine.spec.state_names,
        actions=tuple(a.name for a in actions),
        labels=MappingProxyType({a.name: a.label or a.name for a in actions}),
        waits=tuple(chosen),
        cells=MappingProxyType(cells),
    )
