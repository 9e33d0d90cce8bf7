"""The controller's own promises, on a SQLite store: the policy of its machines reaches every
decision, timer tokens and correlation ids survive every write path, ``erase`` bumps the
version, retries and is idempotent, and ``default_scrub`` resets records to real defaults."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from runtime_support import T0, FaultyStore

from agentfsm import Actor, Event, InvalidInput, Machine, Policy, Step
from agentfsm.migrate import Migration, apply_migration
from agentfsm.models import MACHINES, AlfeAgent, RecifAgent, RecifSpec
from agentfsm.runtime import (
    CodecError,
    Controller,
    Delivery,
    IdempotencyKeyMismatch,
    MachineVersionMismatch,
    ManualClock,
    SQLiteStore,
    Store,
    VersionConflict,
    default_scrub,
)

S, T = Actor.SYSTEM, Actor.TIMER
SHORT_GRACE = Policy(grace_period=timedelta(days=1))
SHORT_GRACE_MACHINES = {name: m.with_policy(SHORT_GRACE) for name, m in MACHINES.items()}


@pytest.fixture
def sqlite(tmp_path: Path) -> Store:
    store = SQLiteStore(str(tmp_path / "agents.db"))
    yield store  # type: ignore[misc]
    store.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def _alfe(controller: Controller, agent_id: str = "ag-1") -> str:
    controller.create(agent_id, "alfe", AlfeAgent(agent_id, f"name-{agent_id}"))
    return agent_id


def _to_failing(controller: Controller, agent_id: str) -> None:
    for name in ("provision", "host_up", "connected", "connection_lost"):
        assert isinstance(controller.handle(agent_id, Event(name, S)), Step)


# -- the policy ---------------------------------------------------------------------------------


def test_handle_decides_with_the_machines_policy(sqlite: Store, clock: ManualClock) -> None:
    controller = Controller(SHORT_GRACE_MACHINES, sqlite, clock)
    agent = _alfe(controller)
    step = controller.handle(agent, Event("delete"))
    assert isinstance(step, Step)
    assert step.snapshot.data.purge_at == T0 + timedelta(days=1)
    assert controller.get(agent).snapshot.data.purge_at == T0 + timedelta(days=1)


def test_handle_many_decides_with_the_machines_policy(sqlite: Store, clock: ManualClock) -> None:
    controller = Controller(SHORT_GRACE_MACHINES, sqlite, clock)
    agents = [_alfe(controller, f"ag-{i}") for i in range(2)]
    results = controller.handle_many([Delivery(a, Event("delete")) for a in agents])
    for agent, result in zip(agents, results, strict=True):
        assert isinstance(result, Step)
        assert result.snapshot.data.purge_at == T0 + timedelta(days=1)
        assert controller.get(agent).snapshot.data.purge_at == T0 + timedelta(days=1)


def test_a_duplicate_is_replayed_with_the_machines_policy(
    sqlite: Store, clock: ManualClock
) -> None:
    controller = Controller(SHORT_GRACE_MACHINES, sqlite, clock)
    agent = _alfe(controller)
    first = controller.handle(agent, Event("delete", id="ev-delete"))
    clock.advance(timedelta(minutes=5))
    again = controller.handle(agent, Event("delete", id="ev-delete"))
    assert controller.stats.duplicates == 1
    assert again == first
    assert isinstance(again, Step)
    assert again.snapshot.data.purge_at == T0 + timedelta(days=1)


def test_a_duplicate_replays_the_history_before_it_with_the_machines_policy(
    sqlite: Store, clock: ManualClock
) -> None:
    # The purge is due one day after the deletion only under this policy: rebuilding the
    # snapshot before it with the default policy would put the purge 30 days out.
    controller = Controller(SHORT_GRACE_MACHINES, sqlite, clock)
    agent = _alfe(controller)
    assert isinstance(controller.handle(agent, Event("delete")), Step)
    clock.advance(timedelta(days=2))
    first = controller.handle(agent, Event("purge", T, id="ev-purge"))
    assert isinstance(first, Step)
    assert controller.handle(agent, Event("purge", T, id="ev-purge")) == first
    assert controller.stats.duplicates == 1


# -- timer tokens and correlation ids -------------------------------------------------------------


def test_a_fired_timer_accepted_without_effects_is_consumed(
    sqlite: Store, clock: ManualClock
) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    agent = _alfe(controller)
    _to_failing(controller, agent)
    (timer,) = [t for t in sqlite.timers(agent) if t.event == "recovery_exhausted"]
    clock.advance(timedelta(minutes=16))
    step = controller.handle(agent, Event("recovery_exhausted", T), timer_token=timer.token)
    assert isinstance(step, Step)
    assert step.effects == ()  # the path under test: an accepted event with nothing to do
    assert step.snapshot.status == "failed"
    assert [t for t in sqlite.timers(agent) if t.event == "recovery_exhausted"] == []


def test_a_split_batch_keeps_timer_tokens_and_correlation_ids(
    sqlite: Store, clock: ManualClock
) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    agent = _alfe(controller)
    _to_failing(controller, agent)
    (timer,) = [t for t in sqlite.timers(agent) if t.event == "recovery_exhausted"]
    clock.advance(timedelta(minutes=16))
    # The first commit conflicts, so the batch is handled one delivery at a time.
    controller.store = FaultyStore(sqlite, conflicts=1)  # type: ignore[assignment]
    (result,) = controller.handle_many(
        [Delivery(agent, Event("recovery_exhausted", T, id="ev-t"), "corr-1", timer.token)]
    )
    assert isinstance(result, Step)
    assert controller.stats.batches_split == 1
    assert [t for t in sqlite.timers(agent) if t.event == "recovery_exhausted"] == []
    row = sqlite.audit_row(agent, "T", "ev-t")
    assert row is not None
    assert row.correlation_id == "corr-1"


def test_the_creation_row_keeps_its_correlation_id(sqlite: Store, clock: ManualClock) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    controller.create("ag-1", "alfe", AlfeAgent("ag-1", "one"), correlation_id="req-7")
    (row,) = controller.history("ag-1")
    assert row.kind == "create"
    assert row.correlation_id == "req-7"


@pytest.mark.parametrize("bad", ["", None, 7])
def test_create_refuses_an_id_that_is_not_a_non_empty_string(
    sqlite: Store, clock: ManualClock, bad: Any
) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    with pytest.raises(InvalidInput, match="non-empty string"):
        controller.create(bad, "alfe", AlfeAgent("ag-1", "one"))
    assert sqlite.agents() == []


# -- erase --------------------------------------------------------------------------------------


def _configured_recif(controller: Controller) -> str:
    controller.create("support", "recif", RecifAgent("support"))
    assert isinstance(controller.handle("support", Event("deploy")), Step)
    payload = {"config": {"model": "big"}}
    assert isinstance(controller.handle("support", Event("update_config", payload=payload)), Step)
    return "support"


def test_erase_bumps_the_version_so_a_stale_cache_cannot_write_old_data_back(
    sqlite: Store, clock: ManualClock
) -> None:
    stale = Controller(MACHINES, sqlite, clock)
    eraser = Controller(MACHINES, sqlite, clock)
    agent = _configured_recif(stale)  # ``stale`` now caches the agent with its config
    before = sqlite.load(agent).snapshot
    after = eraser.erase(agent, event_id="erase-1")
    assert after.version == before.version + 1
    assert dict(sqlite.load(agent).snapshot.data.spec.config) == {}
    # Deciding on the cached, unscrubbed snapshot must fail the compare-and-set and re-read.
    stale.handle(agent, Event("scale", payload={"replicas": 2}))
    assert stale.stats.conflicts == 1
    assert dict(sqlite.load(agent).snapshot.data.spec.config) == {}


def test_erase_retries_after_a_version_conflict(sqlite: Store, clock: ManualClock) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    agent = _alfe(controller)
    controller.store = FaultyStore(sqlite, conflicts=2)  # type: ignore[assignment]
    after = controller.erase(agent, event_id="erase-1")
    assert controller.stats.conflicts == 2
    assert sqlite.load(agent).snapshot == after


def test_erase_gives_up_after_max_retries(sqlite: Store, clock: ManualClock) -> None:
    controller = Controller(MACHINES, sqlite, clock, max_retries=2)
    agent = _alfe(controller)
    controller.store = FaultyStore(sqlite, conflicts=5)  # type: ignore[assignment]
    with pytest.raises(VersionConflict):
        controller.erase(agent, event_id="erase-1")
    assert controller.stats.conflicts == 3
    assert sqlite.load(agent).snapshot.version == 0


def test_erase_is_idempotent_by_event_id(sqlite: Store, clock: ManualClock) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    agent = _alfe(controller)
    first = controller.erase(agent, event_id="erase-1")
    again = controller.erase(agent, event_id="erase-1")
    assert again == first
    assert sqlite.load(agent).snapshot.version == 1
    assert [r.kind for r in controller.history(agent)] == ["create", "erase"]


def test_erase_uses_the_scrubber_given_for_the_machine(sqlite: Store, clock: ManualClock) -> None:
    def keep_size_only(data: AlfeAgent) -> AlfeAgent:
        return AlfeAgent(data.agent_id, "erased", size=data.size)

    controller = Controller(MACHINES, sqlite, clock, scrubbers={"alfe": keep_size_only})
    controller.create("ag-1", "alfe", AlfeAgent("ag-1", "one", size="large"))
    after = controller.erase("ag-1", event_id="erase-1")
    assert after.data == AlfeAgent("ag-1", "erased", size="large")
    assert sqlite.load("ag-1").snapshot.data == after.data


# -- default_scrub ------------------------------------------------------------------------------


def test_default_scrub_resets_factory_defaults_to_fresh_values() -> None:
    agent = RecifAgent("support", spec=RecifSpec(replicas=3, config={"model": "big"}))
    scrubbed = default_scrub(agent)
    assert scrubbed.spec == RecifSpec()
    assert isinstance(scrubbed.spec, RecifSpec)
    assert scrubbed.slug == "support"


def test_default_scrub_keeps_identity_and_deletion_times() -> None:
    agent = AlfeAgent(
        "ag-1", "one", size="large", host=3, deleted_at=T0, purge_at=T0 + timedelta(days=30)
    )
    scrubbed = default_scrub(agent)
    assert (scrubbed.agent_id, scrubbed.name) == ("ag-1", "one")
    assert (scrubbed.deleted_at, scrubbed.purge_at) == (agent.deleted_at, agent.purge_at)
    assert (scrubbed.size, scrubbed.host) == ("small", 0)


def test_default_scrub_drops_what_is_not_an_attrs_record() -> None:
    assert default_scrub({"name": "one"}) is None


@attrs.frozen
class _Tagged:
    name: str
    tags: tuple[str, ...] = attrs.field(
        default=attrs.Factory(lambda self: (self.name,), takes_self=True)
    )


def test_regression_default_scrub_stored_a_factory_object_for_takes_self_defaults() -> None:
    scrubbed = default_scrub(_Tagged("one", tags=("a", "b")))
    assert scrubbed.tags == ("one",)


@attrs.frozen
class _Private:
    name: str
    _notes: str = "none"  # attrs takes it as ``notes=``


def test_default_scrub_resets_a_private_field_by_its_init_name() -> None:
    scrubbed = default_scrub(_Private("one", notes="secret"))
    assert scrubbed == _Private("one")


# -- erase, continued ---------------------------------------------------------------------------


def test_erase_records_the_status_and_the_machine_version_it_was_decided_in(
    sqlite: Store, clock: ManualClock
) -> None:
    alfe = MACHINES["alfe"]
    v2 = Machine(attrs.evolve(alfe.spec, version=2), alfe.implementations, record=AlfeAgent)
    controller = Controller(v2, sqlite, clock)
    agent = _alfe(controller)
    assert isinstance(controller.handle(agent, Event("provision", S)), Step)
    controller.erase(agent, event_id="erase-1")
    row = controller.history(agent)[-1]
    assert (row.kind, row.from_status, row.to_status) == ("erase", "provisioning", "provisioning")
    assert row.machine_version == 2


def test_erase_forgets_the_erasers_cached_snapshot(sqlite: Store, clock: ManualClock) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    agent = _configured_recif(controller)  # cached with its config
    controller.erase(agent, event_id="erase-1")
    assert isinstance(controller.handle(agent, Event("scale", payload={"replicas": 2})), Step)
    assert controller.stats.conflicts == 0  # decided on the erased snapshot, read again
    assert dict(sqlite.load(agent).snapshot.data.spec.config) == {}


def test_an_erase_done_already_forgets_the_cached_snapshot(
    sqlite: Store, clock: ManualClock
) -> None:
    first = Controller(MACHINES, sqlite, clock)
    again = Controller(MACHINES, sqlite, clock)
    agent = _configured_recif(again)  # ``again`` caches the agent before the erase
    first.erase(agent, event_id="erase-1")
    again.erase(agent, event_id="erase-1")  # done already: answered from the store
    assert isinstance(again.handle(agent, Event("scale", payload={"replicas": 2})), Step)
    assert again.stats.conflicts == 0
    assert dict(sqlite.load(agent).snapshot.data.spec.config) == {}


# -- batches ------------------------------------------------------------------------------------


def test_handle_many_refuses_an_empty_principal_and_writes_nothing(
    sqlite: Store, clock: ManualClock
) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    agent = _alfe(controller)
    with pytest.raises(InvalidInput, match="principal"):
        controller.handle_many([Delivery(agent, Event("provision", S), principal="")])
    assert [r.kind for r in controller.history(agent)] == ["create"]


class _CountingStore:
    """Counts the store's calls by name."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return counted


