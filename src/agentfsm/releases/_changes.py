"""One write to the release store: its checked inputs, its plan, and its commit built in memory.

``GitReleaseStore`` makes every change the same way: a plan looks at the branch tip and says which
files to write (or that the change was made already), the commit is built here without touching
the repository, and only then does the store try to publish it. Keeping the building apart from
the retry loop lets the loop read as what it is: read the tip, plan, build, swap, repeat.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pygit2

from agentfsm._errors import InvalidInput
from agentfsm.releases._documents import RELEASE_EVENTS, ReleaseDocument, ReleaseEvent
from agentfsm.releases._index import commit_message
from agentfsm.releases._objects import (
    BLOB,
    GitObject,
    TreeCache,
    make_commit,
    make_object,
    whole_seconds,
    write_tree,
)
from agentfsm.releases._store import ReleaseInfo
from agentfsm.releases._trees import DocumentCache, TipView

MAX_KEY_LENGTH = 200

# Control characters (C0, DEL, C1), lone surrogates, and the line and paragraph separators: none
# may sit in a one-line trailer, and a surrogate cannot even be written as UTF-8.
_NOT_IN_A_LINE = frozenset(("Cc", "Cs", "Zl", "Zp"))


def breaks_a_line(text: str) -> bool:
    """True when ``text`` holds a character that has no place in one line of a commit."""
    return any(unicodedata.category(ch) in _NOT_IN_A_LINE for ch in text)


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for a message about a value that was refused.

    The repr of an int over 4,300 digits raises, and a deep list's recurses without end; a
    refusal must not fail while saying what it refuses.
    """
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_key(key: object) -> str:
    """The idempotency key, if it can be a commit trailer; else ``InvalidInput``."""
    if not isinstance(key, str) or not key.strip():
        shown = repr(key) if isinstance(key, str) else type(key).__name__
        raise InvalidInput(f"an idempotency key must be a non-empty string, not {shown}")
    if len(key) > MAX_KEY_LENGTH or breaks_a_line(key):
        raise InvalidInput(
            f"the idempotency key {key[:40]!r} must be one line of at most {MAX_KEY_LENGTH} "
            "printable characters (it is recorded as a commit trailer)"
        )
    return key


def check_author(author: object) -> tuple[str, str]:
    """The ``(name, email)`` pair, if Git can record it; else ``InvalidInput``."""
    if (
        not isinstance(author, tuple)
        or len(author) != 2
        or not all(isinstance(part, str) and part.strip() for part in author)
        or any(ch in part for part in author for ch in "<>\n")
        or any(breaks_a_line(part) for part in author)
    ):
        raise InvalidInput(
            f"author must be a (name, email) pair of non-empty strings without '<', '>' or "
            f"newlines, such as ('Release bot', 'bot@example.com'); got {shown(author)}"
        )
    return author[0], author[1]


def check_event(event: object) -> ReleaseEvent:
    """The release event, if it is one of ``RELEASE_EVENTS``; else ``InvalidInput``."""
    if isinstance(event, str):
        for known in RELEASE_EVENTS:
            if event == known:
                return known
    raise InvalidInput(
        f"a release is made by one of {', '.join(RELEASE_EVENTS)}, not {shown(event)} "
        "(a deletion is recorded with record_deletion)"
    )


@attrs.frozen
class Change:
    """A change planned on one tip: the files to write and what the commit says."""

    version: int | None
    document: ReleaseDocument
    files: Mapping[str, bytes]
    summary: str
    body: str
    at: datetime


@attrs.frozen
class Prepared:
    """A commit built in memory, with every new object it needs."""

    commit: GitObject
    root: bytes
    objects: tuple[GitObject, ...]


# A plan looks at the tip's tree and returns the change to make, or the info of a change
# already made (nothing to write).
Plan = Callable[[TipView], "Change | ReleaseInfo"]


def build_commit(
    trees: TreeCache,
    documents: DocumentCache,
    author: tuple[str, str],
    view: TipView,
    tip: pygit2.Oid | None,
    slug: str,
    key: str,
    change: Change,
) -> Prepared:
    """Build the commit of ``change`` on ``tip`` in memory (nothing is written yet)."""
    objects: list[GitObject] = []
    blobs: dict[str, bytes] = {}
    for path, data in change.files.items():
        blob = make_object(BLOB, data)
        documents.put(blob.id, change.document)
        if blob not in objects:  # a release's v{N}.yaml and current.yaml are one blob
            objects.append(blob)
        blobs[path] = blob.id
    root = write_tree(trees, view.root, blobs, objects)
    message = commit_message(change.summary, change.body, slug, change.version, key)
    commit = make_commit(
        root,
        None if tip is None else tip.raw,
        author,
        change.at.astimezone(UTC),
        datetime.now().astimezone(),
        message,
    )
    objects.append(commit)
    return Prepared(commit, root, tuple(objects))


def made_info(
    author: tuple[str, str], slug: str, change: Change, commit: str, key: str
) -> ReleaseInfo:
    """The record of a commit just made, as the store would read it back."""
    name, email = author
    # The author time is stored in whole seconds, in UTC (offset +0000).
    seconds = whole_seconds(change.at)
    return ReleaseInfo(
        slug=slug,
        version=change.version,
        document=change.document,
        commit=commit,
        author=f"{name} <{email}>",
        time=datetime.fromtimestamp(seconds, timezone(timedelta(0))),
        key=key,
    )
