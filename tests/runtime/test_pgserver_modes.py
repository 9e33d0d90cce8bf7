"""``ThrowawayPostgres``: quick by default (no flush to disk), durable when asked."""

from __future__ import annotations

import pytest

from agentfsm.runtime import ThrowawayPostgres
from agentfsm.runtime._pgserver import INSTALL_HINT, find_pg_bin

SETTINGS = ("fsync", "synchronous_commit", "full_page_writes")


def _settings(server: ThrowawayPostgres) -> dict[str, str]:
    import psycopg

    with psycopg.connect(server.dsn, autocommit=True) as conn:
        return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in SETTINGS}  # type: ignore[index]


@pytest.mark.parametrize(("durable", "expected"), [(False, "off"), (True, "on")])
def test_the_throwaway_server_flushes_commits_only_when_durable(
    durable: bool, expected: str
) -> None:
    if find_pg_bin() is None:
        pytest.skip(INSTALL_HINT)
    with ThrowawayPostgres(durable=durable) as server:
        assert server.durable is durable
        assert _settings(server) == dict.fromkeys(SETTINGS, expected)
