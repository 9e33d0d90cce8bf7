"""The definition API: a machine from a plain table, guards defined once, roles, no clock."""

from __future__ import annotations

import json
import runpy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import (
    Actor,
    Context,
    Event,
    InvalidInput,
    InvalidMachine,
    Machine,
    Refusal,
    Role,
    Snapshot,
    Step,
    decide,
    offered,
)
from agentfsm.analysis import check, validate
from agentfsm.define import define_machine, define_spec, event, guard, load_machine, row, update
from agentfsm.interop import machine_from_json, to_json

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

# -- a plain 12-status, 15-event table, as a team would first write it ---------------------------

STATUSES = [
    "draft",
    "validating",
    "invalid",
    "ready",
    "deploying",
    "serving",
    "degraded",
    "scaling",
    "paused",
    "rolling_back",
    "retired",
    "deleted",
]
EVENTS = [
    event("submit"),
    event("validated", by=Actor.SYSTEM),
    event("rejected", by=Actor.SYSTEM),
    event("edit"),
    event("deploy"),
    event("rollout_done", by=Actor.SYSTEM),
    event("health_failed", by=Actor.SYSTEM),
    event("health_recovered", by=Actor.SYSTEM),
    event("scale", fields={"replicas": int}),
    event("scaled", by=Actor.SYSTEM),
    event("pause"),
    event("resume"),
    event("roll_back"),
    event("retire"),
    event("billing_suspend", by=Actor.SYSTEM),
]
ROWS = [
    ("draft", "submit", "validating"),
    ("validating", "validated", "ready"),
    ("validating", "rejected", "invalid"),
    (("invalid", "ready"), "edit", "draft"),
    ("ready", "deploy", "deploying"),
    ("deploying", "rollout_done", "serving"),
    (("serving", "scaling"), "health_failed", "degraded"),
    ("degraded", "health_recovered", "serving"),
    ("serving", "scale", "scaling"),
    ("scaling", "scaled", "serving"),
    (("serving", "degraded"), "pause", "paused"),
    ("paused", "resume", "serving"),
    (("degraded", "deploying"), "roll_back", "rolling_back"),
    ("rolling_back", "rollout_done", "ready"),
    (("ready", "paused", "invalid"), "retire", "retired"),
    (("serving", "degraded", "paused"), "billing_suspend", "paused"),
    ("retired", "retire", "deleted"),
]


def _plain(**changes: Any) -> Machine:
    return define_machine(
        "deployment",
        statuses=STATUSES,
        terminal=["deleted"],
        events=EVENTS,
        rows=ROWS,
        **changes,
    )


def test_a_plain_twelve_status_fifteen_event_table_needs_no_explanation() -> None:
    machine = _plain()
    assert (len(machine.states), len(machine.events)) == (12, 15)
    assert machine.spec.explanations == ()
    assert validate(machine.spec) == []
    snapshot = machine.initial()
    step = decide(machine, snapshot, "submit")
    assert isinstance(step, Step)
    assert step.snapshot.status == "validating"
    step = decide(machine, step.snapshot, "validated", actor=Actor.SYSTEM)
    assert isinstance(step, Step)
    assert step.snapshot.status == "ready"
    refused = decide(machine, step.snapshot, "pause")
    assert isinstance(refused, Refusal)
    assert refused.code == "not_allowed_from_status"
    assert refused.message == "Pause is not available while the agent is ready."


def test_strict_mode_reports_every_unhandled_user_action() -> None:
    spec, impl = define_spec(
        "deployment", statuses=STATUSES, terminal=["deleted"], events=EVENTS, rows=ROWS
    )
    problems = validate(spec, strict=True)
    assert len(problems) > 50
    assert all("neither handled nor explained" in p for p in problems)
    with pytest.raises(InvalidMachine):
        Machine(spec, impl, strict=True)
    with pytest.raises(InvalidMachine):
        _plain(strict=True)


def test_every_other_check_stays_on_without_strict() -> None:
    unreachable = [*STATUSES, "limbo"]
    with pytest.raises(InvalidMachine, match="'limbo' cannot be reached"):
        define_machine("deployment", statuses=unreachable, events=EVENTS, rows=ROWS)


def test_labels_default_to_the_name_in_words() -> None:
    machine = _plain()
    assert machine.spec.event("billing_suspend").label == "Billing suspend"
    refusal = decide(machine, machine.initial(), "billing_suspend", actor=Actor.SYSTEM)
    assert isinstance(refusal, Refusal)
    assert refusal.message == "Billing suspend is not available while the agent is draft."


