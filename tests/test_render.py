"""The renderers: every row of every machine appears in every picture, read from the spec."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import (
    Actor,
    Context,
    Event,
    EventSpec,
    Guard,
    GuardSpec,
    InvalidInput,
    MachineSpec,
    Policy,
    StateSpec,
    TransitionSpec,
    decide,
)
from agentfsm.analysis import invariants_for
from agentfsm.models import ALFE, MACHINES, RECIF, RESUME_TABLE
from agentfsm.render import (
    BANNER,
    TABLE_COLUMNS,
    default_waits,
    docs_page,
    offered_matrix,
    sample_snapshot,
    to_dot,
    to_markdown_table,
    to_mermaid,
)
from agentfsm.render._samples import sample_context

SHIPPED = sorted(MACHINES)


def _expected_edges(spec: MachineSpec) -> set[tuple[str, str, str]]:
    """(source, target, event) for every arrow, derived from the spec independently."""
    choosers = {c.name: c.targets for c in spec.choosers}
    out = set()
    for row in spec.transitions:
        for source in row.sources:
            if row.chooser:
                targets = choosers[row.chooser]
            else:
                targets = (source,) if row.target == "=" else (row.target,)
            out |= {(source, t, row.event) for t in targets}
    return out


def _table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.strip().splitlines()[2:]:
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        rows.append([c.strip() for c in cells])
    return rows


# -- a small machine with awkward names, built as a bare spec -------------------------------------

U, S = Actor.USER, Actor.SYSTEM
ODD = MachineSpec(
    name="odd",
    initial="new-born",
    states=(
        StateSpec("new-born", 'says "hi"'),
        StateSpec("grown_up"),
        StateSpec("gone", terminal=True),
    ),
    events=(
        EventSpec("grow", frozenset({S})),
        EventSpec("leave", frozenset({U, S})),
    ),
    guards=(GuardSpec("ready", "not_ready", "{label} waits; really"),),
    transitions=(
        TransitionSpec("grow", "new-born", "grown_up", guard=Guard("ready"), note="a | pipe"),
        TransitionSpec("leave", ("new-born", "grown_up"), "gone", note="ours; #1"),
    ),
)


# -- Mermaid ----------------------------------------------------------------------------------


def _mermaid_arrows(spec: MachineSpec, text: str) -> set[tuple[str, str, str]]:
    """(source, target, event) for every arrow the Mermaid text draws, fans and choices resolved.

    A fan's pseudo-state names the statuses it skips; a choice state is entered with the event
    and left to each status it may pick.
    """
    names = {s.name.replace("-", "_"): s.name for s in spec.states}
    fans = {
        key: [s.name for s in spec.states if s.name not in (rest.split(", ") if rest else [])]
        for rest, key in re.findall(r'state "every status(?: but )?([^"]*)" as (\w+)', text)
    }
    raw = re.findall(r"^\s+(\w+) --> (\w+)(?: : (.*))?$", text, flags=re.M)
    into_choice = {t: (s, label) for s, t, label in raw if t.startswith("__choice")}
    out = set()
    for source, target, label in raw:
        if target.startswith("__choice"):
            continue
        if source.startswith("__choice"):
            real, label = into_choice[source]
            sources = [names[real]]
        else:
            sources = fans.get(source, [names.get(source, source)])
        events = re.findall(r"(?:^|, )(\w+) \(", label)
        out |= {(s, names[target], e) for s in sources for e in events}
    return out


@pytest.mark.parametrize("name", SHIPPED)
def test_mermaid_draws_every_row_source_and_target(name: str) -> None:
    spec = MACHINES[name].spec
    text = to_mermaid(MACHINES[name])
    assert text.startswith("stateDiagram-v2\n")
    assert _mermaid_arrows(spec, text) == _expected_edges(spec)
    assert f"    [*] --> {spec.initial}" in text
    for state in spec.states:
        assert (f"    {state.name} --> [*]" in text) == state.terminal


def test_mermaid_labels_carry_guards_and_actors() -> None:
    text = to_mermaid(ALFE.spec)
    assert "starting --> starting : start (U) [stuck]" in text
    assert "failing --> starting : start (U)" in text
    assert "via resume_table" in text
    assert "__choice_18__ --> stopped" in text


def test_mermaid_draws_a_row_from_nearly_everywhere_once() -> None:
    text = to_mermaid(ALFE.spec)
    assert 'state "every status but deleted" as __fan_16__' in text
    assert text.count(": delete (U)") == 1
    assert "__fan_16__ --> deleted : delete (U)" in text


def test_mermaid_gives_unsafe_names_safe_ids() -> None:
    text = to_mermaid(ODD)
    assert 'state "new-born" as new_born' in text
    assert "[*] --> new_born" in text
    assert "new_born --> grown_up : grow (S) [ready]" in text
    assert "new_born --> gone : leave (U, S)" in text
    assert "gone --> [*]" in text


def test_renderers_refuse_what_is_not_a_machine() -> None:
    for render in (to_mermaid, to_dot, to_markdown_table):
        with pytest.raises(InvalidInput, match="Machine or a MachineSpec"):
            render("alfe")  # type: ignore[arg-type]


# -- DOT ----------------------------------------------------------------------------------------


def _dot_arrows(spec: MachineSpec, text: str) -> set[tuple[str, str, str]]:
    """(source, target, event) for every arrow the DOT text draws, fans and choices resolved."""
    fans = {}
    for key, label in re.findall(r'^\s+"(__fan_\d+__)" \[.*label="([^"]*)"', text, flags=re.M):
        _, _, rest = label.replace("\\n", " ").partition(" but ")
        skipped = {n.strip() for n in rest.split(",") if n.strip()}
        fans[key] = [s.name for s in spec.states if s.name not in skipped]
    raw = re.findall(r'^\s+"([^"]+)" -> "([^"]+)"(?: \[(.*)\])?;$', text, flags=re.M)
    into_choice = {t: (s, a) for s, t, a in raw if t.startswith("__choice")}
    out = set()
    for source, target, attributes in raw:
        if target.startswith("__choice") or source == "__initial__":
            continue
        if source.startswith("__choice"):
            source, attributes = into_choice[source]
        label = (re.findall(r'label="([^"]*)"', attributes) or [""])[0]
        events = re.findall(r"(?:^|\\n)(\w+) \(", label)
        out |= {(s, target, e) for s in fans.get(source, [source]) for e in events}
    return out


@pytest.mark.parametrize("name", SHIPPED)
def test_dot_draws_every_arrow_and_marks_terminals(name: str) -> None:
    spec = MACHINES[name].spec
    text = to_dot(spec)
    assert text.startswith(f'digraph "{name}" {{')
    assert text.rstrip().endswith("}")
    assert _dot_arrows(spec, text) == _expected_edges(spec)
    assert f'"__initial__" -> "{spec.initial}";' in text
    for state in spec.states:
        line = next(x for x in text.splitlines() if x.strip().startswith(f'"{state.name}" ['))
        assert ("peripheries=2" in line) == state.terminal


def test_dot_keeps_the_main_path_in_one_straight_column() -> None:
    text = to_dot(ALFE)
    grouped = re.findall(r'^\s+"(\w+)" \[.*group=main', text, flags=re.M)
    assert grouped == ["pending", "provisioning", "starting", "running"]
    for a, b in itertools.pairwise(grouped):
        assert re.search(rf'"{a}" -> "{b}" \[.*weight=', text)


def test_dot_draws_a_row_from_nearly_everywhere_once() -> None:
    text = to_dot(ALFE)
    assert text.count('label="delete (U)"') == 1
    assert 'label="every status\\nbut deleted"' in text


@pytest.mark.parametrize("name", SHIPPED)
def test_dot_around_a_status_draws_exactly_its_arrows(name: str) -> None:
    spec = MACHINES[name].spec
    for state in spec.state_names:
        text = to_dot(spec, around=state)
        touching = {e for e in _expected_edges(spec) if state in e[:2]}
        drawn = _dot_arrows(spec, text)
        assert drawn >= touching, f"{state}: misses {touching - drawn}"
        # A fan into the status speaks for every status it names, and nothing else is drawn.
        assert {e for e in drawn if state not in e[:2]} == set()


def test_dot_around_an_unknown_status_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not a status of alfe"):
        to_dot(ALFE, around="Running")


def test_dot_escapes_quotes() -> None:
    text = to_dot(ODD)
    assert 'tooltip="says \\"hi\\""' in text


# -- Markdown table -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_table_has_one_row_per_transition_with_its_note(name: str) -> None:
    spec = MACHINES[name].spec
    rows = _table_rows(to_markdown_table(spec))
    assert len(rows) == len(spec.transitions)
    effects = {e.name: e.description for e in spec.effects}
    for row, cells in zip(spec.transitions, rows, strict=True):
        assert len(cells) == len(TABLE_COLUMNS)
        event, actors, sources, _to, _guard, fx, _updates, note = cells
        assert event == row.event
        assert set(actors.split(", ")) == {a.value for a in spec.event(row.event).actors}
        assert sources.split(", ") == list(row.sources)
        for name_ in row.effects:
            assert effects[name_].replace("|", "\\|") in fx
        assert note == (row.note.replace("|", "\\|") or "—")


def test_table_lists_a_choosers_targets() -> None:
    rows = _table_rows(to_markdown_table(ALFE))
    resume = next(r for r in rows if r[0] == "billing_resume")
    assert resume[3] == "resume_table: " + ", ".join(dict.fromkeys(RESUME_TABLE.values()))


def test_table_escapes_pipes() -> None:
    rows = _table_rows(to_markdown_table(ODD))
    assert rows[0][-1] == "a \\| pipe"
    assert all(len(r) == len(TABLE_COLUMNS) for r in rows)


_names = st.text(alphabet="abcxyz-_|;#:\"' ", min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(states=st.lists(_names, min_size=2, max_size=5, unique=True), note=_names, data=st.data())
def test_any_spec_renders_every_row(states: list[str], note: str, data: st.DataObject) -> None:
    rows = tuple(
        TransitionSpec(
            "go",
            data.draw(st.sampled_from(states)),
            data.draw(st.sampled_from(states)),
            note=note,
        )
        for _ in range(data.draw(st.integers(1, 4)))
    )
    spec = MachineSpec(
        name="any",
        initial=states[0],
        states=tuple(StateSpec(s) for s in states),
        events=(EventSpec("go", frozenset({U})),),
        transitions=rows,
    )
    table = _table_rows(to_markdown_table(spec))
    assert len(table) == len(rows)
    assert all(len(r) == len(TABLE_COLUMNS) for r in table)
    mermaid = to_mermaid(spec)
    arrows = [line for line in mermaid.splitlines() if " --> " in line and "[*]" not in line]
    assert not any(";" in line or "#" in line.split(" : ", 1)[-1] for line in arrows)
    # Parallel rows share one arrow, so count what the arrows stand for, not the arrows.
    pairs = {(r.sources[0], r.sources[0] if r.target == "=" else r.target) for r in rows}
    assert len(arrows) == len(pairs)
    dot = to_dot(spec)
    assert dot.count(" -> ") == len(pairs) + 1  # the arrows, and the initial arrow


# -- the offered-actions matrix ------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_matrix_agrees_with_decide(name: str) -> None:
    """A cell that needs no typed input is offered exactly when deciding the action is accepted,
    and a refused cell carries the refusal ``decide`` gives."""
    machine = MACHINES[name]
    matrix = offered_matrix(machine)
    assert matrix.statuses == machine.spec.state_names
    assert matrix.actions == tuple(e.name for e in machine.spec.user_actions)
    for status in matrix.statuses:
        snapshot = sample_snapshot(machine, status)
        for i, wait in enumerate(matrix.waits):
            for action in matrix.actions:
                cell = matrix.offer(status, action, i)
                if cell.needs or machine.spec.event(action).fields:
                    continue  # the answer depends on what a person types
                result = decide(machine, snapshot, Event(action), sample_context(wait))
                assert cell.offered == result.accepted, (status, action, wait)
                if not cell.offered:
                    assert cell.refusal == result


def test_alfe_failed_offers_only_recreate_and_delete() -> None:
    matrix = offered_matrix(ALFE)
    on = {a for a in matrix.actions if matrix.offer("failed", a).offered}
    assert on == {"recreate", "delete"}
    assert not any(matrix.offer("deleted", a).offered for a in matrix.actions)


def test_matrix_shows_the_stuck_rule_both_ways() -> None:
    matrix = offered_matrix(ALFE)
    fresh, stuck = matrix.offer("starting", "start", 0), matrix.offer("starting", "start", 1)
    assert not fresh.offered
    assert fresh.refusal is not None
    assert fresh.refusal.code == "not_stuck"
    assert stuck.offered
    # The same answer from the engine itself, once the wait is past stuck_after.
    snap = sample_snapshot(ALFE, "starting")
    step = decide(ALFE, snap, Event("start", Actor.USER), Context(snap.since + matrix.waits[1]))
    assert step.accepted
    text = matrix.to_markdown()
    row = next(line for line in text.splitlines() if line.startswith("| `starting`"))
    assert "✓ after 11 min" in row


def test_matrix_reasons_are_numbered_sentences() -> None:
    matrix = offered_matrix(RECIF)
    text = matrix.to_markdown()
    offer = matrix.offer("Running", "promote_canary")
    assert offer.refusal is not None
    assert offer.refusal.code == "no_canary"
    line = next(x for x in text.splitlines() if "`no_canary`" in x)
    number = line.split(".", 1)[0]
    running = next(x for x in text.splitlines() if x.startswith("| `Running`"))
    assert f"✗ ({number})" in running
    assert offer.refusal.message in line


def test_matrix_bad_input() -> None:
    with pytest.raises(InvalidInput, match="compiled Machine"):
        offered_matrix(ALFE.spec)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="non-negative"):
        offered_matrix(ALFE, waits=(timedelta(minutes=-1),))
    with pytest.raises(InvalidInput, match="no cell"):
        offered_matrix(RECIF).offer("running", "stop")
    with pytest.raises(InvalidInput, match="no status"):
        sample_snapshot(ALFE, "Running")


def test_matrix_needs_sample_data_for_other_machines() -> None:
    from agentfsm import Machine
    from agentfsm.models import ALFE_IMPLEMENTATIONS, ALFE_SELF_HOSTED_SPEC

    renamed = Machine(attrs.evolve(ALFE_SELF_HOSTED_SPEC, name="mine"), ALFE_IMPLEMENTATIONS)
    with pytest.raises(InvalidInput, match="data_for"):
        offered_matrix(renamed)
    from agentfsm.render._samples import alfe_data

    matrix = offered_matrix(renamed, data_for=alfe_data, waits=(timedelta(0),))
    assert matrix.offer("active", "delete").offered


@pytest.mark.parametrize("minutes", [1, 10, 45])
def test_default_waits_straddle_stuck_after(minutes: int) -> None:
    policy = Policy(stuck_after=timedelta(minutes=minutes))
    stuck = ALFE.implementations.guards["stuck"]
    snap = sample_snapshot(ALFE, "starting")
    probe = Event("start", Actor.USER)
    outcomes = [stuck(snap, probe, sample_context(w, policy)) for w in default_waits(policy)]
    assert outcomes == [False, True]


# -- the docs page ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_page_gathers_every_part(name: str) -> None:
    machine = MACHINES[name]
    page = docs_page(machine)
    assert page.splitlines()[0] == BANNER.format(name=name)
    assert "```dot\n" + to_dot(machine) + "```" in page
    for state in machine.spec.state_names:
        assert f"### `{state}`\n" in page
        assert "```dot\n" + to_dot(machine, around=state) + "```" in page
    assert to_markdown_table(machine).strip() in page
    assert offered_matrix(machine).to_markdown().strip() in page
    for guard in machine.spec.guards:
        assert f"`{guard.code}`" in page
    invariants = invariants_for(machine)
    assert invariants
    for inv in invariants:
        assert f"**{inv.name}**: {inv.description}" in page
    for state in machine.spec.states:
        assert state.description in page


def test_recif_page_maps_states_onto_phases() -> None:
    page = docs_page(RECIF)
    for state in RECIF.spec.states:
        row = next(x for x in page.splitlines() if x.startswith(f"| `{state.name}`"))
        assert f"| {state.phase or 'none'} |" in row


def test_alfe_page_resume_table_agrees_with_the_engine() -> None:
    page = docs_page(ALFE)
    for remembered in RESUME_TABLE:
        row = next(x for x in page.splitlines() if x.startswith(f"| `{remembered}` | `"))
        shown = row.split("|")[2].strip().strip("`")
        snap = sample_snapshot(ALFE, "billing_suspended")
        snap = snap._replace(data=attrs.evolve(snap.data, remembered=remembered))
        event = Event("billing_resume", Actor.SYSTEM, {"standing": "good"})
        step = decide(ALFE, snap, event, sample_context())
        assert step.accepted
        assert step.snapshot.status == shown


def test_page_refuses_a_spec() -> None:
    with pytest.raises(InvalidInput, match="compiled Machine"):
        docs_page(ALFE.spec)  # type: ignore[arg-type]
