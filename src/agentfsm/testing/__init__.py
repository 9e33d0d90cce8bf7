"""Property-based testing of lifecycles (needs the ``testing`` extra: hypothesis).

Strategies for any machine (payloads, events, event streams, valid walks, reachable
snapshots), a rule-based state machine built from any machine definition
(``lifecycle_test``), and the invariants as reusable, declarable checks (``invariant``).
A team that extends a model property-tests its extension in a few lines::

    TestMyModel = lifecycle_test(MY_MACHINE, AlfeAgent("ag_1", "demo")).TestCase
"""

from agentfsm._errors import MissingExtra

try:
    import hypothesis  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtra("agentfsm.testing", "testing", "hypothesis") from exc

from agentfsm.analysis import Invariant, invariant, invariants_for
from agentfsm.testing._stateful import LifecycleMachine, lifecycle_test, replay
from agentfsm.testing._strategies import (
    DEFAULT_HINTS,
    START,
    Hint,
    enabled_events,
    event_named,
    event_streams,
    events,
    payloads,
    snapshots,
    walks,
)

__all__ = [
    "DEFAULT_HINTS",
    "START",
    "Hint",
    "Invariant",
    "LifecycleMachine",
    "enabled_events",
    "event_named",
    "event_streams",
    "events",
    "invariant",
    "invariants_for",
    "lifecycle_test",
    "payloads",
    "replay",
    "snapshots",
    "walks",
]
