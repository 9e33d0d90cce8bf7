"""Define your own machine in a few lines that read like its transition table.

::

    from agentfsm import Actor, Role
    from agentfsm.define import define_machine, event, guard

    OWNER = Role("owner")

    @guard(code="no_quota", sentence="{label} needs a free GPU.")
    def has_quota(snapshot, event, context):
        return snapshot.data.gpus <= 8

    JOBS = define_machine(
        "gpu_job",
        statuses=["queued", "running", "done"],
        terminal=["done"],
        events=[event("start", by=OWNER), event("finished", by=Actor.SYSTEM)],
        rows=[
            ("queued", "start", "running", has_quota),
            ("running", "finished", "done"),
        ],
    )

The result is an ordinary ``Machine`` (a ``MachineSpec`` joined with its ``Implementations``),
validated as every machine is; ``define_spec`` gives the two parts instead. Each default is
explicit and documented where it is taken:

- the first status is the initial one, unless ``initial`` says otherwise;
- an event is a user action (``by=Actor.USER``) unless ``by`` names other roles, and its label
  is its name in words (``"billing_suspend"`` is "Billing suspend");
- a (status, user action) pair no row handles gets the engine's standard refusal,
  ``not_allowed_from_status`` ("Start is not available while the agent is running."), unless
  ``explanations`` says why or ``strict=True`` asks validation to insist on one;
- a guard reads typed input when its code reads ``payload`` (``@guard(reads_input=...)``
  says otherwise);
- the machine is timed when a timer sends one of its events or a guard, update or effect reads
  ``now`` or ``since``; an untimed one needs no clock (``timed=`` says otherwise).

``load_machine`` reads the same machine from a JSON or YAML document, resolving its guard,
update and effect names against the decorated functions it is given.
"""

from agentfsm._define import (
    ActionLike,
    GuardLike,
    Row,
    RowDef,
    define_machine,
    define_spec,
    event,
    load_machine,
    reads_time,
    row,
)
from agentfsm._define_parts import ActionDef, Condition, GuardDef, effect, guard, update

__all__ = [
    "ActionDef",
    "ActionLike",
    "Condition",
    "GuardDef",
    "GuardLike",
    "Row",
    "RowDef",
    "define_machine",
    "define_spec",
    "effect",
    "event",
    "guard",
    "load_machine",
    "reads_time",
    "row",
    "update",
]
