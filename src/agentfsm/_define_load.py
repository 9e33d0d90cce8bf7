"""Reading a machine document written by hand (JSON or YAML) for ``agentfsm.define``.

The document is the interop format (``agentfsm.interop.MachineDocument``); this module only
widens what a person may write (a single name where a list is expected, a list of guards for
"all of them", omitted actors and labels) and fills in the guards, updates and effects that
the program defines with decorators, before the strict format validates the result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from agentfsm._define_parts import ActionDef, GuardDef
from agentfsm._errors import InvalidInput, MissingExtra
from agentfsm._machine import Implementations
from agentfsm._spec import MachineSpec
from agentfsm._words import quote, readable


def parse(text: str | bytes) -> Any:
    """The document in ``text``: JSON when it parses as JSON, otherwise YAML."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml
    except ImportError as exc:
        raise MissingExtra("Loading a YAML machine", "yaml", "pyyaml") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the machine document is neither JSON nor YAML: {exc}") from None


def _listed(value: object) -> object:
    return [value] if isinstance(value, str) else value


def _guard_node(value: object) -> object:
    if isinstance(value, str):
        return {"guard": value}
    if isinstance(value, list):
        items = [_guard_node(v) for v in value]
        return items[0] if len(items) == 1 else {"all_of": items}
    if isinstance(value, dict):
        out = dict(value)
        for key in ("all_of", "any_of"):
            if isinstance(out.get(key), list):
                out[key] = [_guard_node(v) for v in out[key]]
        if "not" in out:
            out["not"] = _guard_node(out["not"])
        return out
    return value


def _widened(doc: Mapping[str, Any], functions: Iterable[GuardDef | ActionDef]) -> dict[str, Any]:
    out = dict(doc)
    events = []
    for e in out.get("events", []):
        if isinstance(e, str):
            e = {"name": e}
        if isinstance(e, dict):
            e = dict(e)
            e.setdefault("actors", ["U"])
            e["actors"] = _listed(e["actors"])
            if not e.get("label") and isinstance(e.get("name"), str):
                e["label"] = readable(e["name"])
        events.append(e)
    out["events"] = events
    out["states"] = [{"name": s} if isinstance(s, str) else s for s in out.get("states", [])]
    rows = []
    for t in out.get("transitions", []):
        if isinstance(t, dict):
            t = dict(t)
            for key in ("sources", "updates", "effects"):
                if key in t:
                    t[key] = _listed(t[key])
            if t.get("guard") is not None:
                t["guard"] = _guard_node(t["guard"])
        rows.append(t)
    out["transitions"] = rows
    declared = {
        kind: {d.get("name") for d in out.get(kind, []) if isinstance(d, dict)}
        for kind in ("guards", "updates", "effects")
    }
    for fn in functions:
        if isinstance(fn, GuardDef):
            if fn.name not in declared["guards"]:
                g = fn.spec
                out.setdefault("guards", []).append(
                    {
                        "name": g.name,
                        "code": g.code,
                        "message": g.message,
                        "description": g.description,
                        "reads_input": g.reads_input,
                    }
                )
        elif isinstance(fn, ActionDef):
            kind = f"{fn.kind}s"
            if fn.name not in declared[kind]:
                out.setdefault(kind, []).append({"name": fn.name, "description": fn.description})
        else:
            raise InvalidInput(
                f"functions= takes @guard, @update and @effect functions, not {quote(fn)}"
            )
    return out


def load(
    document: str | bytes | Mapping[str, Any], functions: Iterable[GuardDef | ActionDef]
) -> tuple[MachineSpec, Implementations]:
    """The spec and implementations of a hand-written machine document."""
    from pydantic import ValidationError

    from agentfsm.interop._json import MachineDocument, spec_from_document

    functions = tuple(functions)
    raw = parse(document) if isinstance(document, str | bytes) else document
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"a machine document is a mapping, not {quote(raw)}")
    try:
        doc = MachineDocument.model_validate(_widened(raw, functions))
    except ValidationError as exc:
        raise InvalidInput(f"not a valid agentfsm machine document: {exc}") from None
    spec = spec_from_document(doc)
    guards = {f.name: f.fn for f in functions if isinstance(f, GuardDef)}
    actions = [f for f in functions if isinstance(f, ActionDef)]
    impl = Implementations(
        guards=guards,
        updates={a.name: a.fn for a in actions if a.kind == "update"},
        effects={a.name: a.fn for a in actions if a.kind == "effect"},
    )
    return spec, impl
