"""check_migration's ``outbox`` check: a remap of pending effects passes when the new machine
emits the record it makes and every required field is filled, and fails, with a path to an
agent holding such an item, when not."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from agentfsm import Context, Event, Implementations, InvalidInput, Machine, Snapshot
from agentfsm.effects import StartRecovery
from agentfsm.migrate import CANCEL, Migration, Remap, check_migration, compose
from agentfsm.migrate.examples import ALFE_V2, ALFE_V2_INVARIANTS
from agentfsm.models import ALFE
from agentfsm.runtime import DEFAULT_CODEC
from tests.migrations import (
    ALFE_RECONNECT,
    OUTBOX_REMAP,
    OUTBOX_REMAP_MISSING,
    OUTBOX_REMAP_UNKNOWN,
    NeverEmitted,
    ReconnectAgent,
)


def _outbox_failure(migration: Migration) -> Any:
    report = check_migration(migration)
    assert {f.check for f in report.failures} == {"outbox"}, report.format()
    return report.failure("outbox")


def test_a_remap_into_an_effect_the_new_machine_emits_passes() -> None:
    report = check_migration(OUTBOX_REMAP)
    assert report.ok, report.format()
    assert "outbox" in report.checks


def test_a_remap_into_an_effect_the_new_machine_never_emits_fails() -> None:
    failure = _outbox_failure(OUTBOX_REMAP_UNKNOWN)
    assert "NeverEmitted" in failure.message
    assert "never emits" in failure.message
    # The counterexample is an agent holding a pending StartRecovery: a failing one.
    assert failure.old.status == "failing"
    assert failure.path[-1].event == "boot_timeout"


def test_a_remap_leaving_a_required_field_unfilled_fails() -> None:
    failure = _outbox_failure(OUTBOX_REMAP_MISSING)
    assert "host_number" in failure.message
    assert "attempt" not in failure.message  # the default fills it


def test_a_remap_of_an_effect_the_old_machine_never_emits_fails() -> None:
    rule = Remap(ReconnectAgent, defaults={"attempt": 1, "host_number": 0})
    migration = Migration(ALFE, ALFE_RECONNECT, outbox={"StartRecovry": rule},
                          invariants=ALFE_V2_INVARIANTS)  # fmt: skip
    assert "StartRecovry" in _outbox_failure(migration).message


@attrs.frozen(slots=True)
class CheckedReconnect:
    """A recovery record whose validator refuses attempts below one."""

    host: int
    attempt: int = attrs.field(validator=attrs.validators.ge(1))


def _checked(b: Snapshot, a: Snapshot, e: Event, c: Context) -> tuple[object, ...]:
    return (CheckedReconnect(a.data.host, 1),)


def test_a_remap_whose_record_refuses_the_converted_values_fails() -> None:
    v2 = Machine(
        ALFE_V2.spec,
        ALFE_V2.implementations.merged(Implementations(effects={"start_recovery": _checked})),
        record=ALFE_V2.record,
        policy=ALFE_V2.policy,
    )
    bad = Migration(ALFE, v2, outbox={"StartRecovery": Remap(CheckedReconnect, {"attempt": 0})},
                    invariants=ALFE_V2_INVARIANTS)  # fmt: skip
    assert "cannot become CheckedReconnect" in _outbox_failure(bad).message
    good = attrs.evolve(bad, outbox={"StartRecovery": Remap(CheckedReconnect, {"attempt": 2})})
    assert check_migration(good).ok


def test_malformed_remaps_are_refused_when_the_migration_is_built() -> None:
    def build(outbox: Any = None, timers: Any = None) -> Migration:
        return Migration(ALFE, ALFE_RECONNECT, outbox=outbox or {}, timers=timers or {})

    with pytest.raises(InvalidInput, match="effect record type"):
        build(outbox={"StartRecovery": Remap("ReconnectAgent")})
    with pytest.raises(InvalidInput, match="'attempts'"):
        build(outbox={"StartRecovery": Remap(ReconnectAgent, defaults={"attempts": 1})})
    with pytest.raises(InvalidInput, match="'host_nr'"):
        build(outbox={"StartRecovery": Remap(ReconnectAgent, rename={"host": "host_nr"})})
    with pytest.raises(InvalidInput, match="timer event"):
        build(timers={"boot_timeout": Remap(ReconnectAgent)})
    with pytest.raises(InvalidInput, match="timer event"):
        build(timers={"boot_timeout": Remap("capacity_retry", defaults={"x": 1})})


def test_remap_payload_carries_renames_and_defaults_and_drops_the_rest() -> None:
    rule = Remap(ReconnectAgent, defaults={"attempt": 3}, rename={"host": "host_number"})
    stored = {"@type": "StartRecovery", "host": 4, "gone": "x"}
    assert rule.remap_payload(stored, DEFAULT_CODEC.encode) == {
        "@type": "ReconnectAgent", "host_number": 4, "attempt": 3,
    }  # fmt: skip
    # A field carried over wins over the default.
    same = Remap(ReconnectAgent, defaults={"attempt": 3})
    assert (
        same.remap_payload({"host_number": 1, "attempt": 2}, DEFAULT_CODEC.encode)["attempt"] == 2
    )


@attrs.frozen(slots=True)
class Reattach:
    """A third version's recovery record."""

    host_id: int
    attempt: int
    reason: str


def test_composed_remaps_convert_like_both_steps_in_turn() -> None:
    v3 = Machine(attrs.evolve(ALFE_RECONNECT.spec, version=3), ALFE_RECONNECT.implementations,
                 record=ALFE_V2.record, policy=ALFE_V2.policy)  # fmt: skip
    second = Migration(
        ALFE_RECONNECT, v3,
        outbox={"ReconnectAgent": Remap(Reattach, {"reason": "v3"}, {"host_number": "host_id"})},
    )  # fmt: skip
    both = compose(OUTBOX_REMAP, second)
    rule = both.outbox_rule("StartRecovery")
    assert isinstance(rule, Remap)
    codec = DEFAULT_CODEC.with_types(ReconnectAgent, Reattach)
    stored = codec.encode(StartRecovery(7))
    first = OUTBOX_REMAP.outbox_rule("StartRecovery")
    then = second.outbox_rule("ReconnectAgent")
    assert isinstance(first, Remap)
    assert isinstance(then, Remap)
    in_turn = then.remap_payload(first.remap_payload(stored, codec.encode), codec.encode)
    assert rule.remap_payload(stored, codec.encode) == in_turn
    assert codec.decode(in_turn) == Reattach(7, 1, "v3")
    # A cancel after a remap cancels.
    cancelling = attrs.evolve(second, outbox={"ReconnectAgent": CANCEL})
    assert compose(OUTBOX_REMAP, cancelling).outbox_rule("StartRecovery") == CANCEL
    assert NeverEmitted(1).host_number == 1
