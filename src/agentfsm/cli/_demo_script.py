"""The stories ``agentfsm demo`` tells, as a list of beats over a running ``Platform``.

Each beat says what happens (for the audience), does it (a user action, or a fault injected
into the world: a killed agent process, a config that crash-loops, an empty credit pool), and
says when it is over (a condition on the stored agents). The platform does everything else on
its own: it delivers host reports, fires timers, performs effects, reconciles Recif agents and
enforces billing. Nothing here decides an event: every outcome comes from the machines.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from agentfsm.billing import SQLiteLedger
from agentfsm.hosts import LocalProcessHost
from agentfsm.models import AlfeAgent, RecifAgent, RecifSpec
from agentfsm.platform import Platform, SimulatedCluster
from agentfsm.recif import Fault

MIN_AGENTS, MAX_AGENTS = 5, 12
"""The fleet's size: the stories need five agents; more join as bystanders."""

PRICE_SMALL = 100
"""What an hour of a small Alfe agent costs, in cents."""

TOP_UP = 10_000
"""The top-up that refills the credit pool, in cents."""

GOOD_CONFIG = {"model": "corail-small", "strategy": "react"}
BAD_CONFIG = {"model": "corail-huge", "strategy": "react"}  # more memory than a pod has
_BYSTANDERS = ("atlas", "sentry", "ledger", "beacon", "harbor", "quill", "signal")


@attrs.frozen(slots=True)
class Cast:
    """Who plays which part.

    Attributes:
        alfe: the Alfe agents there from the start (real processes); the first is recreated
            and loses its connection, the second is stopped, started and deleted.
        recif: the Recif agents (simulated cluster); the first crash-loops and recovers, the
            second is scaled and deleted.
        late: the Alfe agent that joins later and overdraws the credit pool.
    """

    alfe: tuple[str, ...]
    recif: tuple[str, ...]
    late: str

    @property
    def everyone(self) -> tuple[str, ...]:
        """Every agent, in the order they appear."""
        return (*self.alfe, *self.recif, self.late)

    def model(self, name: str) -> str:
        """``alfe`` or ``recif``."""
        return "recif" if name in self.recif else "alfe"


def cast_for(agents: int) -> Cast:
    """The cast of a fleet of ``agents`` agents (``MIN_AGENTS`` to ``MAX_AGENTS``).

    Raises:
        ValueError: ``agents`` is out of range.
    """
    if not MIN_AGENTS <= agents <= MAX_AGENTS:
        raise ValueError(f"the demo runs {MIN_AGENTS} to {MAX_AGENTS} agents, not {agents}")
    extra = _BYSTANDERS[: agents - MIN_AGENTS]
    return Cast(
        alfe=("helpdesk", "scribe", *extra[0::2]),
        recif=("triage", "relay", *extra[1::2]),
        late="courier",
    )


class Stage:
    """What the beats act on: the platform and the world around it.

    Args:
        platform: the running platform (ticking in its own thread).
        host: the local-process host its Alfe agents run on.
        cluster: the simulated cluster its Recif agents run on.
        ledger: the credit pool.
        cast: who is who.
    """

    def __init__(
        self,
        platform: Platform,
        host: LocalProcessHost,
        cluster: SimulatedCluster,
        ledger: SQLiteLedger,
        cast: Cast,
    ) -> None:
        self.platform, self.host, self.cluster, self.ledger = platform, host, cluster, ledger
        self.cast = cast
        self.mark = 0  # the audit seq when the current beat began

    def status(self, agent: str) -> str:
        """The agent's stored status."""
        return self.platform.status(agent)

    def all_in(self, agents: Iterable[str], *statuses: str) -> bool:
        """Every one of ``agents`` is in one of ``statuses``."""
        return all(self.status(a) in statuses for a in agents)

    def saw(self, agent: str, event: str) -> bool:
        """``event`` was accepted for ``agent`` since the current beat began."""
        return any(
            r.event == event and r.refusal is None and r.seq > self.mark
            for r in self.platform.history(agent)
        )

    def begin(self) -> None:
        """Remember where the audit log is, so ``saw`` looks only at what follows."""
        rows = self.platform.store.audit_log(after_seq=self.mark)
        self.mark = rows[-1].seq if rows else self.mark

    def send(self, agent: str, event: str, payload: dict[str, Any] | None = None) -> None:
        """Send a user action; the audit log (and so the display) says what was decided."""
        self.platform.send(agent, event, payload)

    def live_alfe(self) -> list[str]:
        """The Alfe agents that exist and are not deleted."""
        known = {r.agent_id: r.snapshot.status for r in self.platform.agents()}
        alfe = (*self.cast.alfe, self.cast.late)
        return [a for a in alfe if a in known and known[a] != "deleted"]

    def drained(self, agent: str) -> bool:
        """No effect of ``agent`` waits in the outbox."""
        return not self.platform.store.outbox(state="pending", agent_id=agent)


Act = Callable[[Stage], Sequence[str]]
Until = Callable[[Stage], bool]


@attrs.frozen(slots=True)
class Beat:
    """One moment of the demo.

    Attributes:
        title: what happens, for the audience.
        act: does it; returns what came of it (one line each).
        until: the beat is over once this holds.
        awaiting: what ``until`` waits for, in words (for a beat that takes too long).
    """

    title: str
    act: Act
    until: Until
    awaiting: str


