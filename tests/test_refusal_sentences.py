"""Refusal sentences are true for the snapshot and the policy they are given in.

For every status of the shipped models, under random policies and waits, every refusal a
person can see (an ``offered`` refusal, or ``decide``'s answer to any event from any actor):

- advises only actions that ``offered`` offers in that snapshot: an action a sentence names
  (by its label, as sentences write actions) other than the refused one must be offered;
- quotes only durations of the policy in force, and the stuck refusal quotes ``stuck_after``.

Durations are read back from the words independently of how the engine writes them.
"""

from __future__ import annotations

import re
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentfsm import Actor, Context, Event, Machine, Policy, Refusal, Snapshot, decide, offered
from agentfsm.models import ALFE, ALFE_SELF_HOSTED, RECIF
from agentfsm.render import sample_snapshot
from test_policy_agreement import any_snapshot, policies, satisfying, waits

MACHINES = (ALFE, ALFE_SELF_HOSTED, RECIF)

_UNIT = r"(\d+(?:\.\d+)?) (day|hour|minute|second)s?"
_DURATION = re.compile(rf"{_UNIT}(?:(?:, | and ){_UNIT})*")
_SIZES = {"day": 86_400, "hour": 3_600, "minute": 60, "second": 1}


def quoted_durations(sentence: str) -> list[timedelta]:
    """Every duration written in words in ``sentence`` ("1 hour and 30 minutes" is one)."""
    found = []
    for match in _DURATION.finditer(sentence):
        total = timedelta(0)
        for number, unit in re.findall(_UNIT, match.group(0)):
            total += (
                timedelta(seconds=float(number) * _SIZES[unit])
                if "." in number
                else (timedelta(seconds=int(number) * _SIZES[unit]))
            )
        found.append(total)
    return found


def named_actions(machine: Machine, sentence: str, refused: str) -> set[str]:
    """The user actions ``sentence`` names by label, other than the refused one."""
    named = set()
    for event in machine.spec.user_actions:
        label = event.label or event.name
        if event.name != refused and re.search(rf"\b{re.escape(label)}\b", sentence):
            named.add(event.name)
    return named


def refusals_for(machine: Machine, snapshot: Snapshot, context: Context) -> list[Refusal]:
    """Every refusal a person can be shown for this agent now."""
    out = [o.refusal for o in offered(machine, snapshot, context) if o.refusal is not None]
    for spec in machine.spec.events:
        for actor in Actor:
            for payload in ({}, satisfying(spec.name, snapshot)):
                result = decide(machine, snapshot, Event(spec.name, actor, payload), context)
                if isinstance(result, Refusal):
                    out.append(result)
    return out


def check_sentence(
    machine: Machine, snapshot: Snapshot, context: Context, policy: Policy, refusal: Refusal
) -> None:
    offered_now = {o.event for o in offered(machine, snapshot, context) if o.offered}
    advised = named_actions(machine, refusal.message, refusal.event)
    assert advised <= offered_now, (refusal.message, sorted(advised - offered_now))
    allowed = {getattr(policy, f.name) for f in policy.__attrs_attrs__}
    quoted = quoted_durations(refusal.message)
    assert set(quoted) <= allowed, (refusal.message, quoted)
    if refusal.code == "not_stuck":
        assert quoted == [policy.stuck_after], refusal.message


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MACHINES), policies, st.data())
def test_every_refusal_sentence_is_true_for_its_snapshot_and_policy(
    machine: Machine, policy: Policy, data: st.DataObject
) -> None:
    ruled = machine.with_policy(policy)
    for status in machine.spec.state_names:
        snapshot = data.draw(any_snapshot(machine, status))
        context = Context(snapshot.since + data.draw(waits(policy)))
        for refusal in refusals_for(ruled, snapshot, context):
            check_sentence(ruled, snapshot, context, policy, refusal)


def test_the_duration_reader_reads_what_people_write() -> None:
    assert quoted_durations("for 1 hour and 30 minutes, or 2 days, 3 hours and 1.5 seconds") == [
        timedelta(minutes=90),
        timedelta(days=2, hours=3, seconds=1.5),
    ]
    assert named_actions(ALFE, "Restart is not available: use Start, or Recreate it.", "restart")
    assert named_actions(ALFE, "wait until it has started", "restart") == set()


def test_regression_stuck_refusal_in_stopping_advised_stop_and_a_fixed_ten_minutes() -> None:
    policy = Policy(stuck_after=timedelta(minutes=45))
    ruled = ALFE.with_policy(policy)
    snapshot = sample_snapshot(ALFE, "stopping")
    context = Context(snapshot.since + timedelta(minutes=20))
    refusal = decide(ruled, snapshot, Event("start"), context)
    assert isinstance(refusal, Refusal)
    assert refusal.code == "not_stuck"
    assert "45 minutes" in refusal.message
    assert "10 minutes" not in refusal.message
    assert "Stop" not in refusal.message  # Stop is refused while stopping
    stop = next(o for o in offered(ruled, snapshot, context) if o.event == "stop")
    assert not stop.offered
    # The same policy given as an override says the same.
    assert decide(ALFE, snapshot, Event("start"), Context(context.now, policy)) == refusal
