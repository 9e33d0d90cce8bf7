"""Stored records of plain fields decode straight to their class; ``dumps_once`` writes what
``dumps`` writes without remembering it."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm.models import AlfeAgent
from agentfsm.runtime import Codec, CodecError

_names = st.text(min_size=1, max_size=12).filter(lambda s: s.strip())


@attrs.frozen
class Hidden:
    """A record whose stored field name is not its init name."""

    _secret: str
    count: int = 0


@settings(max_examples=60, deadline=None)
@given(_names, _names, st.integers(0, 10**6), st.one_of(st.none(), _names))
def test_plain_records_round_trip_through_both_writers(
    agent_id: str, name: str, host: int, remembered: str | None
) -> None:
    codec = Codec([AlfeAgent])
    record = AlfeAgent(agent_id, name, host=host, remembered=remembered)
    text = codec.dumps_once(record)
    assert text == codec.dumps(record)
    assert codec.loads(text) == record


def test_a_stored_record_still_runs_its_validators() -> None:
    codec = Codec([AlfeAgent])
    text = codec.dumps(AlfeAgent("a1", "n")).replace('"name":"n"', '"name":"  "')
    with pytest.raises(CodecError, match="is not valid"):
        codec.loads(text)


def test_a_stored_record_with_an_unknown_field_is_named() -> None:
    codec = Codec([AlfeAgent])
    text = codec.dumps(AlfeAgent("a1", "n"))[:-1] + ',"evil":1}'
    with pytest.raises(CodecError, match="unknown field 'evil'"):
        codec.loads(text)


def test_a_record_whose_fields_have_aliases_round_trips() -> None:
    codec = Codec([Hidden])
    text = codec.dumps_once(Hidden("s", 3))
    assert text == codec.dumps(Hidden("s", 3))
    assert codec.loads(text) == Hidden("s", 3)


def test_dumps_once_refuses_what_dumps_refuses() -> None:
    codec = Codec([AlfeAgent])
    with pytest.raises(CodecError):
        codec.dumps_once(AlfeAgent("a1", "bad \udcff"))
    with pytest.raises(CodecError):
        codec.dumps_once(object())
