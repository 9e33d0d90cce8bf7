"""The leases of the asyncio stores: the same statements as ``_leases``, awaited.

``AsyncSQLiteStore`` runs the blocking ``SQLiteLeases`` on its own thread, like every other
call; ``AsyncPostgresStore`` sends ``PostgresPlans``' statements through its async pool, each
as a task a cancelled caller stops waiting for but does not interrupt.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from agentfsm.runtime._errors import StoreError
from agentfsm.runtime._leases import _EMPTY, Lease, PostgresPlans, SQLiteLeases, _Plan


class AsyncLeaseStore(Protocol):
    """``LeaseStore``, awaited (what ``AsyncSharedReconcileLoop`` needs)."""

    async def offer(self, keys: Iterable[str], at: datetime) -> int: ...
    async def enqueue(self, key: str, at: datetime) -> None: ...
    async def take(
        self, holder: str, now: datetime, until: datetime, limit: int
    ) -> list[Lease]: ...
    async def release(
        self, lease: Lease, now: datetime, due: datetime | None, failures: int
    ) -> bool: ...
    async def renew(self, lease: Lease, until: datetime) -> bool: ...
    async def forget(self, key: str) -> bool: ...
    async def drop(self, lease: Lease, now: datetime) -> bool: ...
    async def schedule(self) -> dict[str, tuple[datetime | None, str | None]]: ...
    async def fence_outbox(self, worker: str, item_ids: Sequence[int]) -> dict[int, int]: ...


class AsyncSQLiteLeases:
    """The leases of an ``AsyncSQLiteStore``, on the store's thread."""

    def __init__(self, store: Any) -> None:
        self._store = store

    async def _on_thread(self, name: str, *args: Any) -> Any:
        leases = SQLiteLeases(self._store.sync_store)
        return await self._store._on_thread(getattr(leases, name), *args)

    async def offer(self, keys: Iterable[str], at: datetime) -> int:
        """See ``LeaseStore.offer``."""
        return int(await self._on_thread("offer", list(keys), at))

    async def enqueue(self, key: str, at: datetime) -> None:
        """See ``LeaseStore.enqueue``."""
        await self._on_thread("enqueue", key, at)

    async def take(self, holder: str, now: datetime, until: datetime, limit: int) -> list[Lease]:
        """See ``LeaseStore.take``."""
        leases: list[Lease] = await self._on_thread("take", holder, now, until, limit)
        return leases

    async def release(
        self, lease: Lease, now: datetime, due: datetime | None, failures: int
    ) -> bool:
        """See ``LeaseStore.release``."""
        return bool(await self._on_thread("release", lease, now, due, failures))

    async def renew(self, lease: Lease, until: datetime) -> bool:
        """See ``LeaseStore.renew``."""
        return bool(await self._on_thread("renew", lease, until))

    async def forget(self, key: str) -> bool:
        """See ``LeaseStore.forget``."""
        return bool(await self._on_thread("forget", key))

    async def drop(self, lease: Lease, now: datetime) -> bool:
        """See ``LeaseStore.drop``."""
        return bool(await self._on_thread("drop", lease, now))

    async def schedule(self) -> dict[str, tuple[datetime | None, str | None]]:
        """See ``LeaseStore.schedule``."""
        found: dict[str, tuple[datetime | None, str | None]] = await self._on_thread("schedule")
        return found

    async def fence_outbox(self, worker: str, item_ids: Sequence[int]) -> dict[int, int]:
        """See ``LeaseStore.fence_outbox``."""
        tokens: dict[int, int] = await self._on_thread("fence_outbox", worker, list(item_ids))
        return tokens


class AsyncPostgresLeases:
    """The leases of an ``AsyncPostgresStore``, through its pool."""

    def __init__(self, store: Any) -> None:
        self._store = store

    async def _exec(self, plan: _Plan | None, name: str) -> Any:
        if plan is None:
            return _EMPTY[name]

        async def run() -> Any:
            async with self._store._tx(transaction=False) as conn:
                cur = await conn.execute(plan.sql, plan.args)
                rows = await cur.fetchall() if cur.description else []
                return plan.finish(cur.rowcount, rows)

        return await self._store._whole(run())

    async def offer(self, keys: Iterable[str], at: datetime) -> int:
        """See ``LeaseStore.offer``."""
        return int(await self._exec(PostgresPlans.offer(keys, at), "offer"))

    async def enqueue(self, key: str, at: datetime) -> None:
        """See ``LeaseStore.enqueue``."""
        await self._exec(PostgresPlans.enqueue(key, at), "enqueue")

    async def take(self, holder: str, now: datetime, until: datetime, limit: int) -> list[Lease]:
        """See ``LeaseStore.take``."""
        leases: list[Lease] = await self._exec(
            PostgresPlans.take(holder, now, until, limit), "take"
        )
        return leases

    async def release(
        self, lease: Lease, now: datetime, due: datetime | None, failures: int
    ) -> bool:
        """See ``LeaseStore.release``."""
        return bool(await self._exec(PostgresPlans.release(lease, now, due, failures), "release"))

    async def renew(self, lease: Lease, until: datetime) -> bool:
        """See ``LeaseStore.renew``."""
        return bool(await self._exec(PostgresPlans.renew(lease, until), "renew"))

    async def forget(self, key: str) -> bool:
        """See ``LeaseStore.forget``."""
        return bool(await self._exec(PostgresPlans.forget(key), "forget"))

    async def drop(self, lease: Lease, now: datetime) -> bool:
        """See ``LeaseStore.drop``."""
        return bool(await self._exec(PostgresPlans.drop(lease, now), "drop"))

    async def schedule(self) -> dict[str, tuple[datetime | None, str | None]]:
        """See ``LeaseStore.schedule``."""
        found: dict[str, tuple[datetime | None, str | None]] = await self._exec(
            PostgresPlans.schedule(), "schedule"
        )
        return found

    async def fence_outbox(self, worker: str, item_ids: Sequence[int]) -> dict[int, int]:
        """See ``LeaseStore.fence_outbox``."""
        tokens: dict[int, int] = await self._exec(
            PostgresPlans.fence_outbox(worker, item_ids), "fence_outbox"
        )
        return tokens


def async_leases_of(store: object) -> AsyncLeaseStore | None:
    """The leases of an ``AsyncSQLiteStore`` or ``AsyncPostgresStore``; ``None`` otherwise."""
    from agentfsm.runtime._async_postgres import AsyncPostgresStore
    from agentfsm.runtime._async_sqlite import AsyncSQLiteStore

    if isinstance(store, AsyncSQLiteStore):
        return AsyncSQLiteLeases(store)
    if isinstance(store, AsyncPostgresStore):
        return AsyncPostgresLeases(store)
    return None


def require_async_leases(store: object) -> AsyncLeaseStore:
    """``async_leases_of(store)``, or ``StoreError`` for a store that keeps no leases."""
    found = async_leases_of(store)
    if found is None:
        raise StoreError(
            f"{type(store).__name__} keeps no reconcile leases; use an AsyncSQLiteStore or an "
            "AsyncPostgresStore to share reconcile work between replicas"
        )
    return found
