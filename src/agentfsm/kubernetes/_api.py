"""Talking to the API server: the calls the host makes, and what their failures mean.

``AppsApi`` and ``CoreApi`` are the subsets of the client's ``AppsV1Api`` and ``CoreV1Api``
the host uses; the real classes satisfy them, and so does ``FakeKubernetesApi``.

Failures map onto the runtime's retry rules: a 409 (someone wrote in between, or created the
object first) re-reads and tries again; a 5xx, a 429, a timeout or a dropped connection is a
``TemporaryError`` (the outbox retries later); any other 4xx is a ``PermanentError`` (the request
itself is wrong, and sending it again cannot help).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar

import urllib3.exceptions
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from agentfsm._errors import InvalidInput
from agentfsm.kubernetes._names import FENCE_ANNOTATION
from agentfsm.runtime import PermanentError, StaleFence, TemporaryError, current_fence

_T = TypeVar("_T")
MAX_CONFLICTS = 5
"""How many 409 answers in a row one write accepts before it is retried later instead."""

_NETWORK = (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError)


class AppsApi(Protocol):
    """The ``AppsV1Api`` methods the host calls.

    ``create_namespaced_deployment``, ``replace_…``, ``patch_…``, ``read_…`` and
    ``delete_namespaced_deployment``, with the client's own signatures (``body`` a client model;
    a patch body is a dict, sent as a strategic merge patch).
    """

    def create_namespaced_deployment(self, namespace: str, body: Any) -> Any: ...
    def replace_namespaced_deployment(self, name: str, namespace: str, body: Any) -> Any: ...
    def patch_namespaced_deployment(self, name: str, namespace: str, body: Any) -> Any: ...
    def read_namespaced_deployment(self, name: str, namespace: str) -> Any: ...
    def delete_namespaced_deployment(
        self,
        name: str,
        namespace: str,
        *,
        propagation_policy: str | None = None,
        body: Any | None = None,
    ) -> Any: ...


class CoreApi(Protocol):
    """The ``CoreV1Api`` methods the host calls.

    Create, replace, read and delete of a namespaced Service and ConfigMap
    (``create_namespaced_service``…), ``list_namespaced_pod`` with a label selector, and
    ``create_namespaced_event``, with the client's own signatures. A delete is given a
    ``V1DeleteOptions`` body whose preconditions name the ``resourceVersion`` it was checked at.
    """

    def create_namespaced_service(self, namespace: str, body: Any) -> Any: ...
    def replace_namespaced_service(self, name: str, namespace: str, body: Any) -> Any: ...
    def read_namespaced_service(self, name: str, namespace: str) -> Any: ...
    def delete_namespaced_service(
        self, name: str, namespace: str, *, body: Any | None = None
    ) -> Any: ...
    def create_namespaced_config_map(self, namespace: str, body: Any) -> Any: ...
    def replace_namespaced_config_map(self, name: str, namespace: str, body: Any) -> Any: ...
    def read_namespaced_config_map(self, name: str, namespace: str) -> Any: ...
    def delete_namespaced_config_map(
        self, name: str, namespace: str, *, body: Any | None = None
    ) -> Any: ...
    def list_namespaced_pod(self, namespace: str, *, label_selector: str | None = None) -> Any: ...
    def create_namespaced_event(self, namespace: str, body: Any) -> Any: ...


def _retry_after(exc: ApiException) -> timedelta | None:
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return timedelta(seconds=int(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def translate(exc: BaseException, doing: str) -> Exception:
    """The runtime error ``exc`` amounts to while ``doing`` something (for the message)."""
    if isinstance(exc, ApiException):
        status = exc.status or 0
        detail = f"{doing}: HTTP {status} {exc.reason or ''}".rstrip()
        if status == 429 or status >= 500:
            return TemporaryError(f"{detail}; the API server may recover", _retry_after(exc))
        if status == 409:
            return TemporaryError(f"{detail}: it kept changing under us; trying again later")
        return PermanentError(f"{detail}: the request was refused; {exc.body or 'no details'}")
    if isinstance(exc, _NETWORK):
        return TemporaryError(f"{doing}: the API server did not answer ({exc!r})")
    if isinstance(exc, InvalidInput):
        return PermanentError(f"{doing}: {exc}")
    return exc if isinstance(exc, Exception) else RuntimeError(repr(exc))


def call(doing: str, fn: Callable[[], _T]) -> _T:
    """``fn()``, with API failures turned into ``TemporaryError`` or ``PermanentError``."""
    try:
        return fn()
    except (ApiException, *_NETWORK) as exc:
        raise translate(exc, doing) from exc


def read_or_none(doing: str, fn: Callable[[], _T]) -> _T | None:
    """``fn()``, or ``None`` when the object does not exist (404)."""
    try:
        return fn()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise translate(exc, doing) from exc
    except _NETWORK as exc:
        raise translate(exc, doing) from exc


def check_fence(doing: str, live: Any | None) -> None:
    """Refuse to change ``live`` when a newer owner wrote it (see ``stamp_fence``).

    The check and the write it guards are one compare-and-set: a replace carries the
    ``resourceVersion`` read with the stamp, so a newer owner's write in between is a 409,
    and the next round reads its stamp.

    Raises:
        StaleFence: the current work's fencing token is older than the object's stamp.
    """
    fence = current_fence()
    if fence is None or live is None:
        return
    annotations = getattr(live.metadata, "annotations", None) or {}
    try:
        applied = int(annotations.get(FENCE_ANNOTATION, ""))
    except ValueError:
        return  # no stamp (or one that is not ours to read): nothing to compare with
    if fence.token < applied:
        raise StaleFence(doing, fence.token, applied)


def fenced_patch(live: Any, patch: dict[str, Any]) -> dict[str, Any]:
    """``patch`` made a compare-and-set on ``live``, stamped with the current work's token.

    The patch carries the ``resourceVersion`` the fence was checked at (the API server answers
    409 when the object changed since), and the token, so that later work sees it.
    """
    metadata: dict[str, Any] = {"resourceVersion": live.metadata.resource_version}
    fence = current_fence()
    if fence is not None:
        metadata["annotations"] = {FENCE_ANNOTATION: str(fence.token)}
    return {**patch, "metadata": metadata}


def delete_options(live: Any, **options: Any) -> client.V1DeleteOptions:
    """Delete options whose precondition is ``live``'s ``resourceVersion``: a delete of an
    object changed since it was read (and its fence checked) is a 409, not a delete."""
    version = client.V1Preconditions(resource_version=live.metadata.resource_version)
    return client.V1DeleteOptions(preconditions=version, **options)


class Conflict(Exception):
    """A 409: the object changed since it was read; read it again and decide again."""


def write_once(doing: str, fn: Callable[[], _T], *, missing_ok: bool = False) -> _T | None:
    """``fn()``, a write that may conflict: a 409 is ``Conflict`` (to re-read and retry), a
    404 is ``None`` with ``missing_ok``, and other failures are translated as by ``call``."""
    try:
        return fn()
    except ApiException as exc:
        if exc.status == 409:
            raise Conflict(doing) from exc
        if exc.status == 404 and missing_ok:
            return None
        raise translate(exc, doing) from exc
    except _NETWORK as exc:
        raise translate(exc, doing) from exc


def until_no_conflict(doing: str, attempt: Callable[[], _T]) -> _T:
    """``attempt()`` again after each ``Conflict``, at most ``MAX_CONFLICTS`` times.

    ``attempt`` reads what it changes, checks it (its owner, its fence) and writes it with the
    ``resourceVersion`` it read, so every round decides from what the cluster holds then.

    Raises:
        TemporaryError: it conflicted ``MAX_CONFLICTS`` times in a row.
    """
    for _ in range(MAX_CONFLICTS):
        try:
            return attempt()
        except Conflict:
            continue
    raise TemporaryError(f"{doing}: conflicted {MAX_CONFLICTS} times in a row; trying again later")


def stamp_fence(body: Any) -> None:
    """Write the current work's fencing token into ``body``'s annotations (if it has one)."""
    fence = current_fence()
    if fence is None:
        return
    meta = body.metadata
    meta.annotations = {**(meta.annotations or {}), FENCE_ANNOTATION: str(fence.token)}


def apply(
    doing: str,
    read: Callable[[], Any],
    create: Callable[[Any], Any],
    replace: Callable[[Any], Any],
    desired: Callable[[Any | None], Any | None],
) -> Any | None:
    """Create or replace one object until it matches, re-reading after every 409.

    Args:
        doing: what is being applied, for error messages.
        read, create, replace: the API calls for this object.
        desired: given the live object (``None`` if missing), the body to write, or ``None``
            when the live object already matches. A body replacing a live object is sent with
            the live ``resourceVersion``, so a concurrent writer makes it fail with 409.

    Work carrying a fencing token (``current_fence()``) stamps it on what it writes and is
    refused when the live object bears a newer one.

    Returns:
        What the API returned for the write, or ``None`` when nothing needed writing.

    Raises:
        TemporaryError: the object changed under us ``MAX_CONFLICTS`` times, or the API server
            failed or timed out.
        PermanentError: the API server refused the request (a 4xx other than 404 and 409), or
            the live object is not agentfsm's.
        StaleFence: a newer owner wrote the object (nothing was written).
    """
    for _ in range(MAX_CONFLICTS):
        live = read_or_none(doing, read)
        check_fence(doing, live)
        try:
            body = desired(live)
        except InvalidInput as exc:
            raise translate(exc, doing) from exc
        if body is None:
            return None
        stamp_fence(body)
        try:
            if live is None:
                return create(body)
            body.metadata.resource_version = live.metadata.resource_version
            return replace(body)
        except ApiException as exc:
            if exc.status != 409:
                raise translate(exc, doing) from exc
        except _NETWORK as exc:
            raise translate(exc, doing) from exc
    raise TemporaryError(f"{doing}: conflicted {MAX_CONFLICTS} times in a row; trying again later")