def test_the_shipped_models_stay_strict() -> None:
    from agentfsm.models import MACHINES

    assert all(m.strict and m.spec.strict for m in MACHINES.values())


# -- guards, defined once ------------------------------------------------------------------------

OPERATOR = Role("operator")
AUDITOR = Role("auditor")
BILLING = Role("billing_service", person=False)


@guard(code="too_many_replicas", sentence="{label} allows 1 to 10 replicas.")
def replicas_in_range(snapshot: Snapshot, event: Event, context: Context) -> bool:
    return 1 <= event.payload["replicas"] <= 10


@guard(code="frozen", sentence="{label} is refused: the deployment is frozen.")
def not_frozen(snapshot: Snapshot, event: Event, context: Context) -> bool:
    """The deployment is not frozen."""
    return not snapshot.data


@update
def freeze(data: Any, snapshot: Snapshot, event: Event, context: Context) -> Any:
    return True


def _guarded() -> Machine:
    return define_machine(
        "guarded",
        statuses=["serving", "scaling"],
        events=[
            event("scale", by=(OPERATOR, AUDITOR), fields={"replicas": int}),
            event("scaled", by=BILLING),
            event("freeze", by=OPERATOR),
        ],
        rows=[
            ("serving", "scale", "scaling", [replicas_in_range, not_frozen]),
            ("scaling", "scaled", "serving"),
            ("serving", "freeze", "=", None, freeze),
        ],
        record=bool,
    )


def test_a_guard_carries_its_name_code_sentence_and_description() -> None:
    spec = replicas_in_range.spec
    assert (spec.name, spec.code, spec.message) == (
        "replicas_in_range",
        "too_many_replicas",
        "{label} allows 1 to 10 replicas.",
    )
    assert not_frozen.spec.description == "The deployment is not frozen"
    assert replicas_in_range.spec.reads_input
    assert not not_frozen.spec.reads_input


def test_regression_offered_listed_an_input_guard_as_refused_without_reads_input() -> None:
    # The guard reads the payload and nobody wrote reads_input=True: it is inferred.
    machine = _guarded()
    offers = offered(machine, machine.initial(False), actor=OPERATOR)
    scale = next(o for o in offers if o.event == "scale")
    assert scale.offered
    assert scale.needs == ("replicas",)
    assert scale.requirements == ("Scale allows 1 to 10 replicas.",)


def test_a_guard_refuses_with_its_own_code_and_sentence() -> None:
    machine = _guarded()
    refusal = decide(
        machine, machine.initial(False), "scale", payload={"replicas": 11}, actor=OPERATOR
    )
    assert isinstance(refusal, Refusal)
    assert (refusal.code, refusal.message) == (
        "too_many_replicas",
        "Scale allows 1 to 10 replicas.",
    )
    frozen = machine.initial(True)
    refusal = decide(machine, frozen, "scale", payload={"replicas": 2}, actor=OPERATOR)
    assert isinstance(refusal, Refusal)
    assert refusal.code == "frozen"


def test_guards_combine_with_and_or_not() -> None:
    either = replicas_in_range | not_frozen
    neither = ~(replicas_in_range & not_frozen)
    machine = define_machine(
        "combined",
        statuses=["a", "b", "c"],
        events=[event("go", fields={"replicas": int})],
        rows=[("a", "go", "b", either), ("b", "go", "c", neither)],
        record=bool,
    )
    step = decide(machine, machine.initial(True), "go", payload={"replicas": 3})
    assert isinstance(step, Step)
    assert step.snapshot.status == "b"
    assert isinstance(decide(machine, step.snapshot, "go", payload={"replicas": 3}), Step)
    ok = step.snapshot._replace(data=False)
    assert isinstance(decide(machine, ok, "go", payload={"replicas": 3}), Refusal)


def test_a_row_may_name_its_guard_and_actions_by_string() -> None:
    machine = define_machine(
        "named",
        statuses=["serving", "frozen"],
        events=[event("freeze")],
        rows=[row("serving", "freeze", "frozen", "not_frozen", "freeze", note="why")],
        guards=[not_frozen],
        actions=[freeze],
        record=bool,
    )
    step = decide(machine, machine.initial(False), "freeze")
    assert isinstance(step, Step)
    assert step.snapshot.data is True
    assert machine.spec.transitions[0].note == "why"
    with pytest.raises(InvalidInput, match="not an @update or @effect"):
        define_machine(
            "named", statuses=["a"], events=[event("x")], rows=[("a", "x", "=", None, "nope")]
        )


