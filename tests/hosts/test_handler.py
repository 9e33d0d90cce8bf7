"""HostEffectHandler: one adapter call per host effect, once per key, clear errors otherwise."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

import agentfsm.hosts as hosts
from agentfsm import Actor, Event
from agentfsm import effects as fx
from agentfsm.hosts import (
    HOST_EFFECTS,
    HostAdapter,
    HostEffectHandler,
    HostObservation,
    ManualClock,
    PermanentError,
    SimulatedHost,
    TemporaryError,
)

T0 = datetime(2026, 4, 3, 10, 0, tzinfo=UTC)


class FaultyRecordingHost:
    """Records every call; fails the first ``fail`` calls with a TemporaryError."""

    def __init__(self, fail: int = 0) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.fail = fail
        self.gate = threading.Event()
        self.gate.set()

    def _record(self, *call: object) -> Sequence[Event]:
        self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise TemporaryError("flaky", delay=timedelta(milliseconds=100))
        self.calls.append(call)
        return (Event("host_up", Actor.SYSTEM),) if call[0] == "provision" else ()

    def provision(self, agent_id: str, host: int, size: str) -> Sequence[Event]:
        return self._record("provision", agent_id, host, size)

    def issue_credentials(self, agent_id: str, credentials: int) -> Sequence[Event]:
        return self._record("issue_credentials", agent_id, credentials)

    def revoke_credentials(self, agent_id: str, credentials: int) -> Sequence[Event]:
        return self._record("revoke_credentials", agent_id, credentials)

    def boot(self, agent_id: str, host: int) -> Sequence[Event]:
        return self._record("boot", agent_id, host)

    def power_on(self, agent_id: str, host: int) -> Sequence[Event]:
        return self._record("power_on", agent_id, host)

    def power_off(self, agent_id: str, host: int) -> Sequence[Event]:
        return self._record("power_off", agent_id, host)

    def power_cycle(self, agent_id: str, host: int) -> Sequence[Event]:
        return self._record("power_cycle", agent_id, host)

    def reboot(self, agent_id: str, host: int) -> Sequence[Event]:
        return self._record("reboot", agent_id, host)

    def recover(self, agent_id: str, host: int) -> Sequence[Event]:
        return self._record("recover", agent_id, host)

    def pause(self, agent_id: str, host: int) -> Sequence[Event]:
        return self._record("pause", agent_id, host)

    def resume(self, agent_id: str, host: int) -> Sequence[Event]:
        return self._record("resume", agent_id, host)

    def stop(self, agent_id: str, host: int) -> Sequence[Event]:
        return self._record("stop", agent_id, host)

    def destroy(self, agent_id: str, host: int) -> Sequence[Event]:
        return self._record("destroy", agent_id, host)

    def remove_data(self, agent_id: str) -> Sequence[Event]:
        return self._record("remove_data", agent_id)

    def observe(self, agent_id: str) -> HostObservation:
        return HostObservation(agent_id)

    def close(self) -> None:
        pass


EXPECTED = [
    (fx.ProvisionHost("small", 2), ("provision", "a", 2, "small")),
    (fx.IssueCredentials(3), ("issue_credentials", "a", 3)),
    (fx.RevokeCredentials(1), ("revoke_credentials", "a", 1)),
    (fx.BootAgent(2), ("boot", "a", 2)),
    (fx.PowerOnHost(2), ("power_on", "a", 2)),
    (fx.ShutdownHost(2), ("power_off", "a", 2)),
    (fx.PowerCycleHost(2), ("power_cycle", "a", 2)),
    (fx.RebootHost(2), ("reboot", "a", 2)),
    (fx.StartRecovery(2), ("recover", "a", 2)),
    (fx.PauseHost(2), ("pause", "a", 2)),
    (fx.ResumeHost(2), ("resume", "a", 2)),
    (fx.StopHost(2), ("stop", "a", 2)),
    (fx.DestroyHost(2), ("destroy", "a", 2)),
    (fx.RemoveRetainedData(), ("remove_data", "a")),
]


@pytest.mark.parametrize(("effect", "call"), EXPECTED)
def test_each_host_effect_is_one_adapter_call(effect: object, call: tuple[object, ...]) -> None:
    host = FaultyRecordingHost()
    HostEffectHandler(host)("a", effect, "k1")
    assert host.calls == [call]


def test_every_host_effect_is_mapped() -> None:
    assert {type(e) for e, _ in EXPECTED} == set(HOST_EFFECTS)


def test_the_same_key_is_performed_once_and_returns_the_same_reports() -> None:
    host = FaultyRecordingHost()
    handler = HostEffectHandler(host)
    first = handler("a", fx.ProvisionHost("small", 1), "k")
    again = handler("a", fx.ProvisionHost("small", 1), "k")
    assert [e.name for e in first] == ["host_up"]
    assert again == first
    assert len(host.calls) == 1
    handler("a", fx.ProvisionHost("small", 1), "k2")
    assert len(host.calls) == 2


def test_concurrent_calls_with_one_key_perform_once() -> None:
    host = FaultyRecordingHost()
    host.gate.clear()
    handler = HostEffectHandler(host)
    threads = [
        threading.Thread(target=handler, args=("a", fx.BootAgent(1), "same")) for _ in range(4)
    ]
    for t in threads:
        t.start()
    host.gate.set()
    for t in threads:
        t.join(5)
    assert host.calls == [("boot", "a", 1)]


def test_a_failed_key_is_not_remembered_so_a_retry_performs_it() -> None:
    host = FaultyRecordingHost(fail=1)
    handler = HostEffectHandler(host)
    with pytest.raises(TemporaryError) as info:
        handler("a", fx.BootAgent(1), "k")
    assert info.value.delay == timedelta(milliseconds=100)
    handler("a", fx.BootAgent(1), "k")
    assert host.calls == [("boot", "a", 1)]


def test_forgets_the_oldest_keys_beyond_its_memory() -> None:
    host = FaultyRecordingHost()
    handler = HostEffectHandler(host, remember=2)
    for key in ("k1", "k2", "k3", "k1"):
        handler("a", fx.BootAgent(1), key)
    assert len(host.calls) == 4


@pytest.mark.parametrize(
    ("effect", "words"),
    [
        (fx.ScheduleTimer("boot_timeout", T0), "timer service"),
        (fx.CancelTimer("boot_timeout"), "timer service"),
        (fx.ScaleDeployment(2), "Kubernetes"),
        (fx.CreateService(), "Kubernetes"),
        ("reboot please", "host effects are"),
    ],
)
def test_an_effect_that_is_not_a_host_effect_is_a_permanent_error(
    effect: object, words: str
) -> None:
    with pytest.raises(PermanentError, match=words):
        HostEffectHandler(FaultyRecordingHost())("a", effect, "k")


def test_shipped_adapters_satisfy_the_protocol() -> None:
    assert isinstance(FaultyRecordingHost(), HostAdapter)
    assert isinstance(SimulatedHost(ManualClock(T0)), HostAdapter)
    assert isinstance(hosts.LocalProcessHost, type)
    assert all(hasattr(hosts.LocalProcessHost, m) for m in ("provision", "observe", "close"))


def test_public_names_are_exactly_all() -> None:
    public = {n for n in vars(hosts) if not n.startswith("_")}
    assert public == set(hosts.__all__)


def test_the_errors_are_the_runtimes() -> None:
    import agentfsm.runtime as runtime

    assert (hosts.TemporaryError, hosts.PermanentError) == (
        runtime.TemporaryError,
        runtime.PermanentError,
    )


def test_regression_report_ids_differ_after_a_restart() -> None:
    # A restarted control plane numbers its reports from 1 again; without a per-instance part,
    # the controller would drop the new reports as duplicates of old ones.
    from agentfsm.hosts._protocol import EventIds

    before, after = EventIds("local:"), EventIds("local:")
    first = before.event("ag_1", "connected", 1)
    again = after.event("ag_1", "connected", 1)
    assert first.id != again.id
    assert first.id is not None
    assert first.id.startswith("local:")
    assert first.id.endswith("ag_1/h1/connected/1")
