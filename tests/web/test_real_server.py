"""The API served by uvicorn on a loopback port, on a SQLite file, driven by httpx."""

from __future__ import annotations

from pathlib import Path

import httpx

from agentfsm.http import PROBLEM_BASE
from tests.web.support import API, bearer, make_app, real_server, running_alfe, sqlite_where


def test_a_real_server_creates_stops_and_refuses(tmp_path: Path) -> None:
    where = sqlite_where(tmp_path)
    with real_server(make_app("sqlite", where)) as url, httpx.Client(base_url=url) as client:
        running_alfe(client, "acme.live")
        stopped = client.post(f"{API}/agents/acme.live/stop", headers=bearer("alice-token"))
        assert stopped.status_code == 200
        assert stopped.json()["snapshot"]["status"] == "stopping"
        again = client.post(f"{API}/agents/acme.live/stop", headers=bearer("alice-token"))
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
        assert again.json()["type"] == PROBLEM_BASE + "refused"
        assert client.get(f"{API}/openapi.json").status_code == 200
    # The file holds what the server wrote: a new server on it sees the agent as it was left.
    with real_server(make_app("sqlite", where)) as url, httpx.Client(base_url=url) as client:
        agent = client.get(f"{API}/agents/acme.live", headers=bearer("alice-token")).json()
        assert (agent["status"], agent["version"]) == ("stopping", 4)


def test_regression_a_pre_bound_socket_kept_nagle_and_each_answer_waited_40_ms() -> None:
    import socket

    from agentfsm.http._serve import listening_socket

    sock = listening_socket("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()


def test_regression_serve_printed_its_address_before_it_listened_and_refused_connections() -> None:
    # ``agentfsm serve`` prints the address, then starts uvicorn: a client that connects at once
    # must wait in the backlog, not be refused because the socket was only bound.
    import socket

    from agentfsm.http._serve import listening_socket

    sock = listening_socket("127.0.0.1", 0)
    try:
        with socket.create_connection(sock.getsockname(), timeout=5):
            pass
    finally:
        sock.close()
