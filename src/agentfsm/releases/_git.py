"""``GitReleaseStore``: releases as commits in a real Git repository, written with pygit2.

Each change is one commit made without a work tree or an index: the store plans the change on
the tip and encodes the YAML blob, the trees on its paths (every other subtree is shared by id)
and the commit in memory (``_changes``, ``_objects``), writes them as one small pack, and moves
the branch with a compare-and-swap under Git's ref lock (``_publish``): the branch must still
point at the tip the commit was built on. A writer that loses that race, or finds the ref
locked by another writer, re-reads the tip and rebuilds its commit on it, after a jittered
backoff: two writers never lose or duplicate a release. Reading (trees, blobs, history) goes
through libgit2 (``_reading``).

Durability (``fsync=True``): the pack, its index and the new ref value are flushed together,
then the pack's directory, then the ref is renamed into place and its directory flushed, so a
commit that returned survives a power loss, and the branch never points at objects that did not
reach the disk. This costs a few milliseconds where libgit2's own fsync of loose objects cost
tens (see ``benchmarks/releases.py``). One pack per commit would pile up, so every
``repack_every`` commits the store folds the small packs together (``_maintenance``).

The idempotency key of each change is a trailer of its commit, and the key check runs against
the same tip the swap is made against, so the same event delivered twice, even to two processes
at once, makes one release.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import pygit2

from agentfsm._errors import InvalidInput
from agentfsm._slug import check_slug
from agentfsm.releases._changes import (
    Change,
    Plan,
    Prepared,
    build_commit,
    check_author,
    check_event,
    check_key,
    made_info,
    shown,
)
from agentfsm.releases._documents import (
    AgentTombstone,
    ReleaseEvent,
    build_release,
    build_tombstone,
    dump_document,
)
from agentfsm.releases._errors import (
    ReleaseConflict,
    ReleaseNotFound,
    ReleaseStoreBusy,
    ReleaseStoreError,
)
from agentfsm.releases._index import Recorded
from agentfsm.releases._inputs import check_release_input, check_time
from agentfsm.releases._maintenance import Housekeeper, collect_garbage
from agentfsm.releases._publish import publish
from agentfsm.releases._push import Credential, push_branch
from agentfsm.releases._reading import ReleaseReader
from agentfsm.releases._retry import Backoff
from agentfsm.releases._store import ReleaseInfo
from agentfsm.releases._trees import (
    TipView,
    agent_slugs,
    current_path,
    read_blob,
    release_path,
    release_versions,
)

DEFAULT_AUTHOR = ("agentfsm", "agentfsm@localhost")
MAX_VERSION = 10**18  # far beyond any history; keeps a hostile number out of paths and messages
DEFAULT_BACKOFF = Backoff()


class GitReleaseStore:
    """The release store on a Git repository (the ``recif-state`` repository).

    Layout: ``agents/{slug}/releases/v{N}.yaml`` (immutable, never overwritten) and
    ``agents/{slug}/current.yaml`` (the active release, or the tombstone once deleted).

    Args:
        path: the repository (bare or not; the work tree of a non-bare one is never touched).
        branch: the branch that holds the releases.
        author: ``(name, email)`` recorded as the author of every commit.
        create: create a bare repository at ``path`` when there is none.
        fsync: flush every commit to disk before reporting it made, so a written release
            survives a power loss (this store's own setting; libgit2's is left alone).
        gc_every: run ``git gc --auto`` after every this many commits made by this store
            (``None`` or 0: never; call ``gc()`` yourself).
        repack_every: fold the small packs (one per commit) into fewer ones after every this
            many commits made by this store, with ``git repack --geometric=2`` in a thread
            (``None`` or 0: never; ``gc()`` does it too). Reads slow down as packs pile up.
        backoff: how often, and how patiently, to retry after losing the branch to another
            writer or finding it locked.

    Raises:
        InvalidInput: a bad branch name or author.
        ReleaseStoreError: no repository at ``path`` and ``create`` is false.

    Safe to share between threads (calls are serialised); several stores, in this process or
    others, may write to one repository at once. ``close()`` (or ``with``) waits for a repack
    the store started in the background.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        branch: str = "main",
        author: tuple[str, str] = DEFAULT_AUTHOR,
        *,
        create: bool = True,
        fsync: bool = True,
        gc_every: int | None = 1000,
        repack_every: int | None = 50,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        if not isinstance(branch, str) or not pygit2.reference_is_valid_name(
            f"refs/heads/{branch}"
        ):
            raise InvalidInput(f"{shown(branch)} is not a valid Git branch name")
        self._author = check_author(author)
        if gc_every is not None and (not isinstance(gc_every, int) or gc_every < 0):
            raise InvalidInput(
                f"gc_every must be a whole number >= 0 or None, not {shown(gc_every)}"
            )
        if repack_every is not None and (not isinstance(repack_every, int) or repack_every < 0):
            raise InvalidInput(
                f"repack_every must be a whole number >= 0 or None, not {shown(repack_every)}"
            )
        self._fsync = bool(fsync)
        self._path = Path(path)
        self._repo = self._open(self._path, branch, create)
        self._gitdir = Path(self._repo.path)
        self._branch = branch
        self._ref = f"refs/heads/{branch}"
        self._reader = ReleaseReader(self._repo, self._ref)
        self._housekeeper = Housekeeper(self._gitdir, gc_every or 0, repack_every or 0)
        self._backoff = backoff
        self._lock = threading.RLock()

    @staticmethod
    def _open(path: Path, branch: str, create: bool) -> pygit2.Repository:
        found = pygit2.discover_repository(str(path))
        if found is not None and Path(found).resolve() in (
            path.resolve(),
            (path / ".git").resolve(),
        ):
            return pygit2.Repository(str(path))
        if not create:
            raise ReleaseStoreError(
                f"there is no Git repository at {path}; create one (git init --bare) or pass "
                "create=True"
            )
        return pygit2.init_repository(str(path), bare=True, initial_head=branch)

    @property
    def path(self) -> Path:
        """The repository's path."""
        return self._path

    @property
    def branch(self) -> str:
        """The branch that holds the releases."""
        return self._branch

    # -- writing ---------------------------------------------------------------------------

    def record_release(
        self,
        slug: str,
        *,
        event: ReleaseEvent,
        image: str,
        replicas: int,
        config: Mapping[str, str],
        at: datetime,
        key: str,
        changelog: str | None = None,
    ) -> ReleaseInfo:
        """Record the agent's next release vN (v1 for a new agent) and make it current.

        Args:
            slug: the agent's slug (a DNS-1123 label).
            event: ``AgentDeployed``, ``AgentConfigChanged`` or ``AgentCanaryPromoted``.
            image: the container image released, an OCI reference
                (``agentfsm.models.image_problem`` says what is wrong with one that is not).
            replicas: the configured replica count, an ``int`` from 1 to 10 (not ``"3"``,
                ``True`` or ``3.0``).
            config: the ConfigMap entries released (``agentfsm.models.config_problem``: at
                most 256 string values under ConfigMap keys, 1 MiB in all).
            at: when the domain event happened (a timezone-aware ``datetime`` from 1970 up to
                the year 9999); the commit's author time.
            key: the idempotency key; a key already recorded writes nothing.
            changelog: one line for people (at most 4,096 characters); a default is written
                from the event when omitted. It is quoted in the commit message, so no text
                in it can pass for the store's trailers.

        Returns:
            The release recorded now, or the one recorded earlier under ``key``.

        Raises:
            InvalidInput: a bad slug, key or event; ``ReleaseDocumentError`` (a kind of
                ``InvalidInput``) for a bad image, replicas, config, time or changelog. Every
                value is checked before anything is written: a refusal changes nothing.
            ReleaseConflict: the agent is deleted (its current document is a tombstone), or the
                key was used for another agent.
            ReleaseStoreBusy: other writers kept winning the branch through every retry.
        """
        slug = check_slug(slug)
        key = check_key(key)
        event = check_event(event)
        # Every value is checked, strictly, before the repository is touched: a refusal writes
        # nothing. The document is built once here too (its version is filled in later).
        given = check_release_input(image, replicas, config, at, changelog)
        build_release(
            slug,
            version=1,
            event=event,
            image=given.image,
            replicas=given.replicas,
            config=given.config,
            changelog=given.changelog,
            at=given.at,
        )

        def plan(tip: TipView) -> Change | ReleaseInfo:
            current = tip.document(current_path(slug))
            if isinstance(current, AgentTombstone):
                raise ReleaseConflict(
                    f"the agent {slug!r} was deleted (its current.yaml is a tombstone); "
                    "a deleted agent gets no new release"
                )
            versions = tip.versions(slug)
            version = (versions[-1] if versions else 0) + 1
            doc = build_release(
                slug,
                version=version,
                event=event,
                image=given.image,
                replicas=given.replicas,
                config=given.config,
                changelog=given.changelog,
                at=given.at,
            )
            text = dump_document(doc).encode()
            return Change(
                version=version,
                document=doc,
                files={release_path(slug, version): text, current_path(slug): text},
                summary=f"{slug}: release v{version} ({event})",
                body=doc.changelog,
                at=given.at,
            )

        return self._write(slug, key, plan)

    def record_deletion(self, slug: str, *, at: datetime, key: str) -> ReleaseInfo:
        """Write the tombstone to ``agents/{slug}/current.yaml``; every ``v{N}.yaml`` stays.

        Deleting an agent already deleted writes nothing and returns its tombstone.

        Args:
            slug: the agent's slug.
            at: when the agent was deleted (timezone-aware): the tombstone's ``deleted_at``.
            key: the idempotency key.

        Returns:
            The tombstone's record.

        Raises:
            InvalidInput: a bad slug, key or time (checked before anything is written).
            ReleaseConflict: the key was used for another agent.
            ReleaseStoreBusy: other writers kept winning the branch through every retry.
        """
        slug = check_slug(slug)
        key = check_key(key)
        at = check_time(at)
        tombstone = build_tombstone(slug, at=at)

        def plan(tip: TipView) -> Change | ReleaseInfo:
            path = current_path(slug)
            if isinstance(tip.document(path), AgentTombstone):
                info = self._reader.current_info(tip.tree, slug)
                assert info is not None
                return info
            return Change(
                version=None,
                document=tombstone,
                files={path: dump_document(tombstone).encode()},
                summary=f"{slug}: tombstone (AgentDeleted)",
                body=tombstone.changelog,
                at=at,
            )

        return self._write(slug, key, plan)

    def _write(self, slug: str, key: str, plan: Plan) -> ReleaseInfo:
        with self._lock:
            reader = self._reader
            for _ in self._backoff.tries():
                tip = reader.read_tip()
                repo = self._repo
                reader.index.refresh(repo, tip)
                done = reader.index.by_key.get(key)
                if done is not None:
                    return reader.recorded_info(done, slug, key)
                view = reader.view(tip)
                change = plan(view)
                if isinstance(change, ReleaseInfo):
                    return change
                prepared = self._commit(view, tip, slug, key, change)
                if self._advance(tip, prepared):
                    # What the commit recorded is known here: no need to read it back.
                    commit = pygit2.Oid(raw=prepared.commit.id)
                    reader.roots = {prepared.commit.id: prepared.root}
                    reader.index.advance(tip, Recorded(slug, change.version, key, commit))
                    self._housekeeper.after_commit()
                    return made_info(self._author, slug, change, str(commit), key)
            raise ReleaseStoreBusy(
                f"could not record {key!r} for {slug!r}: the branch {self._branch!r} kept moving "
                f"or stayed locked through {self._backoff.attempts} attempts; try again later "
                "with the same key"
            )

    def _commit(
        self,
        view: TipView,
        tip: pygit2.Oid | None,
        slug: str,
        key: str,
        change: Change,
    ) -> Prepared:
        """Build the commit of ``change`` on ``tip`` in memory (nothing is written yet)."""
        reader = self._reader
        return build_commit(
            reader.trees, reader.documents, self._author, view, tip, slug, key, change
        )

    def _advance(self, tip: pygit2.Oid | None, prepared: Prepared) -> bool:
        """Write the commit and move the branch to it if it still points at ``tip``.

        Returns:
            False when another writer moved the branch or holds its lock (nothing written).
        """
        expected = None if tip is None else str(tip)
        return publish(
            self._gitdir,
            self._ref,
            expected,
            prepared.commit,
            prepared.objects,
            fsync=self._fsync,
        )

    def close(self) -> None:
        """Wait for the housekeeping this store started (a repack running in a thread).

        The store stays usable; closing is only needed before removing the repository or to
        leave no thread behind.
        """
        self._housekeeper.wait()

    def __enter__(self) -> GitReleaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def gc(self, *, auto: bool = False) -> bool:
        """Run ``git gc`` on the repository now (a full one unless ``auto``).

        Returns:
            True when it ran and succeeded (a warning says why when not).
        """
        with self._lock:
            self.close()
            return collect_garbage(self._gitdir, auto=auto)

    # -- reading ---------------------------------------------------------------------------

    def history(self, slug: str) -> list[ReleaseInfo]:
        """Every release of the agent, v1 first, then its tombstone if it was deleted.

        Returns:
            An empty list for an agent never recorded.

        Raises:
            InvalidInput: the slug is not a DNS-1123 label.
        """
        slug = check_slug(slug)
        with self._lock:
            tree = self._reader.synced_tree()
            out = [self._reader.release_info(tree, slug, v) for v in release_versions(tree, slug)]
            current = self._reader.current_info(tree, slug)
            if current is not None and current.is_tombstone:
                out.append(current)
            return out

    def current(self, slug: str) -> ReleaseInfo | None:
        """The agent's current release, or its tombstone; ``None`` for an agent never recorded.

        Raises:
            InvalidInput: the slug is not a DNS-1123 label.
        """
        slug = check_slug(slug)
        with self._lock:
            return self._reader.current_info(self._reader.synced_tree(), slug)

    def release(self, slug: str, version: int) -> ReleaseInfo:
        """Release ``version`` of the agent.

        Raises:
            InvalidInput: the slug is not a DNS-1123 label, or the version not a whole number.
            ReleaseNotFound: there is no such release; the message lists the ones there are.
        """
        slug = check_slug(slug)
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidInput(f"a release version is a whole number, not {type(version).__name__}")
        if not 1 <= version <= MAX_VERSION:
            raise ReleaseNotFound(f"the agent {slug!r} has no release v{shown(version, 20)}")
        with self._lock:
            tree = self._reader.synced_tree()
            if read_blob(tree, release_path(slug, version)) is None:
                known = release_versions(tree, slug)
                listed = ", ".join(f"v{v}" for v in known) or "none"
                raise ReleaseNotFound(
                    f"the agent {slug!r} has no release v{version} (its releases: {listed})"
                )
            return self._reader.release_info(tree, slug, version)

    def agents(self) -> list[str]:
        """The slugs of every agent with something recorded, sorted."""
        with self._lock:
            return agent_slugs(self._reader.synced_tree())

    def tip(self) -> str | None:
        """The id (hex) of the branch's tip commit, or ``None`` before the first release."""
        with self._lock:
            ref = self._repo.references.get(self._ref)
            return None if ref is None else str(ref.target)

    def push(
        self,
        remote: str | os.PathLike[str],
        *,
        remote_branch: str | None = None,
        credentials: Credential | None = None,
    ) -> str:
        """Fast-forward the remote's branch to ours.

        Args:
            remote: a URL, or the path of a repository on this machine.
            remote_branch: the remote branch to update (default: the same name as ours).
            credentials: a pygit2 credential (``pygit2.Keypair``, ``pygit2.UserPass``…) for
                network remotes.

        Returns:
            The id (hex) of the commit the remote branch now points at.

        Raises:
            PushRejected: the remote branch has commits we do not have (diverged) or moved
                during the push; fetch and reconcile first. Nothing was changed on the remote.
            ReleaseStoreError: there is nothing to push yet.
        """
        with self._lock:
            ref = self._repo.references.get(self._ref)
            if ref is None:
                raise ReleaseStoreError(f"the branch {self._branch!r} has no commits to push yet")
            tip = ref.target
            assert isinstance(tip, pygit2.Oid)
            target = f"refs/heads/{remote_branch or self._branch}"
            if not pygit2.reference_is_valid_name(target):
                raise InvalidInput(f"{remote_branch!r} is not a valid Git branch name")
            return push_branch(self._repo, tip, str(remote), target, credentials)
