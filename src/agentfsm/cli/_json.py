"""``--json``: what the commands print, in the records' one JSON form (``agentfsm.wire``).

The records are dumped by ``agentfsm.wire.dump``; this module only adds what a record's fields
leave out (a report's ``ok``) and puts sets in a stable order, so the same input always prints
the same text.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from agentfsm._spec import MachineSpec
from agentfsm.analysis import CheckReport
from agentfsm.wire import dump


def write_json(value: Any, out: TextIO) -> None:
    """Write plain JSON values (already dumped) as indented JSON and a newline."""
    out.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def json_line(value: Any) -> str:
    """Plain JSON values as one line of JSON, without its newline (for a stream of records)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def spec_json(spec: MachineSpec) -> Any:
    """A machine definition's JSON form, each event's actors sorted by code."""
    out = dump(spec)
    for event in out["events"]:
        event["actors"] = sorted(event["actors"])
    return out


def report_json(report: CheckReport) -> Any:
    """A model check's report as JSON, with ``"ok"``: true when nothing failed."""
    out = dump(report)
    out["ok"] = report.ok
    return out
