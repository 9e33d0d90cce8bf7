"""Fencing tokens: how a resource tells work from a current owner from work from a late one.

A lease (or an outbox claim) can lapse while its holder still runs: a process paused by the
kernel, a garbage collection, a slow network. Another replica then takes the work over, and
when the first one wakes it would repeat the work, or undo the newer owner's. Every lease and
every claim therefore carries a token drawn from one counter in the store, so a later owner of
any work always holds a larger token than an earlier one. The runtime makes the token of the
work being performed visible as ``current_fence()`` while an effect handler or a reconciler
runs; a resource that keeps the largest token it applied per agent (a ``FenceGuard``) refuses
an older one with ``StaleFence``, before changing anything.

Work performed without a token (a store older than the leases, a handler called directly)
carries ``None`` and is admitted: fencing is something a resource opts into.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from agentfsm._errors import InvalidInput
from agentfsm.runtime._errors import PermanentError


class StaleFence(PermanentError):
    """Work carries a fencing token older than one the resource has already applied.

    The work's lease or claim lapsed and a newer owner has acted since: nothing was changed,
    and retrying cannot help (the newer owner does the work). A worker that sees it drops the
    work; it never parks or retries it.

    Attributes:
        resource: what refused (an agent id, an object's name).
        token: the token the work carried.
        applied: the largest token the resource had applied.
    """

    def __init__(self, resource: str, token: int, applied: int) -> None:
        self.resource = resource
        self.token = token
        self.applied = applied
        super().__init__(
            f"{resource!r} refused work fenced with token {token}: token {applied} was applied "
            "already, so this work's lease lapsed and a newer owner has acted"
        )


@attrs.frozen(slots=True)
class Fence:
    """The fencing token of the work being performed.

    Attributes:
        token: the number drawn from the store's counter when the lease or claim was taken.
        holder: the replica (or worker) holding it.
        key: the lease's key (an agent id) or the outbox item's idempotency key.
        until: when the lease or claim lapses (work after it may be refused), if known.
    """

    token: int
    holder: str
    key: str
    until: datetime | None = None


_CURRENT: ContextVar[Fence | None] = ContextVar("agentfsm_fence", default=None)


def current_fence() -> Fence | None:
    """The fence of the reconcile pass or outbox item being performed here, if any.

    Set by ``SharedReconcileLoop`` around a pass and by the outbox workers around a handler
    call (thread- and task-local); ``None`` elsewhere, or for work without a token.
    """
    return _CURRENT.get()


def set_fence(fence: Fence | None) -> Fence | None:
    """Make ``fence`` current; returns the one it replaces (give it back with ``set_fence``).

    Not a context manager on purpose: the runtime's passes are generators, which may be
    resumed in another context; setting a value back works from anywhere.
    """
    previous = _CURRENT.get()
    _CURRENT.set(fence)
    return previous


@runtime_checkable
class FenceGuard(Protocol):
    """Decides whether work fenced with a token may still change a resource."""

    def admit(self, resource: str, token: int | None) -> None:
        """Let work carrying ``token`` change ``resource``, and remember the token.

        Args:
            resource: what the work changes (an agent id).
            token: the work's fencing token; ``None`` for unfenced work.

        Raises:
            StaleFence: a larger token was admitted for ``resource`` before. Nothing changed.
        """
        ...


class FenceBook:
    """A ``FenceGuard`` in memory: the largest token admitted per resource, under a lock.

    It guards what lives in the same process as the book (a fake cluster, an in-process
    resource); a resource shared by several processes needs a guard that lives with it.

    Args:
        refuse_unfenced: also refuse work without a token once a token was admitted for the
            resource (by default such work is admitted, so unfenced callers keep working).
    """

    def __init__(self, *, refuse_unfenced: bool = False) -> None:
        self._applied: dict[str, int] = {}
        self._lock = threading.Lock()
        self._refuse_unfenced = refuse_unfenced
        self.refused: list[tuple[str, int | None, int]] = []

    def admit(self, resource: str, token: int | None) -> None:
        """Admit ``token`` for ``resource`` (see ``FenceGuard.admit``).

        Raises:
            StaleFence: a newer owner has acted (a token of ``None`` is refused only with
                ``refuse_unfenced``, and reported as token 0).
            InvalidInput: ``resource`` is not a non-empty string, or ``token`` is neither a
                whole number nor ``None``. Nothing changed.
        """
        if not isinstance(resource, str) or not resource:
            raise InvalidInput(f"a fenced resource is a non-empty string, not {resource!r}")
        if token is not None and (isinstance(token, bool) or not isinstance(token, int)):
            raise InvalidInput(f"a fencing token is a whole number or None, not {token!r}")
        with self._lock:
            applied = self._applied.get(resource)
            if token is None:
                if self._refuse_unfenced and applied is not None:
                    self.refused.append((resource, None, applied))
                    raise StaleFence(resource, 0, applied)
                return
            if applied is not None and token < applied:
                self.refused.append((resource, token, applied))
                raise StaleFence(resource, token, applied)
            self._applied[resource] = token

    def applied(self, resource: str) -> int | None:
        """The largest token admitted for ``resource``, or ``None``."""
        with self._lock:
            return self._applied.get(resource)


def admit_current(guard: FenceGuard | None, resource: str) -> None:
    """``guard.admit(resource, token of current_fence())``; nothing without a guard.

    Raises:
        StaleFence: the guard refused the current work.
    """
    if guard is None:
        return
    fence = _CURRENT.get()
    guard.admit(resource, None if fence is None else fence.token)
