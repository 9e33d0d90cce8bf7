"""Finding a machine of the user's own for the command line: ``file.py:NAME`` or ``module:NAME``.

The module is imported (its code runs, as ``python file.py`` would run it), so its invariants
and check profile register themselves; ``NAME`` defaults to the module's only ``Machine``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from agentfsm._machine import Machine
from agentfsm.cli._names import did_you_mean


class LoadError(Exception):
    """The reference names no machine; the message says why."""


def is_reference(text: str) -> bool:
    """True when ``text`` names a user's machine rather than a shipped model."""
    return ":" in text or text.endswith(".py")


def load_reference(text: str) -> Machine:
    """The machine ``text`` names.

    Raises:
        LoadError: the file or module is missing, fails to import, or holds no such machine.
    """
    where, _, attribute = text.partition(":")
    module = _import_file(where) if where.endswith(".py") else _import_module(where)
    machines = {n: v for n, v in vars(module).items() if isinstance(v, Machine)}
    if attribute:
        found = getattr(module, attribute, None)
        if not isinstance(found, Machine):
            hint = did_you_mean(attribute, machines)
            raise LoadError(f"{where} has no Machine called {attribute!r}{hint}")
        return found
    if len(machines) != 1:
        names = ", ".join(sorted(machines)) or "none"
        raise LoadError(f"{where} holds {len(machines)} machines ({names}): name one, {where}:NAME")
    return next(iter(machines.values()))


def _import_file(path: str) -> ModuleType:
    file = Path(path)
    if not file.is_file():
        raise LoadError(f"no such file: {path}")
    name = f"agentfsm_user_{file.stem}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise LoadError(f"{path} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # attrs and dataclasses look their module up while it runs
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise LoadError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    return module


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise LoadError(f"importing {name} failed: {type(exc).__name__}: {exc}") from exc
