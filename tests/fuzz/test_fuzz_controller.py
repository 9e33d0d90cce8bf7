"""``Controller.create``, ``handle`` and ``handle_many`` under hostile input, on a real SQLite
file and on the throwaway PostgreSQL server.

Contracts: ``handle``/``handle_many`` return a ``Step`` or a ``Refusal``, or raise a
``StoreError`` (``CodecError`` for a value the codec cannot store, ``UnknownAgent``,
``EventIdReused``…) or ``InvalidInput``; ``create`` raises ``InvalidInput``, ``UnknownMachine``,
``AgentExists`` or a ``StoreError``, and refuses a record that is not its machine's (the
issue's "check the record type against the machine at the boundary": ``InvalidInput``). A
refusal adds its audit row and changes nothing else; an error changes nothing at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentfsm import Actor, InvalidInput, Refusal, Step
from agentfsm.models import MACHINES, AlfeAgent, RecifAgent
from agentfsm.runtime import Controller, Delivery, ManualClock, Store, StoreError

from . import _hostile as h
from ._stores import STORE_KINDS, dump, new_agent_id, open_store, record_for
from ._tally import attempt, expect, fuzz_settings, unchanged

FUZZ = fuzz_settings(25)
RECORDS: dict[str, type] = {"alfe": AlfeAgent, "alfe-self-hosted": AlfeAgent, "recif": RecifAgent}
HANDLE_ERRORS = (StoreError, InvalidInput)


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    server = request.getfixturevalue("fuzz_pg") if request.param == "postgres" else None
    s = open_store(request.param, tmp_path, server)
    try:
        yield s
    finally:
        s.close()


def controller_for(store: Store) -> Controller:
    return Controller(MACHINES, store, ManualClock(h.T0))


def _agent(c: Controller, machine: str) -> str:
    agent_id = new_agent_id()
    c.create(agent_id, machine, record_for(machine, agent_id))
    return agent_id


def _only_the_audit_row_added(before: Any, after: Any) -> tuple[Any, Any]:
    """What must be equal after a refusal: everything but one new audit row (a refusal's)."""
    agents, audit, outbox, timers = after
    new_rows = audit[len(before[1]) :]
    refused = len(new_rows) <= 1 and all(r.refusal is not None for r in new_rows)
    return (before[0], before[1], before[2], before[3], True), (
        agents,
        audit[: len(before[1])],
        outbox,
        timers,
        refused,
    )


machines = st.sampled_from(sorted(MACHINES))


@FUZZ
@given(
    machine=machines,
    recipe=h.events(),
    target=st.one_of(st.just("own"), h.text(), h.anything()),
    correlation=st.one_of(st.none(), h.text(), h.anything()),
)
def test_fuzz_controller_handle(
    store: Store, machine: str, recipe: tuple[Any, ...], target: Any, correlation: Any
) -> None:
    """A hostile event, agent id or correlation id: an outcome or a documented error, and a
    refusal or an error changes nothing (a refusal only adds its audit row)."""
    c = controller_for(store)
    agent_id = _agent(c, machine)
    event = h.event(recipe)
    who = agent_id if target == "own" else h.real(target)
    corr = h.real(correlation)
    before = dump(store)
    result = attempt(
        f"Controller.handle[{type(store).__name__}]",
        HANDLE_ERRORS,
        lambda: c.handle(who, event, correlation_id=corr),
        who,
        event,
        corr,
    )
    after = dump(store)
    if isinstance(before, BaseException) or isinstance(after, BaseException):
        return
    entry = f"Controller.handle[{type(store).__name__}]"
    if isinstance(result, Refusal):
        unchanged(entry, *_only_the_audit_row_added(before, after), event)
    elif not isinstance(result, Step):
        unchanged(entry, before, after, who, event, corr)


@FUZZ
@given(
    machine=st.one_of(machines, h.text(), h.anything()),
    agent_id=st.one_of(st.just("fresh"), h.text(), h.anything()),
    data=st.one_of(h.records(), h.anything()),
)
def test_fuzz_controller_create(store: Store, machine: Any, agent_id: Any, data: Any) -> None:
    """Hostile ids, machine names and records: created, or a documented error and nothing
    stored; a record that is not the machine's is refused."""
    c = controller_for(store)
    ident = new_agent_id() if agent_id == "fresh" else h.real(agent_id)
    record, name = h.real(data), h.real(machine)
    entry = f"Controller.create[{type(store).__name__}]"
    before = dump(store)
    result = attempt(
        entry,
        (InvalidInput, StoreError),
        lambda: c.create(ident, name, record),
        ident,
        name,
        record,
    )
    after = dump(store)
    if isinstance(before, BaseException) or isinstance(after, BaseException):
        return
    wrong = not (isinstance(name, str) and name in RECORDS and isinstance(record, RECORDS[name]))
    if isinstance(result, BaseException) or wrong:
        # A refused create, or one that should have been refused (the wrong record).
        unchanged(entry, before, after, ident, name, record)


@FUZZ
@given(
    machine=machines,
    recipes=st.lists(h.events(), min_size=1, max_size=4),
    targets=st.lists(st.one_of(st.just("own"), st.just("other"), h.text()), min_size=4),
)
def test_fuzz_controller_handle_many(
    store: Store, machine: str, recipes: list[tuple[Any, ...]], targets: list[Any]
) -> None:
    """A batch of hostile deliveries: one outcome each, or a documented error. A batch that
    cannot be written whole is handled one delivery at a time (as documented), so an error may
    follow writes of earlier deliveries, but never a write of anything outside the batch."""
    c = controller_for(store)
    own, other = _agent(c, machine), _agent(c, machine)
    ids = {"own": own, "other": other}
    batch = []
    for r, t in zip(recipes, targets, strict=False):
        event = h.event(r)
        if event.id is None:
            event = attrs.evolve(event, id=f"e-{uuid.uuid4().hex}")
        batch.append(Delivery(ids.get(t, h.real(t)) if isinstance(t, str) else t, event))
    entry = f"Controller.handle_many[{type(store).__name__}]"
    before = dump(store)
    result = attempt(entry, HANDLE_ERRORS, lambda: c.handle_many(batch), batch)
    after = dump(store)
    if isinstance(result, BaseException):
        if not isinstance(before, BaseException) and not isinstance(after, BaseException):
            sent = [d.event.id for d in batch]  # ids may be unhashable: compare, do not hash
            added = [r.event_id for r in after[1][len(before[1]) :]]
            strays = [i for i in added if not any(i == s for s in sent)]
            unchanged(entry, (before[1], []), (after[1][: len(before[1])], strays), batch)
        return
    expect(
        entry,
        len(result) == len(batch) and all(isinstance(r, Step | Refusal) for r in result),
        "did not return one outcome per delivery",
        batch,
    )


@FUZZ
@given(
    machine=machines,
    actor=st.sampled_from(list(Actor)),
    name=st.sampled_from(h.EVENT_NAMES),
    payload=h.payloads(),
)
def test_fuzz_controller_handle_then_read_back(
    store: Store, machine: str, actor: Actor, name: str, payload: Any
) -> None:
    """Whatever ``handle`` accepted to store can be read back: history, load and replay."""
    c = controller_for(store)
    agent_id = _agent(c, machine)
    event = h.event((name, actor, payload, None))
    entry = f"Controller.handle[{type(store).__name__}]"
    result = attempt(entry, HANDLE_ERRORS, lambda: c.handle(agent_id, event), event)
    if isinstance(result, BaseException):
        return
    attempt(f"{type(store).__name__}.history", (), lambda: store.history(agent_id), event)
    attempt(f"{type(store).__name__}.load", (), lambda: store.load(agent_id), event)
