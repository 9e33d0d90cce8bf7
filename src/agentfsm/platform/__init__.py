"""The platform: the durable runtime, the adapters and the reconcile loop, wired end to end.

``Platform`` composes a store, a clock, the machines and the adapters (a host adapter, a
``SimulatedCluster`` for Recif's Kubernetes work, a release store, a billing ledger) into one
control plane. Each ``tick()`` runs every part once: host reports are delivered, due timers
fire, the outbox is performed through the adapters, pending Alfe agents are provisioned, usage
is metered and billing standing enforced, and due Recif agents are reconciled (every
``Policy.requeue_after`` and at once after a spec or cluster change). ``run_until_idle()`` ticks
until nothing is left to do now; ``wait_for()`` ticks until an agent reaches a status; ``start()``
ticks in a background thread.

On a store other processes can open (a ``SQLiteStore`` file, a ``PostgresStore``) the Recif
reconcile loop is the store's ``SharedReconcileLoop``: several platforms on one database are
replicas that reconcile each agent once per period between them, one at a time
(``reconcile_loop`` chooses; see ``Platform``).

Usage::

    from agentfsm.hosts import LocalProcessHost
    from agentfsm.models import AlfeAgent, RecifAgent
    from agentfsm.platform import Platform, SimulatedCluster
    from agentfsm.releases import GitReleaseStore
    from agentfsm.runtime import SQLiteStore

    with Platform(
        SQLiteStore("agents.db"),
        host=lambda sink: LocalProcessHost(sink),  # real agent processes on this machine
        cluster=SimulatedCluster(),
        releases=GitReleaseStore("recif-state.git"),
    ) as platform:
        platform.create_agent("ag-1", "alfe", AlfeAgent("ag-1", "support-bot"))
        platform.wait_for("ag-1", "running")
        platform.create_agent("rc-1", "recif", RecifAgent("support-agent"))
        platform.send("rc-1", "deploy")
        platform.wait_for("rc-1", "Running")  # and release v1 is in the repository
        print(platform.status("ag-1"), [row.event for row in platform.history("rc-1")])
"""

from agentfsm.platform._cluster import KUBERNETES_EFFECTS, ClusterEvent, SimulatedCluster
from agentfsm.platform._inbox import EventInbox
from agentfsm.platform._platform import HostFactory, Platform, ReconcileLoopKind, TickReport
from agentfsm.platform._reconciler import RecifReconciler, ReconcileOutcome

__all__ = [
    "KUBERNETES_EFFECTS",
    "ClusterEvent",
    "EventInbox",
    "HostFactory",
    "Platform",
    "RecifReconciler",
    "ReconcileLoopKind",
    "ReconcileOutcome",
    "SimulatedCluster",
    "TickReport",
]
