"""Shared fixtures: a private Postgres database per test (cloned from a per-run template).

The server comes from ``CREDSYNC_TEST_PG_URL`` (an admin connection URL; default: the local
server as ``postgres``). Each run creates its own template database (migrations + reference host
tables) and clones it per test, then drops everything it created, so runs never collide.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.platform import Platform
from worker import db, migrate, tasks
from worker.outbox import repository

ADMIN_URL = os.environ.get("CREDSYNC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RUN_ID = uuid.uuid4().hex[:8]
PREFIX = f"credsync_t_{RUN_ID}"


def url_for(database: str) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _admin(sql: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    name = f"{PREFIX}_tpl"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        migrate.run(
            url_for(name), host_schema="public", tasks=tasks.REGISTRY.registrations(), reference_host=True
        )
        yield name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",)
                )
            ]
            for leftover in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{leftover}" WITH (FORCE)')  # type: ignore[arg-type]


_counter = iter(range(1_000_000))


@pytest.fixture
def database_url(template_database: str) -> Iterator[str]:
    name = f"{PREFIX}_{next(_counter)}"
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    try:
        yield url_for(name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database(database_url: str) -> Iterator[db.Database]:
    database = db.Database(database_url, host_schema="public", max_size=8, application_name="credsync-test")
    yield database
    database.close()


class Clock:
    """An injectable "now" for SQL: real time plus an offset that tests move instead of sleeping.

    (Rows get the database's now() when inserted, so the clock must stay close to real time.)
    """

    def __init__(self) -> None:
        self.offset = datetime.timedelta()

    def __call__(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += datetime.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(database: db.Database, clock: Clock) -> repository.Outbox:
    return repository.Outbox(database, lease_s=30, clock=clock)


@pytest.fixture
def sql(database_url: str) -> Iterator[psycopg.Connection[dict]]:  # type: ignore[type-arg]
    """A plain autocommit connection for Given/Then steps written in SQL."""
    from psycopg.rows import dict_row

    with contextlib.closing(psycopg.connect(database_url, autocommit=True, row_factory=dict_row)) as conn:
        yield conn


@pytest.fixture
def platform(sql: psycopg.Connection[dict]) -> Platform:  # type: ignore[type-arg]
    return Platform(sql)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CREDSYNC_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="long test: set CREDSYNC_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def emulator() -> Iterator[Any]:
    """The Credentials emulator in its default mode (a default install), trusting the test platform's keys."""
    from tests import rig

    with rig.emulator() as emu:
        yield emu


@pytest.fixture
def credentials_client(emulator: Any, database: db.Database, platform: Platform) -> Iterator[Any]:
    """A client that signs its tokens as the platform does (``LMS_JWT_*``), the service user on the host."""
    from tests import rig

    platform.service_user()
    client = rig.client(database, emulator)
    yield client
    client.close()
