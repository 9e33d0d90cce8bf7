"""One Markdown documentation page per machine, generated from the machine and nothing else.

The page gathers what the other renderers produce (diagram, transition table, offered-actions
matrix) with the statuses, events, guards and invariants, under a banner saying it is generated.
``agentfsm docs --check`` and the drift test compare committed pages with this output.
"""

from __future__ import annotations

from collections.abc import Mapping

from agentfsm._errors import InvalidInput
from agentfsm._machine import POLICY_FIELDS, Machine
from agentfsm._spec import GuardSpec, MachineSpec, guard_names
from agentfsm._values import DEFAULT_POLICY, Actor
from agentfsm._words import duration_words
from agentfsm.analysis import invariants_for
from agentfsm.models import RESUME_TABLE
from agentfsm.render._common import ACTOR_ORDER, actor_letters, md_cell
from agentfsm.render._dot import to_dot
from agentfsm.render._matrix import default_waits, duration_text, offered_matrix
from agentfsm.render._samples import SAMPLE_NAME
from agentfsm.render._table import to_markdown_table

BANNER = (
    "<!-- Generated from the machine {name!r} by `agentfsm docs --write`. Do not edit by hand: "
    "change the machine, then regenerate. -->"
)
"""The first line of every generated page."""

# Choosers whose full mapping is known as data; other choosers are shown by their targets only.
CHOOSER_TABLES: Mapping[str, Mapping[str, str]] = {"resume_table": RESUME_TABLE}

_ACTOR_WORDS = {
    Actor.USER: "a user action (dashboard or API call)",
    Actor.SYSTEM: "the platform reporting what it observed",
    Actor.TIMER: "a timer the runtime schedules durably",
}


def docs_page(machine: Machine) -> str:
    """The Markdown documentation page of ``machine``.

    Args:
        machine: a compiled machine (the offered-actions matrix asks the engine).

    Returns:
        The page, starting with a generated-file banner and ending with a newline.

    Raises:
        InvalidInput: ``machine`` is not a compiled ``Machine``.
    """
    if not isinstance(machine, Machine):
        raise InvalidInput(f"docs_page needs a compiled Machine, not {type(machine).__name__}")
    spec = machine.spec
    sections = [
        BANNER.format(name=spec.name),
        f"# The `{spec.name}` model",
        spec.description or "(no description)",
        "Actors: "
        + "; ".join(
            [f"**{a.value}** = {_ACTOR_WORDS[a]}" for a in ACTOR_ORDER]
            + [f"**{r.code}** = {r.label}" for r in spec.roles if r not in ACTOR_ORDER]
        )
        + ". A refused event changes nothing.",
        "## Statuses",
        _states(spec),
        "## Diagram",
        _DIAGRAM_INTRO,
        "```dot\n" + to_dot(spec) + "```",
        "## Each status",
        "What leads into each status, and what it offers. The arrows into it come from the left, "
        "the ones it offers go to the right.",
        *_neighbourhoods(spec),
        "## Events",
        _events(spec),
        "## Transitions",
        "One row per transition. A `note` says why a row is there, and marks our own choices "
        "where the source documents are silent.",
        to_markdown_table(spec).rstrip("\n"),
        *_choosers(spec),
        "## Offered actions",
        _matrix_intro(),
        offered_matrix(machine).to_markdown().rstrip("\n"),
        "## Guards",
        _guards(spec),
        "## Invariants",
        _invariants(machine),
    ]
    return "\n\n".join(sections) + "\n"


_DIAGRAM_INTRO = (
    "Rounded boxes are statuses (a double border marks a terminal one; the dot points at the "
    "initial one). Each arrow reads `event (actors) [guard]`, one line per event. A dashed "
    "arrow from a note is one row that leaves from every status the note names; a diamond is a "
    "chooser, which picks the target at run time. The main path, the way an agent normally "
    "comes up, runs straight down."
)


