"""Reading the release branch back: its tip, its trees and files, and the records of releases.

``GitReleaseStore`` reads through libgit2 both to answer questions (history, current, release)
and to plan each write on the tip it read. Everything read is cached by object id (trees,
parsed documents, the commit index), so the caches stay valid however the branch moves; this
module owns that read state, and the store adds locking, validation and writing on top.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pygit2
from pygit2.enums import SortMode

from agentfsm.releases._documents import AgentTombstone, ReleaseDocument, load_document
from agentfsm.releases._errors import ReleaseConflict, ReleaseStoreError
from agentfsm.releases._index import CommitIndex, Recorded
from agentfsm.releases._objects import TreeCache
from agentfsm.releases._store import ReleaseInfo
from agentfsm.releases._trees import (
    DocumentCache,
    TipView,
    blob_at,
    current_path,
    release_path,
)

REOPEN_EVERY = 64


class ReleaseReader:
    """The read side of one store on one repository and branch.

    Args:
        repo: the repository.
        ref: the full name of the branch (``refs/heads/…``).

    Not thread-safe on its own: the store calls it under its lock.
    """

    def __init__(self, repo: pygit2.Repository, ref: str) -> None:
        self.repo = repo
        self.trees = TreeCache(self.read_tree)
        self.documents = DocumentCache()
        self.roots: dict[bytes, bytes] = {}  # commit id -> root tree id, for our last commit
        self.index = CommitIndex()
        self._ref = ref
        self._last_tip: pygit2.Oid | None = None
        self._new_tips = 0

    def view(self, tip: pygit2.Oid | None) -> TipView:
        """The tip as the write path reads it (see ``TipView``)."""
        root: bytes | None = None
        if tip is not None:
            root = self.roots.get(tip.raw)
            if root is None:
                commit = self.repo[tip]
                assert isinstance(commit, pygit2.Commit)
                root = commit.tree_id.raw
        return TipView(self.trees, self.documents, root, self.read_blob, lambda: self.tree(tip))

    def read_blob(self, oid: bytes) -> bytes:
        """The content of a file object; ``ReleaseStoreError`` if the object is not one."""
        kind, data = self.repo.odb.read(pygit2.Oid(raw=oid))
        if kind != pygit2.enums.ObjectType.BLOB:
            raise ReleaseStoreError(f"object {oid.hex()} should be a file but is not")
        return bytes(data)

    def read_tree(self, oid: bytes) -> bytes:
        """The raw content of a tree object; ``ReleaseStoreError`` if the object is not one."""
        kind, data = self.repo.odb.read(pygit2.Oid(raw=oid))
        if kind != pygit2.enums.ObjectType.TREE:
            raise ReleaseStoreError(f"object {oid.hex()} should be a tree but is not")
        return bytes(data)

    def tree(self, tip: pygit2.Oid | None) -> pygit2.Tree | None:
        """The root tree of commit ``tip`` (``None`` for none)."""
        if tip is None:
            return None
        commit = self.repo[tip]
        assert isinstance(commit, pygit2.Commit)
        return commit.tree

    def synced_tree(self) -> pygit2.Tree | None:
        """The tip's tree, with the commit index brought up to the tip."""
        tip = self.read_tip()
        self.index.refresh(self.repo, tip)
        return self.tree(tip)

    def read_tip(self) -> pygit2.Oid | None:
        """The branch tip now; lets libgit2 drop its packs after every ``REOPEN_EVERY`` new tips.

        libgit2 never forgets a pack it has opened: when a repack (ours or another process's)
        deletes small packs, it keeps their descriptors and mappings, one or two per commit,
        until the repository lets go of its object database. ``Repository.free()`` does that
        (libgit2 reopens what it needs on the next read); the store's own caches name objects
        by id and stay valid.
        """
        ref = self.repo.references.get(self._ref)
        tip = ref.target if ref is not None else None
        assert tip is None or isinstance(tip, pygit2.Oid)
        if tip != self._last_tip:
            self._last_tip = tip
            self._new_tips += 1
            if self._new_tips >= REOPEN_EVERY:
                self._new_tips = 0
                self.repo.free()
        return tip

    def document_at(self, tree: pygit2.Tree | None, path: str) -> ReleaseDocument | None:
        """The parsed document at ``path`` in ``tree``, or ``None`` when there is no file."""
        blob = blob_at(tree, path)
        if blob is None:
            return None
        return self.documents.get(blob.id.raw, lambda: load_document(blob.data, source=path))

    def release_info(self, tree: pygit2.Tree | None, slug: str, version: int) -> ReleaseInfo:
        """The record of release ``version`` of ``slug``, which must be in ``tree``."""
        path = release_path(slug, version)
        doc = self.document_at(tree, path)
        assert doc is not None
        recorded = self.index.releases.get((slug, version))
        commit = self.repo[recorded.commit] if recorded else self._origin(path)
        return self._info(slug, version, doc, commit, recorded.key if recorded else None)

    def current_info(self, tree: pygit2.Tree | None, slug: str) -> ReleaseInfo | None:
        """The record of the agent's current release or tombstone, ``None`` if never recorded."""
        path = current_path(slug)
        doc = self.document_at(tree, path)
        if doc is None:
            return None
        if isinstance(doc, AgentTombstone):
            recorded = self.index.tombstones.get(slug)
            commit = self.repo[recorded.commit] if recorded else self._origin(path)
            return self._info(slug, None, doc, commit, recorded.key if recorded else None)
        return self.release_info(tree, slug, doc.version)

    def recorded_info(self, recorded: Recorded, slug: str, key: str) -> ReleaseInfo:
        """The record of a change already made under ``key``.

        Raises:
            ReleaseConflict: the key was used for another agent.
        """
        if recorded.slug != slug:
            raise ReleaseConflict(
                f"the idempotency key {key!r} was already used for the agent {recorded.slug!r} "
                f"(commit {str(recorded.commit)[:12]}); use a key unique to each change"
            )
        commit = self.repo[recorded.commit]
        assert isinstance(commit, pygit2.Commit)
        version = recorded.version
        path = current_path(slug) if version is None else release_path(slug, version)
        doc = self.document_at(commit.tree, path)
        assert doc is not None
        return self._info(slug, recorded.version, doc, commit, recorded.key)

    def _origin(self, path: str) -> pygit2.Commit:
        """The commit that last set ``path`` to its current content (for hand-made commits)."""
        tip = self.index.tip
        assert tip is not None
        tip_tree = self.tree(tip)
        assert tip_tree is not None
        want = tip_tree[path].id
        origin: pygit2.Commit | None = None
        previous = None
        for commit in self.repo.walk(tip, SortMode.TOPOLOGICAL | SortMode.REVERSE):
            try:
                blob_id = commit.tree[path].id
            except KeyError:
                blob_id = None
            if blob_id == want and previous != want:
                origin = commit
            previous = blob_id
        assert origin is not None
        return origin

    @staticmethod
    def _info(
        slug: str,
        version: int | None,
        doc: ReleaseDocument,
        commit: object,
        key: str | None,
    ) -> ReleaseInfo:
        assert isinstance(commit, pygit2.Commit)
        author = commit.author
        try:
            time = datetime.fromtimestamp(author.time, timezone(timedelta(minutes=author.offset)))
        except (OverflowError, ValueError, OSError) as exc:
            # Only a commit made elsewhere (or before the store checked times) can hold one.
            raise ReleaseStoreError(
                f"commit {str(commit.id)[:12]} records an author time Python cannot represent "
                f"({author.time} {author.offset:+d} min): {exc}"
            ) from exc
        return ReleaseInfo(
            slug=slug,
            version=version,
            document=doc,
            commit=str(commit.id),
            author=f"{author.name} <{author.email}>",
            time=time,
            key=key,
        )
