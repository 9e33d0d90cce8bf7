"""How the model checker abstracts one model: its first agent, what of a snapshot matters, which
guards it may decide for real, and what payloads it sends.

The checker explores concrete snapshots but merges those whose abstraction is equal, so the
abstraction is what makes exploration finite. Guards that read the clock or typed input are
decided both ways by an oracle; guards that read only the agent's own data are exact and are
evaluated for real (forcing them could explore agents that cannot exist, such as resuming a
suspension that remembered nothing).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from agentfsm._spec import EventSpec, FieldSpec
from agentfsm._values import Snapshot

if TYPE_CHECKING:
    from agentfsm._machine import Machine

START = datetime(2026, 1, 1, tzinfo=UTC)
"""The time the checker's first agent is created at."""

Abstraction = Callable[[Snapshot], Hashable]


def abstract_value(value: object) -> Hashable:
    """A small, hashable stand-in for ``value`` that keeps what guards and invariants look at.

    Counters collapse to 0, 1 or "2 or more"; times collapse to "set"; strings, flags and enum
    members are kept; mappings, sequences and attrs records are abstracted item by item.
    """
    if value is None or isinstance(value, bool | str | enum.Enum):
        return value
    if isinstance(value, int):
        return max(min(value, 2), -1)
    if isinstance(value, datetime | date | timedelta):
        return "<set>"
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), abstract_value(v)) for k, v in value.items()))
    if isinstance(value, tuple | list):
        return tuple(abstract_value(v) for v in value)
    if isinstance(value, frozenset | set):
        return tuple(sorted(repr(abstract_value(v)) for v in value))
    if attrs.has(type(value)):
        fields = attrs.fields(type(value))  # type: ignore[arg-type]
        return (type(value).__name__, *(abstract_value(getattr(value, f.name)) for f in fields))
    if isinstance(value, Hashable):
        return value
    return type(value).__name__


def default_abstraction(snapshot: Snapshot) -> Hashable:
    """The generic abstraction: the status and ``abstract_value`` of the agent's data."""
    return (snapshot.status, abstract_value(snapshot.data))


_EXAMPLES: dict[str, Any] = {
    "str": "example",
    "int": 1,
    "bool": True,
    "datetime": START,
    "mapping": {},
}


def example_payload(event: EventSpec) -> dict[str, Any]:
    """A payload that fits every declared field of ``event`` (optional fields included)."""
    return {f.name: _example(f) for f in event.fields}


def _example(field: FieldSpec) -> Any:
    return _EXAMPLES.get(field.kind, "example")


@attrs.frozen
class CheckProfile:
    """What the model checker needs to know about one model beyond its spec.

    Attributes:
        initial_data: the data of the first agent (``None`` for a machine without data).
        abstraction: snapshot -> hashable key; snapshots with equal keys are explored once.
        exact_guards: guards that read only the agent's data; evaluated for real, not forced.
        payloads: per event, the valid payloads to send (default: one ``example_payload``).
            An event with required fields is also sent with an empty, invalid payload.
        tick: how far the clock moves for each step of depth, so timestamps differ.
    """

    initial_data: Any = None
    abstraction: Abstraction = default_abstraction
    exact_guards: frozenset[str] = frozenset()
    payloads: Mapping[str, tuple[Mapping[str, Any], ...]] = attrs.field(factory=dict)
    tick: timedelta = timedelta(minutes=1)

    def payloads_for(self, event: EventSpec) -> tuple[Mapping[str, Any], ...]:
        """The payloads the checker sends with ``event``: the valid ones, then an invalid one."""
        valid = self.payloads.get(event.name) or (example_payload(event),)
        if any(f.required for f in event.fields):
            return (*valid, {})
        return tuple(valid)


_PROFILES: dict[str, CheckProfile] = {}


def register_profile(machine_name: str, profile: CheckProfile) -> None:
    """Use ``profile`` when checking any machine called ``machine_name``."""
    _PROFILES[machine_name] = profile


def profile_for(machine: Machine) -> CheckProfile:
    """The registered profile of ``machine``'s model, or the generic one."""
    return _PROFILES.get(machine.name) or CheckProfile()
