"""Straight-line deciders: one small function per (event, status), generated from the tables.

``decide`` reads a machine's compiled tables generically: it looks the event's rows up, loops
over them and over each row's checks, and asks of every row whether it has a chooser, updates
or effect builders. For a given (event, status) all of that is known when the machine is
built, so this module writes it out once as a plain function that does only what that pair
needs: the snapshot's quick checks, the sender, the payload, the row's guards in order, the
update, the new snapshot, the effects and the step. What the function calls are the model's
own named guards, updates and effect builders, and what it returns on a refusal is the
refusal the machine prebuilt, so the answer is the one the generic path gives.

The source is made from the machine's structure only (how many rows, how many guards each
has, whether a row moves), never from its text: every name, status, function and refusal
reaches the function through its globals, under names made here (``G0_1``, ``TARGET0``).

A generated function returns ``None`` whenever the case is not the usual one (a snapshot that
needs a closer look, a sender that is not one of the event's roles by identity, a payload the
quick check does not clear); ``decide`` then takes the generic path, which words the answer.
It returns ``None`` only before any guard, update or builder has run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from agentfsm._machine import (
    _EXACT_TYPES,
    CompiledEvent,
    CompiledTransition,
    Machine,
    field_problem,
)
from agentfsm._values import _EMPTY, Snapshot, Step

FastFn = Callable[[Snapshot, Any, Any], Any]
"""``fn(snapshot, event, context) -> Step | Refusal | None`` (``None``: take the generic path).

