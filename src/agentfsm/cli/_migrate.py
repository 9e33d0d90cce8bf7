"""``agentfsm check-migration``, ``agentfsm migrate plan|apply`` and ``agentfsm diff``.

A migration is named by reference, ``package.module:NAME`` (a ``Migration`` object importable
from the current environment, as ``agentfsm.migrate.examples:ALFE_V1_TO_V2``); a machine by a
shipped model's name or by the same kind of reference. ``--db`` is a SQLite file or a
PostgreSQL DSN (``postgresql://…`` or ``host=… dbname=…``).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, TextIO

from agentfsm._machine import Machine
from agentfsm.cli._names import did_you_mean
from agentfsm.migrate import (
    Migration,
    MigrationError,
    apply_migration,
    check_migration,
    diff_machines,
    plan_migration,
)
from agentfsm.models import MACHINES
from agentfsm.runtime import PostgresStore, SQLiteStore, Store, StoreError


class MigrateUsageError(Exception):
    """A value on the command line is wrong; the message says which and what is expected."""


def load_reference(ref: str) -> Any:
    """The object ``package.module:NAME`` names.

    Raises:
        MigrateUsageError: the reference is malformed, or nothing importable has that name.
    """
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise MigrateUsageError(f"{ref!r} is not a reference; write package.module:NAME")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MigrateUsageError(f"cannot import {module_name!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise MigrateUsageError(f"{module_name!r} has no {attr!r}") from None


def migration_named(ref: str) -> Migration:
    """The ``Migration`` that ``ref`` names (see ``load_reference``)."""
    found = load_reference(ref)
    if not isinstance(found, Migration):
        raise MigrateUsageError(f"{ref!r} is a {type(found).__name__}, not a Migration")
    return found


def machine_ref(ref: str) -> Machine:
    """A shipped model by name, or a ``Machine`` by reference."""
    if ref in MACHINES:
        return MACHINES[ref]
    if ":" not in ref:
        raise MigrateUsageError(
            f"unknown model {ref!r}{did_you_mean(ref, MACHINES)}; choose one of "
            f"{', '.join(MACHINES)} or write package.module:NAME"
        )
    found = load_reference(ref)
    if not isinstance(found, Machine):
        raise MigrateUsageError(f"{ref!r} is a {type(found).__name__}, not a Machine")
    return found


def open_store(db: str, schema: str) -> Store:
    """The store ``db`` names: a PostgreSQL DSN, or an existing SQLite file."""
    try:
        if db.startswith(("postgres://", "postgresql://")) or "=" in db:
            return PostgresStore(db, schema=schema)
        if not Path(db).is_file():
            raise MigrateUsageError(f"{db} is not a database file; pass --db with one")
        return SQLiteStore(db)
    except StoreError as exc:
        raise MigrateUsageError(f"cannot open {db}: {exc}") from exc


def check_command(ref: str, out: TextIO) -> int:
    """``agentfsm check-migration``: 0 when every check holds, 1 otherwise."""
    report = check_migration(migration_named(ref))
    out.write(report.format() + "\n")
    return 0 if report.ok else 1


def migrate_command(
    action: str,
    db: str,
    schema: str,
    ref: str,
    batch: int,
    dry_run: bool,
    unchecked: bool,
    out: TextIO,
) -> int:
    """``agentfsm migrate plan|apply``: 0 done, 1 the check failed or agents remain."""
    migration = migration_named(ref)
    store = open_store(db, schema)
    try:
        if action == "plan":
            out.write(plan_migration(store, migration).format() + "\n")
            return 0
        if not unchecked and not dry_run:
            report = check_migration(migration)
            if not report.ok:
                out.write(report.format() + "\n")
                out.write("not applied: the migration fails its check (--unchecked to force)\n")
                return 1
        done = apply_migration(store, migration, batch_size=batch, dry_run=dry_run)
        if done.plan is not None:
            out.write(done.plan.format() + "\n(dry run: nothing written)\n")
            return 0
        rate = done.migrated / done.seconds if done.seconds else 0.0
        out.write(
            f"{migration.name}: migrated {done.migrated:,} agent(s) in {done.batches} batch(es), "
            f"{done.seconds:.2f} s ({rate:,.0f}/s); {done.remaining:,} remaining\n"
        )
        return 0 if done.remaining == 0 else 1
    except MigrationError as exc:
        out.write(f"not applied: {exc}\n")
        return 1
    finally:
        store.close()


def diff_command(a: str, b: str, fmt: str, migration: str | None, out: TextIO) -> int:
    """``agentfsm diff``: what changed between two machines, as text, Mermaid or DOT."""
    if fmt not in ("text", "mermaid", "dot"):
        hint = did_you_mean(fmt, ("text", "mermaid", "dot"))
        raise MigrateUsageError(f"unknown format {fmt!r}{hint}; choose text, mermaid or dot")
    diff = diff_machines(
        machine_ref(a), machine_ref(b), migration_named(migration) if migration else None
    )
    pictures = {"text": diff.to_text, "mermaid": diff.to_mermaid, "dot": diff.to_dot}
    out.write(pictures[fmt]())
    return 0
