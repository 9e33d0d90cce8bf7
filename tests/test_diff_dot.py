"""``MachineDiff.to_dot``: Graphviz accepts it, and what it draws follows from the two machines
(checked against the specs through Graphviz's own reading of the picture, not a stored copy)."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from agentfsm import Machine
from agentfsm._spec import SAME, MachineSpec
from agentfsm.cli import main
from agentfsm.migrate import MachineDiff, Migration, diff_machines
from agentfsm.migrate.examples import ALFE_V2
from agentfsm.models import ALFE
from tests.migrations import ALFE_NO_WAITLIST, LINK_V1, LINK_V2, REMOVAL_MAPPED, SPLIT, _link

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")

LINK_RENAMED = _link(2, ("degraded",))
RENAME = Migration(LINK_V1, LINK_RENAMED, statuses={"failing": "degraded"})

CASES = {
    "alfe adds hibernated": (ALFE, ALFE_V2, None),
    "alfe removes waitlisted": (ALFE, ALFE_NO_WAITLIST, REMOVAL_MAPPED),
    "link splits failing": (LINK_V1, LINK_V2, SPLIT),
    "link renames failing": (LINK_V1, LINK_RENAMED, RENAME),
}


def _graphviz(diff: MachineDiff, fmt: str) -> str:
    done = subprocess.run(
        ["dot", f"-T{fmt}"], input=diff.to_dot(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    return done.stdout


def _arrows(spec: MachineSpec) -> set[tuple[str, str, str]]:
    """(source, target, event) of every transition, straight from the spec."""
    found = set()
    for row in spec.transitions:
        for source in row.sources:
            if row.chooser:
                targets = next(c.targets for c in spec.choosers if c.name == row.chooser)
            else:
                targets = (source if row.target == SAME else row.target,)
            found |= {(source, t, row.event) for t in targets}
    return found


def _read(diff: MachineDiff) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str, str]]]:
    """Graphviz's reading of the picture: nodes by name, and (tail, head, label) arrows."""
    graph = json.loads(_graphviz(diff, "json0"))
    nodes = {o["name"]: o for o in graph["objects"]}
    names = {o["_gvid"]: o["name"] for o in graph["objects"]}
    edges = [(names[e["tail"]], names[e["head"]], e.get("label", "")) for e in graph["edges"]]
    return nodes, edges


@pytest.mark.parametrize("case", CASES)
def test_graphviz_renders_the_diff(case: str) -> None:
    a, b, migration = CASES[case]
    svg = _graphviz(diff_machines(a, b, migration), "svg")
    assert "<svg" in svg
    assert "</svg>" in svg


@pytest.mark.parametrize("case", CASES)
def test_the_picture_draws_every_status_and_arrow_marked_by_its_change(case: str) -> None:
    a, b, migration = CASES[case]
    diff = diff_machines(a, b, migration)
    nodes, edges = _read(diff)
    assert set(nodes) - {"__initial__"} == set(a.states) | set(b.states)

    def kind(label: str) -> str:
        for tag, name in (("(new)", "added"), ("(gone)", "removed"), ("(changed)", "changed")):
            if label.endswith(tag):
                return name
        return ""

    node_kind = {n: kind(o["label"].split("\\n")[0]) for n, o in nodes.items()}
    assert {n for n, k in node_kind.items() if k == "added"} == set(diff.statuses_added)
    assert {n for n, k in node_kind.items() if k == "removed"} == set(diff.statuses_removed)
    # A status a changed row leaves from is marked changed (unless it is new or gone).
    sources = {r.source for r in diff.rows} - {*diff.statuses_added, *diff.statuses_removed}
    assert sources <= {n for n, k in node_kind.items() if k == "changed"}
    # Changed styles differ from unchanged ones, so the marking is visible, not only written.
    styles = {k: (nodes[n].get("fillcolor"), nodes[n].get("style")) for n, k in node_kind.items()}
    assert len({styles[k] for k in node_kind.values()}) == len(set(node_kind.values()))

    drawn = {(t, h, label.split(" (")[0]): kind(label) for t, h, label in edges
             if t != "__initial__" and label != "renamed"}  # fmt: skip
    # Every arrow of the new machine is drawn; the only others are old arrows marked gone.
    new_arrows = _arrows(b.spec)
    assert new_arrows <= set(drawn)
    assert {e for e, k in drawn.items() if e not in new_arrows} <= _arrows(a.spec)
    assert all(drawn[e] == "removed" for e in drawn if e not in new_arrows)
    # Arrows marked new or changed are exactly the new machine's rows the diff lists so.
    for r in diff.rows:
        if r.kind in ("added", "changed"):
            marked = {drawn[e] for e in drawn if (e[0], e[2]) == (r.source, r.event)}
            assert marked == {r.kind}, (r, marked)
    unchanged = {(r.source, r.event) for r in diff.rows}
    assert all(k == "" for e, k in drawn.items() if (e[0], e[2]) not in unchanged)
    assert ("__initial__", b.spec.initial, "") in edges
    renames = {(t, h) for t, h, label in edges if label == "renamed"}
    assert renames == set(diff.renamed)


def test_a_rename_is_named_by_the_migration() -> None:
    diff = diff_machines(LINK_V1, LINK_RENAMED, RENAME)
    assert diff.renamed == (("failing", "degraded"),)
    nodes, _ = _read(diff)
    assert "now degraded" in nodes["failing"]["label"]


def test_diff_format_dot_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "alfe", "agentfsm.migrate.examples:ALFE_V2", "--format", "dot"]) == 0
    text = capsys.readouterr().out
    assert text.startswith('digraph "alfe v1 -> v2" {')
    assert text == diff_machines(ALFE, ALFE_V2).to_dot()
    assert main(["diff", "alfe", "agentfsm.migrate.examples:ALFE_V2", "--format", "png"]) == 2
    assert isinstance(ALFE_V2, Machine)
