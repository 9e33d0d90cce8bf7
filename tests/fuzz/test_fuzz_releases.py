"""The Git release store (``agentfsm.releases``) under hostile input, on a real repository.

Contracts (``GitReleaseStore`` docstrings): ``record_release``/``record_deletion`` raise
``InvalidInput`` (``ReleaseDocumentError`` for a bad image, replicas, config or time) or a
``ReleaseStoreError``; reads raise ``InvalidInput`` or ``ReleaseNotFound``. A refused call
moves no branch; an accepted one stores exactly what was given (replicas an ``int``, config
``str -> str``) and cannot change what another agent's idempotency keys answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pygit2
from hypothesis import example, given
from hypothesis import strategies as st

from agentfsm import InvalidInput
from agentfsm.releases import RELEASE_EVENTS, GitReleaseStore, ReleaseInfo, ReleaseStoreError

from . import _hostile as h
from ._tally import attempt, expect, fuzz_settings, unchanged

FUZZ = fuzz_settings(20)
WRITE_ERRORS = (InvalidInput, ReleaseStoreError)
IMAGE = "ghcr.io/recif/corail:1.0"


def _store(path: Path) -> GitReleaseStore:
    return GitReleaseStore(path, author=("Release bot", "bot@example.com"), fsync=False,
                           gc_every=None, repack_every=None)  # fmt: skip


def _refs(path: Path) -> dict[str, str]:
    repo = pygit2.Repository(str(path))
    return {name: str(repo.references[name].target) for name in repo.references}


def _fresh(tmp_path: Path) -> tuple[Path, GitReleaseStore]:
    path = tmp_path / f"state-{uuid.uuid4().hex[:8]}.git"
    store = _store(path)
    store.record_release("victim", event="AgentDeployed", image=IMAGE, replicas=2,
                         config={"model": "a"}, at=h.T0, key="v-1")  # fmt: skip
    return path, store


def _valid_or(valid: st.SearchStrategy[Any], *hostile: st.SearchStrategy[Any]) -> Any:
    return st.one_of(valid, valid, *hostile)


release_args = st.fixed_dictionaries(
    {
        "slug": _valid_or(st.sampled_from(("attacker", "victim")), h.text(), h.anything()),
        "event": _valid_or(st.sampled_from(RELEASE_EVENTS), h.text(), h.anything()),
        "image": _valid_or(st.just(IMAGE), h.text(), h.anything()),
        "replicas": _valid_or(st.integers(1, 10), st.sampled_from(("3", 3.0, True)), h.ints()),
        "config": _valid_or(
            st.just({"model": "b"}),
            st.dictionaries(h.text(), st.one_of(h.text(), h.anything()), max_size=2),
            h.odd_mappings(),
            h.anything(),
        ),
        "at": _valid_or(st.just(h.T0), h.datetimes(), h.anything()),
        "key": _valid_or(st.just("a-1"), h.text(), h.anything()),
        "changelog": _valid_or(st.none(), h.text(), h.anything()),
    }
)


FORGED_TRAILERS = "x:1\n\nAgent: victim\nRelease: 1\nIdempotency-Key: v-2\n---"


@FUZZ
@given(args=release_args)
@example(
    args={"slug": "attacker", "event": "AgentDeployed", "image": FORGED_TRAILERS, "replicas": 1,
          "config": {}, "at": h.T0, "key": "a-1", "changelog": None}
)  # fmt: skip
def test_fuzz_record_release(tmp_path: Path, args: dict[str, Any]) -> None:
    """Hostile release arguments: recorded as given, or refused with no branch moved; and the
    victim's next key still writes the victim's next release."""
    path, store = _fresh(tmp_path)
    real = {k: h.real(v) for k, v in args.items()}
    slug = real.pop("slug")
    before = _refs(path)
    result = attempt(
        "GitReleaseStore.record_release",
        WRITE_ERRORS,
        lambda: store.record_release(slug, **real),
        slug,
        real,
    )
    store.close()
    if isinstance(result, BaseException):
        unchanged("GitReleaseStore.record_release", before, _refs(path), slug, real)
    elif isinstance(result, ReleaseInfo):
        replicas, config = real["replicas"], real["config"]
        expect(
            "GitReleaseStore.record_release",
            type(replicas) is int
            and isinstance(config, Mapping)
            and all(type(k) is str and type(v) is str for k, v in dict(config).items()),
            "accepted replicas or config of the wrong type",
            replicas,
            config,
        )
    # Whatever the attacker wrote, a freshly opened store writes the victim's next release for
    # key v-2: v2, or v3 when the call above was itself a new release of the victim's (the
    # fuzzed slug may be "victim": then that call was the victim's own, not another agent's).
    own = isinstance(result, ReleaseInfo) and result.slug == "victim" and result.version == 2
    following = 3 if own else 2
    reopened = attempt("GitReleaseStore(open)", (), lambda: _store(path), path)
    if isinstance(reopened, GitReleaseStore):
        victim = attempt(
            "GitReleaseStore.record_release",
            WRITE_ERRORS,
            lambda: reopened.record_release("victim", event="AgentConfigChanged", image=IMAGE,
                                            replicas=3, config={}, at=h.T0, key="v-2"),
            "victim after", slug, real,
        )  # fmt: skip
        expect(
            "GitReleaseStore.record_release",
            isinstance(victim, ReleaseInfo) and victim.version == following,
            "the victim's key v-2 did not write the victim's next release",
            slug,
            real,
        )
        history = attempt(
            "GitReleaseStore.history", (InvalidInput,), lambda: reopened.history("victim"), slug
        )
        expect(
            "GitReleaseStore.history",
            isinstance(history, list)
            and [i.version for i in history] == list(range(1, following + 1)),
            "the victim's history is not its releases in order",
            slug,
            real,
        )
        reopened.close()


@FUZZ
@given(
    slug=_valid_or(st.just("victim"), h.text(), h.anything()),
    at=_valid_or(st.just(h.T0), h.datetimes(), h.anything()),
    key=_valid_or(st.just("d-1"), h.text(), h.anything()),
    version=st.one_of(st.integers(-2, 3), h.ints(), h.anything()),
)
def test_fuzz_record_deletion_and_reads(
    tmp_path: Path, slug: Any, at: Any, key: Any, version: Any
) -> None:
    """Hostile deletions and reads: an answer or a documented error, no branch moved by a
    refusal, and the history readable afterwards."""
    path, store = _fresh(tmp_path)
    slug, at, key, version = (h.real(v) for v in (slug, at, key, version))
    before = _refs(path)
    result = attempt(
        "GitReleaseStore.record_deletion",
        WRITE_ERRORS,
        lambda: store.record_deletion(slug, at=at, key=key),
        slug,
        at,
        key,
    )
    if isinstance(result, BaseException):
        unchanged("GitReleaseStore.record_deletion", before, _refs(path), slug, at, key)
    reads = (InvalidInput, ReleaseStoreError)
    attempt("GitReleaseStore.history", reads, lambda: store.history(slug), slug)
    attempt("GitReleaseStore.current", reads, lambda: store.current(slug), slug)
    attempt("GitReleaseStore.release", reads, lambda: store.release(slug, version), slug, version)
    attempt("GitReleaseStore.release", reads, lambda: store.release("victim", version), version)
    store.close()
    reopened = _store(path)
    attempt("GitReleaseStore.history", (InvalidInput,), lambda: reopened.history("victim"))
    reopened.close()
