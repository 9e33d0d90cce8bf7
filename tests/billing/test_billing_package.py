"""The billing package's public names, and that it needs no extra."""

from __future__ import annotations

import subprocess
import sys

import agentfsm.billing


def test_all_is_exactly_the_public_api() -> None:
    public = {n for n in vars(agentfsm.billing) if not n.startswith("_")}
    assert set(agentfsm.billing.__all__) == public


def test_it_imports_with_the_standard_library_and_attrs_alone() -> None:
    code = (
        "import sys\n"
        "for m in ('pydantic', 'yaml', 'pygit2', 'psycopg', 'hypothesis'):\n"
        "    sys.modules[m] = None\n"
        "import agentfsm.billing\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
