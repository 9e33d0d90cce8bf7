"""Export a machine as SCXML (W3C State Chart XML).

Guards are written as ``cond`` attributes holding the guard expression by *name*
(``grace_period_over and not_purged``); an SCXML runtime must map those names to functions, as
agentfsm does. Nothing here is meant to be evaluated as code.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from agentfsm._machine import Machine
from agentfsm._spec import SAME, MachineSpec, render_guard_expr

SCXML_NS = "http://www.w3.org/2005/07/scxml"
AGENTFSM_NS = "https://agentfsm.dev/scxml"
"""Our own attributes (the actors allowed to send an event) live in this namespace."""


def to_scxml(machine: Machine | MachineSpec) -> str:
    """The machine as an SCXML document (a string)."""
    spec = machine.spec if isinstance(machine, Machine) else machine
    choosers = {c.name: c for c in spec.choosers}
    ET.register_namespace("", SCXML_NS)
    ET.register_namespace("agentfsm", AGENTFSM_NS)
    root = ET.Element(
        f"{{{SCXML_NS}}}scxml",
        {"version": "1.0", "initial": spec.initial, "name": spec.name},
    )
    elements = {}
    for s in spec.states:
        elements[s.name] = ET.SubElement(root, f"{{{SCXML_NS}}}state", {"id": s.name})
    for row in spec.transitions:
        actors = " ".join(
            sorted(a.value for e in spec.events if e.name == row.event for a in e.actors)
        )
        for source in row.sources:
            if row.chooser:
                targets = [(t, f"{row.chooser} == '{t}'") for t in choosers[row.chooser].targets]
            else:
                targets = [(source if row.target == SAME else row.target, "")]
            for target, chooses in targets:
                cond = " and ".join(c for c in (render_guard_expr(row.guard), chooses) if c)
                attrs = {"event": row.event, "target": target}
                if cond:
                    attrs["cond"] = cond
                if row.target == SAME:
                    attrs["type"] = "internal"
                t = ET.SubElement(elements[source], f"{{{SCXML_NS}}}transition", attrs)
                t.set(f"{{{AGENTFSM_NS}}}actors", actors)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
