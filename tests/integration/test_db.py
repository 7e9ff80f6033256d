"""The database layer: one-round-trip statements, atomic transactions, broken connections, commit mode."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from worker import db, errors


@pytest.fixture
def scratch(database: db.Database) -> db.Database:
    with database.statement() as cur:
        cur.execute("CREATE TABLE scratch (n int PRIMARY KEY)")
    return database


def _insert_twice(scope: Any) -> None:
    """Insert 1, then 1 again (a duplicate key), in one ``statement()`` or ``transaction()`` block."""
    with scope as cur:
        cur.execute("INSERT INTO scratch VALUES (1)")
        cur.execute("INSERT INTO scratch VALUES (1)")


def _numbers(database: db.Database) -> list[int]:
    with database.statement() as cur:
        cur.execute("SELECT n FROM scratch ORDER BY n")
        return [r["n"] for r in cur.fetchall()]


def test_a_statement_commits_on_its_own_even_when_a_later_one_fails(scratch: db.Database) -> None:
    with pytest.raises(errors.DatabaseError, match="duplicate key"):
        _insert_twice(scratch.statement())
    assert _numbers(scratch) == [1]


def test_a_transaction_commits_all_of_its_statements_or_none(scratch: db.Database) -> None:
    with pytest.raises(errors.DatabaseError, match="duplicate key"):
        _insert_twice(scratch.transaction())
    with scratch.transaction() as cur:
        cur.execute("INSERT INTO scratch VALUES (2)")
        cur.execute("INSERT INTO scratch VALUES (3)")
    assert _numbers(scratch) == [2, 3]


def _backend_pid(database: db.Database) -> int:
    with database.statement() as cur:
        cur.execute("SELECT pg_backend_pid() AS pid")
        row = cur.fetchone()
    assert row is not None
    return int(row["pid"])


def _terminate(database_url: str, pid: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def test_an_idle_connection_is_checked_and_replaced_when_its_server_side_went_away(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_CHECK_S", 0.05)
    database = db.Database(database_url, host_schema="public", max_size=1)
    try:
        pid = _backend_pid(database)
        _terminate(database_url, pid)
        time.sleep(0.1)
        # Then the next statement gets a new connection, without an error
        assert _backend_pid(database) != pid
    finally:
        database.close()


def test_a_connection_in_steady_use_is_not_checked_and_one_failure_weeds_out_the_broken_ones(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "IDLE_CHECK_S", 60.0)
    database = db.Database(database_url, host_schema="public", max_size=1)
    try:
        pid = _backend_pid(database)
        _terminate(database_url, pid)
        # The recently used connection is handed out unchecked: its statement fails, clearly
        with pytest.raises(errors.DatabaseError):
            _backend_pid(database)
        # And the next statement runs on a new connection
        assert _backend_pid(database) != pid
    finally:
        database.close()


@pytest.mark.parametrize("mode", ["on", "off"])
def test_the_commit_mode_is_set_on_every_pooled_connection(database_url: str, mode: str) -> None:
    database = db.Database(database_url, host_schema="public", synchronous_commit=mode)
    try:
        with database.statement() as cur:
            cur.execute("SHOW synchronous_commit")
            row = cur.fetchone()
        assert row is not None
        assert row["synchronous_commit"] == mode
    finally:
        database.close()


def test_a_read_only_pool_refuses_writes_even_for_a_role_that_may_make_them(scratch: db.Database) -> None:
    # Given a read-only pool over the same role that just created the table (it may write)
    reader = db.Database(scratch.url, host_schema="public", read_only=True)
    try:
        # When it writes, in a statement and in a transaction, then the server refuses both
        for scope in (reader.statement(), reader.transaction()):
            with pytest.raises(errors.DatabaseError, match="read-only transaction"), scope as cur:
                cur.execute("INSERT INTO scratch VALUES (1)")
        # And it still reads, and nothing was written
        assert _numbers(reader) == []
    finally:
        reader.close()


def test_a_statement_past_the_pools_timeout_is_cancelled_by_the_server(database_url: str) -> None:
    database = db.Database(database_url, host_schema="public", statement_timeout_ms=200)
    try:
        started = time.monotonic()
        with pytest.raises(errors.DatabaseError, match="statement timeout"), database.statement() as cur:
            cur.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 4
        # And the connection serves the next statement
        with database.statement() as cur:
            cur.execute("SELECT 1 AS one")
            assert cur.fetchone() == {"one": 1}
    finally:
        database.close()


def test_every_connection_notices_a_lost_network_unless_the_url_says_otherwise(database_url: str) -> None:
    # Given a pool on the plain URL, and one whose URL sets its own keepalive idle time
    plain = db.Database(database_url, host_schema="public")
    own = db.Database(f"{database_url}?keepalives_idle=7", host_schema="public")
    try:
        for database, idle in ((plain, "30"), (own, "7")):
            # When a connection is handed out, then it carries the keepalives and TCP_USER_TIMEOUT
            with database.statement() as cur:
                parameters = cur.connection.info.get_parameters()
            assert parameters["keepalives"] == "1"
            assert parameters["keepalives_idle"] == idle
            assert parameters["tcp_user_timeout"] == "30000"
        # And a dedicated connection (LISTEN, migrations, tools) does too
        with db.connect(database_url, host_schema="public") as conn:
            assert conn.info.get_parameters()["tcp_user_timeout"] == "30000"
    finally:
        plain.close()
        own.close()
