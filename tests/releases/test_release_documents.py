"""Release documents: the YAML written, read back safely, and described by a JSON Schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from release_helpers import T0

from agentfsm import InvalidInput
from agentfsm.releases import (
    AgentRelease,
    AgentTombstone,
    ReleaseDocumentError,
    ReleaseMetadata,
    dump_document,
    load_document,
    release_json_schema,
)

# The tombstone exactly as the design's models.md shows it.
MODELS_MD_TOMBSTONE = """\
apiVersion: agents.recif.dev/v1
kind: AgentRelease
metadata:
  name: support-agent
status: deleted
deleted_at: "2026-04-03T10:00:00Z"
changelog: "Agent deleted from platform"
"""


def _release(**changes: object) -> AgentRelease:
    fields: dict[str, object] = {
        "metadata": ReleaseMetadata(name="support-agent"),
        "version": 3,
        "event": "AgentConfigChanged",
        "image": "ghcr.io/recif/corail:1.2",
        "replicas": 2,
        "config": {"strategy": "react", "model": "gpt-4o"},
        "changelog": "Configuration changed",
        "created_at": T0,
    }
    fields.update(changes)
    return AgentRelease.model_validate(fields)


def test_the_tombstone_is_written_exactly_as_in_the_design() -> None:
    tombstone = AgentTombstone(metadata=ReleaseMetadata(name="support-agent"), deleted_at=T0)
    assert dump_document(tombstone) == MODELS_MD_TOMBSTONE


def test_the_design_tombstone_reads_back_as_a_tombstone() -> None:
    doc = load_document(MODELS_MD_TOMBSTONE)
    assert isinstance(doc, AgentTombstone)
    assert doc.slug == "support-agent"
    assert doc.deleted_at == T0
    assert doc.changelog == "Agent deleted from platform"


def test_a_release_is_yaml_with_its_fields_in_a_stable_order() -> None:
    text = dump_document(_release())
    keys = [line.split(":")[0] for line in text.splitlines() if not line.startswith(" ")]
    assert keys == [
        "apiVersion",
        "kind",
        "metadata",
        "version",
        "event",
        "image",
        "replicas",
        "config",
        "changelog",
        "created_at",
    ]
    assert 'created_at: "2026-04-03T10:00:00Z"' in text
    data = yaml.safe_load(text)
    assert data["config"] == {"model": "gpt-4o", "strategy": "react"}
    assert list(data["config"]) == ["model", "strategy"]  # sorted: same config, same bytes


def test_times_are_stored_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    doc = _release(created_at=datetime(2026, 4, 3, 12, 0, tzinfo=paris))
    assert 'created_at: "2026-04-03T10:00:00Z"' in dump_document(doc)


def test_a_config_value_that_looks_like_a_boolean_stays_a_string() -> None:
    doc = _release(config={"stream": "true", "temperature": "0.2"})
    assert load_document(dump_document(doc)) == doc


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"replicas": 0}, "replicas"),
        ({"replicas": 11}, "replicas"),
        ({"version": 0}, "version"),
        ({"image": ""}, "image"),
        ({"event": "AgentDeleted"}, "event"),
        ({"created_at": datetime(2026, 4, 3, 10, 0)}, "created_at"),  # naive
        ({"metadata": {"name": "Support_Agent"}}, "DNS-1123"),
    ],
)
def test_an_invalid_release_is_refused(change: dict[str, object], field: str) -> None:
    good = yaml.safe_load(dump_document(_release()))
    bad = yaml.safe_dump({**good, **change}, sort_keys=False)
    with pytest.raises(ReleaseDocumentError, match=field):
        load_document(bad, source="agents/x/releases/v3.yaml")


def test_errors_name_the_source_and_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match=r"agents/x/current\.yaml is not valid YAML"):
        load_document("apiVersion: [", source="agents/x/current.yaml")
    with pytest.raises(ReleaseDocumentError, match="must hold a YAML mapping"):
        load_document("- a\n- b\n")


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(ReleaseDocumentError, match="surprise"):
        load_document(MODELS_MD_TOMBSTONE + "surprise: 1\n")


def test_yaml_tags_that_would_build_python_objects_are_refused() -> None:
    hostile = MODELS_MD_TOMBSTONE.replace(
        'changelog: "Agent deleted from platform"',
        "changelog: !!python/object/apply:os.system ['true']",
    )
    with pytest.raises(ReleaseDocumentError, match="not valid YAML"):
        load_document(hostile)


def test_the_json_schema_describes_both_kinds() -> None:
    schema = release_json_schema()
    defs = schema["$defs"]
    assert set(defs) >= {"AgentRelease", "AgentTombstone"}
    release, tombstone = defs["AgentRelease"], defs["AgentTombstone"]
    assert "apiVersion" in release["properties"]
    assert set(release["required"]) >= {"metadata", "version", "image", "created_at"}
    assert tombstone["properties"]["status"]["const"] == "deleted"
    assert release["properties"]["replicas"]["minimum"] == 1
    assert release["properties"]["replicas"]["maximum"] == 10
    assert release["additionalProperties"] is False


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_config = st.dictionaries(st.from_regex(r"[a-z][a-z0-9_.-]{0,15}", fullmatch=True), _text)
_times = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None)
@given(
    version=st.integers(1, 10_000),
    image=_text.filter(lambda s: s.strip() != "" and len(s) > 0),
    replicas=st.integers(1, 10),
    config=_config,
    changelog=_text,
    created_at=_times,
)
def test_any_release_reads_back_equal(
    version: int,
    image: str,
    replicas: int,
    config: dict[str, str],
    changelog: str,
    created_at: datetime,
) -> None:
    doc = _release(
        version=version,
        image=image,
        replicas=replicas,
        config=config,
        changelog=changelog,
        created_at=created_at,
    )
    text = dump_document(doc)
    assert load_document(text) == doc
    assert dump_document(load_document(text)) == text  # stable: the same bytes again


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029", "\ufeff"])
def test_regression_a_line_break_character_in_a_value_round_trips(char: str) -> None:
    # Found by the property above: a raw NEL in a plain scalar read back as a line break.
    doc = _release(config={"a": f"x{char}y"}, changelog=f"fixed{char}")
    assert load_document(dump_document(doc)) == doc
