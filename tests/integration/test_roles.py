"""Least privilege: the host can only insert; the inspector only reads; the worker does its job."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg.rows import dict_row

from worker import db
from worker.outbox import repository

AWARD = """INSERT INTO credsync.outbox (task, payload)
           VALUES ('award_course_certificate', '{"username": "ada", "course_run_key": "k"}')"""


@pytest.fixture
def login_as(database_url: str, sql: Any) -> Iterator[Any]:
    """Connect to the test database as a new login role that is a member of a credsync role."""
    created: list[str] = []
    connections: list[psycopg.Connection[Any]] = []

    def url_for(group: str) -> str:
        name = f"credsync_test_{uuid.uuid4().hex[:10]}"
        sql.execute(f"CREATE ROLE {name} LOGIN IN ROLE {group}")
        created.append(name)
        parts = urlsplit(database_url)
        return urlunsplit(parts._replace(netloc=f"{name}@{parts.hostname}:{parts.port or 5432}"))

    def connect(group: str) -> psycopg.Connection[Any]:
        conn = psycopg.connect(url_for(group), autocommit=True, row_factory=dict_row)
        connections.append(conn)
        return conn

    connect.url_for = url_for  # type: ignore[attr-defined]
    yield connect
    for conn in connections:
        conn.close()
    for name in created:
        sql.execute(f"DROP OWNED BY {name}")
        sql.execute(f"DROP ROLE {name}")


def test_the_host_writer_can_insert_a_row_but_not_read_or_change_any(login_as: Any, sql: Any) -> None:
    host = login_as("credsync_writer")
    # The one thing a host does works, with the insert-time checks
    host.execute(AWARD)
    with pytest.raises(psycopg.errors.CheckViolation):
        host.execute("INSERT INTO credsync.outbox (task, payload) VALUES ('nope', '{}')")
    # Everything else is refused
    for statement in (
        "SELECT * FROM credsync.outbox",
        "SELECT * FROM credsync.outbox_summary",
        "UPDATE credsync.outbox SET status = 'done'",
        "DELETE FROM credsync.outbox",
        "SELECT * FROM credsync.task",
        "SELECT * FROM credsync.delivery",
        AWARD + " RETURNING payload",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            host.execute(statement)
    assert sql.execute("SELECT status FROM credsync.outbox").fetchall() == [{"status": "pending"}]


def test_the_inspector_reads_everything_and_changes_nothing(login_as: Any, sql: Any) -> None:
    sql.execute(AWARD)
    inspector = login_as("credsync_inspector")
    assert inspector.execute("SELECT rows FROM credsync.outbox_summary").fetchall() == [{"rows": 1}]
    assert inspector.execute("SELECT count(*) AS n FROM credsync.outbox_failed").fetchone() == {"n": 0}
    for statement in (AWARD, "UPDATE credsync.outbox SET status = 'done'", "DELETE FROM credsync.cooldown"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            inspector.execute(statement)


def test_the_worker_role_can_claim_run_and_finish_rows(login_as: Any, sql: Any) -> None:
    # Given a row, and the pool of a login role that is a credsync_worker
    sql.execute(AWARD)
    database = db.Database(login_as.url_for("credsync_worker"), host_schema="public")
    try:
        outbox = repository.Outbox(database, lease_s=30)
        # When it claims, runs, finishes and prunes the row, Then every step is allowed
        [claimed] = outbox.claim_due(batch=10, max_in_flight=100)
        started = outbox.start(claimed.id)
        assert started is not None
        assert outbox.mark_done(claimed.id, started.attempt, {"outcome": "sent"})
        assert outbox.prune_finished(done_days=0, failed_days=0) == 1
    finally:
        database.close()
