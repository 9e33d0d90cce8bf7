"""What a diagram shows, decided once for every drawing: arrows, fans and the main path.

A machine's rows become a picture a person can read:

- a row that leaves from nearly every status (``delete``, ``billing_suspend``) is a *fan*: drawn
  once, from a note saying "every status but …", instead of one arrow per source;
- arrows between the same two statuses are merged into one, its label one line per event;
- the *main path* is the way an agent normally comes up (``pending`` → … → ``running``), so a
  layout can keep it straight.

The DOT and Mermaid renderers both draw this, so they agree on what is collapsed.
"""

from __future__ import annotations

from collections import deque

import attrs

from agentfsm._spec import MachineSpec, TransitionSpec
from agentfsm._values import Actor
from agentfsm.render._common import actor_letters, guard_text, targets

# A row is a fan when it leaves from at least this many statuses and from at least twice as many
# statuses as it skips: then "every status but …" is the shorter, truer sentence.
FAN_MIN_SOURCES = 5


@attrs.frozen(slots=True)
class Arrow:
    """One drawn arrow between two statuses; ``labels`` has one line per row it stands for."""

    source: str
    target: str
    labels: tuple[str, ...]
    automatic: bool = False
    """Whether the platform or a timer sends one of its events (no person needs to act)."""


@attrs.frozen(slots=True)
class Fan:
    """A row drawn once: from a note naming the statuses it skips to each status it may enter."""

    key: str
    event: str
    label: str
    sources: tuple[str, ...]
    excluded: tuple[str, ...]
    targets: tuple[str, ...]

    @property
    def text(self) -> str:
        """The note's words: ``every status but deleted``."""
        if not self.excluded:
            return "every status"
        return "every status but " + ", ".join(self.excluded)


@attrs.frozen(slots=True)
class Choice:
    """A row whose target a chooser picks: drawn as arrows into a decision, and out to each pick."""

    key: str
    chooser: str
    label: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]


@attrs.frozen(slots=True)
class Picture:
    """A machine's diagram as data: what to draw, not how."""

    name: str
    statuses: tuple[str, ...]
    initial: str
    terminal: tuple[str, ...]
    main_path: tuple[str, ...]
    arrows: tuple[Arrow, ...]
    fans: tuple[Fan, ...]
    choices: tuple[Choice, ...] = ()


def row_label(spec: MachineSpec, row: TransitionSpec) -> str:
    """``event (actors)``, then ``[guard]`` when the row has one."""
    label = f"{row.event} ({actor_letters(spec, row.event)})"
    guard = guard_text(row)
    if guard:
        label += f" [{guard}]"
    return label


def is_fan(spec: MachineSpec, row: TransitionSpec) -> bool:
    """Whether ``row`` leaves from so many statuses that it reads best as "every status but …"."""
    skipped = len(spec.states) - len(set(row.sources))
    return len(set(row.sources)) >= FAN_MIN_SOURCES and 2 * skipped <= len(set(row.sources))


def _fan(spec: MachineSpec, row: TransitionSpec, index: int) -> Fan:
    sources = tuple(dict.fromkeys(row.sources))
    reached: dict[str, None] = {}
    for source in sources:
        reached.update(dict.fromkeys(targets(spec, row, source)))
    return Fan(
        key=f"__fan_{index}__",
        event=row.event,
        label=row_label(spec, row),
        sources=sources,
        excluded=tuple(s for s in spec.state_names if s not in sources),
        targets=tuple(reached),
    )


def picture(spec: MachineSpec) -> Picture:
    """The whole machine as a picture: fans for the broad rows, merged arrows for the rest."""
    merged: dict[tuple[str, str], list[str]] = {}
    automatic: set[tuple[str, str]] = set()
    fans = []
    choices = []
    for index, row in enumerate(spec.transitions):
        if is_fan(spec, row):
            fans.append(_fan(spec, row, index))
            continue
        if row.chooser is not None:
            picks = {c.name: c for c in spec.choosers}[row.chooser].targets
            key = f"__choice_{index}__"
            sources = tuple(dict.fromkeys(row.sources))
            choices.append(Choice(key, row.chooser, row_label(spec, row), sources, picks))
            continue
        label = row_label(spec, row)
        by_platform = spec.event(row.event).actors != {Actor.USER}
        for source in row.sources:
            for target in targets(spec, row, source):
                labels = merged.setdefault((source, target), [])
                if label not in labels:
                    labels.append(label)
                if by_platform:
                    automatic.add((source, target))
    arrows = tuple(
        Arrow(s, t, tuple(labels), (s, t) in automatic) for (s, t), labels in merged.items()
    )
    return Picture(
        name=spec.name,
        statuses=spec.state_names,
        initial=spec.initial,
        terminal=tuple(s.name for s in spec.states if s.terminal),
        main_path=main_path(spec.initial, arrows),
        arrows=arrows,
        fans=tuple(fans),
        choices=tuple(choices),
    )


def neighbourhood(spec: MachineSpec, status: str) -> Picture:
    """The part of the picture that touches ``status``: what leads in, and what it offers.

    A fan that enters ``status`` stays a fan; a fan that leaves it is an ordinary arrow here,
    since from this one status it is one arrow.
    """
    whole = picture(spec)
    arrows = [a for a in whole.arrows if status in (a.source, a.target)]
    fans = [f for f in whole.fans if status in f.targets]
    merged = {(a.source, a.target): list(a.labels) for a in arrows}
    for fan in whole.fans:
        if status in fan.sources:
            for target in fan.targets:
                labels = merged.setdefault((status, target), [])
                if fan.label not in labels:
                    labels.append(fan.label)
    drawn = tuple(Arrow(s, t, tuple(labels)) for (s, t), labels in merged.items())
    choices = []
    for choice in whole.choices:
        if status in choice.sources:
            choices.append(attrs.evolve(choice, sources=(status,)))
        elif status in choice.targets:
            choices.append(attrs.evolve(choice, targets=(status,)))
    seen = {status} | {a.source for a in drawn} | {a.target for a in drawn}
    seen |= {t for f in fans for t in f.targets}
    seen |= {s for c in choices for s in (*c.sources, *c.targets)}
    return Picture(
        name=f"{spec.name}: {status}",
        statuses=tuple(s for s in spec.state_names if s in seen),
        initial=spec.initial,
        terminal=tuple(s for s in whole.terminal if s in seen),
        main_path=(),
        arrows=drawn,
        fans=tuple(fans),
        choices=tuple(choices),
    )


def main_path(initial: str, arrows: tuple[Arrow, ...]) -> tuple[str, ...]:
    """The way an agent normally comes up, from the initial status.

    The first step is how an agent leaves its initial status, whoever sends it; after that the
    path follows what happens on its own (events the platform or a timer sends). Each step takes
    the first such arrow (in table order) to a status farther from the initial one than the
    current status; the path ends where none leads farther. For Alfe that is pending →
    provisioning → starting → running.
    """
    depth = {initial: 0}
    queue = deque([initial])
    while queue:
        here = queue.popleft()
        for arrow in arrows:
            if arrow.source == here and arrow.target not in depth:
                depth[arrow.target] = depth[here] + 1
                queue.append(arrow.target)
    path = [initial]
    while True:
        here = path[-1]
        step = next(
            (
                a.target
                for a in arrows
                if a.source == here
                and depth[a.target] > depth[here]
                and (a.automatic or here == initial)
            ),
            None,
        )
        if step is None:
            return tuple(path)
        path.append(step)
