"""``python -m agentfsm.cli``: the same command as the installed ``agentfsm`` script."""

from agentfsm.cli import main

raise SystemExit(main())