def test_a_malformed_row_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="a row is"):
        define_machine("bad", statuses=["a"], events=[event("x")], rows=[("a", "x")])


# -- roles ---------------------------------------------------------------------------------------


def test_the_shipped_actors_are_roles() -> None:
    assert all(isinstance(a, Role) for a in Actor)
    assert Actor.USER.code == "U"
    assert Actor.USER.person
    assert not Actor.TIMER.person
    assert OPERATOR.value == "operator"
    assert Event("scale", "operator").actor is OPERATOR


def test_a_role_code_names_one_role() -> None:
    assert Role("operator") == OPERATOR
    with pytest.raises(InvalidInput, match="already the role"):
        Role("operator", "someone else")
    with pytest.raises(InvalidInput, match="shipped Actor"):
        Role("U")
    with pytest.raises(InvalidInput, match="short word"):
        Role("two words")


def test_a_role_not_listed_is_refused() -> None:
    machine = _guarded()
    snapshot = machine.initial(False)
    refusal = decide(machine, snapshot, "freeze", actor=AUDITOR)
    assert isinstance(refusal, Refusal)
    assert refusal.code == "actor_not_allowed"
    assert refusal.message == "Freeze can only be sent by the operator, not by an auditor."
    stranger = Role("stranger")
    refusal = decide(machine, snapshot, "freeze", actor=stranger)
    assert isinstance(refusal, Refusal)
    assert refusal.code == "actor_not_allowed"


def test_offered_answers_for_a_principal_holding_several_roles() -> None:
    machine = _guarded()
    snapshot = machine.initial(False)
    assert [o.event for o in offered(machine, snapshot, actor=AUDITOR)] == ["scale"]
    both = offered(machine, snapshot, actor={AUDITOR, OPERATOR})
    assert [o.event for o in both] == ["scale", "freeze"]
    assert offered(machine, snapshot, actor=Actor.USER) == ()
    with pytest.raises(InvalidInput):
        offered(machine, snapshot, actor="operator")  # type: ignore[arg-type]


def test_custom_roles_survive_the_json_round_trip() -> None:
    machine = _guarded()
    again = machine_from_json(to_json(machine), machine.implementations)
    assert again.spec == machine.spec
    assert json.loads(to_json(machine))["roles"][0]["code"] in ("operator", "auditor")


# -- no clock ------------------------------------------------------------------------------------


def test_a_machine_without_time_needs_no_clock() -> None:
    machine = _plain()
    assert not machine.timed
    snapshot = machine.initial()
    assert snapshot.since is None
    step = decide(machine, snapshot, "submit")
    assert isinstance(step, Step)
    assert step.snapshot.since is None
    timed = decide(machine, snapshot, "submit", Context(T0))
    assert isinstance(timed, Step)
    assert timed.snapshot.since == T0
    assert offered(machine, snapshot)[0].offered


def test_a_timed_machine_still_needs_its_clock() -> None:
    from agentfsm.models import ALFE, AlfeAgent

    snapshot = ALFE.initial(AlfeAgent("ag_1", "support"), T0)
    with pytest.raises(InvalidInput, match="needs a Context"):
        decide(ALFE, snapshot._replace(status="starting"), "start")
    with pytest.raises(InvalidInput):
        ALFE.initial(AlfeAgent("ag_1", "support"))
    refusal = decide(ALFE, snapshot._replace(since=None), "provision", Context(T0), actor="S")
    assert isinstance(refusal, Refusal)
    assert refusal.code == "invalid_snapshot"


def test_a_timer_or_a_rule_reading_the_time_makes_a_machine_timed() -> None:
    @guard(code="early", sentence="{label} is too early.")
    def late_enough(snapshot: Snapshot, event: Event, context: Context) -> bool:
        return context.now - snapshot.since > timedelta(minutes=1)

    timer = define_machine(
        "t1", statuses=["a", "b"], events=[event("tick", by=Actor.TIMER)], rows=[("a", "tick", "b")]
    )
    reads = define_machine(
        "t2", statuses=["a", "b"], events=[event("go")], rows=[("a", "go", "b", late_enough)]
    )
    assert timer.timed
    assert reads.timed
    forced = define_machine(
        "t3",
        statuses=["a", "b"],
        events=[event("go")],
        rows=[("a", "go", "b", late_enough)],
        timed=False,
    )
    with pytest.raises(InvalidInput, match="read the time"):
        decide(forced, forced.initial(), "go")


