"""The two inputs of a Recif reconcile: what the user declared, and what the cluster shows.

``DesiredSpec`` wraps the model's own ``RecifSpec`` (image, replicas, config, secrets) with what
the CRD adds around it (the agent's name, a canary, stop and delete, the generation), so the
reconciler and the machine never disagree about what a valid spec is. ``ObservedState`` is a
flat, immutable picture of the objects the operator owns; it is checked for contradictions
(a replica count without a Deployment…) so reconcile never has to guess what a bad one means.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import attrs

from agentfsm._effects import DATA_PORT
from agentfsm._errors import InvalidInput
from agentfsm._slug import check_slug
from agentfsm._values import Snapshot
from agentfsm.models._recif import RecifAgent, RecifSpec, optional_frozen_config

# A Kubernetes object name (Secrets included) is a DNS-1123 subdomain.
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_MAX_NAME = 253


def config_hash(config: Mapping[str, str]) -> str:
    """A short, stable digest of a ConfigMap's entries (the pod template's checksum annotation).

    Two configs with the same entries hash the same whatever their order.
    """
    text = json.dumps(dict(sorted(config.items())), separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _secret_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return f"a Secret name must be a string, not {type(value).__name__}"
    if not value or len(value) > _MAX_NAME or _SUBDOMAIN.fullmatch(value) is None:
        return (
            f"{value!r} is not a valid Secret name: use lowercase letters, digits, '-' and '.', "
            f"starting and ending with a letter or digit, at most {_MAX_NAME} characters"
        )
    return None


def _nonempty_text(what: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{what} must be a non-empty string, not {value!r}")


def _whole(what: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be a whole number, not {value!r}")
    if value < minimum:
        raise InvalidInput(f"{what} must be at least {minimum}, not {value}")


def _flag(what: str, value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidInput(f"{what} must be True or False, not {value!r}")


@attrs.frozen(slots=True)
class DesiredSpec:
    """What the user declared for one Recif agent: the Agent CRD's spec.

    Attributes:
        slug: the agent's name (a DNS-1123 label); its objects are named after it.
        spec: image, replicas (1–10), config, ``env_secrets`` (default ``("agent-env",)``) and
            ``credential_secret``, validated by ``RecifSpec`` itself.
        canary: the image a canary Deployment should run, or ``None`` for no canary.
        stopped: the agent was stopped (``POST /stop``): scale to 0, keep everything else.
        deleted: the agent was deleted: remove every object it owns. Wins over ``stopped``.
        generation: the spec's generation, reported as the conditions' ``observedGeneration``.

    Raises:
        InvalidInput: any field is malformed; the message names the field and what to use.
    """

    slug: str = attrs.field(converter=check_slug)
    spec: RecifSpec = attrs.field(factory=RecifSpec)
    canary: str | None = None
    stopped: bool = False
    deleted: bool = False
    generation: int = 1

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.spec, RecifSpec):
            raise InvalidInput(
                f"spec must be a RecifSpec (image, replicas, config, secrets), "
                f"not {type(self.spec).__name__}"
            )
        if self.canary is not None:
            _nonempty_text("a canary image", self.canary)
        _flag("stopped", self.stopped)
        _flag("deleted", self.deleted)
        _whole("generation", self.generation, minimum=1)
        # RecifSpec checks that secret names are non-empty strings; Kubernetes wants more.
        for name in (*self.spec.env_secrets, self.spec.credential_secret):
            if name is None:
                continue
            problem = _secret_problem(name)
            if problem is not None:
                raise InvalidInput(problem)

    @property
    def image(self) -> str:
        """The stable Deployment's container image."""
        return self.spec.image

    @property
    def replicas(self) -> int:
        """The configured replica count (1–10), whatever ``stopped`` says."""
        return self.spec.replicas

    @property
    def target_replicas(self) -> int:
        """The replica count the Deployment should have now: 0 when stopped, else ``replicas``."""
        return 0 if self.stopped or self.deleted else self.spec.replicas

    @property
    def config(self) -> Mapping[str, str]:
        """The ConfigMap's declared entries."""
        return self.spec.config

    @property
    def config_hash(self) -> str:
        """``config_hash`` of the declared config."""
        return config_hash(self.spec.config)

    @property
    def secret_names(self) -> frozenset[str]:
        """Every Secret the pods should mount: the env secrets and the credential secret."""
        extra = () if self.spec.credential_secret is None else (self.spec.credential_secret,)
        return frozenset((*self.spec.env_secrets, *extra))

    @property
    def endpoint(self) -> str:
        """The in-cluster URL of the agent's Service (data port)."""
        return f"http://{self.slug}:{DATA_PORT}"

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> DesiredSpec:
        """The desired state the RECIF machine's snapshot declares.

        ``Terminated`` means stopped, ``deleted`` means deleted; the canary, spec and generation
        are the agent's own.

        Raises:
            InvalidInput: the snapshot is not a Recif agent's, or it was never deployed
                (``created``: no CRD exists yet, so there is nothing to reconcile).
        """
        data: Any = getattr(snapshot, "data", None)
        if not isinstance(data, RecifAgent):
            raise InvalidInput(
                f"a Recif snapshot must carry a RecifAgent, not {type(data).__name__}"
            )
        if snapshot.status == "created":
            raise InvalidInput(
                f"agent {data.slug!r} was never deployed; deploy it before reconciling"
            )
        return cls(
            slug=data.slug,
            spec=data.spec,
            canary=data.canary,
            stopped=snapshot.status == "Terminated",
            deleted=snapshot.status == "deleted",
            generation=data.generation,
        )


