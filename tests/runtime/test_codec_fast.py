"""The codec's msgspec path (the ``fast`` extra) writes the very text of the hand-written path,
reads back the same values, and refuses what it refuses, so a database written with the extra
installed reads the same without it, and the other way round."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfsm import effects as fx
from agentfsm.models import AlfeAgent, RecifAgent
from agentfsm.runtime import DEFAULT_CODEC, CodecError
from agentfsm.runtime import _codec_fast as fast_module
from agentfsm.runtime._codec import Codec

needs_msgspec = pytest.mark.skipif(not fast_module.AVAILABLE, reason="msgspec is not installed")


def _hand_written() -> Codec:
    codec = DEFAULT_CODEC.with_types()
    codec._fast = None  # the core-only codec, as without the extra
    return codec


HAND = _hand_written()
FAST = DEFAULT_CODEC

_text = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "@type", "@dt", "@map", "\x00", "\x1f\x7f", "\u2028é日本", 'a"b\\c\n']
)
_times = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
    ),
)  # fmt: skip
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _text
    | _times
    | st.timedeltas()
)
_alfe = st.builds(
    AlfeAgent,
    agent_id=_text.filter(str.strip),
    name=_text.filter(str.strip),
    credentials=st.integers(0, 2**70),
    host=st.integers(0, 9),
    remembered=st.none() | _text,
    deleted_at=st.none() | _times,
    purge_at=st.none() | _times,
)
_recif = st.builds(RecifAgent, slug=st.from_regex(r"\A[a-z][a-z0-9-]{0,10}[a-z0-9]\Z"))
_effects = (
    st.builds(fx.CancelTimer, event=_text)
    | st.builds(fx.ScheduleTimer, event=_text, at=_times)
    | st.builds(fx.DeleteResources)
    | st.builds(fx.CreateConfigMap, config=st.dictionaries(_text, _text, max_size=3))
    | st.builds(fx.CreateService, ports=st.lists(st.integers(1, 65535), max_size=3).map(tuple))
)
_values = st.recursive(
    _scalars | _alfe | _recif | _effects,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(_text, inner, max_size=4)
    ),
    max_leaves=12,
)


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except CodecError:
        return "refused", None


@needs_msgspec
@settings(max_examples=150, deadline=None)
@given(_values)
def test_both_paths_write_the_same_text_and_read_the_same_value(value: Any) -> None:
    written = _outcome(lambda: HAND.dumps(value))
    assert _outcome(lambda: FAST.dumps(value)) == written
    kind, text = written
    if kind == "ok":
        read = HAND.loads(text)
        assert FAST.loads(text) == read
        # As PostgreSQL gives it back (jsonb's own spacing and key order): read alike.
        spaced = json.dumps(json.loads(text), indent=1, sort_keys=True, ensure_ascii=True)
        assert _outcome(lambda: FAST.loads(spaced)) == _outcome(lambda: HAND.loads(spaced))


@needs_msgspec
@settings(max_examples=100, deadline=None)
@given(_alfe)
def test_a_record_round_trips_through_the_fast_path(record: AlfeAgent) -> None:
    text = FAST.dumps(record)
    assert FAST.loads(text) == record
    assert text == HAND.dumps(record)


@needs_msgspec
@pytest.mark.parametrize(
    "text",
    ['{"@type":"Nope"}', "[1,", "NaN", '{"@dt":"yesterday"}', '{"@type":"AlfeAgent","x":1}',
     '"\\udcff"', "1" * 5000, '{"a":1,"a":2}', "[" * 5000 + "]" * 5000],
)  # fmt: skip
def test_stored_text_is_read_or_refused_alike(text: str) -> None:
    assert _outcome(lambda: FAST.loads(text)) == _outcome(lambda: HAND.loads(text))


_WITHOUT_MSGSPEC = textwrap.dedent(
    """
    import sys

    class NoMsgspec:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "msgspec":
                raise ImportError("msgspec is not installed in this test")
            return None

    sys.meta_path.insert(0, NoMsgspec())
    from agentfsm.models import AlfeAgent
    from agentfsm.runtime import DEFAULT_CODEC

    assert DEFAULT_CODEC._fast is None
    record = AlfeAgent("a-1", "support-bot")
    text = DEFAULT_CODEC.dumps(record)
    assert DEFAULT_CODEC.loads(text) == record
    print(text)
    """
)


def test_the_codec_works_without_msgspec() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_MSGSPEC], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == HAND.dumps(AlfeAgent("a-1", "support-bot"))