# -- events by name ------------------------------------------------------------------------------


def test_events_by_name_equal_the_events_they_stand_for() -> None:
    assert Event.named("start") == Event("start")
    assert Event.named("start") is Event.named("start")
    assert Event.named("start", "S") == Event("start", Actor.SYSTEM)
    assert Event.named("scale", OPERATOR, {"replicas": 2}) == Event(
        "scale", OPERATOR, {"replicas": 2}
    )
    with pytest.raises(InvalidInput):
        Event.named("")
    with pytest.raises(InvalidInput):
        Event.named("x", "nobody")
    with pytest.raises(InvalidInput):
        Event.named("x", Actor.USER, [("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="only with an event name"):
        decide(_plain(), _plain().initial(), Event("submit"), actor=Actor.USER)


@settings(max_examples=60, deadline=None)
@given(
    status=st.sampled_from(STATUSES),
    name=st.sampled_from([e.name for e in EVENTS] + ["nonsense"]),
    actor=st.sampled_from([*Actor, OPERATOR]),
    replicas=st.none() | st.integers(-3, 12),
)
def test_deciding_by_name_is_deciding_the_event(
    status: str, name: str, actor: Any, replicas: int | None
) -> None:
    machine = _plain()
    snapshot = Snapshot(status, 4, None, None)
    payload = None if replicas is None else {"replicas": replicas}
    by_name = decide(machine, snapshot, name, payload=payload, actor=actor)
    by_event = decide(machine, snapshot, Event(name, actor, payload))
    assert by_name == by_event
    if isinstance(by_name, Step):
        assert by_name.snapshot.version == 5
        assert by_name.snapshot.status in machine.states


# -- documents -----------------------------------------------------------------------------------

DOCUMENT = """
name: freezer
initial: serving
states: [serving, frozen]
events:
  - name: freeze
  - {name: thaw, actors: [operator]}
roles:
  - {code: operator}
transitions:
  - {event: freeze, sources: serving, target: frozen, guard: not_frozen, updates: freeze}
  - {event: thaw, sources: frozen, target: serving}
"""


def test_a_yaml_document_loads_against_registered_functions() -> None:
    machine = load_machine(DOCUMENT, [not_frozen, freeze], record=bool)
    assert machine.spec.event("freeze").label == "Freeze"
    assert machine.spec.guards == (not_frozen.spec,)
    step = decide(machine, machine.initial(False), "freeze")
    assert isinstance(step, Step)
    assert step.snapshot.data is True
    refusal = decide(machine, step.snapshot, "thaw")
    assert isinstance(refusal, Refusal)
    assert refusal.code == "actor_not_allowed"


def test_a_json_document_loads_the_same_machine() -> None:
    import yaml

    text = json.dumps(yaml.safe_load(DOCUMENT))
    machine = load_machine(text, [not_frozen, freeze], record=bool)
    assert machine.spec == load_machine(DOCUMENT, [not_frozen, freeze], record=bool).spec


def test_a_document_naming_an_unregistered_guard_is_refused() -> None:
    with pytest.raises(InvalidMachine, match="not_frozen"):
        load_machine(DOCUMENT, [freeze])
    with pytest.raises(InvalidInput):
        load_machine("name: [unclosed", [])


# -- the GPU job example -------------------------------------------------------------------------

GPU = runpy.run_path(str(ROOT / "examples" / "gpu_job.py"))
TestGpuJob = GPU["TestGpuJob"]
TestGpuJob.settings = settings(max_examples=15, stateful_step_count=25, deadline=None)


def test_the_gpu_job_example_is_short_and_passes_the_checker() -> None:
    lines = (ROOT / "examples" / "gpu_job.py").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 60
    report = check(GPU["MACHINE"])
    assert report.ok, report.format()
    assert not any("agentfsm._" in line for line in lines)


def test_the_command_line_checks_a_machine_of_ones_own(capsys: pytest.CaptureFixture[str]) -> None:
    from agentfsm.cli import main

    assert main(["check", str(ROOT / "examples" / "gpu_job.py") + ":MACHINE"]) == 0
    assert "gpu_job: ok" in capsys.readouterr().out
    assert main(["check", str(ROOT / "examples" / "gpu_job.py") + ":NOPE"]) == 2
    assert main(["check", "no/such/file.py"]) == 2
    assert "no such file" in capsys.readouterr().err
