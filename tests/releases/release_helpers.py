"""Helpers shared by the release store tests."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from agentfsm.releases import GitReleaseStore

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)

Git = Callable[..., str]


def run_git(repo: Path, *args: str) -> str:
    """Run ``git -C repo args…`` and return its standard output; fail the test on an error."""
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)} failed: {done.stderr}"
    return done.stdout


def deploy(
    store: GitReleaseStore,
    slug: str = "support-agent",
    key: str = "k1",
    *,
    image: str = "ghcr.io/recif/corail:1.0",
    config: dict[str, str] | None = None,
    at: datetime = T0,
) -> int:
    """Record an AgentDeployed release and return its version."""
    info = store.record_release(
        slug,
        event="AgentDeployed",
        image=image,
        replicas=2,
        config={"model": "gpt-4o"} if config is None else config,
        at=at,
        key=key,
    )
    assert info.version is not None
    return info.version
