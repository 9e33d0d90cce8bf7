"""Release documents: the YAML files of the ``recif-state`` repository, as pydantic models.

Two kinds share ``apiVersion: agents.recif.dev/v1`` and ``kind: AgentRelease``: a release
(``agents/{slug}/releases/v{N}.yaml``, also copied to ``current.yaml``) and the tombstone that
replaces ``current.yaml`` when an agent is deleted. A tombstone carries a ``status: deleted``
field and a release does not; that is how a reader tells them apart.

The YAML is written with a safe dumper in the models' field order, with timestamps and the
changelog double-quoted (as in the tombstone example of the design), and read back with
PyYAML's safe loader only (libyaml's ``CSafeLoader`` when present): a document never runs code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, TypeAlias

import pydantic
import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from agentfsm._slug import slug_problem
from agentfsm.models import MAX_REPLICAS, MIN_REPLICAS
from agentfsm.releases._errors import ReleaseDocumentError

API_VERSION: Final = "agents.recif.dev/v1"
"""The ``apiVersion`` every release document carries."""
KIND: Final = "AgentRelease"
"""The ``kind`` of every release document; a tombstone has it too, with ``status: deleted``."""
DELETED_CHANGELOG = "Agent deleted from platform"
"""The changelog line written into a tombstone."""

ReleaseEvent: TypeAlias = Literal["AgentDeployed", "AgentConfigChanged", "AgentCanaryPromoted"]
"""The domain events that make a release (``AgentDeleted`` makes a tombstone instead)."""

RELEASE_EVENTS: tuple[ReleaseEvent, ...] = (
    "AgentDeployed",
    "AgentConfigChanged",
    "AgentCanaryPromoted",
)
"""The domain events that make a release, as their names."""


def format_time(value: datetime) -> str:
    """``value`` in UTC as ``2026-04-03T10:00:00Z`` (microseconds only when there are some)."""
    utc = value.astimezone(UTC)
    spec = "seconds" if utc.microsecond == 0 else "microseconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _check_slug(value: str) -> str:
    problem = slug_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


UtcTime = Annotated[
    AwareDatetime,
    pydantic.AfterValidator(_to_utc),
    pydantic.PlainSerializer(format_time, return_type=str),
]


def _check_not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Slug = Annotated[str, pydantic.AfterValidator(_check_slug)]
NonBlank = Annotated[str, pydantic.AfterValidator(_check_not_blank)]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    api_version: Literal["agents.recif.dev/v1"] = Field(default=API_VERSION, alias="apiVersion")
    kind: Literal["AgentRelease"] = KIND


class ReleaseMetadata(BaseModel):
    """A document's metadata: the agent's slug as its name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Slug


class AgentRelease(_Document):
    """One immutable release of an agent: ``agents/{slug}/releases/v{N}.yaml``.

    Attributes:
        metadata: ``name`` is the agent's slug (a DNS-1123 label).
        version: N, counted from 1 per agent, never reused.
        event: the domain event that made this release.
        image: the container image released.
        replicas: the configured replica count (1 to 10).
        config: the ConfigMap entries released.
        changelog: one line for people.
        created_at: when the domain event happened (UTC).
    """

    metadata: ReleaseMetadata
    version: int = Field(ge=1)
    event: ReleaseEvent
    image: NonBlank
    replicas: int = Field(ge=MIN_REPLICAS, le=MAX_REPLICAS)
    config: dict[str, str] = Field(default_factory=dict)
    changelog: str
    created_at: UtcTime

    @pydantic.field_validator("config")
    @classmethod
    def _sorted_config(cls, value: dict[str, str]) -> dict[str, str]:
        # Sorted keys make the same config always produce the same bytes (and the same blob).
        return dict(sorted(value.items()))

    @property
    def slug(self) -> str:
        """The agent's slug."""
        return self.metadata.name


class AgentTombstone(_Document):
    """What ``current.yaml`` holds once an agent is deleted; every ``v{N}.yaml`` stays.

    Attributes:
        metadata: ``name`` is the agent's slug.
        status: always ``deleted``.
        deleted_at: when the agent was deleted (UTC).
        changelog: ``Agent deleted from platform``.
    """

    metadata: ReleaseMetadata
    status: Literal["deleted"] = "deleted"
    deleted_at: UtcTime
    changelog: str = DELETED_CHANGELOG

    @property
    def slug(self) -> str:
        """The agent's slug."""
        return self.metadata.name


ReleaseDocument: TypeAlias = AgentRelease | AgentTombstone
"""Either kind of document found in the repository."""


