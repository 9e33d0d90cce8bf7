"""The Kubernetes work a Recif reconcile can ask for, beyond the effect records the machine uses.

Reconcile reuses the machine's records where they mean the same thing (``CreateDeployment``,
``ScaleDeployment``, ``RecreateConfigMap``…); the two below exist only because reconcile, unlike
the machine's rows, must also undo what is no longer declared (a canary) and repair what drifted
(the secrets the pods mount). Every action is declarative: performing it twice is the same as
performing it once, which is what lets a level-triggered loop retry without harm.
"""

from __future__ import annotations

from typing import Union

import attrs

from agentfsm._effects import (
    CreateCanary,
    CreateConfigMap,
    CreateDeployment,
    CreateService,
    DeleteResources,
    RecordEvents,
    RecreateConfigMap,
    RestartPods,
    ScaleDeployment,
    UpdateDeploymentImage,
)


@attrs.frozen(slots=True)
class DeleteCanary:
    """Delete the agent's canary Deployment and its Service (no canary is declared any more)."""


@attrs.frozen(slots=True)
class MountSecrets:
    """Set the secrets the agent's pods mount to exactly these; the pods roll to pick them up.

    Attributes:
        env_secrets: Secrets whose keys become environment variables, in order (later wins).
        credential_secret: the Secret mounted for credentials, or ``None``.
    """

    env_secrets: tuple[str, ...]
    credential_secret: str | None = None

    @property
    def names(self) -> frozenset[str]:
        """Every Secret name the pods mount after this action."""
        extra = () if self.credential_secret is None else (self.credential_secret,)
        return frozenset((*self.env_secrets, *extra))


RecifAction = Union[
    CreateConfigMap,
    RecreateConfigMap,
    CreateService,
    CreateDeployment,
    UpdateDeploymentImage,
    MountSecrets,
    RestartPods,
    ScaleDeployment,
    CreateCanary,
    DeleteCanary,
    DeleteResources,
]
"""Every action ``reconcile`` returns and the simulated cluster performs."""

KUBERNETES_WORK: tuple[type, ...] = (
    CreateDeployment,
    CreateService,
    CreateConfigMap,
    RecreateConfigMap,
    RestartPods,
    ScaleDeployment,
    CreateCanary,
    DeleteResources,
    UpdateDeploymentImage,
    RecordEvents,
    DeleteCanary,
    MountSecrets,
)
"""Every effect and reconcile action that is Kubernetes work: what a cluster adapter performs."""
