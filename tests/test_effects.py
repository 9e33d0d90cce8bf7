"""Effect records: values of distinct types, equal only to their own kind."""

from __future__ import annotations

from datetime import UTC, datetime

from agentfsm.effects import (
    AgentCanaryPromoted,
    AgentConfigChanged,
    AgentDeployed,
    PowerOnHost,
    ReleaseEvent,
    ShutdownHost,
)

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)


def test_release_events_share_fields_but_never_equal_one_another() -> None:
    fields = ("support-agent", T0, "corail:1", 2, {"model": "gpt"})
    kinds = (AgentDeployed, AgentConfigChanged, AgentCanaryPromoted)
    made = [kind(*fields) for kind in kinds]
    assert all(isinstance(e, ReleaseEvent) for e in made)
    assert made[0] == AgentDeployed(*fields)
    assert len({type(e) for e in made}) == 3
    for i, a in enumerate(made):
        for b in made[i + 1 :]:
            assert a != b


def test_host_effects_with_the_same_parameters_are_different_values() -> None:
    assert ShutdownHost(1) != PowerOnHost(1)
    assert ShutdownHost(1) == ShutdownHost(1)
