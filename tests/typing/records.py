"""Checked by mypy only (see tests/test_docs_typecheck.py): the record type reaches user code.

``assert_type`` is a no-op when run; under mypy each line fails if the inferred type differs,
so these fail as soon as a snapshot, step or machine loses its record type to ``Any``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, assert_type

from agentfsm import Actor, Context, Event, Machine, Refusal, Snapshot, Step, decide, fire, offered
from agentfsm.models import ALFE, ALFE_SELF_HOSTED, MACHINES, RECIF, AlfeAgent, RecifAgent
from agentfsm.testing import replay, snapshots, walks

now = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)

assert_type(ALFE, Machine[AlfeAgent])
assert_type(ALFE_SELF_HOSTED, Machine[AlfeAgent])
assert_type(RECIF, Machine[RecifAgent])
assert_type(MACHINES["alfe"], Machine[Any])
assert_type(ALFE.with_policy(ALFE.policy), Machine[AlfeAgent])

agent = ALFE.initial(AlfeAgent("ag_1", "support-agent"), now)
assert_type(agent, Snapshot[AlfeAgent])
assert_type(agent.data.credentials, int)

result = decide(ALFE, agent, Event("provision", Actor.SYSTEM), Context(now))
assert_type(result, Step[AlfeAgent] | Refusal)
if result.accepted:
    assert_type(result, Step[AlfeAgent])
    assert_type(result.snapshot.data, AlfeAgent)
else:
    assert_type(result, Refusal)
    assert_type(result.code, str)

step = fire(ALFE, agent, Event("provision", Actor.SYSTEM), Context(now))
assert_type(step.snapshot, Snapshot[AlfeAgent])
assert_type(step.snapshot.data.host, int)

recif = RECIF.initial(RecifAgent("support-agent"), now)
assert_type(recif.data, RecifAgent)
assert_type(offered(RECIF, recif, Context(now))[0].offered, bool)

# A machine built without ``record`` takes any data, and a bare Snapshot is Snapshot[Any].
untyped = Machine(ALFE.spec, ALFE.implementations)
assert_type(untyped, Machine[Any])
bare: Snapshot = agent
assert_type(bare.data, Any)

assert_type(replay(ALFE, agent.data, [])[0], Step[AlfeAgent] | Refusal)
assert_type(snapshots(RECIF, recif.data).example().data, RecifAgent)
assert_type(walks(ALFE, agent.data).example()[0][2], Step[AlfeAgent])
