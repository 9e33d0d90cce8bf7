"""``FakeKubernetesApi``: an in-memory API server for the calls the host makes. A test double.

It keeps the rules the host relies on: names are unique per kind and namespace (a second create
is a 409), a replace must carry the live ``resourceVersion`` (a stale one is a 409), a patch or
a delete naming one (in the patch's metadata, in the delete options' preconditions) is a 409
once the object has changed, reads and deletes of missing objects are 404s. ``settle()`` plays
the controllers and the kubelet: each
Deployment gets pods from its current template, which become ready unless a ``PodFault``
strikes them or their ConfigMap is missing. A rollout replaces every pod at once (no surge).

Fault injection: ``fail(method, status)`` makes the next call(s) of a method answer with an
HTTP error, ``fail_with(method, error)`` raise any exception (a timeout), and
``break_pods(reason, image=..., config=...)`` keeps matching pods waiting with ``reason``.

Replicas: ``begin_pass``/``end_pass`` let reconcile passes announce themselves, and the fake
records every pass over an agent that began while another owner's pass over it was still
running within its lease (``overlaps``): what one owner per agent at a time rules out.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

import attrs
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from agentfsm._errors import InvalidInput
from agentfsm.kubernetes._manifests import to_dict
from agentfsm.kubernetes._names import CONFIG_HASH_ANNOTATION, CONFIG_VOLUME
from agentfsm.recif import config_hash

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@attrs.frozen(slots=True)
class PodFault:
    """Pods whose template matches every given field wait with ``reason`` and are not ready.

    Attributes:
        reason: the waiting reason (``CrashLoopBackOff``, ``ImagePullBackOff``…).
        image: strikes pods running this image.
        config: strikes pods whose template carries this config's hash.

    Raises:
        InvalidInput: no reason, or nothing to match on.
    """

    reason: str
    image: str | None = None
    config: Mapping[str, str] | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.reason, str) or not self.reason:
            raise InvalidInput(f"a pod fault needs a waiting reason, not {self.reason!r}")
        if self.image is None and self.config is None:
            raise InvalidInput("a pod fault must name what it strikes: an image or a config")

    def strikes(self, template: Any) -> bool:
        """Pods started from ``template`` (a ``V1PodTemplateSpec``) match this fault."""
        images = {c.image for c in template.spec.containers}
        if self.image is not None and self.image not in images:
            return False
        annotations = template.metadata.annotations or {}
        wanted = None if self.config is None else config_hash(self.config)
        return wanted is None or annotations.get(CONFIG_HASH_ANNOTATION) == wanted


def _error(status: int, reason: str, message: str) -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = json.dumps({"kind": "Status", "code": status, "reason": reason, "message": message})
    return exc


class FakeKubernetesApi:
    """An in-memory ``AppsV1Api`` and ``CoreV1Api`` in one object, for tests.

    Pass it as both: ``KubernetesHost(fake, fake, namespace=...)``.

    Attributes:
        calls: every API call made, as ``(method, name)`` in order.
        pod_faults: the active ``PodFault``s.
    """

    def __init__(self) -> None:
        self._store: dict[tuple[str, str, str], Any] = {}
        self._versions = itertools.count(1)
        self._faults: dict[str, list[BaseException]] = {}
        self.calls: list[tuple[str, str]] = []
        self.pod_faults: list[PodFault] = []
        self._writes = 0
        self._writes_by_name: dict[str, int] = {}
        self._open: dict[str, tuple[str, int, float]] = {}  # agent -> (owner, token, until)
        self.passes: list[tuple[str, str, int, float]] = []
        self.overlaps: list[tuple[str, tuple[str, int], tuple[str, int]]] = []

    # -- scripting ------------------------------------------------------------------------------

    def fail(self, method: str, status: int = 500, *, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` answer with HTTP ``status``."""
        reason = {409: "Conflict", 422: "Invalid", 429: "TooManyRequests"}.get(status, "Error")
        for _ in range(times):
            self.fail_with(method, _error(status, reason, f"injected {status}"))

    def fail_with(self, method: str, error: BaseException, *, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error``."""
        if not callable(getattr(self, method, None)) or method.startswith("_"):
            raise InvalidInput(f"FakeKubernetesApi has no API method {method!r}")
        self._faults.setdefault(method, []).extend([error] * times)

    def break_pods(
        self, reason: str, *, image: str | None = None, config: Mapping[str, str] | None = None
    ) -> PodFault:
        """Keep pods matching ``image``/``config`` waiting with ``reason`` (from ``settle`` on)."""
        fault = PodFault(reason, image, None if config is None else dict(config))
        self.pod_faults.append(fault)
        return fault

    def heal(self, fault: PodFault | None = None) -> None:
        """Remove ``fault`` (or every fault); pods recover at the next ``settle``."""
        self.pod_faults = [] if fault is None else [f for f in self.pod_faults if f != fault]

    def clear_failures(self) -> None:
        """Forget every injected call failure not yet raised (pod faults stay)."""
        self._faults.clear()

    def edit(self, kind: str, namespace: str, name: str, change: Callable[[Any], None]) -> None:
        """Another writer changes a stored object: ``change(obj)``, then a new resourceVersion.

        Raises:
            InvalidInput: there is no such object.
        """
        found = self._store.get((kind, namespace, name))
        if found is None:
            raise InvalidInput(f"there is no {kind} {namespace}/{name} to edit")
        change(found)
        self._bump(found)

    def get(self, kind: str, namespace: str, name: str) -> Any | None:
        """A copy of the stored object, or ``None`` (no call is recorded)."""
        found = self._store.get((kind, namespace, name))
        return copy.deepcopy(found)

    def names(self, kind: str, namespace: str) -> list[str]:
        """The names of the stored objects of ``kind`` (``Deployment``, ``Pod``…), sorted."""
        return sorted(k[2] for k in self._store if k[0] == kind and k[1] == namespace)

    def writes(self, name: str | None = None) -> int:
        """How many create, replace, patch and delete calls changed something (not failed ones),
        in all or for the objects called ``name``."""
        return self._writes if name is None else self._writes_by_name.get(name, 0)

    # -- reconcile passes -----------------------------------------------------------------------

    def begin_pass(self, agent: str, owner: str, token: int, until: float, at: float) -> None:
        """A pass over ``agent`` by ``owner`` begins at ``at``, its lease valid until ``until``
        (seconds since the epoch). It overlaps if another owner's pass over the agent has not
        ended and its lease has not lapsed."""
        running = self._open.get(agent)
        if running is not None and running[0] != owner and running[2] > at:
            self.overlaps.append((agent, (running[0], running[1]), (owner, token)))
        self._open[agent] = (owner, token, until)
        self.passes.append((agent, owner, token, at))

    def end_pass(self, agent: str, owner: str, token: int) -> None:
        """The pass by ``owner`` with ``token`` is over (a later one's is left alone)."""
        running = self._open.get(agent)
        if running is not None and running[:2] == (owner, token):
            del self._open[agent]

    def settle(self, names: Collection[str] | None = None) -> None:
        """Let the controllers and kubelets catch up: pods follow their Deployment's template.

        Args:
            names: settle only the Deployments with these names (all by default).
        """
        deployments = [
            (k, d)
            for k, d in self._store.items()
            if k[0] == "Deployment" and (names is None or k[2] in names)
        ]
        owners = {(k[1], k[2]) for k in self._store if k[0] == "Deployment"}
        for key in [k for k, p in self._store.items() if k[0] == "Pod"]:
            if (key[1], self._store[key].metadata.labels.get("fake/owner")) not in owners:
                del self._store[key]
        for (_, ns, name), dep in deployments:
            self._settle_deployment(ns, name, dep)

    # -- the API --------------------------------------------------------------------------------

    def create_namespaced_deployment(self, namespace: str, body: Any, **_: Any) -> Any:
        return self._create("create_namespaced_deployment", "Deployment", namespace, body)

    def replace_namespaced_deployment(self, name: str, namespace: str, body: Any, **_: Any) -> Any:
        return self._replace("replace_namespaced_deployment", "Deployment", name, namespace, body)

    def patch_namespaced_deployment(self, name: str, namespace: str, body: Any, **_: Any) -> Any:
        self._enter("patch_namespaced_deployment", name)
        live = self._live("Deployment", namespace, name)
        meta = body.get("metadata", {}) if isinstance(body, dict) else None
        if (
            not isinstance(meta, dict)
            or set(body) - {"spec", "metadata"}
            or set(body.get("spec", {})) != {"replicas"}
            or set(meta) - {"resourceVersion", "annotations"}
        ):
            raise _error(422, "Invalid", "the fake patches spec.replicas and annotations only")
        wanted = meta.get("resourceVersion")
        if wanted is not None and wanted != live.metadata.resource_version:
            raise _error(409, "Conflict", "the object has been modified; apply to the latest")
        live.spec.replicas = body["spec"]["replicas"]
        if meta.get("annotations"):
            live.metadata.annotations = {**(live.metadata.annotations or {}), **meta["annotations"]}
        live.metadata.generation = (live.metadata.generation or 1) + 1
        return self._bump(live)

    def read_namespaced_deployment(self, name: str, namespace: str, **_: Any) -> Any:
        self._enter("read_namespaced_deployment", name)
        return copy.deepcopy(self._live("Deployment", namespace, name))

    def delete_namespaced_deployment(
        self, name: str, namespace: str, *, body: Any | None = None, **_: Any
    ) -> Any:
        return self._delete("delete_namespaced_deployment", "Deployment", name, namespace, body)

    def create_namespaced_service(self, namespace: str, body: Any, **_: Any) -> Any:
        created = self._create("create_namespaced_service", "Service", namespace, body)
        self._store[("Service", namespace, body.metadata.name)].spec.cluster_ip = "10.0.0.1"
        return created

    def replace_namespaced_service(self, name: str, namespace: str, body: Any, **_: Any) -> Any:
        live = self._store.get(("Service", namespace, name))
        if live is not None and body.spec.cluster_ip != live.spec.cluster_ip:
            self._enter("replace_namespaced_service", name)
            raise _error(422, "Invalid", "spec.clusterIP: field is immutable")
        return self._replace("replace_namespaced_service", "Service", name, namespace, body)

    def read_namespaced_service(self, name: str, namespace: str, **_: Any) -> Any:
        self._enter("read_namespaced_service", name)
        return copy.deepcopy(self._live("Service", namespace, name))

    def delete_namespaced_service(
        self, name: str, namespace: str, *, body: Any | None = None, **_: Any
    ) -> Any:
        return self._delete("delete_namespaced_service", "Service", name, namespace, body)

    def create_namespaced_config_map(self, namespace: str, body: Any, **_: Any) -> Any:
        return self._create("create_namespaced_config_map", "ConfigMap", namespace, body)

    def replace_namespaced_config_map(self, name: str, namespace: str, body: Any, **_: Any) -> Any:
        return self._replace("replace_namespaced_config_map", "ConfigMap", name, namespace, body)

    def read_namespaced_config_map(self, name: str, namespace: str, **_: Any) -> Any:
        self._enter("read_namespaced_config_map", name)
        return copy.deepcopy(self._live("ConfigMap", namespace, name))

    def delete_namespaced_config_map(
        self, name: str, namespace: str, *, body: Any | None = None, **_: Any
    ) -> Any:
        return self._delete("delete_namespaced_config_map", "ConfigMap", name, namespace, body)

    def list_namespaced_pod(
        self, namespace: str, *, label_selector: str | None = None, **_: Any
    ) -> Any:
        self._enter("list_namespaced_pod", label_selector or "")
        wanted = dict(p.split("=", 1) for p in label_selector.split(",")) if label_selector else {}
        items = [
            copy.deepcopy(pod)
            for (kind, ns, _name), pod in sorted(self._store.items())
            if kind == "Pod" and ns == namespace
            if all(pod.metadata.labels.get(k) == v for k, v in wanted.items())
        ]
        return client.V1PodList(items=items)

    def create_namespaced_event(self, namespace: str, body: Any, **_: Any) -> Any:
        return self._create("create_namespaced_event", "Event", namespace, body)

    # -- the store ------------------------------------------------------------------------------

    def _enter(self, method: str, name: str) -> None:
        self.calls.append((method, name))
        queued = self._faults.get(method)
        if queued:
            raise queued.pop(0)

    def _live(self, kind: str, namespace: str, name: str) -> Any:
        found = self._store.get((kind, namespace, name))
        if found is None:
            raise _error(404, "NotFound", f'{kind.lower()}s "{name}" not found')
        return found

    def _bump(self, obj: Any) -> Any:
        self._writes += 1
        name = obj.metadata.name
        self._writes_by_name[name] = self._writes_by_name.get(name, 0) + 1
        obj.metadata.resource_version = str(next(self._versions))
        return copy.deepcopy(obj)

    def _create(self, method: str, kind: str, namespace: str, body: Any) -> Any:
        name = body.metadata.name
        self._enter(method, name)
        if not name or _NAME.fullmatch(name) is None or len(name) > 253:
            raise _error(422, "Invalid", f"metadata.name {name!r} is not a DNS-1123 subdomain")
        if (kind, namespace, name) in self._store:
            raise _error(409, "AlreadyExists", f'{kind.lower()}s "{name}" already exists')
        if body.metadata.resource_version:
            raise _error(422, "Invalid", "resourceVersion must not be set on create")
        obj = copy.deepcopy(body)
        obj.metadata.namespace = namespace
        obj.metadata.uid = hashlib.sha256(f"{kind}/{namespace}/{name}".encode()).hexdigest()[:32]
        if kind == "Deployment":
            obj.metadata.generation = 1
            obj.status = client.V1DeploymentStatus(observed_generation=0)
        self._store[(kind, namespace, name)] = obj
        return self._bump(obj)

    def _replace(self, method: str, kind: str, name: str, namespace: str, body: Any) -> Any:
        self._enter(method, name)
        live = self._live(kind, namespace, name)
        if body.metadata.resource_version != live.metadata.resource_version:
            raise _error(409, "Conflict", "the object has been modified; apply to the latest")
        obj = copy.deepcopy(body)
        obj.metadata.namespace, obj.metadata.uid = namespace, live.metadata.uid
        if kind == "Deployment":
            changed = obj.spec != live.spec
            obj.metadata.generation = live.metadata.generation + (1 if changed else 0)
            obj.status = live.status
        self._store[(kind, namespace, name)] = obj
        return self._bump(obj)

    def _delete(
        self, method: str, kind: str, name: str, namespace: str, options: Any | None
    ) -> Any:
        self._enter(method, name)
        live = self._live(kind, namespace, name)
        preconditions = getattr(options, "preconditions", None)
        wanted = getattr(preconditions, "resource_version", None)
        if wanted is not None and wanted != live.metadata.resource_version:
            raise _error(409, "Conflict", "the precondition failed: the object was modified")
        del self._store[(kind, namespace, name)]
        self._writes += 1
        self._writes_by_name[name] = self._writes_by_name.get(name, 0) + 1
        return client.V1Status(status="Success")

    def _settle_deployment(self, namespace: str, name: str, dep: Any) -> None:
        template = dep.spec.template
        text = json.dumps(to_dict(template), sort_keys=True)
        revision = hashlib.sha256(text.encode()).hexdigest()[:10]
        mine = {k: p for k, p in self._store.items() if k[0] == "Pod" and k[1] == namespace}
        mine = {k: p for k, p in mine.items() if p.metadata.labels.get("fake/owner") == name}
        for key, pod in mine.items():
            if pod.metadata.labels.get("pod-template-hash") != revision:
                del self._store[key]  # a rollout replaces every old pod
        reason = self._waiting(namespace, template)
        ready = 0
        for i in range(dep.spec.replicas or 0):
            pod_name = f"{name}-{revision}-{i}"
            labels = {**(template.metadata.labels or {}), "pod-template-hash": revision}
            labels["fake/owner"] = name
            state = (
                client.V1ContainerState(running=client.V1ContainerStateRunning())
                if reason is None
                else client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason=reason))
            )
            ready += reason is None
            self._store[("Pod", namespace, pod_name)] = client.V1Pod(
                metadata=client.V1ObjectMeta(name=pod_name, namespace=namespace, labels=labels),
                status=client.V1PodStatus(
                    phase="Running" if reason is None else "Pending",
                    container_statuses=[
                        client.V1ContainerStatus(
                            name=c.name,
                            image=c.image,
                            image_id="",
                            ready=reason is None,
                            restart_count=0,
                            state=state,
                        )
                        for c in template.spec.containers
                    ],
                ),
            )
        for key in [k for k in self._store if k[0] == "Pod" and k[1] == namespace]:
            pod = self._store[key]
            owned = pod.metadata.labels.get("fake/owner") == name
            if owned and int(key[2].rsplit("-", 1)[1]) >= (dep.spec.replicas or 0):
                del self._store[key]  # scaled down
        dep.status = client.V1DeploymentStatus(
            observed_generation=dep.metadata.generation,
            replicas=dep.spec.replicas or 0,
            updated_replicas=dep.spec.replicas or 0,
            ready_replicas=ready or None,  # the API server leaves a zero out
            available_replicas=ready or None,
        )

    def _waiting(self, namespace: str, template: Any) -> str | None:
        fault = next((f for f in self.pod_faults if f.strikes(template)), None)
        if fault is not None:
            return fault.reason
        for volume in template.spec.volumes or ():
            source = volume.config_map if volume.name == CONFIG_VOLUME else None
            if source is not None and ("ConfigMap", namespace, source.name) not in self._store:
                return "ContainerCreating"  # the kubelet waits for the volume's ConfigMap
        return None
