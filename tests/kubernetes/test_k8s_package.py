"""The Kubernetes package: its public names, and the extra it needs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import agentfsm.kubernetes


def test_all_is_exactly_the_public_api() -> None:
    public = {n for n in vars(agentfsm.kubernetes) if not n.startswith("_")}
    assert set(agentfsm.kubernetes.__all__) == public
    assert len(agentfsm.kubernetes.__all__) == len(set(agentfsm.kubernetes.__all__))


def test_every_public_function_and_class_is_documented() -> None:
    for name in agentfsm.kubernetes.__all__:
        obj = getattr(agentfsm.kubernetes, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), name


def test_a_missing_client_names_the_kubernetes_extra() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["kubernetes"] = None  # as if it were not installed
        import agentfsm  # the core imports without it
        import agentfsm.recif
        try:
            import agentfsm.kubernetes
        except agentfsm.MissingExtra as exc:
            print(exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "needs the optional dependency 'kubernetes'" in done.stdout
    assert "pip install 'agentfsm[kubernetes]'" in done.stdout


def test_the_core_does_not_import_the_client() -> None:
    code = "import agentfsm, agentfsm.recif, sys; print('kubernetes' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
