"""A simulated cluster: what the agent's objects look like after the operator's actions.

``apply_actions`` is pure: it takes an observation and the actions a reconcile returned and gives
the observation a healthy cluster would show once they are done and the pods have settled. It
serves the reconcile properties (convergence, idempotence), the simulation, and any host that
stands in for Kubernetes.

Faults are the cluster's reality, not part of what the operator sees, so they are passed in
apart from the observation. A ``Fault`` names what the pods must be running for it to strike
(an image, a config, a mounted Secret); it keeps striking while they run it and stops once the
spec that caused it changes (a fixed config rolls new pods) or the fault itself is removed (the
missing Secret was created). That is how "Failed agents recover once the underlying issue is
fixed" is shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from agentfsm._effects import (
    CreateCanary,
    CreateConfigMap,
    CreateDeployment,
    CreateService,
    DeleteResources,
    RecreateConfigMap,
    RestartPods,
    ScaleDeployment,
    UpdateDeploymentImage,
)
from agentfsm._errors import InvalidInput
from agentfsm.models._recif import optional_frozen_config
from agentfsm.recif._actions import DeleteCanary, MountSecrets
from agentfsm.recif._state import ObservedState, config_hash

MISSING_CONFIG_REASON = "CreateContainerConfigError"
"""The waiting reason of pods started while their ConfigMap did not exist."""


@attrs.frozen(slots=True)
class Fault:
    """An injected failure: pods matching every given field wait with ``reason``.

    Attributes:
        reason: the waiting reason pods report (``CrashLoopBackOff``, ``ImagePullBackOff``…).
        image: strikes pods running this image (a bad image: ``ImagePullBackOff``).
        config: strikes pods started with exactly this config (a bad model type…).
        secret: strikes pods that mount this Secret (it does not exist, or lacks a key).

    Raises:
        InvalidInput: no reason, or no field to match on (a fault must say what it strikes).
    """

    reason: str
    image: str | None = None
    config: Mapping[str, str] | None = attrs.field(default=None, converter=optional_frozen_config)
    secret: str | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise InvalidInput(f"a fault needs a waiting reason, not {self.reason!r}")
        if self.image is None and self.config is None and self.secret is None:
            raise InvalidInput("a fault must name what it strikes: an image, a config or a secret")

    def strikes(self, observed: ObservedState) -> bool:
        """The pods ``observed`` describes match this fault."""
        if self.image is not None and observed.image != self.image:
            return False
        if self.config is not None and observed.config_hash != config_hash(self.config):
            return False
        return self.secret is None or self.secret in observed.mounted_secrets


def apply_actions(
    observed: ObservedState, actions: Iterable[object], *, faults: Iterable[Fault] = ()
) -> ObservedState:
    """The observation after performing ``actions`` in order and letting the pods settle.

    Every action is declarative, so performing a list twice gives what performing it once does.
    Pods are started (or restarted) by creating the Deployment, changing its image or its
    Secrets, or restarting it; they read the ConfigMap as it is at that moment. Once settled,
    the pods are all ready unless a fault strikes them (or they started without a ConfigMap),
    in which case none is and ``waiting_reason`` says why. With no actions this is just the
    cluster settling: a removed fault stops striking.

    Args:
        observed: the cluster before.
        actions: reconcile actions (see ``RecifAction``).
        faults: the failures to inject.

    Returns:
        The cluster after.

    Raises:
        InvalidInput: an action the simulated cluster does not know, one that needs a
            Deployment when there is none, or a fault that is not a ``Fault``.
    """
    if not isinstance(observed, ObservedState):
        raise InvalidInput(f"observed must be an ObservedState, not {type(observed).__name__}")
    injected = tuple(faults)
    for fault in injected:
        if not isinstance(fault, Fault):
            raise InvalidInput(f"faults must be Fault values, not {fault!r}")
    state = observed
    for action in actions:
        state = _perform(state, action)
    return _settle(state, injected)


def _rolled(state: ObservedState, **changes: object) -> ObservedState:
    """The Deployment's template changed: new pods start and read the ConfigMap as it is."""
    started = None if state.configmap is None else config_hash(state.configmap)
    return attrs.evolve(state, config_hash=started, **changes)  # type: ignore[arg-type]


def _need_deployment(state: ObservedState, action: object) -> None:
    if not state.deployment:
        raise InvalidInput(
            f"cannot perform {action!r}: the agent has no Deployment; create it first"
        )


def _perform(state: ObservedState, action: object) -> ObservedState:
    match action:
        case CreateConfigMap(config=config) | RecreateConfigMap(config=config):
            return attrs.evolve(state, configmap=config)
        case CreateService():
            return attrs.evolve(state, service=True)
        case CreateDeployment():
            secrets = set(action.env_secrets)
            if action.credential_secret is not None:
                secrets.add(action.credential_secret)
            return _rolled(
                state,
                deployment=True,
                image=action.image,
                replicas=action.replicas,
                mounted_secrets=frozenset(secrets),
            )
        case UpdateDeploymentImage(image=image):
            _need_deployment(state, action)
            return _rolled(state, image=image)
        case MountSecrets():
            _need_deployment(state, action)
            return _rolled(state, mounted_secrets=action.names)
        case RestartPods():
            _need_deployment(state, action)
            return _rolled(state)
        case ScaleDeployment(replicas=replicas):
            _need_deployment(state, action)
            return attrs.evolve(state, replicas=replicas)
        case CreateCanary(image=image):
            return attrs.evolve(state, canary_image=image)
        case DeleteCanary():
            return attrs.evolve(state, canary_image=None)
        case DeleteResources():
            return ObservedState()
    raise InvalidInput(f"the simulated cluster cannot perform {action!r}")


def _settle(state: ObservedState, faults: tuple[Fault, ...]) -> ObservedState:
    if not state.deployment or state.replicas == 0:
        return attrs.evolve(state, ready_replicas=0, waiting_reason=None)
    if state.config_hash is None:
        return attrs.evolve(state, ready_replicas=0, waiting_reason=MISSING_CONFIG_REASON)
    fault = next((f for f in faults if f.strikes(state)), None)
    if fault is not None:
        return attrs.evolve(state, ready_replicas=0, waiting_reason=fault.reason)
    return attrs.evolve(state, ready_replicas=state.replicas, waiting_reason=None)
