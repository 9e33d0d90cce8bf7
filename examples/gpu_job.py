"""A GPU training job, defined from its table; its data is the number of checkpoints saved.
``agentfsm check examples/gpu_job.py:MACHINE`` model-checks it; ``TestGpuJob`` property-tests it."""

from datetime import timedelta

from agentfsm import Actor, Context, Event, Role, Snapshot
from agentfsm.analysis import CheckProfile, register_profile
from agentfsm.define import define_machine, effect, event, guard, update
from agentfsm.effects import ScheduleTimer
from agentfsm.testing import lifecycle_test

OWNER, SCHEDULER = Role("owner"), Role("scheduler", person=False)
ACTIVE = ("queued", "scheduling", "running", "checkpointing", "preempted")


@guard(code="no_checkpoint", sentence="{label} needs a checkpoint to resume from.")
def saved(snapshot: Snapshot[int], event: Event, context: Context) -> bool:
    return snapshot.data > 0


@update
def count(checkpoints: int, snapshot: Snapshot[int], event: Event, context: Context) -> int:
    return checkpoints + 1


@effect
def checkpoint_later(b: Snapshot[int], a: Snapshot[int], e: Event, c: Context) -> tuple[object]:
    return (ScheduleTimer("checkpoint_due", c.now + timedelta(minutes=30)),)


MACHINE = define_machine(
    "gpu_job",
    statuses=[*ACTIVE, "succeeded", "failed"],
    terminal=["succeeded", "failed"],
    record=int,
    events=[
        *(event(name, by=OWNER) for name in ("cancel", "resume")),
        *(event(name, by=SCHEDULER) for name in ("schedule", "placed", "no_capacity", "preempt")),
        *(event(name, by=Actor.SYSTEM) for name in ("checkpointed", "finished", "crashed")),
        event("checkpoint_due", by=Actor.TIMER),
    ],
    rows=[
        ("queued", "schedule", "scheduling"),
        ("scheduling", "placed", "running", None, checkpoint_later),
        ("scheduling", "no_capacity", "queued"),
        ("running", "checkpoint_due", "checkpointing"),
        ("checkpointing", "checkpointed", "running", None, [count, checkpoint_later]),
        (("running", "checkpointing"), "preempt", "preempted"),
        ("preempted", "resume", "queued", saved),
        ("running", "finished", "succeeded"),
        (("scheduling", "running", "checkpointing"), "crashed", "failed"),
        (ACTIVE, "cancel", "failed"),
    ],
)

register_profile("gpu_job", CheckProfile(initial_data=0))
TestGpuJob = lifecycle_test(MACHINE, 0).TestCase
