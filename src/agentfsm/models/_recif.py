"""The Recif model: agents run by a Kubernetes operator, with their release history.

Six machine states map onto the CRD's four phases: ``created`` (a database record, never
deployed: no CRD exists yet, so no phase) and ``deleted`` (published as ``Terminated`` with
``deleted_at`` set) are the machine's own. Where a transition is defined: ``RECIF_SPEC`` below;
what its names do: ``RECIF_IMPLEMENTATIONS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from agentfsm import _effects as fx
from agentfsm._errors import InvalidInput
from agentfsm._machine import Implementations, Machine
from agentfsm._slug import check_slug, slug_problem
from agentfsm._spec import (
    ActionSpec,
    EventSpec,
    FieldSpec,
    Guard,
    GuardSpec,
    MachineSpec,
    StateSpec,
    TransitionSpec,
)
from agentfsm._values import Actor, Context, Event, Snapshot
from agentfsm.models._conditions import Condition, derive_conditions
from agentfsm.models._spec_checks import (
    EXAMPLE_IMAGE,
    MAX_CONFIG_ENTRIES,
    config_problem,
    image_problem,
)

U, S = Actor.USER, Actor.SYSTEM

MIN_REPLICAS = 1
"""The fewest replicas a Recif agent may ask for."""
MAX_REPLICAS = 10
"""The most replicas a Recif agent may ask for."""


def frozen_config(value: object) -> Mapping[str, str]:
    """A read-only, key-sorted copy of a config mapping of strings.

    Raises:
        InvalidInput: not a mapping, too many or too large entries, a key a ConfigMap cannot
            hold, or a value that is not a string (see ``config_problem``).
    """
    problem = config_problem(value)
    if problem is not None:
        raise InvalidInput(problem)
    assert isinstance(value, Mapping)
    return MappingProxyType(dict(sorted(value.items())))


def optional_frozen_config(value: object) -> Mapping[str, str] | None:
    """``frozen_config`` for fields where ``None`` means "no config"."""
    return None if value is None else frozen_config(value)


def _replicas(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"replicas must be a whole number, not {value!r}")
    if not MIN_REPLICAS <= value <= MAX_REPLICAS:
        raise InvalidInput(f"replicas must be between 1 and 10, not {value}")


def _secret_names(value: object) -> tuple[str, ...]:
    # tuple("agent-env") would split one name into characters, so a lone string is one name.
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, (tuple, list)) or not all(
        isinstance(n, str) and n.strip() for n in names
    ):
        raise InvalidInput(f"env_secrets must be a sequence of Secret names, not {value!r}")
    return tuple(names)


def _image(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    problem = image_problem(value)
    if problem is not None:
        raise InvalidInput(problem)


def _optional_secret(
    instance: object, attribute: attrs.Attribute[str | None], value: object
) -> None:
    if value is None:
        return
    if not isinstance(value, str) or slug_problem(value) is not None:
        raise InvalidInput(
            f"credential_secret must be a Secret name (a DNS-1123 label) or None, not {value!r}"
        )


@attrs.frozen(slots=True)
class RecifSpec:
    """What the user declares for a Recif agent (the CRD's spec).

    Attributes:
        image: the Corail container image, an OCI reference (``ghcr.io/recif/corail:1.4``).
        replicas: the configured replica count, 1 to 10.
        config: the ConfigMap's entries (model type, strategy, tools…).
        env_secrets: Secrets whose keys become environment variables (default ``agent-env``).
        credential_secret: a Secret mounted for credentials, if any.
    """

    image: str = attrs.field(default="ghcr.io/recif/corail:latest", validator=_image)
    replicas: int = attrs.field(default=1, validator=_replicas)
    config: Mapping[str, str] = attrs.field(factory=dict, converter=frozen_config)
    env_secrets: tuple[str, ...] = attrs.field(
        default=(fx.DEFAULT_ENV_SECRET,), converter=_secret_names
    )
    credential_secret: str | None = attrs.field(default=None, validator=_optional_secret)


@attrs.frozen(slots=True)
class RecifAgent:
    """A Recif agent's own data. ``slug`` must be a DNS-1123 label.

    Attributes:
        slug: the agent's name in Kubernetes and in the release repository.
        spec: the declared spec; ``generation`` counts its changes.
        canary: the image of a running canary, if any.
        ready_replicas, endpoint: what the operator last observed.
        release_due: a deploy or restart happened and AgentDeployed is due once pods are ready.
        last_reason: the last reason pods were unhealthy.
        conditions: the four Kubernetes-style conditions, derived from the state.
    """

    slug: str = attrs.field(converter=check_slug)
    spec: RecifSpec = attrs.field(factory=RecifSpec)
    generation: int = 1
    canary: str | None = None
    ready_replicas: int = 0
    endpoint: str | None = None
    release_due: bool = False
    last_reason: str | None = None
    deleted_at: datetime | None = None
    conditions: tuple[Condition, ...] = ()


PHASES = ("Pending", "Running", "Failed", "Terminated")
"""The CRD phases a Recif agent publishes (``phase_of``); ``created`` and ``deleted`` have none."""

_STATES = (
    StateSpec("created", "The agent record exists in the database; it was never deployed."),
    StateSpec("Pending", "The operator is provisioning the agent.", phase="Pending"),
    StateSpec(
        "Running",
        "The Deployment is healthy, pods are ready, the service is reachable.",
        phase="Running",
    ),
    StateSpec(
        "Failed",
        "The Deployment has errors (crash loop, image pull failure…); recoverable.",
        phase="Failed",
    ),
    StateSpec(
        "Terminated", "The agent is stopped (scaled to 0); its record is kept.", phase="Terminated"
    ),
    StateSpec(
        "deleted",
        "The agent is deleted: phase Terminated with deleted_at set; its releases stay in Git.",
        terminal=True,
        phase="Terminated",
    ),
)

_EVENTS = (
    EventSpec("deploy", frozenset({U}), "Deploy", "POST /agents/{id}/deploy"),
    EventSpec(
        "pods_ready",
        frozenset({S}),
        "Pods ready",
        "The operator saw ready pods.",
        (
            FieldSpec("ready_replicas", "int", True, "how many pods are ready"),
            FieldSpec("endpoint", "str", False, "the in-cluster service URL"),
        ),
    ),
    EventSpec(
        "pods_unhealthy",
        frozenset({S}),
        "Pods unhealthy",
        "The operator saw unhealthy pods.",
        (
            FieldSpec("reason", "str", True, "CrashLoopBackOff, ImagePullBackOff…"),
            FieldSpec("message", "str", False, "details for GET /agents/{id}/events"),
        ),
    ),
    EventSpec("stop", frozenset({U}), "Stop", "POST /agents/{id}/stop"),
    EventSpec("restart", frozenset({U}), "Restart", "POST /agents/{id}/restart"),
    EventSpec(
        "update_config",
        frozenset({U}),
        "Update config",
        "Change the agent's configuration or image.",
        (
            FieldSpec("config", "mapping", False, "the new ConfigMap entries"),
            FieldSpec("image", "str", False, "a new container image"),
        ),
    ),
    EventSpec(
        "scale",
        frozenset({U}),
        "Scale",
        "Change the replica count.",
        (FieldSpec("replicas", "int", True, "1 to 10"),),
    ),
    EventSpec(
        "start_canary",
        frozenset({U}),
        "Start canary",
        "Run a canary of a new image beside the stable pods.",
        (FieldSpec("image", "str", True, "the canary's image"),),
    ),
    EventSpec("promote_canary", frozenset({U}), "Promote canary", "Make the canary stable."),
    EventSpec("delete", frozenset({U}), "Delete", "DELETE /agents/{id}"),
)

_GUARDS = (
    GuardSpec(
        "pods_are_ready",
        "no_ready_replicas",
        "{label} needs at least one ready replica before the agent counts as Running.",
        "ready replicas >= 1",
    ),
    GuardSpec(
        "reason_given",
        "reason_missing",
        "{label} needs a reason (CrashLoopBackOff, ImagePullBackOff…).",
        "a reason is given",
    ),
    GuardSpec(
        "replicas_in_range",
        "replicas_out_of_range",
        "{label} needs a replica count between 1 and 10.",
        "1 <= replicas <= 10",
        reads_input=True,
    ),
    GuardSpec(
        "spec_valid",
        "invalid_spec",
        "{label} needs a new image, a new config, or both: the image an OCI reference (such as "
        f"{EXAMPLE_IMAGE}, no spaces), the config at most {MAX_CONFIG_ENTRIES} entries of string "
        "values under keys of letters, digits, '-', '_' or '.', 1 MiB in all.",
        "an image or a config is given, and each is valid",
        reads_input=True,
    ),
    GuardSpec(
        "canary_image_given",
        "invalid_spec",
        "{label} needs the canary's image, an OCI reference such as "
        f"{EXAMPLE_IMAGE} (no spaces).",
        "a canary image is given, an OCI reference",
        reads_input=True,
    ),
    GuardSpec(
        "canary_exists",
        "no_canary",
        "{label} needs a canary, and there is none; start one first.",
        "a canary exists",
    ),
)


def _pods_are_ready(s: Snapshot, e: Event, c: Context) -> bool:
    n = e.payload.get("ready_replicas")
    return isinstance(n, int) and n >= 1


def _reason_given(s: Snapshot, e: Event, c: Context) -> bool:
    r = e.payload.get("reason")
    return isinstance(r, str) and bool(r.strip())


def _replicas_in_range(s: Snapshot, e: Event, c: Context) -> bool:
    n = e.payload.get("replicas")
    return isinstance(n, int) and not isinstance(n, bool) and MIN_REPLICAS <= n <= MAX_REPLICAS


def _spec_valid(s: Snapshot, e: Event, c: Context) -> bool:
    config, image = e.payload.get("config"), e.payload.get("image")
    if config is None and image is None:
        return False
    if image is not None and image_problem(image) is not None:
        return False
    return config is None or config_problem(config) is None


def _canary_image_given(s: Snapshot, e: Event, c: Context) -> bool:
    return image_problem(e.payload.get("image")) is None


def _canary_exists(s: Snapshot, e: Event, c: Context) -> bool:
    return s.data.canary is not None


# -- updates ------------------------------------------------------------------------------------


def _due_release(d: RecifAgent, s: Snapshot, e: Event, c: Context) -> RecifAgent:
    return attrs.evolve(d, release_due=True)


def _observe_ready(d: RecifAgent, s: Snapshot, e: Event, c: Context) -> RecifAgent:
    endpoint = e.payload.get("endpoint") or f"http://{d.slug}:{fx.DATA_PORT}"
    return attrs.evolve(
        d,
        ready_replicas=e.payload["ready_replicas"],
        endpoint=endpoint,
        release_due=False,
        last_reason=None,
    )


def _observe_unhealthy(d: RecifAgent, s: Snapshot, e: Event, c: Context) -> RecifAgent:
    return attrs.evolve(d, ready_replicas=0, last_reason=e.payload["reason"])


def _scaled_down(d: RecifAgent, s: Snapshot, e: Event, c: Context) -> RecifAgent:
    return attrs.evolve(d, ready_replicas=0)


def _apply_config(d: RecifAgent, s: Snapshot, e: Event, c: Context) -> RecifAgent:
    config = e.payload.get("config")
    image = e.payload.get("image")
    spec = attrs.evolve(
        d.spec,
        config=dict(config) if config is not None else d.spec.config,
        image=image if image is not None else d.spec.image,
    )
    return attrs.evolve(d, spec=spec, generation=d.generation + 1)


def _apply_replicas(d: RecifAgent, s: Snapshot, e: Event, c: Context) -> RecifAgent:
    return attrs.evolve(
        d, spec=attrs.evolve(d.spec, replicas=e.payload["replicas"]), generation=d.generation + 1
    )


def _set_canary(d: RecifAgent, s: Snapshot, e: Event, c: Context) -> RecifAgent:
    return attrs.evolve(d, canary=e.payload["image"])


def _promote(d: RecifAgent, s: Snapshot, e: Event, c: Context) -> RecifAgent:
    assert d.canary is not None
    return attrs.evolve(
        d, spec=attrs.evolve(d.spec, image=d.canary), canary=None, generation=d.generation + 1
    )


def _mark_deleted(d: RecifAgent, s: Snapshot, e: Event, c: Context) -> RecifAgent:
    return attrs.evolve(d, deleted_at=c.now, ready_replicas=0, canary=None)


# -- effects ------------------------------------------------------------------------------------


def _create_resources(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    spec = a.data.spec
    # The ConfigMap first: pods that start before the configuration they mount cannot run.
    return (
        fx.CreateConfigMap(spec.config),
        fx.CreateService(),
        fx.CreateDeployment(spec.image, spec.replicas, spec.env_secrets, spec.credential_secret),
    )


def _release_fields(d: RecifAgent) -> dict[str, Any]:
    return {"image": d.spec.image, "replicas": d.spec.replicas, "config": d.spec.config}


def _emit_deployed_if_due(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    if not b.data.release_due:
        return ()
    return (fx.Emit(fx.AgentDeployed(a.data.slug, c.now, **_release_fields(a.data))),)


def _record_events(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return (fx.RecordEvents(e.payload["reason"], e.payload.get("message", "")),)


def _scale_to_zero(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return (fx.ScaleDeployment(0),)


def _scale_to_spec(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return (fx.ScaleDeployment(a.data.spec.replicas),)


def _roll_out_config(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    out: list[object] = []
    if a.data.spec.image != b.data.spec.image:
        out.append(fx.UpdateDeploymentImage(a.data.spec.image))
    out.append(fx.RecreateConfigMap(a.data.spec.config))
    if a.status != "Terminated":  # a stopped agent has no pods to restart
        out.append(fx.RestartPods())
    out.append(fx.Emit(fx.AgentConfigChanged(a.data.slug, c.now, **_release_fields(a.data))))
    return tuple(out)


def _create_canary(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return (fx.CreateCanary(e.payload["image"]),)


def _promote_canary(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return (
        fx.UpdateDeploymentImage(a.data.spec.image),
        fx.Emit(fx.AgentCanaryPromoted(a.data.slug, c.now, **_release_fields(a.data))),
    )


def _tear_down(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    deployed = () if b.status == "created" else (fx.DeleteResources(),)
    return (*deployed, fx.Emit(fx.AgentDeleted(a.data.slug, c.now)))


def _conditions_for(target: str) -> Any:
    """An update that runs last on every row: it derives the conditions of the row's target."""

    def update(d: RecifAgent, s: Snapshot, e: Event, c: Context) -> RecifAgent:
        return attrs.evolve(
            d,
            conditions=derive_conditions(target, d.generation, c.now, d.conditions, d.last_reason),
        )

    return update


RECIF_IMPLEMENTATIONS = Implementations(
    guards={
        "pods_are_ready": _pods_are_ready,
        "reason_given": _reason_given,
        "replicas_in_range": _replicas_in_range,
        "spec_valid": _spec_valid,
        "canary_image_given": _canary_image_given,
        "canary_exists": _canary_exists,
    },
    updates={
        "due_release": _due_release,
        "observe_ready": _observe_ready,
        "observe_unhealthy": _observe_unhealthy,
        "scaled_down": _scaled_down,
        "apply_config": _apply_config,
        "apply_replicas": _apply_replicas,
        "set_canary": _set_canary,
        "promote": _promote,
        "mark_deleted": _mark_deleted,
        **{f"conditions_{state}": _conditions_for(state) for state in (*PHASES, "deleted")},
    },
    effects={
        "create_resources": _create_resources,
        "emit_deployed_if_due": _emit_deployed_if_due,
        "record_events": _record_events,
        "scale_to_zero": _scale_to_zero,
        "scale_to_spec": _scale_to_spec,
        "roll_out_config": _roll_out_config,
        "create_canary": _create_canary,
        "promote_canary": _promote_canary,
        "tear_down": _tear_down,
    },
)
"""The functions behind the names in ``RECIF_SPEC``."""

_ACTIVE = ("Pending", "Running", "Failed")


def _row(event: str, sources: str | tuple[str, ...], target: str, **kw: Any) -> TransitionSpec:
    """A row whose updates end by deriving the conditions of the state it enters.

    Rows that stay in place get one row per source, so each derives its own state's conditions.
    """
    updates = tuple(kw.pop("updates", ()))
    if isinstance(updates, str):
        updates = (updates,)
    return TransitionSpec(event, sources, target, updates=(*updates, f"conditions_{target}"), **kw)


def _rows_in_place(event: str, sources: tuple[str, ...], **kw: Any) -> tuple[TransitionSpec, ...]:
    return tuple(_row(event, (src,), src, **kw) for src in sources)


_TRANSITIONS = (
    _row("deploy", "created", "Pending", updates=("due_release",), effects="create_resources"),
    _row(
        "pods_ready",
        ("Pending", "Failed"),
        "Running",
        guard=Guard("pods_are_ready"),
        updates=("observe_ready",),
        effects="emit_deployed_if_due",
        note="AgentDeployed is emitted only when a deploy or restart is waiting for ready pods.",
    ),
    *_rows_in_place(
        "pods_ready",
        ("Running",),
        guard=Guard("pods_are_ready"),
        updates=("observe_ready",),
        effects="emit_deployed_if_due",
        note="A Running agent's ready count changes (after a scale, say); the operator reports "
        "it so status.replicas stays true (ours).",
    ),
    _row(
        "pods_unhealthy",
        ("Pending", "Running"),
        "Failed",
        guard=Guard("reason_given"),
        updates=("observe_unhealthy",),
        effects="record_events",
    ),
    _row("stop", _ACTIVE, "Terminated", updates=("scaled_down",), effects="scale_to_zero"),
    _row(
        "restart",
        "Terminated",
        "Pending",
        updates=("due_release",),
        effects="scale_to_spec",
        note="'Not deleted' holds by construction: deleted is its own state.",
    ),
    *_rows_in_place(
        "update_config",
        (*_ACTIVE, "Terminated"),
        guard=Guard("spec_valid"),
        updates=("apply_config",),
        effects="roll_out_config",
    ),
    *_rows_in_place(
        "scale",
        _ACTIVE,
        guard=Guard("replicas_in_range"),
        updates=("apply_replicas",),
        effects="scale_to_spec",
    ),
    _row(
        "start_canary",
        ("Running",),
        "Running",
        guard=Guard("canary_image_given"),
        updates=("set_canary",),
        effects="create_canary",
        note="Promotion needs a canary to exist, so starting one is an action too (ours).",
    ),
    _row(
        "promote_canary",
        ("Running",),
        "Running",
        guard=Guard("canary_exists"),
        updates=("promote",),
        effects="promote_canary",
    ),
    _row(
        "delete",
        ("created", *_ACTIVE, "Terminated"),
        "deleted",
        updates=("mark_deleted",),
        effects="tear_down",
    ),
)

_UPDATES = (
    ActionSpec("due_release", "remember that AgentDeployed is due once pods are ready"),
    ActionSpec("observe_ready", "set status.replicas and status.endpoint"),
    ActionSpec("observe_unhealthy", "record the unhealthy reason"),
    ActionSpec("scaled_down", "no ready replicas"),
    ActionSpec("apply_config", "take the new config or image; generation + 1"),
    ActionSpec("apply_replicas", "take the new replica count; generation + 1"),
    ActionSpec("set_canary", "remember the canary's image"),
    ActionSpec("promote", "the canary's image becomes the spec's; generation + 1"),
    ActionSpec("mark_deleted", "set deleted_at"),
    *(ActionSpec(f"conditions_{s}", f"derive the conditions of {s}") for s in (*PHASES, "deleted")),
)

_EFFECTS = (
    ActionSpec(
        "create_resources",
        "create Deployment (image, env from envSecrets, default agent-env), Service (8000 data, "
        "8001 control) and ConfigMap",
    ),
    ActionSpec("emit_deployed_if_due", "emit AgentDeployed after a deploy or restart"),
    ActionSpec("record_events", "record events for GET /agents/{id}/events"),
    ActionSpec("scale_to_zero", "scale to 0; keep the record"),
    ActionSpec("scale_to_spec", "scale the Deployment to the configured replicas"),
    ActionSpec(
        "roll_out_config",
        "recreate ConfigMap, restart pods (not when Terminated), emit AgentConfigChanged",
    ),
    ActionSpec("create_canary", "create a canary Deployment and Service"),
    ActionSpec("promote_canary", "roll the canary's image out; emit AgentCanaryPromoted"),
    ActionSpec("tear_down", "delete Deployment, Service, ConfigMap; emit AgentDeleted"),
)

_EXPLANATIONS = (
    ("deleted", "*", "The agent has been deleted; its release history stays in Git."),
    # Restart is named only where it is offered: a sentence advises nothing it would refuse.
    ("Terminated", "deploy", "The agent is already deployed and is stopped; use Restart."),
    ("*", "deploy", "The agent is already deployed."),
    ("created", "stop", "The agent was never deployed; there is nothing to stop."),
    ("Terminated", "stop", "The agent is already stopped."),
    ("*", "restart", "Restart is for stopped (Terminated) agents."),
    (
        "created",
        "update_config",
        "The agent was never deployed; its configuration is set when it is deployed.",
    ),
    ("created", "scale", "The agent was never deployed; deploy it first."),
    ("Terminated", "scale", "A stopped agent has no pods to scale; Restart it first."),
    ("*", "start_canary", "A canary needs a Running agent."),
    ("*", "promote_canary", "A canary can be promoted only on a Running agent."),
)

RECIF_SPEC = MachineSpec(
    name="recif",
    description="Recif agents run by a Kubernetes operator: four CRD phases, plus created and "
    "deleted.",
    initial="created",
    states=_STATES,
    events=_EVENTS,
    transitions=_TRANSITIONS,
    guards=_GUARDS,
    updates=_UPDATES,
    effects=_EFFECTS,
    explanations=_EXPLANATIONS,
    strict=True,
)
"""The Recif operator model as data: its statuses, events, rows and guards."""

RECIF: Machine[RecifAgent] = Machine(RECIF_SPEC, RECIF_IMPLEMENTATIONS, record=RecifAgent)
"""The compiled Recif machine. One instance serves every agent."""


def phase_of(snapshot: Snapshot) -> str | None:
    """The CRD phase published for a Recif snapshot (``None`` before the first deploy).

    Raises:
        InvalidInput: the snapshot's status is not one of the Recif machine's states.
    """
    for state in _STATES:
        if state.name == snapshot.status:
            return state.phase
    known = ", ".join(s.name for s in _STATES)
    raise InvalidInput(f"the recif model has no status {snapshot.status!r}; its states are {known}")
