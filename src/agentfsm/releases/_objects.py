"""Git objects built in memory: blobs, trees and commits, with their ids.

The store does not ask libgit2 to write its objects (libgit2 writes each one as a loose file and,
with fsync on, flushes every one of them and its directory: most of a commit's time). It encodes
them here instead, in Git's own format (``"<type> <size>\\0<content>"`` hashed with SHA-1), and
hands the whole set to the pack writer, which puts them on disk as one small pack.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import attrs

from agentfsm.releases._errors import ReleaseStoreError

# Pack type codes (they are also how the pack writer tells the kinds apart).
COMMIT = 1
TREE = 2
BLOB = 3
_NAMES = {COMMIT: b"commit", TREE: b"tree", BLOB: b"blob"}

FILE_MODE = b"100644"
TREE_MODE = b"40000"


@attrs.frozen
class GitObject:
    """One object: its pack type code, its content (without the header) and its 20-byte id."""

    kind: int
    data: bytes
    id: bytes

    @property
    def hex(self) -> str:
        """The id as 40 hexadecimal digits."""
        return self.id.hex()


def make_object(kind: int, data: bytes) -> GitObject:
    """The object of type ``kind`` (``COMMIT``, ``TREE`` or ``BLOB``) holding ``data``."""
    header = b"%s %d\x00" % (_NAMES[kind], len(data))
    return GitObject(kind, data, hashlib.sha1(header + data).digest())


@attrs.frozen
class TreeEntries:
    """A tree's entries in Git's order, ready to splice.

    ``keys`` are the names Git sorts by (a subtree's name with a ``/`` appended); ``encoded``
    are the entries as they appear in the tree object (``mode name\\0id``). Changing one entry
    is a binary search and a list copy, so a directory of many agents costs little per commit.
    """

    keys: tuple[bytes, ...]
    encoded: tuple[bytes, ...]

    @staticmethod
    def parse(data: bytes) -> TreeEntries:
        """The entries of a tree object's content."""
        pairs: list[tuple[bytes, bytes]] = []
        pos, end = 0, len(data)
        while pos < end:
            space = data.index(b" ", pos)
            nul = data.index(b"\x00", space)
            stop = nul + 21
            if stop > end:
                raise ReleaseStoreError("a tree object in the repository is truncated")
            mode, name = data[pos:space], data[space + 1 : nul]
            pairs.append((_key(mode, name), data[pos:stop]))
            pos = stop
        pairs.sort()  # already in Git's order for any tree Git wrote; cheap when sorted
        return TreeEntries(tuple(k for k, _ in pairs), tuple(e for _, e in pairs))

    def find(self, name: bytes) -> tuple[bytes, bytes] | None:
        """``(mode, id)`` of the entry called ``name``, or ``None``."""
        for key in (name + b"/", name):
            i = bisect_left(self.keys, key)
            if i < len(self.keys) and self.keys[i] == key:
                entry = self.encoded[i]
                return entry[: entry.index(b" ")], entry[-20:]
        return None

    def with_entry(self, mode: bytes, name: bytes, oid: bytes) -> TreeEntries:
        """These entries with ``name`` set to ``(mode, oid)`` (added or replaced)."""
        key = _key(mode, name)
        entry = b"%s %s\x00%s" % (mode, name, oid)
        keys, encoded = list(self.keys), list(self.encoded)
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            encoded[i] = entry
        else:
            keys.insert(i, key)
            encoded.insert(i, entry)
        return TreeEntries(tuple(keys), tuple(encoded))

    def encode(self) -> bytes:
        """The tree object's content."""
        return b"".join(self.encoded)


EMPTY_TREE = TreeEntries((), ())


def _key(mode: bytes, name: bytes) -> bytes:
    return name + b"/" if mode == TREE_MODE else name


class TreeCache:
    """Tree entries by id: the trees the store wrote lately, and those it read.

    Ids name content, so an entry never goes stale. Writing a release reads the trees on its
    paths in the tip's tree, which are, most of the time, the ones the previous commit wrote:
    keeping them here spares parsing them back from the repository.

    Args:
        load: returns a tree object's content by id (from the repository).
        size: how many trees to keep.
    """

    def __init__(self, load: Callable[[bytes], bytes], size: int = 512) -> None:
        self._load = load
        self._size = size
        self._trees: dict[bytes, TreeEntries] = {}

    def get(self, oid: bytes) -> TreeEntries:
        """The entries of the tree ``oid``."""
        entries = self._trees.get(oid)
        if entries is None:
            entries = TreeEntries.parse(self._load(oid))
            self.put(oid, entries)
        return entries

    def put(self, oid: bytes, entries: TreeEntries) -> None:
        """Remember the entries of the tree ``oid``."""
        if len(self._trees) >= self._size:
            # Forget the oldest half (dicts keep insertion order): cheap and good enough.
            for old in list(self._trees)[: self._size // 2]:
                del self._trees[old]
        self._trees[oid] = entries


def write_tree(
    trees: TreeCache,
    tree: bytes | None,
    files: Mapping[str, bytes],
    out: list[GitObject],
    *,
    where: str = "",
) -> bytes:
    """Build the tree that is ``tree`` with each ``path -> blob id`` of ``files`` set.

    Only the trees on the changed paths are new; every other entry keeps its id. The new trees
    are appended to ``out`` (deepest first).

    Args:
        trees: the entries of trees already in the repository, by id; the new trees are
            added to it.
        tree: the id of the tree to start from, or ``None`` for an empty one.
        files: ``"dir/sub/name" -> blob id`` (20 bytes).
        out: where the new tree objects go.

    Returns:
        The new tree's id.

    Raises:
        ReleaseStoreError: a path runs through a file, or ends on a directory.
    """
    entries = EMPTY_TREE if tree is None else trees.get(tree)
    nested: dict[str, dict[str, bytes]] = {}
    for path, blob in files.items():
        head, sep, rest = path.partition("/")
        if sep:
            nested.setdefault(head, {})[rest] = blob
            continue
        name = head.encode()
        found = entries.find(name)
        if found is not None and found[0] == TREE_MODE:
            raise ReleaseStoreError(
                f"{where}{head} is a directory in the repository where the store writes a file; "
                "move it away by hand"
            )
        entries = entries.with_entry(FILE_MODE, name, blob)
    for head, sub_files in nested.items():
        name = head.encode()
        found = entries.find(name)
        if found is not None and found[0] != TREE_MODE:
            raise ReleaseStoreError(
                f"{where}{head} is a file in the repository where the store expects a directory; "
                "move it away by hand"
            )
        sub = write_tree(
            trees, None if found is None else found[1], sub_files, out, where=f"{where}{head}/"
        )
        entries = entries.with_entry(TREE_MODE, name, sub)
    obj = make_object(TREE, entries.encode())
    trees.put(obj.id, entries)
    out.append(obj)
    return obj.id


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def whole_seconds(when: datetime) -> int:
    """Seconds since 1970 of an aware ``when``, rounded down exactly.

    ``int(when.timestamp())`` goes through a float, which rounds 23:59:59.999999 up into the
    next second (and the last second of 9999 into a year Python cannot represent).
    """
    return (when - _EPOCH) // timedelta(seconds=1)


def _signature(name: str, email: str, when: datetime) -> bytes:
    offset = when.utcoffset()
    minutes = 0 if offset is None else int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{name} <{email}> {whole_seconds(when)} {sign}{hours:02d}{mins:02d}".encode()


def make_commit(
    tree: bytes,
    parent: bytes | None,
    author: tuple[str, str],
    authored: datetime,
    committed: datetime,
    message: str,
) -> GitObject:
    """A commit object.

    Args:
        tree: the root tree's id.
        parent: the parent commit's id, or ``None`` for the first commit.
        author: ``(name, email)``, used as author and committer (already checked: no ``<``,
            ``>`` or newline).
        authored, committed: the author and committer times (timezone-aware); each is written
            with its own offset.
        message: the commit message (UTF-8, Git's default, so no ``encoding`` header).
    """
    name, email = author
    lines = [b"tree " + tree.hex().encode()]
    if parent is not None:
        lines.append(b"parent " + parent.hex().encode())
    lines.append(b"author " + _signature(name, email, authored))
    lines.append(b"committer " + _signature(name, email, committed))
    return make_object(COMMIT, b"\n".join(lines) + b"\n\n" + message.encode())
