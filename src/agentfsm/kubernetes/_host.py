"""``KubernetesHost``: the Recif effects and reconcile actions, performed on a real API server.

The host is given the client's API objects by its caller (``AppsV1Api``, ``CoreV1Api``, or
``FakeKubernetesApi`` in tests) and a namespace; it never loads a kubeconfig itself. It is the
runtime's ``EffectHandler`` for Recif agents, and ``sync`` runs one level-triggered reconcile:
observe, decide with ``agentfsm.recif.reconcile``, perform, and say which platform event (if
any) the agent's machine should receive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import attrs

from agentfsm import _effects as fx
from agentfsm._errors import InvalidInput
from agentfsm._slug import check_slug
from agentfsm._values import DEFAULT_POLICY, Event, Policy
from agentfsm.kubernetes import _api
from agentfsm.kubernetes._manifests import build_config_map, manifests, stable_workload
from agentfsm.kubernetes._names import canary_name
from agentfsm.kubernetes._objects import AgentObjects
from agentfsm.kubernetes._workload import Workload, workload_of
from agentfsm.models import Condition
from agentfsm.recif import (
    KUBERNETES_WORK,
    DeleteCanary,
    DesiredSpec,
    MountSecrets,
    ObservedState,
    ReconcileResult,
    phase_event,
    reconcile,
)
from agentfsm.runtime import PermanentError, TemporaryError

_T = TypeVar("_T")

RECIF_EFFECTS: tuple[type, ...] = KUBERNETES_WORK
"""The effect and action types a ``KubernetesHost`` performs."""


@attrs.frozen(slots=True)
class SyncResult:
    """One reconcile of one agent by ``KubernetesHost.sync``.

    Attributes:
        observed: what the cluster showed before the actions.
        result: reconcile's decision (phase, conditions, the actions now performed).
        event: the platform event to give the agent's machine, or ``None``.
    """

    observed: ObservedState
    result: ReconcileResult
    event: Event | None


def _same_slug(agent_id: str) -> str:
    return agent_id


class KubernetesHost:
    """Performs Recif work on a Kubernetes cluster and reads back what it shows.

    Args:
        apps: a ``kubernetes.client.AppsV1Api`` (or anything with the ``AppsApi`` methods).
        core: a ``kubernetes.client.CoreV1Api`` (or anything with the ``CoreApi`` methods).
        namespace: the team namespace the agents live in (a DNS-1123 label).
        slug_of: the agent's slug for a runtime agent id; by default the id is the slug.
        clock: the time stamped on recorded events (UTC now by default).

    Raises:
        InvalidInput: ``namespace`` is not a DNS-1123 label.

    Calling it: ``host(agent_id, effect, key)`` performs one effect or reconcile action and
    returns no events (pods report their state through ``sync``, not through effects).
    ``TemporaryError`` means retry later (API server down, 5xx, 429, repeated conflicts);
    ``PermanentError`` means the work cannot succeed (a refused request, an object agentfsm
    does not own, an effect that is not a Recif one).

    Fencing: work performed with a fencing token (``current_fence()``: an outbox claim's, or a
    ``SharedReconcileLoop`` pass's) stamps it on every object it writes (the
    ``agentfsm.dev/fence`` annotation) and is refused with ``StaleFence``, before writing, when
    the object bears a newer token. A replace or a scale carries the ``resourceVersion`` it
    read the stamp with, so the check and the write are one compare-and-set; a delete checks
    every object of the agent before the first delete, and names each object's
    ``resourceVersion`` as its precondition. Work without a token is not checked.
    """

    def __init__(
        self,
        apps: _api.AppsApi,
        core: _api.CoreApi,
        *,
        namespace: str = "default",
        slug_of: Callable[[str], str] = _same_slug,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        try:
            self.namespace = check_slug(namespace)
        except InvalidInput as exc:
            raise InvalidInput(f"namespace: {exc}") from None
        self.apps = apps
        self.core = core
        self._slug_of = slug_of
        self._clock = clock

    def objects(self, slug: str) -> AgentObjects:
        """The objects of agent ``slug``: to read, write or delete them one by one.

        Raises:
            InvalidInput: ``slug`` is not a DNS-1123 label.
        """
        return AgentObjects(self.apps, self.core, self.namespace, check_slug(slug))

    # -- the adapter's own operations -----------------------------------------------------------

    def observe(self, slug: str) -> ObservedState:
        """What the cluster shows for agent ``slug`` now.

        Raises:
            TemporaryError, PermanentError: the API server failed or refused a read, or an
                object with the agent's name is not agentfsm's.
        """
        return _guarded(f"observing {slug}", lambda: self.objects(slug).observe())

    def apply(self, desired: DesiredSpec) -> None:
        """Make the cluster hold exactly ``manifests(desired)``: create or replace, idempotent.

        A canary no longer declared is deleted; a deleted agent's objects are all deleted.

        Raises:
            TemporaryError, PermanentError: as ``observe``; also for a spec that cannot be
                written (a config key that cannot be a ConfigMap key…).
        """

        def run() -> None:
            if desired.deleted:
                self.objects(desired.slug).delete_all()
                return
            manifests(desired, self.namespace)  # every manifest builds, or nothing is written
            o = self.objects(desired.slug)
            o.apply_config_map(desired.config)
            o.apply_service()
            o.apply_deployment(stable_workload(desired))
            if desired.canary is None or desired.stopped:
                o.delete_canary()
            else:
                self._create_canary(o, desired.canary)

        _guarded(f"applying {desired.slug}", run)

    def scale(self, slug: str, replicas: int) -> None:
        """Scale agent ``slug``'s Deployment to ``replicas`` pods (0 stops it).

        Raises:
            PermanentError: there is no Deployment, or ``replicas`` is negative.
            TemporaryError: the API server failed.
        """
        self.perform(slug, fx.ScaleDeployment(replicas))

    def delete(self, slug: str) -> None:
        """Delete every object of agent ``slug`` (canary, Deployment, Service, ConfigMap)."""
        self.perform(slug, fx.DeleteResources())

    def perform(self, slug: str, action: object, key: str = "") -> None:
        """Perform one Recif effect or reconcile action for agent ``slug``.

        Args:
            slug: the agent.
            action: one of ``RECIF_EFFECTS``.
            key: the outbox item's key; makes ``RecordEvents`` happen once per key.

        Raises:
            PermanentError: ``action`` is not a Recif one, or cannot succeed.
            TemporaryError: the API server failed; performing it again is safe.
        """
        if type(action) not in RECIF_EFFECTS:
            raise PermanentError(_not_mine(action))
        _guarded(f"{type(action).__name__} for {slug}", lambda: self._do(slug, action, key))

    def __call__(self, agent_id: str, effect: object, key: str) -> Sequence[Event]:
        """The runtime's ``EffectHandler``: perform ``effect`` for ``agent_id``; no events."""
        slug = _guarded(f"naming agent {agent_id!r}", lambda: check_slug(self._slug_of(agent_id)))
        self.perform(slug, effect, key)
        return ()

    def sync(
        self,
        desired: DesiredSpec,
        *,
        phase: str,
        now: datetime,
        previous_conditions: Iterable[Condition] = (),
        policy: Policy = DEFAULT_POLICY,
    ) -> SyncResult:
        """Reconcile agent ``desired.slug`` once: observe, decide, perform the actions.

        Args:
            desired: the declared spec (``DesiredSpec.from_snapshot`` of the agent's snapshot).
            phase: the agent machine's current status (``Pending``, ``Running``…).
            now: the time, passed to ``reconcile``.
            previous_conditions: the agent's conditions so far, passed to ``reconcile``.
            policy: the durations the rules use, passed to ``reconcile``.

        Returns:
            The observation, the decision, and the platform event for the machine (see
            ``phase_event``): the phase follows what was observed before the actions, so a
            change shows on the next sync, once the pods have moved.

        Raises:
            InvalidInput: a bad argument (see ``reconcile`` and ``phase_event``).
            TemporaryError, PermanentError: as ``perform``; the actions before the failing one
                are done, and the next sync picks up from what the cluster then shows.
        """
        observed = self.observe(desired.slug)
        result = reconcile(
            desired, observed, now=now, previous_conditions=previous_conditions, policy=policy
        )
        for action in result.actions:
            self.perform(desired.slug, action)
        return SyncResult(observed, result, phase_event(phase, result))

    # -- one effect -----------------------------------------------------------------------------

    def _do(self, slug: str, action: object, key: str) -> None:
        o = self.objects(slug)
        match action:
            case fx.CreateConfigMap(config=config) | fx.RecreateConfigMap(config=config):
                build_config_map(slug, self.namespace, config)  # a bad key fails before any write
                o.apply_config_map(config)
            case fx.CreateService(ports=ports):
                if tuple(ports) != (fx.DATA_PORT, fx.CONTROL_PORT):
                    raise PermanentError(f"the Service has ports 8000 and 8001, not {ports!r}")
                o.apply_service()
            case fx.CreateDeployment():
                o.apply_deployment(
                    Workload(
                        slug=slug,
                        canary=False,
                        image=action.image,
                        replicas=_replicas(action.replicas),
                        env_secrets=tuple(action.env_secrets),
                        credential_secret=action.credential_secret,
                        config_hash=o.current_config_hash(),
                    )
                )
            case fx.UpdateDeploymentImage(image=image):
                stamp = o.current_config_hash()
                o.update_deployment(
                    False, lambda w: attrs.evolve(w, image=image, config_hash=stamp)
                )
            case MountSecrets():
                stamp = o.current_config_hash()
                for canary in (False, True):
                    o.update_deployment(
                        canary,
                        lambda w: attrs.evolve(
                            w,
                            env_secrets=action.env_secrets,
                            credential_secret=action.credential_secret,
                            config_hash=stamp,
                        ),
                        missing_ok=canary,
                    )
            case fx.RestartPods():
                stamp = o.current_config_hash()
                for canary in (False, True):
                    o.update_deployment(
                        canary, lambda w: attrs.evolve(w, config_hash=stamp), missing_ok=canary
                    )
            case fx.ScaleDeployment(replicas=replicas):
                o.scale(_replicas(replicas))
            case fx.CreateCanary(image=image):
                self._create_canary(o, image)
            case DeleteCanary():
                o.delete_canary()
            case fx.DeleteResources():
                o.delete_all()
            case fx.RecordEvents(reason=reason, message=message):
                o.record_event(reason, message, key or f"{reason}:{message}", self._clock())

    def _create_canary(self, o: AgentObjects, image: str) -> None:
        canary_name(o.slug)  # a slug too long for a canary is refused before anything else
        stable = o.read_deployment()
        if stable is None:
            raise TemporaryError(
                f"agent {o.slug!r} has no stable Deployment yet; the canary copies its secrets"
            )
        w = workload_of(stable)
        canary = attrs.evolve(
            w,
            canary=True,
            image=image,
            replicas=1 if w.replicas > 0 else 0,
            config_hash=o.current_config_hash(),
        )
        o.apply_deployment(canary)
        o.apply_service(canary=True)


def _replicas(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PermanentError(f"replicas must be a whole number of at least 0, not {value!r}")
    return value


def _guarded(doing: str, fn: Callable[[], _T]) -> _T:
    """``fn()``, with a bad input (a foreign object, a bad name) made a ``PermanentError``."""
    try:
        return fn()
    except InvalidInput as exc:
        raise PermanentError(f"{doing}: {exc}") from exc


def _not_mine(effect: object) -> str:
    name = type(effect).__name__
    if isinstance(effect, fx.Emit):
        return f"{name} is published by the runtime's outbox (releases go to the release store)"
    known = ", ".join(t.__name__ for t in RECIF_EFFECTS)
    return f"{name} ({effect!r}) is not Recif Kubernetes work; the Kubernetes host performs {known}"