def _document_kind(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "tombstone" if isinstance(value, AgentTombstone) else "release"
    is_deleted = isinstance(value, Mapping) and "status" in value
    return "tombstone" if is_deleted else "release"


_ADAPTER: pydantic.TypeAdapter[ReleaseDocument] = pydantic.TypeAdapter(
    Annotated[
        Annotated[AgentRelease, pydantic.Tag("release")]
        | Annotated[AgentTombstone, pydantic.Tag("tombstone")],
        pydantic.Discriminator(_document_kind),
    ]
)


def default_changelog(event: ReleaseEvent, version: int, image: str) -> str:
    """The changelog line written when the caller gives none."""
    if event == "AgentDeployed":
        return f"Initial deploy of {image}" if version == 1 else f"Redeployed {image}"
    if event == "AgentConfigChanged":
        return "Configuration changed"
    return f"Canary promoted to stable: {image}"


# -- YAML -------------------------------------------------------------------------------------


class _DoubleQuoted(str):
    """A string the dumper writes in double quotes (timestamps and free text)."""

    __slots__ = ()


# libyaml's safe loader and dumper when PyYAML was built with it (about ten times faster than
# the pure-Python ones, which is most of a release commit's cost); the same safe subset either way.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SafeDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_SafeDumper):  # type: ignore[valid-type,misc]
    pass


def _represent_double_quoted(dumper: yaml.SafeDumper, value: _DoubleQuoted) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style='"')


# A YAML reader takes these for line breaks (or a byte-order mark) wherever they appear raw, so
# a string holding one is written double-quoted, where the emitter escapes them.
_BREAKS = frozenset("\x85\u2028\u2029\ufeff")


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if _BREAKS.isdisjoint(value):
        return dumper.represent_str(value)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')


_Dumper.add_representer(_DoubleQuoted, _represent_double_quoted)
_Dumper.add_representer(str, _represent_str)

_QUOTED_FIELDS = ("created_at", "deleted_at", "changelog")


def dump_document(document: ReleaseDocument) -> str:
    """The document as YAML text: fields in model order, timestamps and changelog double-quoted.

    The same document always gives the same text, so the same release gives the same blob.
    """
    data = document.model_dump(mode="json", by_alias=True)
    for name in _QUOTED_FIELDS:
        if name in data:
            data[name] = _DoubleQuoted(data[name])
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,
    )


def load_document(text: str | bytes, *, source: str = "the document") -> ReleaseDocument:
    """Parse a release or tombstone from YAML with the safe loader.

    Args:
        text: the YAML text.
        source: where it came from, for error messages (a repository path).

    Returns:
        An ``AgentRelease`` or an ``AgentTombstone`` (it has ``status: deleted``).

    Raises:
        ReleaseDocumentError: not YAML, not a mapping, or not a valid document; the message
            names the source and the bad fields.
    """
    try:
        data = yaml.load(text, Loader=_SafeLoader)  # the safe loader, in C when available
    except yaml.YAMLError as exc:
        raise ReleaseDocumentError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ReleaseDocumentError(
            f"{source} must hold a YAML mapping (apiVersion, kind, metadata…), "
            f"not {type(data).__name__}"
        )
    try:
        return _ADAPTER.validate_python(data)
    except pydantic.ValidationError as exc:
        raise ReleaseDocumentError(f"{source} is not a valid AgentRelease document: {exc}") from exc


def release_json_schema() -> dict[str, Any]:
    """The JSON Schema of a release document (a release or a tombstone), by field alias."""
    schema = _ADAPTER.json_schema(by_alias=True)
    schema.setdefault("title", "AgentRelease document")
    schema.setdefault("$id", f"https://{API_VERSION}/AgentRelease.schema.json")
    return schema


def build_release(
    slug: str,
    *,
    version: int,
    event: ReleaseEvent,
    image: str,
    replicas: int,
    config: Mapping[str, str],
    changelog: str | None,
    at: datetime,
) -> AgentRelease:
    """Build and validate a release document.

    Raises:
        ReleaseDocumentError: a field is invalid (naive time, replicas out of 1..10, bad slug…).
    """
    try:
        return AgentRelease(
            metadata=ReleaseMetadata(name=slug),
            version=version,
            event=event,
            image=image,
            replicas=replicas,
            config=dict(config),
            changelog=default_changelog(event, version, image) if changelog is None else changelog,
            created_at=at,
        )
    except pydantic.ValidationError as exc:
        raise ReleaseDocumentError(f"release v{version} of {slug!r} is invalid: {exc}") from exc


def build_tombstone(slug: str, *, at: datetime) -> AgentTombstone:
    """Build and validate the tombstone of ``models.md`` for ``slug``.

    Raises:
        ReleaseDocumentError: ``at`` is naive, or the slug is invalid.
    """
    try:
        return AgentTombstone(metadata=ReleaseMetadata(name=slug), deleted_at=at)
    except pydantic.ValidationError as exc:
        raise ReleaseDocumentError(f"the tombstone of {slug!r} is invalid: {exc}") from exc
