"""Reading and writing paths in Git trees directly: no work tree, no index.

A change to a few files rewrites only the trees on their paths; every other subtree is shared
with the parent commit by id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pygit2
from pygit2.enums import FileMode

AGENTS = "agents"
_VERSION_FILE = re.compile(r"v([1-9][0-9]*)\.yaml")


def release_path(slug: str, version: int) -> str:
    """``agents/{slug}/releases/v{N}.yaml``; ``slug`` must already be checked."""
    return f"{AGENTS}/{slug}/releases/v{version}.yaml"


def current_path(slug: str) -> str:
    """``agents/{slug}/current.yaml``; ``slug`` must already be checked."""
    return f"{AGENTS}/{slug}/current.yaml"


def write_paths(
    repo: pygit2.Repository, tree: pygit2.Tree | None, files: Mapping[str, pygit2.Oid]
) -> pygit2.Oid:
    """Write the tree that is ``tree`` with each ``path -> blob id`` of ``files`` set.

    Returns:
        The new root tree's id.
    """
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    nested: dict[str, dict[str, pygit2.Oid]] = {}
    for path, blob in files.items():
        head, sep, rest = path.partition("/")
        if sep:
            nested.setdefault(head, {})[rest] = blob
        else:
            builder.insert(head, blob, FileMode.BLOB)
    for name, sub_files in nested.items():
        sub = _subtree(repo, tree, name)
        builder.insert(name, write_paths(repo, sub, sub_files), FileMode.TREE)
    return builder.write()


def _subtree(repo: pygit2.Repository, tree: pygit2.Tree | None, name: str) -> pygit2.Tree | None:
    if tree is None or name not in tree:
        return None
    entry = tree[name]
    if not isinstance(entry, pygit2.Tree):
        raise ValueError(f"{name!r} is a file in the repository where a directory is expected")
    return entry


def read_blob(tree: pygit2.Tree | None, path: str) -> bytes | None:
    """The content of the file at ``path`` in ``tree``, or ``None`` when there is none."""
    if tree is None:
        return None
    try:
        obj = tree[path]
    except KeyError:
        return None
    return obj.data if isinstance(obj, pygit2.Blob) else None


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
