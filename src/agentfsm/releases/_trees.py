"""Where the store's files live, and reading them from Git trees directly (no work tree).

Writing is ``_objects.write_tree``: a change to a few files rewrites only the trees on their
paths; every other subtree is shared with the parent commit by id.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pygit2

from agentfsm.releases._documents import ReleaseDocument

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

    def get(self, blob: pygit2.Blob, load: Callable[[], ReleaseDocument]) -> ReleaseDocument:
        """The document in ``blob``, parsed with ``load`` unless it is known already."""
        key = blob.id.raw
        doc = self._docs.get(key)
        if doc is None:
            doc = load()
            self.put(key, doc)
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
