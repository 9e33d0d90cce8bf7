"""``Store.agents``' prefix filter as a range of ids: exactly the ids that start with it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agentfsm.runtime import SQLiteStore
from agentfsm.runtime._agent_filters import prefix_end
from agentfsm.runtime._records import AgentRecord

# The characters where the range's arithmetic has edges: around the surrogates, the last code
# point, and the ordinary ones.
EDGES = st.sampled_from(["a", "b", ".", "\x00", "\ud7ff", "\ue000", "\U0010ffff", "\u00e9", "z"])
TEXT = st.lists(EDGES, max_size=4).map("".join)


@given(prefix=TEXT, text=TEXT)
def test_the_range_of_a_prefix_is_exactly_the_strings_that_start_with_it(
    prefix: str, text: str
) -> None:
    end = prefix_end(prefix)
    in_range = prefix <= text and (end is None or text < end)
    assert in_range == text.startswith(prefix)


def test_prefix_end_steps_over_the_surrogates_and_the_last_code_point() -> None:
    assert prefix_end("ab") == "ac"
    assert prefix_end("a\ud7ff") == "a\ue000"
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\U0010ffff\U0010ffff") is None
    assert prefix_end("") is None


@given(ids=st.sets(TEXT.filter(bool), max_size=12), prefix=TEXT, size=st.integers(1, 4))
def test_pages_of_a_prefix_on_sqlite_are_the_ids_that_start_with_it(
    ids: set[str], prefix: str, size: int
) -> None:
    store = SQLiteStore()
    try:
        _store_ids(store, ids)
        read: list[str] = []
        after: str | None = None
        while page := store.agents(prefix=prefix, after=after, limit=size):
            read += [r.agent_id for r in page]
            after = page[-1].agent_id
        assert read == sorted(i for i in ids if i.startswith(prefix))
    finally:
        store.close()


def _store_ids(store: SQLiteStore, ids: set[str]) -> None:
    from datetime import UTC, datetime

    from agentfsm.models import MACHINES, AlfeAgent
    from agentfsm.runtime import Controller, ManualClock

    controller = Controller(MACHINES, store, ManualClock(datetime(2026, 4, 3, tzinfo=UTC)))
    for i in ids:
        controller.create(i, "alfe", AlfeAgent("x", "n"))
    assert all(isinstance(r, AgentRecord) for r in store.agents())
