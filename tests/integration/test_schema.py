"""sql/schema.sql is the current schema: applying every migration to a fresh database dumps to exactly it."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from scripts import schema_file
from tests import conftest


@pytest.fixture
def fresh_database_url() -> Iterator[str]:
    """An empty database (not the template: nothing but what ``credsync migrate`` makes)."""
    name = f"{conftest.PREFIX}_schema"
    with psycopg.connect(conftest.ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield conftest.url_for(name)
    finally:
        with psycopg.connect(conftest.ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_applying_every_migration_to_a_fresh_database_gives_exactly_sql_schema_sql(
    fresh_database_url: str,
) -> None:
    # Given pg_dump and a fresh database
    major = schema_file.server_major(fresh_database_url)
    pg_dump = schema_file.find_pg_dump(major)
    if pg_dump is None:
        pytest.skip(schema_file.install_hint(major))
    # When `credsync migrate` applies every migration and schema credsync is dumped
    schema_file.migrate(fresh_database_url)
    current = schema_file.dump(fresh_database_url, pg_dump)
    # Then the dump is sql/schema.sql, byte for byte
    committed = schema_file.SCHEMA_PATH.read_text(encoding="utf-8")
    assert current == committed, schema_file.stale_message(current, committed)