def _start_fleet(s: Stage) -> list[str]:
    for name in s.cast.alfe:
        s.platform.create_agent(name, "alfe", AlfeAgent(name, name))
    for name in s.cast.recif:
        s.platform.create_agent(name, "recif", RecifAgent(name, RecifSpec(config=GOOD_CONFIG)))
        s.send(name, "deploy")
    return []


def _kill_process(s: Stage) -> list[str]:
    name = s.cast.alfe[0]
    pid = s.host.pid(name)
    if pid is None:
        return [f"{name} has no process to kill (status {s.status(name)})"]
    os.kill(pid, signal.SIGKILL)
    return [f"{name}: agent process {pid} killed (SIGKILL)"]


def _break_config(s: Stage) -> list[str]:
    name = s.cast.recif[0]
    s.cluster.add_fault(Fault("CrashLoopBackOff", config=BAD_CONFIG), agent_id=name)
    s.send(name, "update_config", {"config": BAD_CONFIG})
    return [f"fault: pods started with model {BAD_CONFIG['model']!r} crash (CrashLoopBackOff)"]


def _late_joiner(s: Stage) -> list[str]:
    name = s.cast.late
    s.platform.create_agent(name, "alfe", AlfeAgent(name, name))
    return [f"the credit pool holds {s.ledger.balance() / 100:.2f} EUR"]


def _top_up(s: Stage) -> list[str]:
    s.ledger.top_up("demo-top-up", TOP_UP, datetime.now(UTC))
    return [f"credit pool topped up: {s.ledger.balance() / 100:.2f} EUR"]


def _sent(s: Stage, agent: str, event: str, payload: dict[str, Any] | None = None) -> list[str]:
    s.send(agent, event, payload)
    return []


def beats(cast: Cast, *, releases: bool = True) -> list[Beat]:
    """The demo's beats, in order.

    Args:
        cast: who is who.
        releases: whether Recif releases are recorded (not on an install without the ``git``
            extra); the beats promise only what will happen.
    """
    bot, clerk, *_ = cast.alfe
    crashy, scaled, *_ = cast.recif
    return [
        Beat(
            f"the fleet starts: {', '.join(cast.alfe)} (Alfe, real processes); "
            f"{', '.join(cast.recif)} (Recif, simulated cluster)",
            _start_fleet,
            lambda s: s.all_in(cast.alfe, "running") and s.all_in(cast.recif, "Running"),
            "every Alfe agent running and every Recif agent Running",
        ),
        Beat(
            f"{bot} loses its connection: its agent process is killed",
            _kill_process,
            lambda s: s.saw(bot, "connection_lost") and s.status(bot) == "running",
            f"{bot} to lose its connection and recover",
        ),
        Beat(
            f"{crashy} gets a config its model cannot load: the pods crash-loop",
            _break_config,
            lambda s: s.status(crashy) == "Failed",
            f"{crashy} Failed",
        ),
        Beat(
            f"{crashy}'s config is fixed: reconcile brings it back",
            lambda s: _sent(s, crashy, "update_config", {"config": GOOD_CONFIG}),
            lambda s: s.status(crashy) == "Running",
            f"{crashy} Running",
        ),
        Beat(
            f"{clerk} is stopped",
            lambda s: _sent(s, clerk, "stop"),
            lambda s: s.status(clerk) == "stopped",
            f"{clerk} stopped",
        ),
        Beat(
            f"{clerk} is started again",
            lambda s: _sent(s, clerk, "start"),
            lambda s: s.status(clerk) == "running",
            f"{clerk} running",
        ),
        Beat(
            f"{scaled} is scaled: 12 replicas is refused, 3 is accepted",
            lambda s: (
                _sent(s, scaled, "scale", {"replicas": 12})
                + _sent(s, scaled, "scale", {"replicas": 3})
            ),
            lambda s: s.cluster.observe(scaled).ready_replicas == 3,
            f"{scaled} with 3 ready replicas",
        ),
        Beat(
            f"{cast.late} joins; its first hour overdraws the credit pool: "
            "every Alfe agent is suspended",
            _late_joiner,
            lambda s: s.all_in(s.live_alfe(), "billing_suspended"),
            "every Alfe agent billing_suspended",
        ),
        Beat(
            "the credit pool is topped up: every Alfe agent resumes",
            _top_up,
            lambda s: s.all_in(s.live_alfe(), "running"),
            "every Alfe agent running",
        ),
        Beat(
            f"{bot} is recreated: a mistyped name is refused, its exact name is accepted",
            lambda s: (
                _sent(s, bot, "recreate", {"confirmation": bot[:-2] + bot[-1]})
                + _sent(s, bot, "recreate", {"confirmation": bot})
            ),
            lambda s: s.status(bot) == "running" and s.platform.get(bot).snapshot.data.host == 2,
            f"{bot} running on host 2 with new credentials",
        ),
        Beat(
            f"{scaled} and {clerk} are deleted: "
            + (f"{scaled}'s releases end with a tombstone, " if releases else "")
            + f"{clerk}'s process is stopped",
            lambda s: _sent(s, scaled, "delete") + _sent(s, clerk, "delete"),
            lambda s: (
                s.all_in((scaled, clerk), "deleted")
                and s.drained(scaled)
                and s.drained(clerk)
                and s.host.pid(clerk) is None
            ),
            f"{scaled} and {clerk} deleted and cleaned up",
        ),
    ]
