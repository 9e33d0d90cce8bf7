"""check_migration: the shipped examples pass, and each deliberately wrong migration is caught
by the check that names its fault, with a shortest counterexample."""

from __future__ import annotations

import attrs
import pytest

from agentfsm import InvalidInput, Machine
from agentfsm.migrate import (
    CANCEL,
    DataTransform,
    Migration,
    Remap,
    StatusChooser,
    chain,
    check_migration,
    compose,
)
from agentfsm.migrate.examples import (
    ALFE_V1_TO_V2,
    ALFE_V2,
    ALFE_V2_INVARIANTS,
    RECIF_V1_TO_V2,
    RECIF_V2,
    RECIF_V2_INVARIANTS,
    RECIF_V2_PROFILE,
)
from agentfsm.models import ALFE, RECIF, AlfeAgent
from tests.conftest import T0
from tests.migrations import (
    REMOVAL_MAPPED,
    REMOVAL_UNMAPPED,
    SPLIT,
    SPLIT_WRONG,
)


def _alfe(**rules: object) -> Migration:
    return Migration(ALFE, ALFE_V2, **rules)  # type: ignore[arg-type]


def _checks(migration: Migration) -> set[str]:
    report = check_migration(migration, invariants=ALFE_V2_INVARIANTS)
    return {f.check for f in report.failures}


def test_the_shipped_examples_pass() -> None:
    # Their speed (goal: under 2 s) is measured in benchmarks/migrate.py, not here.
    alfe = check_migration(ALFE_V1_TO_V2, invariants=ALFE_V2_INVARIANTS)
    recif = check_migration(
        RECIF_V1_TO_V2, invariants=RECIF_V2_INVARIANTS, new_profile=RECIF_V2_PROFILE
    )
    assert alfe.ok, alfe.format()
    assert recif.ok, recif.format()
    assert alfe.old_states > 100
    assert alfe.new_states > alfe.old_states  # v2 reaches hibernated agents too


def test_a_status_map_that_is_not_total_fails_with_a_shortest_path() -> None:
    report = check_migration(REMOVAL_UNMAPPED)
    failure = report.failure("status-map")
    assert failure is not None
    assert failure.old.status == "waitlisted"
    assert [s.event for s in failure.path] == ["capacity_unavailable"]
    assert failure.mapped is None
    assert "waitlisted" in report.format()


def test_the_same_removal_is_accepted_once_a_mapping_is_given() -> None:
    report = check_migration(REMOVAL_MAPPED)
    assert report.ok, report.format()


def test_a_removal_mapped_without_forgetting_remembered_statuses_is_unreachable() -> None:
    bare = attrs.evolve(REMOVAL_MAPPED, data=REMOVAL_UNMAPPED.data)
    failure = check_migration(bare).failure("reachable")
    assert failure is not None
    assert failure.old.data.remembered == "waitlisted"


def test_an_unexpected_map_into_a_terminal_status_fails() -> None:
    assert "into-terminal" in _checks(_alfe(statuses={"failed": "deleted"}))
    listed = _alfe(statuses={"failed": "deleted"}, into_terminal={"failed"})
    assert "into-terminal" not in _checks(listed)


def test_a_timer_remapped_to_a_non_timer_event_has_nothing_to_deliver() -> None:
    report = check_migration(
        _alfe(timers={"boot_timeout": Remap("connected")}), invariants=ALFE_V2_INVARIANTS
    )
    failure = report.failure("timers")
    assert failure is not None
    assert "boot_timeout" in failure.timers
    assert "no timer event" in failure.message


def test_a_timer_remapped_to_an_event_the_status_ignores_is_a_lost_deadline() -> None:
    failure = check_migration(
        _alfe(timers={"boot_timeout": Remap("purge")}), invariants=ALFE_V2_INVARIANTS
    ).failure("timers")
    assert failure is not None
    assert "deadline would be lost" in failure.message


def test_a_cancelled_deadline_leaves_agents_the_new_machine_cannot_have() -> None:
    assert _checks(_alfe(timers={"boot_timeout": CANCEL})) == {"reachable"}


def test_a_lost_user_action_fails_unless_listed_as_a_change() -> None:
    report = check_migration(_alfe(statuses={"stopped": "failed"}), invariants=ALFE_V2_INVARIANTS)
    failure = report.failure("actions")
    assert failure is not None
    assert "start" in failure.message
    assert failure.old.status == "stopped"
    assert [s.event for s in failure.path][-1] == "shutdown_complete"
    listed = _alfe(statuses={"stopped": "failed"}, changes={("stopped", "start")})
    assert "actions" not in _checks(listed)


def test_a_data_transform_that_raises_fails() -> None:
    def boom(data: object, defaults: object) -> object:
        raise ValueError("no")

    assert "data-transform" in _checks(_alfe(data=DataTransform("boom", boom)))


def test_a_broken_invariant_is_reported_with_the_mapped_snapshot() -> None:
    report = check_migration(
        Migration(RECIF, RECIF_V2), invariants=RECIF_V2_INVARIANTS, new_profile=RECIF_V2_PROFILE
    )
    failure = report.failure("invariant recif-v2-strategy")
    assert failure is not None
    assert failure.invariant == "recif-v2-strategy"
    assert failure.mapped is not None
    assert "strategy" not in failure.mapped.data.spec.config
    assert failure.path == ()  # the very first agent already breaks it


def test_a_split_is_chosen_from_the_snapshot() -> None:
    assert check_migration(SPLIT).ok
    failure = check_migration(SPLIT_WRONG).failure("reachable")
    assert failure is not None
    assert failure.old.data.cause == "boot_timeout"
    assert failure.timers == ("recovery_exhausted",)


def test_a_chooser_returning_an_undeclared_status_fails() -> None:
    liar = StatusChooser("liar", ("reconnecting",), lambda s: "recovering")
    report = check_migration(attrs.evolve(SPLIT, statuses={"failing": liar}))
    assert report.failure("status-map") is not None


def test_migrations_refuse_what_neither_machine_has() -> None:
    with pytest.raises(InvalidInput):
        Migration(ALFE, ALFE)  # not a higher version
    with pytest.raises(InvalidInput):
        Migration(ALFE, RECIF_V2)  # another machine
    with pytest.raises(InvalidInput):
        _alfe(statuses={"stopped": "nowhere"})
    with pytest.raises(InvalidInput):
        _alfe(timers={"boot_timeout": "later"})


def test_chains_compose() -> None:
    alfe_v3 = Machine(attrs.evolve(ALFE_V2.spec, version=3), ALFE_V2.implementations)
    second = Migration(ALFE_V2, alfe_v3, statuses={"stopped": "hibernated"})
    assert chain(ALFE_V1_TO_V2, second) == [ALFE_V1_TO_V2, second]
    with pytest.raises(InvalidInput):
        chain(second, ALFE_V1_TO_V2)
    both = compose(ALFE_V1_TO_V2, second)
    assert (both.from_version, both.to_version) == (1, 3)
    stopped = ALFE.initial(AlfeAgent("a", "A"), T0)._replace(status="stopped")
    assert both.migrate_snapshot(stopped).status == "hibernated"
    report = check_migration(both, invariants=ALFE_V2_INVARIANTS)
    assert report.ok, report.format()


def test_a_machine_version_survives_a_json_round_trip() -> None:
    from agentfsm.interop import spec_from_json, to_json

    assert spec_from_json(to_json(ALFE_V2)).version == 2
    assert spec_from_json(to_json(ALFE)).version == 1
