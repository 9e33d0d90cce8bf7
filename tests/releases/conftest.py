"""Fixtures for the release store tests: a fresh repository in a temporary directory, and the
real ``git`` command line to check what the store wrote."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from release_helpers import Git, run_git

from agentfsm.releases import GitReleaseStore

if shutil.which("git") is None:  # pragma: no cover - the CI image has git
    pytest.skip("the release store tests check results with the git CLI", allow_module_level=True)


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    """Where the ``recif-state`` repository of a test lives (created by the store)."""
    return tmp_path / "recif-state.git"


@pytest.fixture
def store(repo_path: Path) -> GitReleaseStore:
    """A store on a new bare repository (gc off, so tests decide when it runs)."""
    return GitReleaseStore(
        repo_path, author=("Release bot", "bot@example.com"), fsync=False, gc_every=None
    )


@pytest.fixture
def git(repo_path: Path) -> Git:
    """``git(*args)`` runs the git CLI in the test's repository."""
    return lambda *args: run_git(repo_path, *args)
