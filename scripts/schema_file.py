"""sql/schema.sql, the current schema: made by applying every migration to a throwaway database.

``scripts/schema`` runs this file to regenerate it (``--check`` only compares); the integration test
``tests/integration/test_schema.py`` uses the same ``migrate`` and ``dump`` to check it is current.

The dump is ``pg_dump --schema-only --schema=credsync`` made stable: no owners or tablespaces, none
of pg_dump's version lines, ``SET`` preamble or per-run ``\\restrict`` key, one comment line per
object. The grants are kept: they name the fixed roles of ``0003_roles.sql``, which ``migrate``
creates when the migrating role may (else the dump is refused, as it would lack them).
"""

from __future__ import annotations

import argparse
import difflib
import glob
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "sql" / "schema.sql"
REGENERATE = "scripts/schema"
ROLES = ("credsync_writer", "credsync_worker", "credsync_inspector")
DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

HEADER = """\
-- The current schema of everything in schema credsync, as applying every migration of
-- sql/migrations/ in order leaves it (PostgreSQL {major}).
--
-- GENERATED, do not edit: after adding a migration, run `{regenerate}` (it creates a throwaway
-- database, runs `credsync migrate`, dumps schema credsync with pg_dump and drops the database).
-- tests/integration/test_schema.py fails while this file and the migrations disagree.
--
-- This file is for reading. The migrations remain the source of truth: `credsync migrate` creates
-- and upgrades databases from them, and nothing applies this file (a database made from it would not
-- record which migrations it holds). Owners are left out; the grants go to the roles of
-- 0003_roles.sql. The reference host tables (sql/host/) live in the host's schema, not here.
"""

#: pg_dump's comment block before each object: ``--``, ``-- Name: ...; Owner: -``, ``--``.
_ENTRY = re.compile(r"^--\n-- (Name: .*?)(?:; Owner: [^\n]*)?\n--\n", re.MULTILINE)
#: Lines pg_dump writes between objects that say nothing about the schema (settings for a restore,
#: the closing banner, the key of this run's ``\restrict``).
_NOISE = re.compile(
    r"^(--|-- PostgreSQL database dump complete|\\unrestrict \S+|SET default_tablespace = .*;"
    r"|SET default_table_access_method = .*;|)$"
)


class SchemaError(Exception):
    """The schema cannot be dumped here; the message says what to do."""


def install_hint(major: int | None = None) -> str:
    package = f"postgresql-client-{major}" if major else "postgresql-client"
    return (
        "pg_dump was not found on PATH nor under /usr/lib/postgresql/*/bin: install the PostgreSQL "
        f"client of the server's major version (Debian/Ubuntu: apt-get install {package})"
    )


def find_pg_dump(major: int | None = None) -> str | None:
    """pg_dump on PATH, else under /usr/lib/postgresql/*/bin (the server's major version first)."""
    on_path = shutil.which("pg_dump")
    if on_path:
        return on_path

    def version(path: str) -> int:
        found = re.search(r"/postgresql/(\d+)/", path)
        return int(found.group(1)) if found else 0

    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), key=version, reverse=True)
    installed = [path for path in installed if os.access(path, os.X_OK)]
    preferred = [path for path in installed if version(path) == major]
    return (preferred or installed or [None])[0]


def server_major(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.info.server_version // 10_000


def migrate(url: str) -> None:
    """``credsync migrate`` on the database at ``url`` (the command itself, in a subprocess)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREDSYNC_", "DATABASE_URL"))}
    done = subprocess.run(
        [sys.executable, "-m", "worker", "migrate"],
        env={**env, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SchemaError(f"credsync migrate failed (exit {done.returncode}):\n{done.stderr}{done.stdout}")


def dump(url: str, pg_dump: str) -> str:
    """The text of sql/schema.sql for the database at ``url``, migrated already."""
    with psycopg.connect(url) as conn:
        major = conn.info.server_version // 10_000
        present = {
            r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [list(ROLES)])
        }
        user = conn.info.user
    missing = [role for role in ROLES if role not in present]
    if missing:
        raise SchemaError(
            f"roles {', '.join(missing)} do not exist and {user} may not create them, so the dump would "
            "lack their grants: use a superuser or a role with CREATEROLE"
        )
    command = [pg_dump, "--schema-only", "--schema=credsync", "--no-owner", "--no-tablespaces"]
    done = subprocess.run([*command, f"--dbname={url}"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SchemaError(f"{pg_dump} failed (exit {done.returncode}): {done.stderr.strip()}")
    return HEADER.format(major=major, regenerate=REGENERATE) + "\n" + normalize(done.stdout)


def normalize(text: str) -> str:
    """pg_dump's output, one entry per object, without what changes from run to run or machine to machine.

    Only the text between pg_dump's own comment blocks is touched: a function body or a view is kept
    exactly as the server gives it.
    """
    marks = list(_ENTRY.finditer(text))
    if not marks:
        raise SchemaError("pg_dump wrote no object of schema credsync: did the migrations run?")
    entries = []
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(text)
        lines = text[mark.end() : end].split("\n")
        while lines and _NOISE.match(lines[-1]):
            lines.pop()
        while lines and not lines[0]:
            lines.pop(0)
        entries.append(f"-- {mark.group(1)}\n" + "\n".join(lines) + "\n")
    return "\n".join(entries)


def _url_for(server_url: str, database: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{database}"))


def generate(server_url: str) -> str:
    """Create a throwaway database on ``server_url``, migrate it, dump it, drop it."""
    major = server_major(server_url)
    pg_dump = find_pg_dump(major)
    if pg_dump is None:
        raise SchemaError(install_hint(major))
    name = f"credsync_schema_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        migrate(_url_for(server_url, name))
        return dump(_url_for(server_url, name), pg_dump)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def stale_message(current: str, committed: str, *, context: int = 2, limit: int = 80) -> str:
    """Why and how: sql/schema.sql differs from what the migrations make (a diff, cut at ``limit``)."""
    diff = list(
        difflib.unified_diff(
            committed.splitlines(),
            current.splitlines(),
            "sql/schema.sql",
            "after the migrations",
            n=context,
            lineterm="",
        )
    )
    shown = diff[:limit] + ([f"... ({len(diff) - limit} more lines)"] if len(diff) > limit else [])
    return (
        f"sql/schema.sql is not what the migrations make: run `{REGENERATE}` and commit the result "
        "(a migration was added or changed, or the file was edited by hand).\n" + "\n".join(shown)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=DEFAULT_SERVER_URL, help="an admin URL (CREATEDB)")
    parser.add_argument("--check", action="store_true", help="only say whether sql/schema.sql is current")
    args = parser.parse_args(argv)
    try:
        current = generate(args.server)
    except (SchemaError, psycopg.Error) as exc:
        print(f"{REGENERATE}: {exc}", file=sys.stderr)
        return 2
    committed = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
    if current == committed:
        print("sql/schema.sql is current")
        return 0
    if args.check:
        print(stale_message(current, committed), file=sys.stderr)
        return 1
    SCHEMA_PATH.write_text(current, encoding="utf-8")
    print("sql/schema.sql written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