``snapshot`` must be an exact ``Snapshot``: its fields are read by position."""


def fast_decider(machine: Machine, compiled: CompiledEvent, status: str) -> FastFn:
    """The straight-line decider of ``compiled`` for agents in ``status`` (a known status)."""
    scope: dict[str, Any] = {
        "TN": tuple.__new__,
        "SNAPSHOT": Snapshot,
        "STEP": Step,
        "DATETIME": datetime,
        "INT": int,
        "TUPLE": tuple,
        "EMPTY": _EMPTY,
        "UNSET": machine.unset_since,
    }
    lines = ["def decide_fast(s, e, c):"]
    add = lines.append
    # The snapshot's quick look, exactly as the generic path takes it. ``decide`` hands over
    # only an exact ``Snapshot``, so its fields are read by position: a NamedTuple's field
    # names are descriptors CPython 3.11 does not specialise (about 24 ns a read, against 8).
    add("    t = s[2]")
    add("    if t.__class__ is DATETIME:")
    add("        if t.tzinfo is None:")
    add("            return None")
    add("    elif t is not UNSET:")
    add("        return None")
    add("    v = s[1]")
    if machine.record is not None:
        scope["RECORD"] = machine.record
        add("    if v.__class__ is not INT or s[3].__class__ is not RECORD:")
    else:
        add("    if v.__class__ is not INT:")
    add("        return None")
    # The sender, by identity (an equal role that is another object takes the generic path).
    senders = compiled.senders
    for i, actor in enumerate(senders):
        scope[f"ACTOR{i}"] = actor
    if senders:
        add("    a = e.actor")
        add("    if " + " and ".join(f"a is not ACTOR{i}" for i in range(len(senders))) + ":")
        add("        return None")
    else:
        add("    return None")
    # The payload.
    if compiled.payload_ok is None:
        add("    p = e.payload")
        add("    if p is not EMPTY and p:")
        add("        return None")
    else:
        _payload_checks(lines, scope, compiled)
    rows = compiled.by_status.get(status)
    if rows is None:
        scope["NOT_HERE"] = compiled.status_refusals[status]
        add("    return NOT_HERE")
    else:
        for r, row in enumerate(rows):
            _row(lines, scope, machine, compiled, status, r, row)
        if rows[-1].checks:
            add("    return first")
    namespace: dict[str, Any] = dict(scope)
    exec(compile("\n".join(lines) + "\n", f"<agentfsm {machine.name} decider>", "exec"), namespace)
    made: FastFn = namespace["decide_fast"]
    return made


def _payload_checks(lines: list[str], scope: dict[str, Any], compiled: CompiledEvent) -> None:
    # The quick payload check of _machine._payload_checker, written out field by field: a
    # value of the field's exact type is surely fine, anything else is left to the generic
    # path (which words the refusal, or finds it fine after all). The payload is read with
    # ``in`` and ``[]``, not ``get``: a mapping proxy's ``get`` looks the dict's method up and
    # calls it (about 45 ns), a subscript goes straight to the dict (about 20).
    add = lines.append
    scope["FIELD_PROBLEM"] = field_problem
    add("    p = e.payload")
    add("    n = 0")
    for i, f in enumerate(compiled.fields):
        scope[f"FIELD{i}"] = f.name
        scope[f"FIELD_SPEC{i}"] = f
        exact = _EXACT_TYPES.get(f.kind)
        if exact is not None:
            scope[f"EXACT{i}"] = exact
            bad = f"w.__class__ is not EXACT{i} and FIELD_PROBLEM(FIELD_SPEC{i}, w) is not None"
        else:
            bad = f"FIELD_PROBLEM(FIELD_SPEC{i}, w) is not None"
        if f.required:
            add("    try:")
            add(f"        w = p[FIELD{i}]")
            add("    except KeyError:  # missing: the generic path words the refusal")
            add("        return None")
            add(f"    if {bad}:")
            add("        return None")
            add("    n += 1")
        else:
            add(f"    if FIELD{i} in p:")
            add(f"        w = p[FIELD{i}]")
            add(f"        if {bad}:")
            add("            return None")
            add("        n += 1")
    add("    if n != len(p):  # a field the event does not declare")
    add("        return None")


def _row(
    lines: list[str],
    scope: dict[str, Any],
    machine: Machine,
    compiled: CompiledEvent,
    status: str,
    r: int,
    row: CompiledTransition,
) -> None:
    # Only the first row's failure is ever the answer: a later row is tried only when every
    # row before it failed, and a row without checks always accepts.
    add = lines.append
    indent = "    "
    if row.checks:
        for j, (test, spec) in enumerate(row.checks):
            scope[f"G{r}_{j}"] = test
            keyword = "if" if j == 0 else "elif"
            if spec is None:  # a compiled guard expression: it returns what failed, or None
                add(f"    {keyword} (f := G{r}_{j}(s, e, c)) is not None:")
                if r == 0:
                    scope["REFUSALS"] = row.refusals
                    scope["UNCOMPILED"] = _uncompiled(machine, compiled, status)
                    add("        first = REFUSALS.get(id(f)) or UNCOMPILED(f)")
                else:
                    add("        pass")
            else:
                add(f"    {keyword} not G{r}_{j}(s, e, c):")
                if r == 0:
                    scope[f"REFUSED{j}"] = row.refusals[id(spec)]
                    add(f"        first = REFUSED{j}")
                else:
                    add("        pass")
        add("    else:")
        indent = "        "
    _accept(lines, scope, status, r, row, indent)


def _accept(
    lines: list[str],
    scope: dict[str, Any],
    status: str,
    r: int,
    row: CompiledTransition,
    indent: str,
) -> None:
    def add(line: str) -> None:
        lines.append(indent + line)

    scope[f"SPEC{r}"] = row.spec
    if row.chooser is not None:
        scope[f"CHOOSE{r}"] = row.chooser
        scope["STATUS"] = status
        add(f"target = CHOOSE{r}(s, e, c)")
        since = "c.now" if row.spec.reenter else "c.now if target != STATUS else t"
        target = "target"
    else:
        scope[f"TARGET{r}"] = row.target
        since = "c.now" if row.moves else "t"
        target = f"TARGET{r}"
    data = "s[3]"
    for k, update in enumerate(row.updates):
        scope[f"U{r}_{k}"] = update
        add(f"d = U{r}_{k}({data}, s, e, c)")
        data = "d"
    add(f"after = TN(SNAPSHOT, ({target}, v + 1, {since}, {data}))")
    if not row.effects:
        add(f"return TN(STEP, (after, (), SPEC{r}))")
        return
    parts = []
    for k, build in enumerate(row.effects):
        scope[f"B{r}_{k}"] = build
        add(f"x{k} = B{r}_{k}(s, after, e, c)")
        add(f"if x{k}.__class__ is not TUPLE:")
        add(f"    x{k} = TUPLE(x{k})")
        parts.append(f"x{k}")
    add(f"return TN(STEP, (after, {' + '.join(parts)}, SPEC{r}))")


def _uncompiled(machine: Machine, compiled: CompiledEvent, status: str) -> Callable[[Any], Any]:
    # A guard function returning a GuardSpec the machine did not compile: worded on demand.
    from agentfsm._engine import _refusal_for

    return lambda failed: _refusal_for(machine, failed, compiled, status)
