"""A machine with roles of its own runs on the durable runtime: its events are stored under
their role codes, read back, answered again on redelivery and replayed, on every store."""

from __future__ import annotations

from agentfsm import Event, Role, Step
from agentfsm.define import define_machine, event
from agentfsm.runtime import Controller, ManualClock, Store, replay

OWNER = Role("owner")
LAMP_SERVICE = Role("lamp-service", person=False)

LAMP = define_machine(
    "role-lamp",
    statuses=["off", "on", "broken"],
    terminal=["broken"],
    events=[
        event("switch_on", by=OWNER),
        event("switch_off", by=OWNER),
        event("burnt_out", by=LAMP_SERVICE),
    ],
    rows=[
        ("off", "switch_on", "on"),
        ("on", "switch_off", "off"),
        ("on", "burnt_out", "broken"),
    ],
)


def test_regression_custom_role_codes_were_read_back_as_a_corrupt_database(
    store: Store, clock: ManualClock
) -> None:
    controller = Controller(LAMP, store, clock)
    controller.create("l1", "role-lamp", None)
    first = controller.handle("l1", Event("switch_on", OWNER, id="k1"), principal="alice")
    assert isinstance(first, Step)
    refused = controller.handle("l1", Event("switch_on", LAMP_SERVICE, id="k2"))
    assert not refused.accepted
    assert refused.code == "actor_not_allowed"
    assert isinstance(controller.handle("l1", Event("burnt_out", LAMP_SERVICE, id="k3")), Step)

    rows = controller.history("l1")
    assert [(r.actor, r.event, r.to_status) for r in rows[1:]] == [
        ("owner", "switch_on", "on"),
        ("lamp-service", "switch_on", "on"),
        ("lamp-service", "burnt_out", "broken"),
    ]
    assert rows[1].scope == "owner/alice"
    # A redelivery is answered from the log, with the role rebuilt from its code.
    again = controller.handle("l1", Event("switch_on", OWNER, id="k1"), principal="alice")
    assert isinstance(again, Step)
    assert again.snapshot == first.snapshot
    assert replay(store, LAMP)["l1"] == controller.get("l1").snapshot
