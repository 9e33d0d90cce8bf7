"""Interop: export machines to ``transitions``, JSON (with a JSON Schema), XState v5 and SCXML.

XState and SCXML export need nothing beyond the core. The JSON export needs ``pydantic`` and the
``transitions`` export needs ``transitions`` (the ``interop`` extra: ``pip install
'agentfsm[interop]'``); they are imported on first use, so a missing extra is an ``ImportError``
naming it only when you ask for what needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agentfsm.interop._scxml import to_scxml
from agentfsm.interop._xstate import to_xstate

if TYPE_CHECKING:
    from agentfsm.interop._json import (
        MachineDocument,
        machine_from_json,
        machine_json_schema,
        spec_from_json,
        to_document,
        to_json,
    )
    from agentfsm.interop._transitions import TransitionsModel, send, to_transitions

_LAZY = {
    "MachineDocument": "_json",
    "machine_from_json": "_json",
    "machine_json_schema": "_json",
    "spec_from_json": "_json",
    "to_document": "_json",
    "to_json": "_json",
    "TransitionsModel": "_transitions",
    "send": "_transitions",
    "to_transitions": "_transitions",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentfsm.interop' has no attribute {name!r}")
    return getattr(importlib.import_module(f"agentfsm.interop.{module}"), name)


__all__ = [
    "MachineDocument",
    "TransitionsModel",
    "machine_from_json",
    "machine_json_schema",
    "send",
    "spec_from_json",
    "to_document",
    "to_json",
    "to_scxml",
    "to_transitions",
    "to_xstate",
]
