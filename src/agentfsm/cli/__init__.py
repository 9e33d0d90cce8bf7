"""The ``agentfsm`` command: look at the shipped models, check them, and run the demo.

Everything the command line, its demo, the scripted story and the simulation need lives in this
subpackage; the core (``agentfsm``'s own modules) imports none of it. ``main(argv)`` runs the
command and returns its exit status, so tests and ``python -m agentfsm`` call it directly.
"""

from __future__ import annotations

from agentfsm.cli._app import build_parser, main

__all__ = ["build_parser", "main"]
