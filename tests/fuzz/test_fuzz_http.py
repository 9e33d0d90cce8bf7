"""Every route of the HTTP API under hostile requests, on a real SQLite file.

Contracts: every answer is a success or an RFC 9457 problem of a documented type (never a 500,
never another body), its status the one its type documents; and a request that is refused or
fails changes nothing: the agents, the outbox and the timers are as they were, and the audit
log gains at most the refusal's own row.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentfsm.http import PROBLEM_BASE, PROBLEM_TYPES
from agentfsm.runtime import SQLiteStore
from tests.web.support import API, bearer, make_app, running_alfe

from . import _hostile as h
from ._tally import expect, fuzz_settings, unchanged

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

FUZZ = fuzz_settings(40)
OWN = "acme.fz"
EVENTS = ("stop", "start", "restart", "recreate", "delete", "connected", "provision",
          "billing_suspend", "scale", "update_config", "purge", "nope")  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    where = tmp_path_factory.mktemp("http-fuzz") / "agents.db"
    with TestClient(make_app("sqlite", str(where)), raise_server_exceptions=False) as client:
        running_alfe(client, OWN)
        yield client, where


def _state(where: Path) -> tuple[Any, ...]:
    store = SQLiteStore(where)
    try:
        return (
            tuple(store.agents()),
            tuple(store.audit_log()),
            tuple(store.outbox()),
            tuple(store.timers()),
        )
    finally:
        store.close()


def _json_values() -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(st.characters(codec=None, exclude_categories=()), max_size=20),
        st.sampled_from(h.SPECIAL_TEXT),
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(h.PAYLOAD_KEYS) | st.text(max_size=5), inner, max_size=3
            )
        ),
        max_leaves=8,
    )


RAW_BODIES = (
    b"",
    b"{",
    b"null",
    b"[]",
    b'"confirmation"',
    b'{"confirmation": NaN}',
    b'{"confirmation": "\\ud800"}',
    b'{"replicas": ' + b"9" * 5000 + b"}",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"confirmation": "a", "confirmation": 1}',
    b"\xff\xfe{}",
    b'{"agent_id": "acme.n", "machine": "alfe", "data": {"agent_id": "\\udcff", "name": "x"}}',
    b'{"agent_id": "acme.n", "machine": "alfe", "data": {"@type": "RecifAgent", "slug": "x"}}',
    b'{"agent_id": "acme.n", "machine": "recif", "data": {"slug": "NOT A SLUG"}}',
    b'{"agent_id": "evil.n", "machine": "alfe", "data": {"agent_id": "n", "name": "x"}}',
)


def _bodies() -> st.SearchStrategy[bytes | None]:
    encoded = _json_values().map(lambda v: json.dumps(v, ensure_ascii=True).encode("ascii"))
    return st.none() | st.sampled_from(RAW_BODIES) | encoded


def _segment() -> st.SearchStrategy[str]:
    """A path segment: the agent's own id, another tenant's, text (percent-encoded, lone
    surrogates as the bytes they would be), or a raw escape that is not UTF-8."""

    def encoded(text: str) -> str:
        return quote(text.encode("utf-8", "surrogatepass"), safe="")

    return st.one_of(
        st.just(quote(OWN, safe="")),
        st.sampled_from(("evil.x", "acme.none", "%ED%A0%80", "%FF", "%00", "..", "a%2Fb")),
        st.text(st.characters(codec=None, exclude_categories=()), max_size=30).map(encoded),
        st.sampled_from(h.SPECIAL_TEXT).map(encoded),
    )


def _headers() -> st.SearchStrategy[dict[str, bytes]]:
    tokens = st.sampled_from(("alice-token", "pf-token", "mallory-token", "nobody", ""))
    keys = (
        st.none()
        | st.sampled_from(("k1", "k" * 1025, " ", "\t", "é"))
        | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
    )

    def build(token: str, key: str | None, content: str | None) -> dict[str, bytes]:
        out = {k: v.encode() for k, v in bearer(token).items()} if token else {}
        if key is not None:
            out["Idempotency-Key"] = key.encode("latin-1")  # bytes as sent on the wire
        if content is not None:
            out["content-type"] = content.encode()
        return out

    return st.builds(
        build,
        tokens,
        keys,
        st.none()
        | st.sampled_from(("application/json", "text/plain", "application/x-www-form-urlencoded")),
    )


def _requests() -> st.SearchStrategy[tuple[str, str]]:
    seg = _segment()
    query = st.none() | st.dictionaries(
        st.sampled_from(("cursor", "limit", "model", "status", "x")),
        st.text(
            st.characters(min_codepoint=32, max_codepoint=0x10FFFF - 1, exclude_categories=("Cs",)),
            max_size=12,
        )
        | st.sampled_from(("-1", "0", "9" * 30, "%%%", "MQ==", "@@")),
        max_size=3,
    )

    def with_query(path: str, q: dict[str, str] | None) -> str:
        if not q:
            return path
        return path + "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in q.items())

    return st.one_of(
        st.tuples(st.just("POST"), st.just(f"{API}/agents")),
        st.tuples(st.just("GET"), st.builds(with_query, st.just(f"{API}/agents"), query)),
        st.tuples(
            st.sampled_from(("GET", "DELETE", "PUT")), seg.map(lambda s: f"{API}/agents/{s}")
        ),
        st.tuples(
            st.just("GET"),
            st.builds(with_query, seg.map(lambda s: f"{API}/agents/{s}/events"), query),
        ),
        st.tuples(
            st.just("POST"),
            st.builds(
                lambda s, e: f"{API}/agents/{s}/{e}", seg, st.sampled_from(EVENTS) | _segment()
            ),
        ),
        st.tuples(st.just("GET"), seg.map(lambda s: f"{API}/machines/{s}")),
        st.tuples(st.just("GET"), seg.map(lambda s: f"{API}/machines/{s}/diagram.svg")),
    )


def _documented(answer: Any) -> bool:
    if answer.status_code < 400:
        return True
    if answer.headers.get("content-type") != "application/problem+json":
        return False
    body = answer.json()
    name = str(body.get("type", "")).removeprefix(PROBLEM_BASE)
    return name in PROBLEM_TYPES and PROBLEM_TYPES[name][0] == answer.status_code == body["status"]


@FUZZ
@given(request=_requests(), body=_bodies(), headers=_headers())
def test_fuzz_every_route(
    served: tuple[TestClient, Path],
    request: tuple[str, str],
    body: bytes | None,
    headers: dict[str, bytes],
) -> None:
    client, where = served
    method, path = request
    before = _state(where)
    answer = client.request(method, path, content=body, headers=headers)
    entry = f"HTTP {method} {path.split('?')[0]}"
    expect(entry, answer.status_code != 500, "a 500", method, path, body, headers)
    expect(entry, _documented(answer), f"an undocumented answer {answer.text[:200]}", path, body)
    if answer.status_code < 400:
        return
    after = _state(where)
    agents, audit, outbox, timers = after
    added = audit[len(before[1]) :]
    if answer.status_code == 409 and answer.json()["type"].endswith("/refused"):
        expect(entry, len(added) == 1 and added[0].refusal is not None, "no refusal row", path)
    else:
        expect(entry, not added, "an audit row for an error", path, body)
    unchanged(entry, (before[0], before[2], before[3]), (agents, outbox, timers), path, body)
