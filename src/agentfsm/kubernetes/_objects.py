"""The objects of one agent in one namespace: read them, write them, delete them.

Every write is declarative and idempotent: an object is built whole from the values it should
have and written only when the live one differs, so performing the same effect twice writes
once. Objects carrying an agent's name but not agentfsm's ``managed-by`` label are never
overwritten or deleted (``PermanentError``).

The pod template's config hash always names the ConfigMap as it is when the template is
written: pods that start from it read exactly that ConfigMap. A Deployment written before its
ConfigMap existed gets the hash when the ConfigMap is created (its pods could not start
without it), so reconcile does not restart pods that never ran an old config.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs
from kubernetes import client

from agentfsm._effects import CONTROL_PORT, DATA_PORT
from agentfsm.kubernetes import _api
from agentfsm.kubernetes import _names as n
from agentfsm.kubernetes._manifests import build_config_map, build_service
from agentfsm.kubernetes._observe import observed_state
from agentfsm.kubernetes._workload import Workload, build_deployment, check_managed, workload_of
from agentfsm.recif import ObservedState, config_hash
from agentfsm.runtime import PermanentError, TemporaryError

_PORTS = [("data", DATA_PORT, "data"), ("control", CONTROL_PORT, "control")]


def _ports(svc: Any) -> list[tuple[Any, Any, Any]]:
    return [(p.name, p.port, p.target_port) for p in (svc.spec.ports or ())]


@attrs.frozen(slots=True)
class AgentObjects:
    """The Kubernetes objects of agent ``slug`` in ``namespace``, through ``apps`` and ``core``."""

    apps: _api.AppsApi
    core: _api.CoreApi
    namespace: str
    slug: str

    def _name(self, canary: bool) -> str:
        return n.canary_name(self.slug) if canary else self.slug

    # -- reading --------------------------------------------------------------------------------

    def read_deployment(self, canary: bool = False) -> Any | None:
        """The live stable (or canary) Deployment, or ``None``."""
        name = self._name(canary)
        return _api.read_or_none(
            f"reading Deployment {name}",
            lambda: self.apps.read_namespaced_deployment(name, self.namespace),
        )

    def read_service(self, canary: bool = False) -> Any | None:
        """The live stable (or canary) Service, or ``None``."""
        name = self._name(canary)
        return _api.read_or_none(
            f"reading Service {name}",
            lambda: self.core.read_namespaced_service(name, self.namespace),
        )

    def read_config_map(self) -> Any | None:
        """The live ConfigMap, or ``None``."""
        return _api.read_or_none(
            f"reading ConfigMap {self.slug}",
            lambda: self.core.read_namespaced_config_map(self.slug, self.namespace),
        )

    def current_config_hash(self) -> str | None:
        """``config_hash`` of the live ConfigMap, or ``None`` when it does not exist."""
        live = self.read_config_map()
        return None if live is None else config_hash(dict(live.data or {}))

    def observe(self) -> ObservedState:
        """Everything reconcile needs to know about the agent, read now."""
        deployment = self.read_deployment()
        pods: list[Any] = []
        if deployment is not None:
            match = n.selector_text(n.selector(self.slug, self.slug))
            listed = _api.call(
                f"listing the pods of {self.slug}",
                lambda: self.core.list_namespaced_pod(self.namespace, label_selector=match),
            )
            pods = list(listed.items or ())
        return observed_state(
            deployment=deployment,
            pods=pods,
            service=self.read_service(),
            config_map=self.read_config_map(),
            canary_deployment=self.read_deployment(canary=True),
            canary_service=self.read_service(canary=True),
        )

    # -- writing --------------------------------------------------------------------------------

    def apply_config_map(self, config: Mapping[str, str]) -> None:
        """Create or replace the ConfigMap; stamp a Deployment that was waiting for it."""
        body = build_config_map(self.slug, self.namespace, config)

        def desired(live: Any | None) -> Any | None:
            if live is not None:
                check_managed(live, "ConfigMap")
                if dict(live.data or {}) == body.data:
                    return None
            return body

        _api.apply(
            f"applying ConfigMap {self.slug}",
            lambda: self.core.read_namespaced_config_map(self.slug, self.namespace),
            lambda b: self.core.create_namespaced_config_map(self.namespace, b),
            lambda b: self.core.replace_namespaced_config_map(self.slug, self.namespace, b),
            desired,
        )
        stamp = config_hash(config)
        for canary in (False, True):
            self.update_deployment(
                canary,
                lambda w: w if w.config_hash is not None else attrs.evolve(w, config_hash=stamp),
                missing_ok=True,
            )

    def apply_service(self, canary: bool = False) -> None:
        """Create or replace the stable (or canary) Service."""
        name = self._name(canary)
        body = build_service(self.slug, self.namespace, canary=canary)
        spec = body.spec
        assert spec is not None  # build_service always sets it

        def desired(live: Any | None) -> Any | None:
            if live is None:
                return body
            check_managed(live, "Service")
            if live.spec.selector == spec.selector and _ports(live) == _PORTS:
                return None
            # The cluster IP is immutable: a replace must carry the one already allocated.
            spec.cluster_ip = live.spec.cluster_ip
            spec.cluster_ips = live.spec.cluster_ips
            return body

        _api.apply(
            f"applying Service {name}",
            lambda: self.core.read_namespaced_service(name, self.namespace),
            lambda b: self.core.create_namespaced_service(self.namespace, b),
            lambda b: self.core.replace_namespaced_service(name, self.namespace, b),
            desired,
        )

    def _apply_workload(self, canary: bool, change: Callable[[Workload | None], Workload]) -> None:
        name = self._name(canary)

        def desired(live: Any | None) -> Any | None:
            before = None if live is None else workload_of(live)
            after = change(before)
            return None if after == before else build_deployment(after, self.namespace)

        _api.apply(
            f"applying Deployment {name}",
            lambda: self.apps.read_namespaced_deployment(name, self.namespace),
            lambda b: self.apps.create_namespaced_deployment(self.namespace, b),
            lambda b: self.apps.replace_namespaced_deployment(name, self.namespace, b),
            desired,
        )

    def apply_deployment(self, w: Workload) -> None:
        """Create or replace a Deployment so that it is built from ``w``."""
        self._apply_workload(w.canary, lambda live: w)

    def update_deployment(
        self, canary: bool, change: Callable[[Workload], Workload], *, missing_ok: bool = False
    ) -> None:
        """Rewrite a live Deployment from ``change(its workload)``.

        Raises:
            PermanentError: it does not exist (unless ``missing_ok``), or is not agentfsm's.
        """

        def changed(live: Workload | None) -> Workload:
            if live is None:
                raise PermanentError(
                    f"agent {self.slug!r} has no {self._name(canary)!r} Deployment to change; "
                    f"deploy it first (reconcile recreates a missing one)"
                )
            return change(live)

        if missing_ok and self.read_deployment(canary) is None:
            return
        self._apply_workload(canary, changed)

    def scale(self, replicas: int) -> None:
        """Set the stable Deployment's replicas: a merge patch, fenced and compare-and-set.

        The fence is checked against the live Deployment before the patch is sent, and the
        patch carries the ``resourceVersion`` it was checked at and the work's token, so a
        newer owner's write in between is a 409 (re-read, checked again) and a newer owner's
        scale leaves the stamp that refuses a late one.

        Raises:
            PermanentError: there is no Deployment, or it is not agentfsm's.
            StaleFence: a newer owner wrote the Deployment; nothing was sent.
        """
        doing = f"scaling Deployment {self.slug} to {replicas}"

        def attempt() -> None:
            live = self.read_deployment()
            if live is None:
                raise PermanentError(
                    f"agent {self.slug!r} has no Deployment to scale; deploy it first"
                )
            if workload_of(live).replicas == replicas:  # also refuses a foreign Deployment
                return
            _api.check_fence(doing, live)
            patch = _api.fenced_patch(live, {"spec": {"replicas": replicas}})
            _api.write_once(
                doing,
                lambda: self.apps.patch_namespaced_deployment(self.slug, self.namespace, patch),
            )

        _api.until_no_conflict(doing, attempt)

    # -- deleting -------------------------------------------------------------------------------

    def delete_canary(self) -> None:
        """Delete the canary Deployment and Service, if they exist (see ``delete_all``)."""
        self._delete_objects(canary_only=True)

    def delete_all(self) -> None:
        """Delete every object of the agent: canary, Deployment, Service, ConfigMap.

        Every object is read, and checked (agentfsm's, and not written by a newer owner)
        before the first delete is sent, so a refusal deletes nothing; each delete carries the
        ``resourceVersion`` its object was checked at, so one changed since is a 409 and the
        objects left are read and checked again.

        Raises:
            ForeignObject: one of the objects is not agentfsm's; nothing was deleted.
            StaleFence: a newer owner wrote one of the objects; nothing was deleted.
        """
        self._delete_objects(canary_only=False)

    def _targets(self, canary_only: bool) -> list[tuple[str, str, Callable[[], Any | None]]]:
        """(kind, name, read) of the objects a delete removes, in the order it removes them."""
        found: list[tuple[str, str, Callable[[], Any | None]]] = []
        for canary in (True,) if canary_only else (True, False):
            name = self._name(canary)
            found.append(("Deployment", name, functools.partial(self.read_deployment, canary)))
            found.append(("Service", name, functools.partial(self.read_service, canary)))
        if not canary_only:
            found.append(("ConfigMap", self.slug, self.read_config_map))
        return found

    def _delete_call(self, kind: str, name: str, live: Any) -> Callable[[], object]:
        if kind == "Deployment":
            # Background: the Deployment goes now, its ReplicaSets and pods right after.
            options = _api.delete_options(live, propagation_policy="Background")
            return lambda: self.apps.delete_namespaced_deployment(
                name, self.namespace, propagation_policy="Background", body=options
            )
        options = _api.delete_options(live)
        if kind == "Service":
            return lambda: self.core.delete_namespaced_service(name, self.namespace, body=options)
        return lambda: self.core.delete_namespaced_config_map(name, self.namespace, body=options)

    def _delete_objects(self, canary_only: bool) -> None:
        what = "the canary" if canary_only else "every object"
        doing = f"deleting {what} of {self.slug}"

        def attempt() -> None:
            live = [(kind, name, read()) for kind, name, read in self._targets(canary_only)]
            present = [(kind, name, obj) for kind, name, obj in live if obj is not None]
            for kind, name, obj in present:  # every check before the first delete
                check_managed(obj, kind)
                _api.check_fence(f"deleting {kind} {name}", obj)
            for kind, name, obj in present:
                _api.write_once(
                    f"deleting {kind} {name}", self._delete_call(kind, name, obj), missing_ok=True
                )

        _api.until_no_conflict(doing, attempt)

    # -- events ---------------------------------------------------------------------------------

    def record_event(self, reason: str, message: str, key: str, at: datetime) -> None:
        """Record a Warning event on the Deployment, once per ``key`` (its name derives from it)."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        body = client.CoreV1Event(
            metadata=client.V1ObjectMeta(name=f"{self.slug}.{digest}", namespace=self.namespace),
            involved_object=client.V1ObjectReference(
                api_version="apps/v1", kind="Deployment", name=self.slug, namespace=self.namespace
            ),
            reason=reason,
            message=message or reason,
            type="Warning",
            source=client.V1EventSource(component=n.MANAGED_BY),
            first_timestamp=at,
            last_timestamp=at,
            count=1,
        )
        try:
            _api.call(
                f"recording event {reason} for {self.slug}",
                lambda: self.core.create_namespaced_event(self.namespace, body),
            )
        except TemporaryError as exc:
            cause = exc.__cause__
            if getattr(cause, "status", None) != 409:  # 409: this key was recorded already
                raise
