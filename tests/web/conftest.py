"""The console's fixtures: a login role holding only credsync_inspector's rights, and consoles over it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import flask
import pytest

from tests.acceptance.conftest import shared_broker, system  # noqa: F401 -- the browser tier's processes
from worker import db, settings
from worker.web import auth, server

OPERATOR, PASSWORD = "ada", "correct horse battery staple"


@pytest.fixture
def inspector_url(database_url: str, sql: Any) -> Iterator[str]:
    """A URL of the test database for a new login role that is only a member of credsync_inspector."""
    name = f"credsync_web_{uuid.uuid4().hex[:10]}"
    sql.execute(f"CREATE ROLE {name} LOGIN IN ROLE credsync_inspector")
    parts = urlsplit(database_url)
    yield urlunsplit(parts._replace(netloc=f"{name}@{parts.hostname}:{parts.port or 5432}"))
    sql.execute(f"DROP OWNED BY {name}")
    sql.execute(f"DROP ROLE {name}")


Console = Callable[..., flask.Flask]


@pytest.fixture
def console(inspector_url: str, database_url: str) -> Iterator[Console]:
    """Build a console app (its settings by variable name); operators: ``operators=True``."""
    pools: list[db.Database] = []

    def build(operators: bool = False, **env: Any) -> flask.Flask:
        overrides: dict[str, Any] = {"CREDSYNC_WEB_DATABASE_URL": inspector_url, **env}
        if operators:
            overrides["CREDSYNC_WEB_OPERATORS"] = {OPERATOR: auth.hash_password(PASSWORD)}
            overrides["DATABASE_URL"] = database_url
        app, opened = server.build(settings.load_web(overrides))
        pools.extend(opened)
        app.testing = True
        return app

    yield build
    for pool in pools:
        pool.close()


def fail_rows(
    sql: Any, count: int, *, error: str = "HTTP 400 from Credentials", username: str = "u"
) -> list[int]:
    """Insert ``count`` rows and make them failed with ``error``; their ids."""
    ids = [
        r["id"]
        for r in sql.execute(
            "INSERT INTO credsync.outbox (task, payload) SELECT 'award_program_certificates', "
            "jsonb_build_object('username', %s || g) FROM generate_series(1, %s) g RETURNING id",
            (username, count),
        ).fetchall()
    ]
    sql.execute(
        "UPDATE credsync.outbox SET status = 'failed', attempts = 1, started_at = now(), "
        "finished_at = now(), last_error = %s WHERE id = ANY(%s)",
        (error, ids),
    )
    return ids
