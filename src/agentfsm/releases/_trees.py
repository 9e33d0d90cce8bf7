"""Where the store's files live, and reading them from Git trees directly (no work tree).

Writing is ``_objects.write_tree``: a change to a few files rewrites only the trees on their
paths; every other subtree is shared with the parent commit by id.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pygit2

from agentfsm.releases._documents import ReleaseDocument, load_document
from agentfsm.releases._objects import TREE_MODE, TreeCache

AGENTS = "agents"
_VERSION_FILE = re.compile(r"v([1-9][0-9]*)\.yaml")


def release_path(slug: str, version: int) -> str:
    """``agents/{slug}/releases/v{N}.yaml``; ``slug`` must already be checked."""
    return f"{AGENTS}/{slug}/releases/v{version}.yaml"


def current_path(slug: str) -> str:
    """``agents/{slug}/current.yaml``; ``slug`` must already be checked."""
    return f"{AGENTS}/{slug}/current.yaml"


def blob_at(tree: pygit2.Tree | None, path: str) -> pygit2.Blob | None:
    """The file at ``path`` in ``tree``, or ``None`` when there is none."""
    if tree is None:
        return None
    try:
        obj = tree[path]
    except KeyError:
        return None
    return obj if isinstance(obj, pygit2.Blob) else None


def read_blob(tree: pygit2.Tree | None, path: str) -> bytes | None:
    """The content of the file at ``path`` in ``tree``, or ``None`` when there is none."""
    blob = blob_at(tree, path)
    return None if blob is None else blob.data


class DocumentCache:
    """Parsed documents by blob id (a blob id names its content, so entries never go stale).

    Planning a release reads the agent's ``current.yaml``; parsing YAML and validating it costs
    more than the rest of a commit, and the document is most often one this store wrote.
    Documents are frozen models, safe to share.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._docs: dict[bytes, ReleaseDocument] = {}

    def get(self, blob_id: bytes, load: Callable[[], ReleaseDocument]) -> ReleaseDocument:
        """The document in the blob ``blob_id``, parsed with ``load`` unless already known."""
        doc = self._docs.get(blob_id)
        if doc is None:
            doc = load()
            self.put(blob_id, doc)
        return doc

    def put(self, blob_id: bytes, doc: ReleaseDocument) -> None:
        """Remember that the blob ``blob_id`` holds ``doc``."""
        if len(self._docs) >= self._size:
            for old in list(self._docs)[: self._size // 2]:
                del self._docs[old]
        self._docs[blob_id] = doc


def release_versions(tree: pygit2.Tree | None, slug: str) -> list[int]:
    """The release numbers present under ``agents/{slug}/releases``, ascending."""
    if tree is None:
        return []
    try:
        releases = tree[f"{AGENTS}/{slug}/releases"]
    except KeyError:
        return []
    if not isinstance(releases, pygit2.Tree):
        return []
    versions = []
    for entry in releases:
        match = _VERSION_FILE.fullmatch(entry.name or "")
        if match:
            versions.append(int(match.group(1)))
    return sorted(versions)


def agent_slugs(tree: pygit2.Tree | None) -> list[str]:
    """The slugs that have a directory under ``agents/``, sorted."""
    if tree is None:
        return []
    try:
        agents = tree[AGENTS]
    except KeyError:
        return []
    if not isinstance(agents, pygit2.Tree):
        return []
    return sorted(e.name for e in agents if isinstance(e, pygit2.Tree) and e.name)


class TipView:
    """The branch tip as the write path reads it: from the caches, not through libgit2.

    Planning a release looks at a handful of paths in the tip's tree. When the tip is this
    store's own last commit (the usual case), its trees are in the tree cache and its documents
    in the document cache, so nothing is read from the repository; anything missing (another
    writer's commit) is read by id, from whatever pack holds it.

    Args:
        trees: tree entries by id.
        documents: parsed documents by blob id.
        root: the tip's root tree id, ``None`` before the first commit.
        read_blob: a blob's content by id.
        tree: the tip's tree through libgit2, for the rarer reads that need it.
    """

    def __init__(
        self,
        trees: TreeCache,
        documents: DocumentCache,
        root: bytes | None,
        read_blob: Callable[[bytes], bytes],
        tree: Callable[[], pygit2.Tree | None],
    ) -> None:
        self.root = root
        self._trees = trees
        self._documents = documents
        self._read_blob = read_blob
        self._tree = tree

    @property
    def tree(self) -> pygit2.Tree | None:
        """The tip's tree through libgit2."""
        return self._tree()

    def entry(self, path: str) -> tuple[bytes, bytes] | None:
        """``(mode, id)`` of the entry at ``path``, or ``None``."""
        if self.root is None:
            return None
        found: tuple[bytes, bytes] | None = (TREE_MODE, self.root)
        for name in path.split("/"):
            if found is None or found[0] != TREE_MODE:
                return None
            found = self._trees.get(found[1]).find(name.encode())
        return found

    def document(self, path: str) -> ReleaseDocument | None:
        """The document at ``path``, or ``None`` when there is no file there."""
        found = self.entry(path)
        if found is None or found[0] == TREE_MODE:
            return None
        blob_id = found[1]
        return self._documents.get(
            blob_id, lambda: load_document(self._read_blob(blob_id), source=path)
        )

    def versions(self, slug: str) -> list[int]:
        """The release numbers under ``agents/{slug}/releases``, ascending."""
        found = self.entry(f"{AGENTS}/{slug}/releases")
        if found is None or found[0] != TREE_MODE:
            return []
        versions = []
        for key in self._trees.get(found[1]).keys:
            match = _VERSION_FILE.fullmatch(key.decode(errors="replace"))
            if match:
                versions.append(int(match.group(1)))
        return sorted(versions)
