"""The agent program ``LocalProcessHost`` runs: one OS process per managed agent.

It stands in for a real agent's runtime on its host. It connects to the control plane over
loopback TCP, proves it holds its credentials (an HMAC of the server's nonce, so the secret
never crosses the wire), then sends a heartbeat every interval. When the connection drops it
reconnects; when the control plane refuses its credentials it says why on stderr and exits
with ``EXIT_REFUSED``; on SIGTERM it exits 0. It never outlives the control
plane: it asks the kernel to kill it when its parent dies, and gives up after
``--orphan-timeout`` seconds without reaching the control plane.

Standard library only, so it starts fast; it is run as a script (``python -I _agent_program.py
--help``), never imported by the process it stands for.
The wire format is one JSON object per line; the helpers below are shared with the server.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import hmac
import json
import os
import select
import signal
import socket
import sys
import time
from typing import Any

PROTOCOL = "agentfsm-agent/1"
EXIT_REFUSED = 3
EXIT_ORPHANED = 4
_PR_SET_PDEATHSIG = 1


def proof(secret: str, nonce: str, agent: str, generation: int, boot: str) -> str:
    """The HMAC that shows an agent holds ``secret`` for this connection's ``nonce``."""
    message = f"{PROTOCOL}\n{agent}\n{generation}\n{boot}\n{nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def encode(message: dict[str, Any]) -> bytes:
    """One wire message: compact JSON and a newline."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class _Stop(Exception):
    """SIGTERM arrived: leave cleanly."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Stop


def _die_with_parent(parent: int) -> None:
    # Linux only: the kernel sends SIGKILL when the control plane's thread that started us ends.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if parent and os.getppid() != parent:
        sys.exit(EXIT_ORPHANED)  # the parent died before we could ask


def _read_secret(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read().strip()


def _session(args: argparse.Namespace, sock: socket.socket) -> str:
    """One connection: authenticate, then heartbeat until it drops. Returns why it ended."""
    reader = sock.makefile("rb")
    challenge = json.loads(reader.readline() or b"{}")
    nonce = str(challenge.get("nonce", ""))
    secret = _read_secret(args.credentials)
    hello = {
        "type": "hello",
        "protocol": PROTOCOL,
        "agent": args.agent,
        "host": args.host,
        "generation": args.generation,
        "boot": args.boot,
        "pid": os.getpid(),
        "proof": proof(secret, nonce, args.agent, args.generation, args.boot),
    }
    sock.sendall(encode(hello))
    interval = args.interval_ms / 1000.0
    seq = 0
    next_beat = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= next_beat:
            seq += 1
            sock.sendall(encode({"type": "heartbeat", "seq": seq}))
            next_beat = now + interval
        ready, _, _ = select.select([sock], [], [], max(0.0, next_beat - time.monotonic()))
        if ready:
            line = reader.readline()
            if not line:
                return "lost"
            message = json.loads(line)
            if message.get("type") == "refused":
                print(f"refused by the control plane: {message.get('reason')}", file=sys.stderr)
                sys.exit(EXIT_REFUSED)


def run(args: argparse.Namespace) -> int:
    """Connect, heartbeat, reconnect; return the exit code."""
    last_contact = time.monotonic()
    backoff = 0.05
    while True:
        try:
            with socket.create_connection(("127.0.0.1", args.port), timeout=5.0) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                last_contact = time.monotonic()
                backoff = 0.05
                _session(args, sock)
        except (OSError, ValueError):
            pass
        if time.monotonic() - last_contact > args.orphan_timeout:
            print("control plane unreachable: exiting", file=sys.stderr)
            return EXIT_ORPHANED
        time.sleep(backoff)
        backoff = min(backoff * 2, 1.0)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the agent until it is told to stop."""
    parser = argparse.ArgumentParser(prog="_agent_program.py")
    parser.add_argument("--port", type=int, required=True, help="control plane port on 127.0.0.1")
    parser.add_argument("--agent", required=True, help="the agent id")
    parser.add_argument("--host", type=int, required=True, help="the host generation")
    parser.add_argument("--generation", type=int, required=True, help="credential generation")
    parser.add_argument("--credentials", required=True, help="file holding the secret (0600)")
    parser.add_argument("--boot", required=True, help="this boot's id, from the control plane")
    parser.add_argument("--interval-ms", type=int, default=1000, help="heartbeat interval")
    parser.add_argument("--parent", type=int, default=0, help="the control plane's pid")
    parser.add_argument("--orphan-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--ignore-sigterm", action="store_true", help="for stop-escalation tests")
    parser.add_argument("--stop-delay-ms", type=int, default=0, help="a slow graceful shutdown")
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return run(args)
    except _Stop:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut this short
        time.sleep(args.stop_delay_ms / 1000.0)
        return 0


if __name__ == "__main__":
    sys.exit(main())
