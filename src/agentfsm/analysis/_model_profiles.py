"""The checker profiles of the shipped models: their first agent and what of it matters."""

from __future__ import annotations

from collections.abc import Hashable

from agentfsm._values import Snapshot
from agentfsm.analysis._profiles import CheckProfile, register_profile
from agentfsm.models import AlfeAgent, RecifAgent

_NAME = "my-agent"


def alfe_abstraction(snapshot: Snapshot) -> Hashable:
    """Alfe: the status, the remembered status, whether a (first, or later) host and credentials
    exist, and whether the agent was deleted and purged."""
    d = snapshot.data
    return (
        snapshot.status,
        d.remembered,
        min(d.host, 2),
        min(d.credentials, 2),
        d.deleted_at is not None,
        d.purged_at is not None,
    )


def recif_abstraction(snapshot: Snapshot) -> Hashable:
    """Recif: the state, whether a canary runs, whether a release is due, whether pods are
    ready, the configured replicas, whether the spec has changed, and the condition statuses."""
    d = snapshot.data
    return (
        snapshot.status,
        d.canary is not None,
        d.release_due,
        d.ready_replicas > 0,
        d.spec.replicas,
        min(d.generation, 2),
        d.deleted_at is not None,
        tuple((c.type, c.status) for c in d.conditions),
    )


_ALFE_PAYLOADS = {
    "recreate": ({"confirmation": _NAME}, {"confirmation": _NAME, "size": "large"}),
    "billing_suspend": ({"reason": "payment_issue"},),
    "billing_resume": ({"standing": "good"},),
}

register_profile(
    "alfe",
    CheckProfile(
        initial_data=AlfeAgent(agent_id="ag-1", name=_NAME),
        abstraction=alfe_abstraction,
        exact_guards=frozenset({"remembers_status", "not_purged"}),
        payloads=_ALFE_PAYLOADS,
    ),
)
register_profile(
    "alfe-self-hosted",
    CheckProfile(
        initial_data=AlfeAgent(agent_id="ag-2", name=_NAME),
        abstraction=alfe_abstraction,
        exact_guards=frozenset({"not_purged"}),
        payloads=_ALFE_PAYLOADS,
    ),
)
register_profile(
    "recif",
    CheckProfile(
        initial_data=RecifAgent(slug="support-agent"),
        abstraction=recif_abstraction,
        exact_guards=frozenset({"canary_exists"}),
        payloads={
            "pods_ready": ({"ready_replicas": 2, "endpoint": "http://support-agent:8000"},),
            "pods_unhealthy": ({"reason": "CrashLoopBackOff"},),
            "update_config": ({"config": {"model": "large"}}, {"image": "corail:v2"}),
            "scale": ({"replicas": 3},),
            "start_canary": ({"image": "corail:v3"},),
        },
    ),
)