def _secret_set(value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, (set, frozenset, tuple, list)):
        raise InvalidInput(
            f"mounted_secrets must be a set of Secret names, not {type(value).__name__}"
        )
    for name in value:
        problem = _secret_problem(name)
        if problem is not None:
            raise InvalidInput(problem)
    return frozenset(value)


@attrs.frozen(slots=True)
class ObservedState:
    """What the operator sees in the cluster for one agent. The default is "nothing exists".

    Attributes:
        deployment: the agent's Deployment exists.
        image: its container image (``None`` without a Deployment).
        replicas: its ``spec.replicas`` (0 without a Deployment; may be anything someone set).
        config_hash: ``config_hash`` of the config its pods were started with (the pod
            template's checksum annotation); ``None`` when they started without a ConfigMap.
        service: the agent's Service exists.
        configmap: the ConfigMap's entries, or ``None`` when there is no ConfigMap.
        canary_image: the image of the canary Deployment (with its Service), or ``None``.
        mounted_secrets: the Secrets the pods mount (env vars and credentials).
        ready_replicas: how many pods are ready.
        waiting_reason: why pods are not running (``CrashLoopBackOff``, ``ImagePullBackOff``…),
            or ``None``.

    Raises:
        InvalidInput: a field is malformed, or the fields contradict each other (pods, an image
            or replicas without a Deployment).
    """

    deployment: bool = False
    image: str | None = None
    replicas: int = 0
    config_hash: str | None = None
    service: bool = False
    configmap: Mapping[str, str] | None = attrs.field(
        default=None, converter=optional_frozen_config
    )
    canary_image: str | None = None
    mounted_secrets: frozenset[str] = attrs.field(default=frozenset(), converter=_secret_set)
    ready_replicas: int = 0
    waiting_reason: str | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("deployment", "service"):
            _flag(name, getattr(self, name))
        _whole("replicas", self.replicas, minimum=0)
        _whole("ready_replicas", self.ready_replicas, minimum=0)
        for name in ("image", "config_hash", "canary_image", "waiting_reason"):
            value = getattr(self, name)
            if value is not None:
                _nonempty_text(name, value)
        if self.deployment:
            if self.image is None:
                raise InvalidInput("an observed Deployment must have an image")
            return
        strays = [
            name
            for name, value in (
                ("image", self.image),
                ("replicas", self.replicas or None),
                ("config_hash", self.config_hash),
                ("mounted_secrets", self.mounted_secrets or None),
                ("ready_replicas", self.ready_replicas or None),
                ("waiting_reason", self.waiting_reason),
            )
            if value is not None
        ]
        if strays:
            raise InvalidInput(
                f"without a Deployment there are no pods: {', '.join(strays)} must be unset "
                f"(set deployment=True to describe an existing Deployment)"
            )

    @property
    def configmap_present(self) -> bool:
        """The agent's ConfigMap exists."""
        return self.configmap is not None

    @property
    def nothing_left(self) -> bool:
        """No object the agent owns exists (Deployment, Service, ConfigMap, canary)."""
        return not (
            self.deployment
            or self.service
            or self.configmap is not None
            or self.canary_image is not None
        )
