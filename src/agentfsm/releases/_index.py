"""Which commit recorded what: an in-memory index rebuilt from the commit message trailers.

Every commit the store makes ends with trailers naming the agent, the release version (or
``tombstone``) and the idempotency key. The trailers are the durable record; this index is only
a cache of them, brought up to the branch tip before every decision by walking the commits added
since the tip it last saw. A writer in another process is therefore seen as soon as its commit
is on the branch, which is what makes "the same key twice makes one release" hold across
processes: the check and the compare-and-swap of the branch both happen against the same tip.

A commit message also carries text people wrote (the changelog, which names the image), and that
text must never pass for the store's own record. So the two are kept apart twice over: the text
is written as one quoted line (a JSON string, in which no line break of any kind survives), and
the record is read only from the message's last three lines, in the exact form the store writes
them, never by a general trailer parser that a ``---`` line or a forged paragraph could steer.
The store's own values (a DNS-1123 slug, a number, a one-line key) cannot hold a line break, and
nothing is ever written after them, so no text in the message can reach those lines.
"""

from __future__ import annotations

import json
import re

import attrs
import pygit2
from pygit2.enums import SortMode

from agentfsm._slug import slug_problem

TRAILER_AGENT = "Agent"
TRAILER_RELEASE = "Release"
TRAILER_KEY = "Idempotency-Key"
TOMBSTONE = "tombstone"

# json.dumps leaves these raw, and some readers (Python's splitlines among them) break lines at
# them: escaped, the quoted text is one line however it is read.
_UNICODE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_VERSION = re.compile(r"[1-9][0-9]{0,17}")


def quoted_line(text: str) -> str:
    """``text`` as a JSON string literal on one line, for the part of a message people read."""
    quoted = json.dumps(text, ensure_ascii=False)
    for raw, escaped in _UNICODE_BREAKS.items():
        quoted = quoted.replace(raw, escaped)
    return quoted


def commit_message(summary: str, body: str, slug: str, version: int | None, key: str) -> str:
    """A commit message: a summary line, the quoted text for people, then the store's trailers.

    ``summary`` is made by the store from checked values; ``body`` may be anything (it is
    quoted); ``slug`` and ``key`` were checked to be one line each.
    """
    release = TOMBSTONE if version is None else str(version)
    return (
        f"{summary}\n\n{quoted_line(body)}\n\n"
        f"{TRAILER_AGENT}: {slug}\n{TRAILER_RELEASE}: {release}\n{TRAILER_KEY}: {key}\n"
    )


def read_trailers(raw: bytes) -> tuple[str, str, str] | None:
    """The agent, release and key trailers at the very end of a raw commit message.

    Returns:
        ``(slug, release, key)`` when the message ends with a blank line and exactly the three
        lines the store writes, else ``None`` (a commit someone else made).
    """
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return None
    if not text.endswith("\n"):
        return None
    lines = text[:-1].split("\n")  # only "\n" ends a line in a Git message
    if len(lines) < 5 or lines[-4] != "":
        return None
    values: list[str] = []
    for line, name in zip(lines[-3:], (TRAILER_AGENT, TRAILER_RELEASE, TRAILER_KEY), strict=True):
        prefix = f"{name}: "
        if not line.startswith(prefix):
            return None
        values.append(line[len(prefix) :])
    slug, release, key = values
    if slug_problem(slug) is not None or not key.strip():
        return None
    if release != TOMBSTONE and _VERSION.fullmatch(release) is None:
        return None
    return slug, release, key


@attrs.frozen
class Recorded:
    """What one commit recorded, read from its trailers."""

    slug: str
    version: int | None
    key: str | None
    commit: pygit2.Oid


def _recorded(commit: pygit2.Commit) -> Recorded | None:
    found = read_trailers(commit.raw_message)
    if found is None:
        return None
    slug, release, key = found
    version = None if release == TOMBSTONE else int(release)
    return Recorded(slug, version, key, commit.id)


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
