"""Which commit recorded what: an in-memory index rebuilt from the commit message trailers.

Every commit the store makes ends with trailers naming the agent, the release version (or
``tombstone``) and the idempotency key. The trailers are the durable record; this index is only
a cache of them, brought up to the branch tip before every decision by walking the commits added
since the tip it last saw. A writer in another process is therefore seen as soon as its commit
is on the branch, which is what makes "the same key twice makes one release" hold across
processes: the check and the compare-and-swap of the branch both happen against the same tip.
"""

from __future__ import annotations

import attrs
import pygit2
from pygit2.enums import SortMode

TRAILER_AGENT = "Agent"
TRAILER_RELEASE = "Release"
TRAILER_KEY = "Idempotency-Key"
TOMBSTONE = "tombstone"


def commit_message(summary: str, body: str, slug: str, version: int | None, key: str) -> str:
    """A commit message: a summary line, a paragraph for people, then the store's trailers."""
    release = TOMBSTONE if version is None else str(version)
    return (
        f"{summary}\n\n{body}\n\n"
        f"{TRAILER_AGENT}: {slug}\n{TRAILER_RELEASE}: {release}\n{TRAILER_KEY}: {key}\n"
    )


@attrs.frozen
class Recorded:
    """What one commit recorded, read from its trailers."""

    slug: str
    version: int | None
    key: str | None
    commit: pygit2.Oid


def _recorded(commit: pygit2.Commit) -> Recorded | None:
    try:
        trailers = commit.message_trailers
    except (pygit2.GitError, ValueError):  # a hand-made commit with an odd message
        return None
    slug, release = trailers.get(TRAILER_AGENT), trailers.get(TRAILER_RELEASE)
    if not slug or not release:
        return None
    if release == TOMBSTONE:
        version = None
    elif release.isdigit():
        version = int(release)
    else:
        return None
    return Recorded(slug, version, trailers.get(TRAILER_KEY), commit.id)


class CommitIndex:
    """Idempotency keys, release commits and tombstone commits, as of ``tip``."""

    def __init__(self) -> None:
        self.tip: pygit2.Oid | None = None
        self.by_key: dict[str, Recorded] = {}
        self.releases: dict[tuple[str, int], Recorded] = {}
        self.tombstones: dict[str, Recorded] = {}

    def _clear(self) -> None:
        self.tip = None
        self.by_key.clear()
        self.releases.clear()
        self.tombstones.clear()

    def refresh(self, repo: pygit2.Repository, tip: pygit2.Oid | None) -> None:
        """Bring the index up to ``tip`` (rebuilding it when history was rewritten)."""
        if tip == self.tip:
            return
        if tip is None:
            self._clear()
            return
        added = self._since(repo, tip)
        if added is None:  # the branch was rewritten (or is new to us): start over
            self._clear()
            added = list(repo.walk(tip, SortMode.TOPOLOGICAL | SortMode.REVERSE))
        for commit in added:
            recorded = _recorded(commit)
            if recorded is not None:
                self._add(recorded)
        self.tip = tip

    def advance(self, parent: pygit2.Oid | None, recorded: Recorded) -> None:
        """Take in the commit this process just put on top of ``parent``.

        The store knows what its own commit recorded, so when the index is at ``parent`` there
        is nothing to read back from the repository. Otherwise the next ``refresh`` catches up.
        """
        if self.tip == parent:
            self._add(recorded)
            self.tip = recorded.commit

    def _since(self, repo: pygit2.Repository, tip: pygit2.Oid) -> list[pygit2.Commit] | None:
        """The commits after ``self.tip`` up to ``tip``, oldest first; ``None`` when ``tip``
        does not descend from ``self.tip`` along a straight line of commits.

        The store only ever adds one commit on top of the tip, so following first parents
        finds the last known tip in a few steps; this avoids libgit2's merge-base search.
        """
        if self.tip is None:
            return None
        found: list[pygit2.Commit] = []
        commit = repo[tip]
        while isinstance(commit, pygit2.Commit) and len(commit.parent_ids) == 1:
            found.append(commit)
            if commit.parent_ids[0] == self.tip:
                found.reverse()
                return found
            commit = repo[commit.parent_ids[0]]
        return None

    def _add(self, recorded: Recorded) -> None:
        if recorded.key is not None:
            self.by_key.setdefault(recorded.key, recorded)
        if recorded.version is None:
            self.tombstones[recorded.slug] = recorded
        else:
            self.releases.setdefault((recorded.slug, recorded.version), recorded)
