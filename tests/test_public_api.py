"""The public surface: each public module's ``__all__`` is exactly what it exposes, every name
in it imports and is documented, and the core imports with attrs as its only dependency.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import subprocess
import sys
import textwrap
import types

import pytest

import agentfsm

PUBLIC_MODULES = (
    "agentfsm",
    "agentfsm.models",
    "agentfsm.effects",
    "agentfsm.migrate",
    "agentfsm.define",
    "agentfsm.runtime",
    "agentfsm.wire",
    "agentfsm.http",
    "agentfsm.platform",
)


def _public_names(module: types.ModuleType) -> set[str]:
    """Names a module defines or re-exports for users: no private names, no submodules."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and type(value).__module__ != "__future__"  # `from __future__ import annotations`
    }


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), "duplicates in __all__"
    private = [n for n in exported if n.startswith("_") and n != "__version__"]
    assert private == []
    assert _public_names(module) == set(exported) - {"__version__"}


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_exported_name_imports(name: str) -> None:
    module = importlib.import_module(name)
    for exported in module.__all__:
        namespace: dict[str, object] = {}
        exec(f"from {name} import {exported}", namespace)
        assert namespace[exported] is getattr(module, exported)


def _undocumented(module: types.ModuleType) -> list[str]:
    missing = []
    for name in module.__all__:
        value = getattr(module, name)
        if not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        if not (value.__doc__ or "").strip():
            missing.append(name)
        if not inspect.isclass(value):
            continue
        for attr, member in vars(value).items():
            if attr.startswith("_"):
                continue
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            documentable = inspect.isfunction(member) or isinstance(member, property)
            if documentable and not (member.__doc__ or "").strip():
                missing.append(f"{name}.{attr}")
    return missing


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_class_and_function_is_documented(name: str) -> None:
    module = importlib.import_module(name)
    assert (module.__doc__ or "").strip()
    assert _undocumented(module) == []


def test_the_version_is_the_installed_one() -> None:
    assert agentfsm.__version__ == importlib.metadata.version("agentfsm")


_ATTRS_ONLY = textwrap.dedent(
    """
    import sys

    ALLOWED = {"agentfsm", "attr", "attrs"}


    class OnlyAttrs:
        # Any module outside the standard library, attrs and agentfsm is missing here.
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top in ALLOWED or top in sys.stdlib_module_names:
                return None
            raise ImportError(f"{name} is not installed in this test")


    sys.meta_path.insert(0, OnlyAttrs())
    for name in ("pydantic", "hypothesis", "psycopg", "pygit2", "transitions"):
        try:
            __import__(name)
        except ImportError:
            pass
        else:
            raise SystemExit(f"the blocker let {name} through")

    from datetime import datetime, timezone

    import agentfsm
    import agentfsm.effects
    from agentfsm.models import ALFE, RECIF, AlfeAgent, RecifAgent

    ctx = agentfsm.Context(datetime(2026, 4, 3, tzinfo=timezone.utc))
    snap = ALFE.initial(AlfeAgent("a-1", "support-bot"), ctx)
    step = agentfsm.fire(ALFE, snap, agentfsm.Event("provision", "S"), ctx)
    assert step.snapshot.status == "provisioning"
    agentfsm.offered(RECIF, RECIF.initial(RecifAgent("support-agent"), ctx), ctx)
    third_party = sorted(
        {m.partition(".")[0] for m in sys.modules}
        - set(sys.stdlib_module_names) - ALLOWED
    )
    print(" ".join(third_party))
    """
)


def test_the_core_imports_with_attrs_alone() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _ATTRS_ONLY], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    # Only interpreter start-up modules (site hooks of the environment) may remain.
    loaded = set(result.stdout.split())
    heavy = {"pydantic", "hypothesis", "psycopg", "pygit2", "transitions", "yaml", "rich"}
    assert loaded.isdisjoint(heavy), loaded
