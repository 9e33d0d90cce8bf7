"""Pushing the release branch to a remote, fast-forward only.

libgit2's push over its local transport overwrites a remote branch even when it has diverged
(measured with pygit2 1.21: a remote-only commit was silently dropped), so the store checks
itself. It first lists the remote's heads: a remote tip we do not have, or one that is not an
ancestor of ours, is a divergence and the push stops with ``PushRejected``. For a repository on
this machine the branch is then moved with a compare-and-swap in that repository (the objects
travel under a temporary ref first), so a writer that moved it in between is not overwritten.
For network remotes the server's own ``receive-pack`` refuses a non-fast-forward update, and its
verdict comes back through ``push_update_reference``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TypeAlias
from urllib.parse import unquote, urlparse

import pygit2

from agentfsm.releases._errors import PushRejected

Credential: TypeAlias = pygit2.Username | pygit2.UserPass | pygit2.Keypair
"""A credential for a network remote (SSH key pair, user and password…)."""


class _PushReport(pygit2.RemoteCallbacks):
    """Collects the remote's verdict on each ref; carries the caller's credentials, if any."""

    def __init__(self, credentials: Credential | None) -> None:
        super().__init__(credentials=credentials)
        self.rejected: dict[str, str] = {}

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected[refname] = message


def _local_path(url: str) -> Path | None:
    """The repository path when ``url`` names a repository on this machine."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:
        return None  # ssh://, https://… (a one-letter scheme is a Windows drive)
    if ":" in url.split("/", 1)[0] and not Path(url).exists():
        return None  # scp-like user@host:path
    return Path(url)


def push_branch(
    repo: pygit2.Repository,
    tip: pygit2.Oid,
    url: str,
    target: str,
    credentials: Credential | None,
) -> str:
    """Fast-forward ``target`` on the remote at ``url`` to ``tip``; see the module docstring.

    Returns:
        The id (hex) the remote branch points at afterwards.

    Raises:
        PushRejected: the remote diverged, moved during the push, or refused it.
    """
    remote = repo.remotes.create_anonymous(url)
    report = _PushReport(credentials)
    try:
        heads = {head.name: head.oid for head in remote.list_heads(callbacks=report)}
    except pygit2.GitError as exc:
        raise PushRejected(f"cannot reach the remote {url}: {exc}") from exc
    theirs = heads.get(target)
    if theirs == tip:
        return str(tip)
    if theirs is not None and (repo.get(theirs) is None or not repo.descendant_of(tip, theirs)):
        raise PushRejected(
            f"the remote {url} has diverged: its {target} is at {str(theirs)[:12]}, which is not "
            f"an ancestor of our {str(tip)[:12]}; fetch it and reconcile the histories first "
            "(nothing was pushed)"
        )
    local = _local_path(url)
    if local is not None:
        _push_local(remote, report, local, tip, theirs, target, url)
    else:
        remote.push([f"{tip}:{target}"], callbacks=report)
        if report.rejected:
            raise PushRejected(f"the remote {url} refused the push: {report.rejected}")
    return str(tip)


def _push_local(
    remote: pygit2.Remote,
    report: _PushReport,
    path: Path,
    tip: pygit2.Oid,
    theirs: pygit2.Oid | None,
    target: str,
    url: str,
) -> None:
    # The objects travel under a ref of our own, which nobody else writes ...
    staging = f"refs/agentfsm/push/{uuid.uuid4().hex}"
    remote.push([f"{tip}:{staging}"], callbacks=report)
    if report.rejected:
        raise PushRejected(f"the remote {url} refused the push: {report.rejected}")
    there = pygit2.Repository(str(path))
    try:
        # ... then the branch moves only if it is still where we checked it was.
        try:
            if theirs is None:
                there.create_reference_direct(target, tip, False)
            else:
                ref = there.lookup_reference(target)
                if ref.target != theirs:
                    raise PushRejected(
                        f"the remote {url} moved its {target} during the push; push again"
                    )
                ref.set_target(tip, "push: fast-forward")
        except (pygit2.GitError, OSError) as exc:
            raise PushRejected(
                f"the remote {url} moved or locked its {target} during the push ({exc}); push again"
            ) from exc
    finally:
        there.references.delete(staging)
