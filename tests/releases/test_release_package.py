"""The release store package: its public names, and the extra it needs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import agentfsm.releases


def test_all_is_exactly_the_public_api() -> None:
    public = {n for n in vars(agentfsm.releases) if not n.startswith("_")}
    assert set(agentfsm.releases.__all__) == public
    assert len(agentfsm.releases.__all__) == len(set(agentfsm.releases.__all__))


def _import_without(module: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules[{module!r}] = None  # as if it were not installed
        import agentfsm  # the core imports without it
        try:
            import agentfsm.releases
        except agentfsm.MissingExtra as exc:
            print(exc)
        """
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)


def test_a_missing_library_names_the_git_extra() -> None:
    for module in ("pygit2", "pydantic", "yaml"):
        done = _import_without(module)
        assert done.returncode == 0, done.stderr
        assert f"needs the optional dependency {module!r}" in done.stdout
        assert "pip install 'agentfsm[git]'" in done.stdout