def test_a_batch_for_agents_it_wrote_last_reads_nothing(sqlite: Store, clock: ManualClock) -> None:
    counting = _CountingStore(sqlite)
    controller = Controller(MACHINES, counting, clock)  # type: ignore[arg-type]
    agents = [_alfe(controller, f"ag-{i}") for i in range(2)]
    counting.calls.clear()
    results = controller.handle_many([Delivery(a, Event("provision", S)) for a in agents])
    assert all(isinstance(r, Step) for r in results)
    assert counting.calls == Counter({"commit": 1})


# -- retries ------------------------------------------------------------------------------------


def _pauses(
    sqlite: Store, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, conflicts: int, runs: int
) -> list[list[float]]:
    """The pauses of ``runs`` handles, each meeting ``conflicts`` version conflicts."""
    controller = Controller(MACHINES, sqlite, clock, max_retries=conflicts)
    agent = _alfe(controller)
    store = FaultyStore(sqlite, conflicts=0)
    controller.store = store  # type: ignore[assignment]
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    out: list[list[float]] = []
    for _ in range(runs):
        store.conflicts = conflicts
        controller.handle(agent, Event("start"))  # refused, but compared-and-set all the same
        out.append(list(slept))
        slept.clear()
    return out


def test_the_first_retry_is_immediate_and_later_pauses_grow(
    sqlite: Store, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = _pauses(sqlite, clock, monkeypatch, conflicts=5, runs=100)
    assert all(len(pauses) == 4 for pauses in runs)  # no pause before the first retry
    for attempt, samples in enumerate(zip(*runs, strict=True), 1):
        bound = 0.002 * 2**attempt  # random, up to 2 ms doubled per retry
        assert all(0 <= p <= bound for p in samples)
        assert max(samples) > 0.8 * bound  # 100 draws: the range is used, not a part of it


def test_pauses_between_retries_stop_growing_at_64_ms(
    sqlite: Store, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pauses,) = _pauses(sqlite, clock, monkeypatch, conflicts=300, runs=1)
    assert len(pauses) == 299
    late = pauses[4:]  # from the fifth retry on
    assert all(0 <= p <= 0.064 for p in late)
    assert max(late) > 0.06


def _v2(name: str) -> Machine:
    machine = MACHINES[name]
    return Machine(attrs.evolve(machine.spec, version=2), machine.implementations, record=AlfeAgent)


def test_a_batch_keeps_deciding_by_the_machine_version_its_agents_record(
    sqlite: Store, clock: ManualClock
) -> None:
    controller = Controller(_v2("alfe"), sqlite, clock)
    agent = _alfe(controller)
    for name in ("provision", "host_up"):  # the second batch decides on the first's result
        (result,) = controller.handle_many([Delivery(agent, Event(name, S))])
        assert isinstance(result, Step)
    assert [r.machine_version for r in controller.history(agent)] == [2, 2, 2]


def test_batches_split_by_another_writer_count_each_conflict_once(
    sqlite: Store, clock: ManualClock
) -> None:
    stale = Controller(MACHINES, sqlite, clock)
    other = Controller(MACHINES, sqlite, clock)
    agent = _alfe(stale)
    for theirs, ours in (("provision", Event("host_up", S)), ("connected", Event("stop"))):
        assert isinstance(other.handle(agent, Event(theirs, S)), Step)  # ``stale`` is behind
        (result,) = stale.handle_many([Delivery(agent, ours)])
        assert isinstance(result, Step)
    # Each batch conflicts once; the cache is dropped, so the one-by-one retry reads afresh.
    assert (stale.stats.conflicts, stale.stats.batches_split) == (2, 2)
    assert stale.stats.handled == 2


def test_batches_count_what_they_handled(sqlite: Store, clock: ManualClock) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    agents = [_alfe(controller, f"ag-{i}") for i in range(3)]
    controller.handle_many([Delivery(a, Event("provision", S)) for a in agents])
    controller.handle_many([Delivery(a, Event("host_up", S)) for a in agents[:2]])
    assert controller.stats.handled == 5


def test_a_split_batch_with_a_payload_the_store_cannot_hold_writes_nothing(
    sqlite: Store, clock: ManualClock
) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    agents = [_alfe(controller, f"ag-{i}") for i in range(2)]
    controller.store = FaultyStore(sqlite, conflicts=1)  # type: ignore[assignment]
    deliveries = [
        Delivery(agents[0], Event("provision", S)),
        Delivery(agents[1], Event("provision", S, payload={"size": object()})),
    ]
    with pytest.raises(CodecError):
        controller.handle_many(deliveries)
    assert [r.kind for r in sqlite.history(agents[0])] == ["create"]


def test_a_timer_whose_event_was_decided_already_is_consumed(
    sqlite: Store, clock: ManualClock
) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    agent = _alfe(controller)
    _to_failing(controller, agent)
    (timer,) = [t for t in sqlite.timers(agent) if t.event == "recovery_exhausted"]
    clock.advance(timedelta(minutes=16))
    first = controller.handle(agent, Event("recovery_exhausted", T, id="ev-t"))
    again = controller.handle(
        agent, Event("recovery_exhausted", T, id="ev-t"), timer_token=timer.token
    )
    assert again == first
    assert controller.stats.duplicates == 1
    assert [t for t in sqlite.timers(agent) if t.event == "recovery_exhausted"] == []


class _WithoutCodec(FaultyStore):
    """A store of one's own that keeps no ``codec`` attribute."""

    def __getattr__(self, name: str) -> Any:
        if name == "codec":
            raise AttributeError(name)
        return super().__getattr__(name)


def test_a_batch_splits_on_a_store_without_a_codec(sqlite: Store, clock: ManualClock) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    agent = _alfe(controller)
    controller.store = _WithoutCodec(sqlite, conflicts=1)  # type: ignore[assignment]
    (result,) = controller.handle_many([Delivery(agent, Event("provision", S))])
    assert isinstance(result, Step)
    assert controller.stats.batches_split == 1


# -- duplicates and machine versions ------------------------------------------------------------


def test_an_event_id_reused_for_another_request_names_both_requests(
    sqlite: Store, clock: ManualClock
) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    agent = _alfe(controller)
    suspend = Event("billing_suspend", S, {"reason": "payment_issue"}, id="k")
    controller.handle(agent, suspend)  # refused in pending, and recorded under its key
    reused = Event("host_up", S, id="k")
    with pytest.raises(IdempotencyKeyMismatch) as caught:
        controller.handle(agent, reused)
    error = caught.value
    assert (error.agent_id, error.scope, error.key) == (agent, "S", "k")
    assert error.recorded == suspend
    assert error.requested == reused
    assert [r.event for r in controller.history(agent)] == ["alfe", "billing_suspend"]


def test_each_duplicate_is_counted_and_replayed_with_its_payload(
    sqlite: Store, clock: ManualClock
) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    controller.create("support", "recif", RecifAgent("support"))
    assert isinstance(controller.handle("support", Event("deploy")), Step)
    first = controller.handle("support", Event("scale", payload={"replicas": 4}, id="k"))
    assert isinstance(first, Step)
    for _ in range(2):
        assert (
            controller.handle("support", Event("scale", payload={"replicas": 4}, id="k")) == first
        )
    assert controller.stats.duplicates == 2


def test_an_agent_of_a_version_not_given_is_refused_with_both_versions(
    sqlite: Store, clock: ManualClock
) -> None:
    agent = _alfe(Controller(MACHINES, sqlite, clock))
    newer = Controller(_v2("alfe"), sqlite, clock)
    with pytest.raises(MachineVersionMismatch) as caught:
        newer.handle(agent, Event("provision", S))
    error = caught.value
    assert (error.agent_id, error.machine, error.stored, error.given) == (agent, "alfe", 1, (2,))
    assert [r.kind for r in sqlite.history(agent)] == ["create"]


def test_a_duplicate_decided_by_a_version_not_given_is_refused(
    sqlite: Store, clock: ManualClock
) -> None:
    old = Controller(MACHINES, sqlite, clock)
    agent = _alfe(old)
    old.handle(agent, Event("provision", S, id="p"))
    apply_migration(sqlite, Migration(MACHINES["alfe"], _v2("alfe")), clock=clock)
    newer = Controller(_v2("alfe"), sqlite, clock)
    with pytest.raises(MachineVersionMismatch) as caught:
        newer.handle(agent, Event("provision", S, id="p"))  # recorded by version 1
    error = caught.value
    assert (error.agent_id, error.machine, error.stored, error.given) == (agent, "alfe", 1, (2,))


def test_handle_records_the_principal_and_keys_events_by_it(
    sqlite: Store, clock: ManualClock
) -> None:
    controller = Controller(MACHINES, sqlite, clock)
    agent = _alfe(controller)
    controller.handle(agent, Event("provision", S, id="k"), principal="alice")
    assert controller.history(agent)[-1].principal == "alice"
    # The same id from another principal is another key: decided, not a duplicate.
    controller.handle(agent, Event("stop", id="k"), principal="bob")
    controller.handle(agent, Event("stop", id="k"), principal="carol")
    assert controller.stats.duplicates == 0
    assert [r.principal for r in controller.history(agent)] == [None, "alice", "bob", "carol"]
