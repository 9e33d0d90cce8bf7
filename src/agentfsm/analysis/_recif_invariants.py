"""The invariants of the Recif model: phases, conditions, scale bounds, deletion and releases.

The expected phases and conditions are written out here from the model document rather than
imported from the model, so the model cannot drift from them and still pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentfsm._effects import AgentCanaryPromoted, AgentConfigChanged, AgentDeleted, AgentDeployed
from agentfsm._machine import payload_problems
from agentfsm._values import Actor, Context, Event, Refusal, Snapshot, Step
from agentfsm.analysis._invariants import Invariant, emitted, invariant, register_invariants

if TYPE_CHECKING:
    from agentfsm._machine import Machine

RECIF = "recif"

PHASES = ("Pending", "Running", "Failed", "Terminated")
CONDITION_TYPES = ("Ready", "Available", "Progressing", "Degraded")
MIN_REPLICAS, MAX_REPLICAS = 1, 10

# phase -> the conditions that are "True" in it; every other condition is "False".
_TRUE_IN = {
    "Pending": {"Progressing"},
    "Running": {"Ready", "Available"},
    "Failed": {"Degraded"},
    "Terminated": set(),
}

# Each domain event, and the only machine event that may publish it.
_PUBLISHED_BY = {
    AgentDeployed: "pods_ready",
    AgentConfigChanged: "update_config",
    AgentCanaryPromoted: "promote_canary",
    AgentDeleted: "delete",
}
_SPEC_CHANGES = frozenset({"update_config", "scale", "promote_canary"})


def _after(result: Step | Refusal) -> Snapshot | None:
    return result.snapshot if isinstance(result, Step) else None


@invariant("recif-deleted-absorbing")
def deleted_is_absorbing(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """`deleted` is absorbing, and only a user's Delete enters it: a failed agent is never
    deleted automatically. `deleted_at` is set exactly when the agent is deleted."""
    after = _after(result)
    if after is None:
        return None
    if before.status == "deleted" and after.status != "deleted":
        return f"{event.name!r} led a deleted agent to {after.status!r}"
    if after.status == "deleted" and before.status != "deleted" and event.actor is not Actor.USER:
        return f"the {event.actor.label} event {event.name!r} deleted a {before.status} agent"
    if (after.status == "deleted") != (after.data.deleted_at is not None):
        return f"{after.status!r} agent has deleted_at={after.data.deleted_at!r}"
    return None


@invariant("recif-phases")
def phases_map_onto_crd(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """Six machine states map onto the four CRD phases: `created` has no phase yet (no CRD
    exists), `deleted` is published as `Terminated`, every other state is its own phase."""
    after = _after(result)
    if after is None:
        return None
    phase = machine.spec.state(after.status).phase
    expected = {"created": None, "deleted": "Terminated"}.get(after.status, after.status)
    if phase != expected or (phase is not None and phase not in PHASES):
        return f"the state {after.status!r} is published as phase {phase!r}, not {expected!r}"
    return None


@invariant("recif-conditions")
def conditions_follow_phase(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine, context: Context
) -> str | None:
    """The conditions agree with the phase: Ready and Available are True only when Running,
    Progressing only when Pending, Degraded only when Failed; each of the four appears once,
    observes the current generation, and keeps its lastTransitionTime while its status holds.
    A never-deployed agent has no conditions."""
    after = _after(result)
    if after is None:
        return None
    conditions = after.data.conditions
    phase = machine.spec.state(after.status).phase
    if phase is None:
        return None if not conditions else f"{after.status!r} agent has conditions {conditions!r}"
    types = tuple(c.type for c in conditions)
    if sorted(types) != sorted(CONDITION_TYPES):
        return f"{after.status!r} agent has the conditions {types}, not one each of the four"
    previous = {c.type: c for c in before.data.conditions}
    for c in conditions:
        want = "True" if c.type in _TRUE_IN[phase] else "False"
        if c.status != want:
            return f"in phase {phase}, {c.type} is {c.status}; it must be {want}"
        if c.observed_generation != after.data.generation:
            return (
                f"{c.type} observes generation {c.observed_generation}, "
                f"but the spec is at generation {after.data.generation}"
            )
        old = previous.get(c.type)
        kept = old is not None and old.status == c.status
        if old is not None and kept and c.last_transition_time != old.last_transition_time:
            return f"{c.type} stayed {c.status} but its lastTransitionTime moved"
        if not kept and c.last_transition_time != context.now:
            return f"{c.type} became {c.status} but its lastTransitionTime is not now"
    return None


@invariant("recif-scale-bounds")
def scale_bounds(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """The configured replicas stay within 1-10: a Scale to any other whole number is refused
    with `replicas_out_of_range`, and one that is not a whole number is refused too."""
    after = _after(result)
    if after is not None and not MIN_REPLICAS <= after.data.spec.replicas <= MAX_REPLICAS:
        return f"{event.name!r} left {after.data.spec.replicas} replicas configured"
    if event.name != "scale" or event.actor is not Actor.USER:
        return None
    wanted: Any = event.payload.get("replicas")
    if not isinstance(wanted, int) or isinstance(wanted, bool):
        return None if after is None else f"scale to {wanted!r} was accepted"
    out_of_range = not MIN_REPLICAS <= wanted <= MAX_REPLICAS
    if out_of_range and after is not None:
        return f"scale to {wanted} replicas was accepted"
    if out_of_range and isinstance(result, Refusal) and result.code != "replicas_out_of_range":
        if result.code == "not_allowed_from_status":
            return None  # the status rules first: a never-deployed agent cannot be scaled at all
        if result.code == "invalid_payload" and _payload_is_bad(machine, event):
            return None  # the payload check runs before the guards: a bad payload is refused first
        return f"scale to {wanted} replicas was refused with {result.code!r}"
    if after is not None and after.data.spec.replicas != wanted:
        return f"scale to {wanted} configured {after.data.spec.replicas} replicas"
    return None


def _payload_is_bad(machine: Machine, event: Event) -> bool:
    compiled = machine.events.get(event.name)
    return compiled is not None and bool(payload_problems(compiled.fields, event.payload))


@invariant("recif-pods")
def pods_follow_the_state(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """A Running agent has at least one ready replica; a stopped or deleted one has none."""
    after = _after(result)
    if after is None:
        return None
    ready = after.data.ready_replicas
    if after.status == "Running" and ready < 1:
        return f"{event.name!r} made the agent Running with {ready} ready replicas"
    if after.status in ("Terminated", "deleted") and ready != 0:
        return f"a {after.status} agent still counts {ready} ready replicas"
    return None


@invariant("recif-spec-changes")
def spec_changes_bump_generation(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """Only Update config, Scale and Promote canary change the declared spec, and each change
    increments the generation by one; nothing else moves the generation."""
    after = _after(result)
    if after is None:
        return None
    old, new = before.data, after.data
    if event.name in _SPEC_CHANGES:
        if new.generation != old.generation + 1:
            return f"{event.name!r} moved the generation from {old.generation} to {new.generation}"
        return None
    if new.spec != old.spec:
        return f"{event.name!r} changed the declared spec"
    if new.generation != old.generation:
        return f"{event.name!r} moved the generation without a spec change"
    return None


@invariant("recif-releases")
def releases_follow_events(
    before: Snapshot, event: Event, result: Step | Refusal, machine: Machine
) -> str | None:
    """Each release-worthy change publishes exactly one domain event: AgentDeployed when pods
    become ready after a deploy or restart, AgentConfigChanged on a configuration change,
    AgentCanaryPromoted on a promotion, AgentDeleted on deletion; nothing else publishes any."""
    if not isinstance(result, Step):
        return None
    published = emitted(result)
    if len(published) > 1:
        return f"{event.name!r} published {len(published)} domain events; one at most"
    for domain_event in published:
        source = _PUBLISHED_BY.get(type(domain_event))
        if source != event.name:
            return f"{event.name!r} published {type(domain_event).__name__}"
        if getattr(domain_event, "slug", None) != before.data.slug:
            return f"{type(domain_event).__name__} names {domain_event.slug!r}, not the agent"
    due = event.name == "pods_ready" and before.data.release_due
    expected = due or event.name in ("update_config", "promote_canary", "delete")
    if expected and not published:
        return f"{event.name!r} from {before.status!r} published no domain event"
    if event.name == "pods_ready" and published and not due:
        return "pods_ready published AgentDeployed though no deploy or restart was waiting"
    return None


RECIF_INVARIANTS: tuple[Invariant, ...] = (
    deleted_is_absorbing,
    phases_map_onto_crd,
    conditions_follow_phase,
    scale_bounds,
    pods_follow_the_state,
    spec_changes_bump_generation,
    releases_follow_events,
)
"""Recif's own invariants (refusals changing nothing and actors are built-in for every model)."""

register_invariants(RECIF, *RECIF_INVARIANTS)
