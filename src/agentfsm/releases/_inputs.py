"""The checks every argument of a release store write passes before anything is written.

A refusal must change nothing, so each value is checked for its type, its bounds and its text
here, at the entry point, before the store reads the tip or builds an object: a value that would
fail later (a time Git cannot store, a string UTF-8 cannot encode) is refused now instead, with
``ReleaseDocumentError`` (a kind of ``InvalidInput``).
Types are checked strictly: ``"3"`` or ``True`` is not a replica count, ``0`` is not a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

import attrs

from agentfsm.models import MAX_REPLICAS, MIN_REPLICAS, config_problem, image_problem
from agentfsm.releases._errors import ReleaseDocumentError

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
"""Git records author times as whole seconds since 1970; the end leaves room for any offset."""

MAX_CHANGELOG_LENGTH = 4096


def check_time(at: object, what: str = "at") -> datetime:
    """``at`` if it is an aware ``datetime`` Git can record; else ``ReleaseDocumentError``."""
    if not isinstance(at, datetime):
        raise ReleaseDocumentError(
            f"{what} must be a timezone-aware datetime, not {type(at).__name__}"
        )
    try:
        offset = at.utcoffset()
    except (ValueError, TypeError, OverflowError) as exc:  # a tzinfo that misbehaves
        raise ReleaseDocumentError(f"{what} has a time zone with no usable offset: {exc}") from exc
    if offset is None:
        raise ReleaseDocumentError(
            f"{what} must be timezone-aware (give it a tzinfo such as UTC): {at}"
        )
    try:
        in_range = EARLIEST <= at < LATEST
    except (OverflowError, ValueError):  # an offset that carries it past the calendar's end
        in_range = False
    if not in_range:
        raise ReleaseDocumentError(
            f"{what} must be from 1970-01-01 up to 9999-01-01 UTC (Git records whole seconds "
            f"since 1970), not {at.isoformat()}"
        )
    return at


def check_replicas(replicas: object) -> int:
    """``replicas`` if it is a whole number from 1 to 10 (not a bool, float or string)."""
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise ReleaseDocumentError(
            f"replicas must be a whole number, not {type(replicas).__name__}"
        )
    if not MIN_REPLICAS <= replicas <= MAX_REPLICAS:
        shown = replicas if abs(replicas) < 10**12 else "a number that large"
        raise ReleaseDocumentError(
            f"replicas must be from {MIN_REPLICAS} to {MAX_REPLICAS}, not {shown}"
        )
    return replicas


def check_image(image: object) -> str:
    """``image`` if it is an OCI reference (see ``agentfsm.models.image_problem``)."""
    problem = image_problem(image)
    if problem is not None:
        raise ReleaseDocumentError(problem)
    assert isinstance(image, str)
    return image


def check_config(config: object) -> Mapping[str, str]:
    """A sorted, read-only copy of ``config`` if a ConfigMap can hold it."""
    problem = config_problem(config)
    if problem is not None:
        raise ReleaseDocumentError(problem)
    assert isinstance(config, Mapping)
    return MappingProxyType(dict(sorted(config.items())))


def check_changelog(changelog: object) -> str | None:
    """``changelog`` if it is ``None`` or text of at most 4,096 characters UTF-8 can encode."""
    if changelog is None:
        return None
    if not isinstance(changelog, str):
        raise ReleaseDocumentError(
            f"changelog must be a string or None, not {type(changelog).__name__}"
        )
    if len(changelog) > MAX_CHANGELOG_LENGTH:
        raise ReleaseDocumentError(
            f"changelog is {len(changelog)} characters long; at most {MAX_CHANGELOG_LENGTH} "
            "are allowed (it is one line for people)"
        )
    try:
        changelog.encode()
    except UnicodeEncodeError:
        raise ReleaseDocumentError(
            "changelog is not valid Unicode text (it holds a lone surrogate)"
        ) from None
    return changelog


@attrs.frozen
class ReleaseInput:
    """The checked arguments of one ``record_release``."""

    image: str
    replicas: int
    config: Mapping[str, str]
    at: datetime
    changelog: str | None


def check_release_input(
    image: object, replicas: object, config: object, at: object, changelog: object
) -> ReleaseInput:
    """Every value of a release, checked; ``ReleaseDocumentError`` names the first bad one."""
    return ReleaseInput(
        image=check_image(image),
        replicas=check_replicas(replicas),
        config=check_config(config),
        at=check_time(at),
        changelog=check_changelog(changelog),
    )
