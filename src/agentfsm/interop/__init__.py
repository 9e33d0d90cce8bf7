"""Interop: export machines to ``transitions``, JSON (with a JSON Schema), XState v5 and SCXML.

Needs the ``interop`` extra (``pip install 'agentfsm[interop]'``) for ``transitions`` and
``pydantic``; XState and SCXML export need nothing beyond the core.
"""

from agentfsm.interop._json import (
    MachineDocument,
    machine_from_json,
    machine_json_schema,
    spec_from_json,
    to_document,
    to_json,
)
from agentfsm.interop._scxml import to_scxml
from agentfsm.interop._transitions import TransitionsModel, send, to_transitions
from agentfsm.interop._xstate import to_xstate

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
