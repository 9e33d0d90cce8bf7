"""Interop: transitions export behaves like the engine; JSON round-trips; XState and SCXML agree."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import (
    Actor,
    Context,
    Event,
    Guard,
    GuardSpec,
    InvalidInput,
    InvalidMachine,
    Machine,
    Refusal,
    decide,
)
from agentfsm.interop import (
    TransitionsModel,
    machine_from_json,
    machine_json_schema,
    send,
    spec_from_json,
    to_json,
    to_scxml,
    to_transitions,
    to_xstate,
)
from agentfsm.models import (
    ALFE,
    ALFE_IMPLEMENTATIONS,
    MACHINES,
    RECIF,
    RECIF_IMPLEMENTATIONS,
    AlfeAgent,
    RecifAgent,
)
from tests.conftest import T0

NAME = "support-agent"

PAYLOADS: list[dict[str, Any]] = [
    {},
    {"confirmation": NAME},
    {"confirmation": "someone-else"},
    {"confirmation": NAME, "size": "large"},
    {"reason": "credits_exhausted"},
    {"reason": "bogus"},
    {"reason": "CrashLoopBackOff", "message": "exit 1"},
    {"standing": "good"},
    {"standing": "overdue"},
    {"ready_replicas": 2},
    {"ready_replicas": 0},
    {"replicas": 3},
    {"replicas": 11},
    {"config": {"model": "gpt"}},
    {"image": "corail:2"},
    {"unexpected": 1},
]


def _initial(machine: Machine) -> Any:
    if machine is RECIF:
        return RECIF.initial(RecifAgent(NAME), T0)
    return machine.initial(AlfeAgent("ag_1", NAME), T0)


def _steps(machine: Machine) -> st.SearchStrategy[list[tuple[Event, int]]]:
    names = [e.name for e in machine.spec.events] + ["no_such_event"]
    event = st.builds(
        Event, st.sampled_from(names), st.sampled_from(list(Actor)), st.sampled_from(PAYLOADS)
    )
    return st.lists(st.tuples(event, st.integers(0, 45)), max_size=40)


@pytest.mark.parametrize("machine", list(MACHINES.values()), ids=list(MACHINES))
def test_transitions_export_agrees_with_the_engine(machine: Machine) -> None:
    exported = to_transitions(machine)

    @settings(max_examples=60, deadline=None)
    @given(_steps(machine))
    def run(steps: list[tuple[Event, int]]) -> None:
        snapshot = _initial(machine)
        now = T0
        model = TransitionsModel(snapshot, Context(now))
        exported.add_model(model, initial=snapshot.status)
        try:
            for event, minutes in steps:
                now += timedelta(minutes=minutes)
                ctx = Context(now)
                model.context = ctx
                result = decide(machine, snapshot, event, ctx)
                accepted = send(exported, model, event)
                assert accepted == (not isinstance(result, Refusal)), (event, result)
                if not isinstance(result, Refusal):
                    snapshot = result.snapshot
                    assert model.effects[-len(result.effects) :] == list(result.effects) or (
                        not result.effects
                    )
                assert model.state == snapshot.status
                assert model.snapshot == snapshot
        finally:
            exported.remove_model(model)

    run()


def test_graph_machine_draws_mermaid() -> None:
    exported = to_transitions(ALFE, graph=True)
    model = TransitionsModel(_initial(ALFE), Context(T0))
    exported.add_model(model, initial="pending")
    text = model.get_graph().draw(None)  # type: ignore[attr-defined]
    assert "stateDiagram-v2" in text
    assert "billing_suspended" in text


@pytest.mark.parametrize("name", list(MACHINES))
def test_json_round_trip_gives_an_equal_machine(name: str) -> None:
    machine = MACHINES[name]
    impl = RECIF_IMPLEMENTATIONS if name == "recif" else ALFE_IMPLEMENTATIONS
    again = machine_from_json(to_json(machine), impl)
    assert again.spec == machine.spec
    snapshot = _initial(machine)
    first = machine.spec.transitions[0]
    event = Event(first.event, next(iter(machine.spec.event(first.event).actors)))
    assert decide(again, snapshot, event, Context(T0)) == decide(
        machine, snapshot, event, Context(T0)
    )


def test_json_schema_describes_the_document() -> None:
    schema = machine_json_schema()
    assert schema["title"] == "MachineDocument"
    assert {"name", "initial", "states", "events", "transitions"} <= set(schema["required"])
    doc = json.loads(to_json(ALFE))
    assert set(doc) <= set(schema["properties"])


def test_loading_resolves_names_and_never_evaluates_code() -> None:
    doc = json.loads(to_json(ALFE))
    doc["guards"].append({"name": "__import__('os').system('true')", "code": "x", "message": "m"})
    doc["transitions"][0]["guard"] = {"guard": "__import__('os').system('true')"}
    with pytest.raises(InvalidMachine, match="no implementation"):
        machine_from_json(json.dumps(doc), ALFE_IMPLEMENTATIONS)


@pytest.mark.parametrize(
    "text",
    ["not json", "{}", json.dumps({"format": "other", "name": "x"}), "[1, 2]"],
)
def test_malformed_documents_are_clear_errors(text: str) -> None:
    with pytest.raises(InvalidInput, match="not a valid agentfsm machine document"):
        spec_from_json(text)


def test_json_keeps_guard_combinators() -> None:
    spec = spec_from_json(to_json(ALFE))
    purge = next(t for t in spec.transitions if t.event == "purge")
    assert purge.guard == ALFE.spec.transitions[-1].guard
    assert Guard("grace_period_over") in purge.guard.items  # type: ignore[union-attr]
    assert isinstance(spec.guards[0], GuardSpec)


def _row_count(machine: Machine) -> int:
    choosers = {c.name: c for c in machine.spec.choosers}
    return sum(
        len(t.sources) * (len(choosers[t.chooser].targets) if t.chooser else 1)
        for t in machine.spec.transitions
    )


@pytest.mark.parametrize("machine", list(MACHINES.values()), ids=list(MACHINES))
def test_xstate_config_has_every_transition(machine: Machine) -> None:
    config = to_xstate(machine)
    assert config["initial"] == machine.spec.initial
    assert set(config["states"]) == set(machine.spec.state_names)
    count = sum(len(v) for s in config["states"].values() for v in s["on"].values())
    assert count == _row_count(machine)
    json.dumps(config)  # plain data


@pytest.mark.parametrize("machine", list(MACHINES.values()), ids=list(MACHINES))
def test_scxml_has_every_transition(machine: Machine) -> None:
    root = ET.fromstring(to_scxml(machine))
    ns = {"s": "http://www.w3.org/2005/07/scxml"}
    assert root.get("initial") == machine.spec.initial
    assert [s.get("id") for s in root.findall("s:state", ns)] == list(machine.spec.state_names)
    assert len(root.findall("s:state/s:transition", ns)) == _row_count(machine)


def test_xstate_and_scxml_export_need_no_extra() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('pydantic', 'transitions'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from agentfsm.interop import to_scxml, to_xstate\n"
        "from agentfsm.models import ALFE\n"
        "assert to_xstate(ALFE)['initial'] == 'pending' and to_scxml(ALFE)\n"
        "try:\n"
        "    from agentfsm.interop import to_json\n"
        "except ImportError as exc:\n"
        "    assert 'agentfsm[interop]' in str(exc), exc\n"
        "else:\n"
        "    raise SystemExit('to_json imported without pydantic')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
