"""The release store needs the ``git`` extra (pygit2, pydantic, PyYAML); say so if one is missing.

Imported first by the package so that a missing library surfaces as ``MissingExtra`` naming the
extra to install, rather than as a bare ``ModuleNotFoundError`` from deep inside a module.
"""

from __future__ import annotations

import importlib

from agentfsm._errors import MissingExtra

for _module in ("pygit2", "pydantic", "yaml"):
    try:
        importlib.import_module(_module)
    except ImportError as exc:
        raise MissingExtra("The Git release store", "git", _module) from exc