def _neighbourhoods(spec: MachineSpec) -> list[str]:
    out: list[str] = []
    for state in spec.states:
        out.append(f"### `{state.name}`")
        if state.description:
            out.append(state.description)
        out.append("```dot\n" + to_dot(spec, around=state.name) + "```")
    return out


def _states(spec: MachineSpec) -> str:
    with_phase = any(s.phase for s in spec.states)
    header = ["status", *(["CRD phase"] if with_phase else []), "description"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in spec.states:
        name = f"`{s.name}`" + (" (initial)" if s.name == spec.initial else "")
        name += " (terminal)" if s.terminal else ""
        cells = [name, *([s.phase or "none"] if with_phase else []), s.description]
        lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    if with_phase:
        lines.append("")
        lines.append(
            "The CRD publishes the phase; statuses without one have no custom resource yet."
        )
    return "\n".join(lines)


def _events(spec: MachineSpec) -> str:
    lines = ["| event | actor | label | fields | description |", "|---|---|---|---|---|"]
    for e in spec.events:
        fields = "; ".join(
            f"`{f.name}` ({f.kind}{'' if f.required else ', optional'}): {f.description}"
            for f in e.fields
        )
        cells = [f"`{e.name}`", actor_letters(spec, e.name), e.label, fields, e.description]
        lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def _choosers(spec: MachineSpec) -> list[str]:
    out: list[str] = []
    for chooser in spec.choosers:
        title = chooser.name.replace("_", " ").capitalize()
        out.append(f"## {title} (`{chooser.name}`)")
        text = chooser.description or "Picks the target at run time."
        out.append(f"{text}. Possible targets: {', '.join(chooser.targets)}.")
        table = CHOOSER_TABLES.get(chooser.name)
        if table is not None:
            rows = ["| remembered status | goes to |", "|---|---|"]
            rows += [f"| `{k}` | `{v}` |" for k, v in table.items()]
            out.append("\n".join(rows))
    return out


def _matrix_intro() -> str:
    stuck = duration_text(DEFAULT_POLICY.stuck_after)
    later = duration_text(default_waits()[1])
    return (
        f"For a representative agent (`{SAMPLE_NAME}`; an Alfe agent provisioned once whose "
        "suspension remembers `running`; a Recif agent with no canary), asked just after it "
        f"entered each status, then again {later} later (just past the default `stuck_after` "
        f"of {stuck}), so the time-dependent rules show both ways. ✓ offered (with the input a "
        "person must type), ✗ refused; the numbers refer to the reasons below the table."
    )


def _guards(spec: MachineSpec) -> str:
    if not spec.guards:
        return "This machine has no guards."
    lines = ["| guard | checks | refusal code | refusal sentence |", "|---|---|---|---|"]
    for g in spec.guards:
        cells = [f"`{g.name}`", g.description, f"`{g.code}`", _sentence(spec, g)]
        lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def _sentence(spec: MachineSpec, guard: GuardSpec) -> str:
    """The guard's refusal sentence as the first event that uses it would say it."""
    event = next(
        (spec.event(row.event) for row in spec.transitions if guard.name in guard_names(row.guard)),
        None,
    )
    label = (event.label or event.name) if event is not None else "The action"
    text = (
        guard.message.replace("{label}", label)
        .replace("{event}", event.name if event is not None else "action")
        .replace("{status}", "‹status›")
    )
    # A policy duration is whatever the machine's policy says; the page names the field and
    # its default, as the refusal itself quotes the duration in force.
    for name in POLICY_FIELDS:
        default = duration_words(getattr(DEFAULT_POLICY, name))
        text = text.replace("{" + name + "}", f"{default} ({name}, by default)")
    return text


def _invariants(machine: Machine) -> str:
    invariants = invariants_for(machine)
    if not invariants:
        return "No invariants are checked for this machine."
    lines = [
        "Checked exhaustively by `agentfsm check` and as properties over random event sequences:",
        "",
    ]
    lines += [f"- **{inv.name}**: {inv.description}" for inv in invariants]
    return "\n".join(lines)
