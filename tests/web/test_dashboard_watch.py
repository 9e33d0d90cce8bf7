"""The dashboard's audit-log follower and its HTML, without a server: every row reaches every
stream once and in order, an idle follower waits instead of spinning, a slow stream is told to
re-read, and no value an agent holds can add markup to a page."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import Snapshot
from agentfsm.http import _ui_pages as pages
from agentfsm.http._ui_watch import AuditWatch
from agentfsm.models import MACHINES, AlfeAgent
from agentfsm.runtime._records import AgentRecord, AuditRow
from tests.web.support import T0


def _row(seq: int, agent_id: str = "acme.a") -> AuditRow:
    return AuditRow(seq, f"e{seq}", agent_id, "event", "S", "host_up", {}, "provisioning",
                    "starting", seq, None, T0, None, None, 1)  # fmt: skip


class _Log:
    """An audit log in memory with the store's wake-ups; counts the reads."""

    def __init__(self) -> None:
        self.rows: list[AuditRow] = []
        self.reads = 0
        self.mark = 0
        self.changed = asyncio.Event()

    def add(self, count: int) -> None:
        start = len(self.rows)
        self.rows.extend(_row(start + i + 1) for i in range(count))
        self.mark += 1
        self.changed.set()

    async def audit_log(self, after_seq: int = 0, limit: int | None = None) -> list[AuditRow]:
        self.reads += 1
        later = [r for r in self.rows if r.seq > after_seq]
        return later if limit is None else later[:limit]

    def work_seen(self) -> int:
        return self.mark

    async def wait_for_work(self, seen: int, timeout: float) -> bool:
        if self.mark != seen:
            return True
        self.changed.clear()
        try:
            async with asyncio.timeout(timeout):
                await self.changed.wait()
        except TimeoutError:
            return False
        return True


async def _gather(sub: Any, want: int) -> list[int]:
    seen: list[int] = []
    while len(seen) < want:
        got = await sub.next(5.0)
        assert got is not None, f"only {seen} arrived"
        rows, dropped = got
        assert not dropped
        seen.extend(r.seq for r in rows)
    return seen


def test_every_stream_gets_each_new_row_once_in_order_and_none_from_before() -> None:
    async def run() -> None:
        log = _Log()
        log.add(3)  # written before anyone watched: not news
        watch = AuditWatch(log, poll=5.0)
        async with watch.subscribe() as one, watch.subscribe() as two:
            await asyncio.sleep(0.05)
            for batch in (1, 2, 300, 4):
                log.add(batch)
                await asyncio.sleep(0.01)
            total = 1 + 2 + 300 + 4
            assert await _gather(one, total) == list(range(4, 4 + total))
            assert await _gather(two, total) == list(range(4, 4 + total))

    asyncio.run(run())


def test_an_idle_follower_waits_for_the_stores_wake_up_and_stops_with_its_last_stream() -> None:
    async def run() -> None:
        log = _Log()
        watch = AuditWatch(log, poll=0.2)
        async with watch.subscribe():
            await asyncio.sleep(1.0)
            # One read to find the end, then about one per poll: no spinning.
            assert log.reads <= 8, log.reads
        await asyncio.sleep(0.05)
        idle = log.reads
        await asyncio.sleep(0.5)
        assert log.reads == idle  # nobody watches: nothing reads

    asyncio.run(run())


def test_a_slow_stream_is_told_to_reread_rather_than_holding_rows_unbounded() -> None:
    async def run() -> None:
        log = _Log()
        watch = AuditWatch(log, poll=5.0)
        async with watch.subscribe() as slow:
            await asyncio.sleep(0.05)
            for _ in range(3):
                log.add(400)  # never read in between: more than the stream may hold
                await asyncio.sleep(0.05)
            got = await slow.next(1.0)
            assert got is not None
            rows, dropped = got
            assert dropped
            assert len(rows) <= 500

    asyncio.run(run())


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, tuple[str, ...]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(sorted(a for a, _ in attrs))))


def _tags(html: str) -> list[tuple[str, tuple[str, ...]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


_TEXT = st.text(
    alphabet=st.sampled_from("<>\"'&/=ab -"), min_size=1, max_size=12
) | st.sampled_from(["<script>alert(1)</script>", '" onmouseover="x', "</li><li>"])


@settings(max_examples=40, deadline=None)
# An Alfe agent's name is never blank (the record refuses it), so a name holds a non-space.
@given(name=_TEXT.filter(str.strip), suffix=_TEXT)
def test_no_value_of_an_agent_adds_markup_to_its_pages(name: str, suffix: str) -> None:
    machine = MACHINES["alfe"]
    plain = _pages("acme.a", "bot")
    agent_id = "acme." + suffix
    odd = _pages(agent_id, name)
    # The same tags with the same attributes, whatever the id and the name hold.
    assert [_tags(html) for html in odd] == [_tags(html) for html in plain]
    assert machine is MACHINES["alfe"]


def _pages(agent_id: str, name: str) -> tuple[str, str]:
    machine = MACHINES["alfe"]
    snap = Snapshot("running", 3, T0, AlfeAgent(agent_id, name))
    record = AgentRecord(agent_id, "alfe", snap, T0, T0, 1)
    view = {
        "phase": None,
        "offered": [
            {"event": "stop", "label": "Stop", "offered": True, "refusal": None,
             "requirements": []},
            {"event": "start", "label": "Start", "offered": False, "requirements": [],
             "refusal": {"code": "not_allowed_from_status", "message": f"not for {name}"}},
            {"event": "recreate", "label": "Recreate", "offered": True, "refusal": None,
             "requirements": [f"type {name}"]},
        ],
    }  # fmt: skip
    rows = [_row(1, agent_id)._replace(principal=name)]
    agent = pages.agent("/ui", machine, record, view, rows, None, T0 + timedelta(seconds=5))
    item = {"agent_id": agent_id, "machine": "alfe", "status": "running", "phase": None,
            "version": 3, "since": T0}  # fmt: skip
    fleet = pages.fleet("/ui", [item], {"alfe": ["running", name]}, name, T0)
    return agent, fleet


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 5000), unique=True, max_size=40))
def test_the_follower_finds_the_last_row_of_any_log(seqs: list[int]) -> None:
    log = _Log()
    log.rows = [_row(seq) for seq in sorted(seqs)]  # gaps, as after pruning
    watch = AuditWatch(log, poll=1.0)
    assert asyncio.run(watch._end()) == max(seqs, default=0)
    assert log.reads <= 2 * 13 + 2  # about two one-row reads per bit of the last position


def test_regression_a_machine_without_a_clock_shows_no_time_in_status() -> None:
    item = {"agent_id": "acme.a", "machine": "plain", "status": "on", "phase": None,
            "version": 1, "since": None}  # fmt: skip
    html = pages.fleet("/ui", [item], {"plain": ["on"]}, None, T0)
    assert "not timed" in html
    assert "<time" not in html
