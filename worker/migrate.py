"""Applies the numbered migrations of ``sql/migrations`` in order, once, under an advisory lock.

Safe to run twice and from several processes at once: the lock serialises them and the
``credsync.schema_migration`` table records what is applied. It also brings ``credsync.task`` in
step with the worker's handler registry, and (``reference_host=True``) creates the reference host
tables where missing; ``with_triggers=True`` also installs the opt-in triggers that make those
tables enqueue the upstream signals' tasks themselves (``sql/host/triggers.sql``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable
from pathlib import Path

import psycopg
from psycopg import sql

from worker import db, errors, queries

log = logging.getLogger(__name__)

# pg_advisory_lock key: the bytes "credsync" read as a big-endian bigint.
MIGRATE_LOCK_KEY = int.from_bytes(b"credsync", "big") & 0x7FFF_FFFF_FFFF_FFFF
_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


@dataclasses.dataclass(frozen=True)
class TaskRegistration:
    """What the database must know of a task to validate inserts and order rows."""

    name: str
    required_keys: tuple[str, ...]
    ordering_scope: str
    ordering_keys: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Report:
    applied: tuple[str, ...]
    tasks: tuple[str, ...]
    reference_host: bool
    with_triggers: bool = False


def available() -> list[Migration]:
    """The migrations on disk, in version order; a gap or a duplicate version is an error."""
    found = []
    for path in sorted((queries.sql_dir() / "migrations").glob("*.sql")):
        match = _MIGRATION_FILE.match(path.name)
        if not match:
            raise errors.ConfigurationError(f"migration file name not understood: {path.name}")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise errors.ConfigurationError(
                f"migrations must be numbered 0001, 0002, ... without gaps: found {migration.path.name}"
            )
    return found


def run(
    url: str,
    *,
    host_schema: str,
    tasks: Iterable[TaskRegistration],
    reference_host: bool = False,
    with_triggers: bool = False,
) -> Report:
    """Bring the database up to date; returns what was done.

    ``with_triggers`` needs ``reference_host``: the triggers are made for the reference host tables,
    and are installed (or replaced) after them.
    """
    if with_triggers and not reference_host:
        raise errors.ConfigurationError(
            "host triggers (--with-triggers) need the reference host tables: add --reference-host"
        )
    tasks = list(tasks)
    conn = db.connect(url, host_schema=host_schema, autocommit=True, application_name="credsync-migrate")
    try:
        with conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK_KEY,))
            try:
                applied = _apply_migrations(conn)
                _register_tasks(conn, tasks)
                if reference_host:
                    _create_reference_host(conn, host_schema)
                if with_triggers:
                    _create_host_triggers(conn, host_schema)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK_KEY,))
    except psycopg.Error as exc:
        raise errors.DatabaseError(f"migration failed: {exc}") from exc
    return Report(tuple(applied), tuple(t.name for t in tasks), reference_host, with_triggers)


def _apply_migrations(conn: psycopg.Connection[db.Row]) -> list[str]:
    conn.execute("CREATE SCHEMA IF NOT EXISTS credsync")
    conn.execute(
        """CREATE TABLE IF NOT EXISTS credsync.schema_migration (
               version integer PRIMARY KEY,
               name text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    done = {row["version"] for row in conn.execute(queries.get("migration_applied_versions")).fetchall()}
    applied = []
    for migration in available():
        if migration.version in done:
            continue
        log.info("applying migration %04d_%s", migration.version, migration.name)
        with conn.transaction():
            conn.execute(migration.path.read_text(encoding="utf-8"))
            conn.execute(
                queries.get("migration_record"), {"version": migration.version, "name": migration.name}
            )
        applied.append(f"{migration.version:04d}_{migration.name}")
    return applied


def _register_tasks(conn: psycopg.Connection[db.Row], tasks: list[TaskRegistration]) -> None:
    with conn.transaction():
        for task in tasks:
            conn.execute(
                queries.get("task_upsert"),
                {
                    "name": task.name,
                    "required_keys": list(task.required_keys),
                    "ordering_scope": task.ordering_scope,
                    "ordering_keys": list(task.ordering_keys),
                },
            )
        conn.execute(queries.get("task_delete_unknown"), {"names": [t.name for t in tasks]})


def _create_reference_host(conn: psycopg.Connection[db.Row], host_schema: str) -> None:
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(host_schema)))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(host_schema)))
        conn.execute((queries.sql_dir() / "host" / "reference.sql").read_text(encoding="utf-8"))


def _create_host_triggers(conn: psycopg.Connection[db.Row], host_schema: str) -> None:
    # search_path is the host schema while the functions are created: they pin it (FROM CURRENT).
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(host_schema)))
        conn.execute((queries.sql_dir() / "host" / "triggers.sql").read_text(encoding="utf-8"))
