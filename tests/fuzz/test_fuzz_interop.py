"""The JSON machine import (``agentfsm.interop``) under hostile documents.

Contract: ``spec_from_json`` returns a ``MachineSpec`` or raises ``InvalidInput``;
``machine_from_json`` adds ``InvalidMachine``. No other exception, whatever the text.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agentfsm import InvalidInput, InvalidMachine, MachineSpec
from agentfsm.interop import machine_from_json, spec_from_json, to_document
from agentfsm.models import ALFE, ALFE_IMPLEMENTATIONS

from . import _hostile as h
from ._tally import attempt, expect, fuzz_settings

FUZZ = fuzz_settings(80)
IMPORT_ERRORS = (InvalidInput, InvalidMachine)

_DOC = json.loads(to_document(ALFE).model_dump_json(by_alias=True))

# JSON values a document may carry where it should carry something else.
_json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(st.characters(codec=None, exclude_categories=()), max_size=12),
        st.sampled_from(("", "U", "Z", "=", "str", "int", "agentfsm.machine", "pending")),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=5,
)

# Raw text tokens that json.dumps would never write.
_RAW = (
    "NaN",
    "Infinity",
    "-Infinity",
    "1" + "0" * 5000,
    "1e999999",
    '"\\ud800"',
    '"\\udcff"',
    '"\\u0000"',
    "[" * 5000 + "]" * 5000,
    '{"a":' * 5000 + "1" + "}" * 5000,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            out += _paths(v, (*prefix, i))
    return out


_PATHS = [p for p in _paths(_DOC) if p]


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: _replace(doc[head], rest, value)}
    copy = list(doc)
    copy[head] = _replace(copy[head], rest, value)
    return copy


_MARK = "\u2603MARK\u2603"


@st.composite
def documents(draw: st.DrawFn) -> tuple[tuple[Any, ...], Any, str]:
    """A path in the Alfe document, what to put there, and how (a JSON value or raw text)."""
    path = draw(st.sampled_from(_PATHS))
    how = draw(st.sampled_from(("value", "raw", "delete")))
    value = draw(st.sampled_from(_RAW)) if how == "raw" else draw(_json_values)
    return path, value, how


def _text(path: tuple[Any, ...], value: Any, how: str) -> str:
    if how == "delete":
        parent = _DOC
        for p in path[:-1]:
            parent = parent[p]
        if isinstance(parent, dict):
            trimmed = {k: v for k, v in parent.items() if k != path[-1]}
        else:
            trimmed = [v for i, v in enumerate(parent) if i != path[-1]]
        return json.dumps(_replace(_DOC, path[:-1], trimmed))
    if how == "raw":
        return json.dumps(_replace(_DOC, path, _MARK)).replace(json.dumps(_MARK), value)
    return json.dumps(_replace(_DOC, path, value))


@FUZZ
@given(case=documents(), as_bytes=st.booleans())
def test_fuzz_machine_import_of_a_mutated_document(
    case: tuple[tuple[Any, ...], Any, str], as_bytes: bool
) -> None:
    """The Alfe document with one value replaced, removed or written as raw JSON text."""
    text: str | bytes = _text(*case)
    if as_bytes:
        text = text.encode("utf-8", "surrogatepass")
    spec = attempt("spec_from_json", (InvalidInput,), lambda: spec_from_json(text), case)
    if isinstance(spec, BaseException):
        return
    expect("spec_from_json", isinstance(spec, MachineSpec), "returned no MachineSpec", case)
    attempt(
        "machine_from_json",
        IMPORT_ERRORS,
        lambda: machine_from_json(text, ALFE_IMPLEMENTATIONS),
        case,
    )


@FUZZ
@given(value=st.one_of(h.text(), h.anything(), st.binary(max_size=64), st.sampled_from(_RAW)))
def test_fuzz_machine_import_of_anything(value: Any) -> None:
    """Text that is no document at all, and values that are not text."""
    value = h.real(value)
    attempt("spec_from_json", (InvalidInput,), lambda: spec_from_json(value), value)
    attempt(
        "machine_from_json",
        IMPORT_ERRORS,
        lambda: machine_from_json(value, ALFE_IMPLEMENTATIONS),
        value,
    )
