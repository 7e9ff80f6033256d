"""Migrations and insert-time validation on a real database."""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg.types.json import Jsonb

from worker import migrate, tasks


def test_migrate_twice_applies_nothing_the_second_time(database_url: str) -> None:
    # Given a database the template already migrated
    # When migrate runs again
    report = migrate.run(database_url, host_schema="public", tasks=tasks.REGISTRY.registrations())
    # Then nothing is applied and every task is registered
    assert report.applied == ()
    assert set(report.tasks) == set(tasks.REGISTRY.names())


def test_migrate_from_two_processes_at_once_applies_each_migration_once(database_url: str, sql) -> None:  # type: ignore[no-untyped-def]
    # Given an empty database (credsync dropped)
    sql.execute("DROP SCHEMA credsync CASCADE")
    reports: list[migrate.Report] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(
                migrate.run(database_url, host_schema="public", tasks=tasks.REGISTRY.registrations())
            )
        except BaseException as exc:
            failures.append(exc)

    # When two migrations race
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then one applied everything, the other nothing, and each version is recorded once
    assert failures == []
    applied = sorted(len(r.applied) for r in reports)
    assert applied == [0, len(migrate.available())]
    versions = [r["version"] for r in sql.execute("SELECT version FROM credsync.schema_migration").fetchall()]
    assert versions == [m.version for m in migrate.available()]


def test_reference_host_creates_tables_in_the_configured_schema_only_where_missing(
    database_url: str, sql
) -> None:  # type: ignore[no-untyped-def]
    # Given a host schema with an existing auth_user table holding a row and an extra column
    sql.execute("CREATE SCHEMA lms")
    sql.execute(
        "CREATE TABLE lms.auth_user (id bigint PRIMARY KEY, username text, email text,"
        " is_active boolean, extra text NOT NULL DEFAULT 'x')"
    )
    sql.execute("INSERT INTO lms.auth_user VALUES (1, 'ada', 'ada@example.com', true)")
    # When migrate --reference-host runs for that schema
    migrate.run(database_url, host_schema="lms", tasks=tasks.REGISTRY.registrations(), reference_host=True)
    # Then the existing table is kept and the missing ones exist
    assert sql.execute("SELECT username FROM lms.auth_user").fetchall() == [{"username": "ada"}]
    tables = {
        r["table_name"]
        for r in sql.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'lms'"
        ).fetchall()
    }
    assert {
        "certificates_generatedcertificate",
        "catalog_program",
        "credentials_credentialsapiconfig",
    } <= tables


def test_an_unknown_task_is_rejected_at_insert_with_the_known_tasks_named(sql) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(psycopg.errors.CheckViolation) as caught:
        sql.execute("INSERT INTO credsync.outbox (task, payload) VALUES ('award_course_certificat', '{}')")
    assert "unknown task 'award_course_certificat'" in str(caught.value)
    assert "award_course_certificate" in (caught.value.diag.message_hint or "")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"username": "ada"}, 'needs payload key "course_run_key" (it is missing)'),
        (
            {"username": None, "course_run_key": "course-v1:a+b+c"},
            'needs payload key "username" (it is null)',
        ),
        ([1, 2], "must be a JSON object, not array"),
        ("ada", "must be a JSON object, not string"),
    ],
)
def test_a_payload_missing_a_required_key_is_rejected_at_insert(sql, payload, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(psycopg.errors.CheckViolation) as caught:
        sql.execute(
            "INSERT INTO credsync.outbox (task, payload) VALUES ('award_course_certificate', %s)",
            (Jsonb(payload),),
        )
    assert message in str(caught.value)


def test_an_insert_gets_a_fresh_row_and_its_ordering_key_whatever_it_says(sql) -> None:  # type: ignore[no-untyped-def]
    # When a host inserts a row and tries to set bookkeeping columns
    row = sql.execute(
        "INSERT INTO credsync.outbox (task, payload, status, attempts) VALUES"
        ' (\'award_course_certificate\', \'{"username": "ada", "course_run_key": "k"}\', \'done\', 7)'
        " RETURNING status, attempts, ordering_key, finished_at"
    ).fetchone()
    # Then the row starts fresh, keyed by learner
    assert row == {"status": "pending", "attempts": 0, "ordering_key": "learner:ada", "finished_at": None}


def test_a_rolled_back_host_transaction_leaves_no_row(database_url: str, sql) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO credsync.outbox (task, payload) VALUES"
            ' (\'award_course_certificate\', \'{"username": "ada", "course_run_key": "k"}\')'
        )
        conn.rollback()
    assert sql.execute("SELECT count(*) AS n FROM credsync.outbox").fetchone() == {"n": 0}
