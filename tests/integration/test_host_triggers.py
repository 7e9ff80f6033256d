"""Opt-in host triggers: the reference host tables enqueue the upstream signals' tasks themselves."""

from __future__ import annotations

import contextlib
import datetime
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql as pgsql
from psycopg.rows import dict_row

from tests.platform import Platform
from worker import errors, migrate, tasks

RUN = "course-v1:edX+DemoX+2026"
JAN = datetime.datetime(2026, 1, 15, tzinfo=datetime.UTC)
FEB = datetime.datetime(2026, 2, 15, tzinfo=datetime.UTC)
HOST_TABLES = (
    "certificates_generatedcertificate",
    "certificates_certificatedateoverride",
    "course_overviews_courseoverview",
    "grades_persistentcoursegrade",
)


def install(database_url: str, host_schema: str = "public") -> migrate.Report:
    return migrate.run(
        database_url,
        host_schema=host_schema,
        tasks=tasks.REGISTRY.registrations(),
        reference_host=True,
        with_triggers=True,
    )


@pytest.fixture
def triggers(database_url: str) -> migrate.Report:
    return install(database_url)


@contextlib.contextmanager
def host_transaction(url: str) -> Iterator[psycopg.Connection[Any]]:
    """One host transaction, committed when the block ends (as a Django request would)."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        yield conn


class Enqueued:
    """The outbox rows inserted since the last ``mark()``, as (task, payload) in id order."""

    def __init__(self, sql: Any) -> None:
        self.sql = sql
        self.since = 0

    def mark(self) -> None:
        row = self.sql.execute("SELECT coalesce(max(id), 0) AS id FROM credsync.outbox").fetchone()
        self.since = row["id"]

    def rows(self) -> list[tuple[str, dict[str, Any]]]:
        found = self.sql.execute(
            "SELECT task, payload FROM credsync.outbox WHERE id > %s ORDER BY id", (self.since,)
        ).fetchall()
        return [(r["task"], r["payload"]) for r in found]


@pytest.fixture
def enqueued(sql: Any, triggers: migrate.Report) -> Enqueued:
    return Enqueued(sql)


def course_award(username: str, run: str = RUN) -> tuple[str, dict[str, Any]]:
    return ("award_course_certificate", {"username": username, "course_run_key": run})


def grade_check(username: str, run: str = RUN) -> tuple[str, dict[str, Any]]:
    return ("send_grade_to_credentials", {"username": username, "course_run_key": run})


def certificate_changed(username: str, run: str = RUN) -> list[tuple[str, dict[str, Any]]]:
    """What COURSE_CERT_CHANGED enqueues: the course award, then the grade check."""
    return [course_award(username, run), grade_check(username, run)]


def program_award(username: str) -> tuple[str, dict[str, Any]]:
    return ("award_program_certificates", {"username": username})


def program_revoke(username: str, run: str = RUN) -> tuple[str, dict[str, Any]]:
    return ("revoke_program_certificates", {"username": username, "course_key": run})


def course_update(run: str = RUN) -> tuple[str, dict[str, Any]]:
    return ("update_certificate_available_date_on_course_update", {"course_key": run})


# --- certificates_generatedcertificate ------------------------------------------------------------


def test_a_passing_certificate_inserted_enqueues_the_course_award_the_grade_check_then_the_program_award(
    database_url: str, platform: Platform, enqueued: Enqueued
) -> None:
    # Given a learner
    ada = platform.learner("ada")
    enqueued.mark()
    # When a downloadable certificate is inserted in one host transaction
    with host_transaction(database_url) as host:
        host.execute(
            "INSERT INTO certificates_generatedcertificate (user_id, course_id, mode, status)"
            " VALUES (%s, %s, 'verified', 'downloadable')",
            (ada["id"], RUN),
        )
    # Then the course award comes first, then the grade check, then the program award
    assert enqueued.rows() == [course_award("ada"), grade_check("ada"), program_award("ada")]


@pytest.mark.parametrize(
    ("status", "then_program_task"),
    [
        ("generating", program_award("ada")),
        ("unavailable", program_revoke("ada")),
        ("notpassing", program_revoke("ada")),
        ("unverified", program_revoke("ada")),
        ("error", None),
        ("audit_passing", None),
    ],
)
def test_a_certificate_inserted_enqueues_the_program_task_its_status_calls_for(
    database_url: str, platform: Platform, enqueued: Enqueued, status: str, then_program_task: Any
) -> None:
    # Given a learner
    ada = platform.learner("ada")
    enqueued.mark()
    # When a certificate with this status is inserted
    with host_transaction(database_url) as host:
        host.execute(
            "INSERT INTO certificates_generatedcertificate (user_id, course_id, mode, status)"
            " VALUES (%s, %s, 'verified', %s)",
            (ada["id"], RUN, status),
        )
    # Then the course award and the grade check, and the program task of that status if any
    assert enqueued.rows() == certificate_changed("ada") + ([then_program_task] if then_program_task else [])


@pytest.mark.parametrize(
    ("old", "new", "then_program_task"),
    [
        ("downloadable", "notpassing", program_revoke("ada")),
        ("downloadable", "unavailable", program_revoke("ada")),
        ("generating", "unverified", program_revoke("ada")),
        ("notpassing", "unverified", program_revoke("ada")),
        ("notpassing", "downloadable", program_award("ada")),
        ("downloadable", "downloadable", program_award("ada")),
        ("notpassing", "notpassing", None),
        ("downloadable", "error", None),
    ],
)
def test_a_certificate_updated_enqueues_the_course_award_and_the_program_task_of_the_change(
    database_url: str, platform: Platform, enqueued: Enqueued, old: str, new: str, then_program_task: Any
) -> None:
    # Given a learner's certificate with the old status
    ada = platform.learner("ada")
    certificate = platform.certificate(ada["id"], RUN, status=old)
    enqueued.mark()
    # When the host saves it with the new status (and a new modified_date)
    with host_transaction(database_url) as host:
        host.execute(
            "UPDATE certificates_generatedcertificate SET status = %s, modified_date = now() WHERE id = %s",
            (new, certificate),
        )
    # Then the course award and the grade check (every save), then the program task of the new status
    assert enqueued.rows() == certificate_changed("ada") + ([then_program_task] if then_program_task else [])


def test_a_save_that_changes_only_modified_date_still_enqueues_the_course_award_as_upstream_does(
    database_url: str, platform: Platform, enqueued: Enqueued
) -> None:
    # Given a notpassing certificate
    ada = platform.learner("ada")
    certificate = platform.certificate(ada["id"], RUN, status="notpassing")
    enqueued.mark()
    # When only its modified_date changes
    with host_transaction(database_url) as host:
        host.execute(
            "UPDATE certificates_generatedcertificate SET modified_date = now() + interval '1 minute'"
            " WHERE id = %s",
            (certificate,),
        )
    # Then only the course award and the grade check are enqueued: no second revocation
    assert enqueued.rows() == certificate_changed("ada")


def test_a_rolled_back_host_transaction_leaves_no_outbox_row(
    database_url: str, platform: Platform, enqueued: Enqueued
) -> None:
    # Given a learner
    ada = platform.learner("ada")
    enqueued.mark()
    # When a certificate is inserted and the host transaction rolls back
    with psycopg.connect(database_url) as host:
        host.execute(
            "INSERT INTO certificates_generatedcertificate (user_id, course_id, mode, status)"
            " VALUES (%s, %s, 'verified', 'downloadable')",
            (ada["id"], RUN),
        )
        host.rollback()
    # Then nothing was enqueued
    assert enqueued.rows() == []


def test_several_changes_in_one_host_transaction_enqueue_in_the_order_they_were_made(
    database_url: str, platform: Platform, enqueued: Enqueued
) -> None:
    # Given two learners
    ada = platform.learner("ada")
    bob = platform.learner("bob")
    enqueued.mark()
    # When one transaction awards ada, fails bob, then invalidates ada
    with host_transaction(database_url) as host:
        insert = (
            "INSERT INTO certificates_generatedcertificate (user_id, course_id, mode, status)"
            " VALUES (%s, %s, 'verified', %s)"
        )
        host.execute(insert, (ada["id"], RUN, "downloadable"))
        host.execute(insert, (bob["id"], RUN, "notpassing"))
        host.execute(
            "UPDATE certificates_generatedcertificate SET status = 'unavailable' WHERE user_id = %s",
            (ada["id"],),
        )
    # Then every change is there, in order, and all commit together
    assert enqueued.rows() == [
        *certificate_changed("ada"),
        program_award("ada"),
        *certificate_changed("bob"),
        program_revoke("bob"),
        *certificate_changed("ada"),
        program_revoke("ada"),
    ]


# --- certificates_certificatedateoverride -------------------------------------------------------


def test_a_date_override_inserted_updated_or_deleted_enqueues_the_course_award_and_grade_check_each_time(
    database_url: str, platform: Platform, enqueued: Enqueued
) -> None:
    # Given a learner's certificate
    ada = platform.learner("ada")
    certificate = platform.certificate(ada["id"], RUN)
    for statement, params in [
        (
            "INSERT INTO certificates_certificatedateoverride (generated_certificate_id, date)"
            " VALUES (%s, %s)",
            (certificate, JAN),
        ),
        (
            "UPDATE certificates_certificatedateoverride SET date = %s WHERE generated_certificate_id = %s",
            (FEB, certificate),
        ),
        (
            "DELETE FROM certificates_certificatedateoverride WHERE generated_certificate_id = %s",
            (certificate,),
        ),
    ]:
        enqueued.mark()
        # When the override is saved or deleted in a host transaction
        with host_transaction(database_url) as host:
            host.execute(statement, params)
        # Then the certificate's course award and grade check are enqueued, once
        assert enqueued.rows() == certificate_changed("ada"), statement


def test_a_date_override_moved_to_another_certificate_enqueues_the_course_award_of_both(
    database_url: str, platform: Platform, enqueued: Enqueued
) -> None:
    # Given an override on ada's certificate, and bob's certificate in another run
    ada = platform.learner("ada")
    bob = platform.learner("bob")
    other_run = "course-v1:edX+Other+2026"
    certificate = platform.certificate(ada["id"], RUN, date_override=JAN)
    bobs = platform.certificate(bob["id"], other_run)
    enqueued.mark()
    # When the override is moved to bob's certificate
    with host_transaction(database_url) as host:
        host.execute(
            "UPDATE certificates_certificatedateoverride SET generated_certificate_id = %s"
            " WHERE generated_certificate_id = %s",
            (bobs, certificate),
        )
    # Then bob's certificate gained one and ada's lost one: both are synced
    assert enqueued.rows() == certificate_changed("bob", other_run) + certificate_changed("ada")


def test_an_override_deleted_by_the_cascade_of_its_certificate_enqueues_nothing(
    database_url: str, platform: Platform, enqueued: Enqueued
) -> None:
    # Given a certificate with a date override
    ada = platform.learner("ada")
    certificate = platform.certificate(ada["id"], RUN, date_override=JAN)
    enqueued.mark()
    # When the certificate is deleted (its override goes with it)
    with host_transaction(database_url) as host:
        host.execute("DELETE FROM certificates_generatedcertificate WHERE id = %s", (certificate,))
    # Then nothing is enqueued: there is no certificate left to sync
    assert enqueued.rows() == []


# --- grades_persistentcoursegrade -----------------------------------------------------------------


def test_a_grade_saved_enqueues_the_grade_check_as_course_grade_changed_does(
    database_url: str, platform: Platform, enqueued: Enqueued
) -> None:
    # Given a learner
    ada = platform.learner("ada")
    enqueued.mark()
    # When the LMS persists the learner's first course grade, then recomputes it
    with host_transaction(database_url) as host:
        host.execute(
            "INSERT INTO grades_persistentcoursegrade (user_id, course_id, percent_grade, letter_grade)"
            " VALUES (%s, %s, 0.5, '')",
            (ada["id"], RUN),
        )
    with host_transaction(database_url) as host:
        host.execute(
            "UPDATE grades_persistentcoursegrade SET percent_grade = 0.81, letter_grade = 'B',"
            " modified = now() WHERE user_id = %s",
            (ada["id"],),
        )
    # Then each save enqueued the grade check (no certificate yet: the worker decides when it runs)
    assert enqueued.rows() == [grade_check("ada"), grade_check("ada")]


def test_a_grade_update_that_changes_nothing_enqueues_nothing_but_one_that_only_touches_modified_does(
    database_url: str, platform: Platform, enqueued: Enqueued
) -> None:
    # Given a learner's grade
    ada = platform.learner("ada")
    grade = platform.grade(ada["id"], RUN, percent=0.81, letter="B")
    enqueued.mark()
    # When the host writes the same row back unchanged, then only a newer modified
    with host_transaction(database_url) as host:
        host.execute(
            "UPDATE grades_persistentcoursegrade SET percent_grade = percent_grade WHERE id = %s", (grade,)
        )
    assert enqueued.rows() == []
    with host_transaction(database_url) as host:
        host.execute(
            "UPDATE grades_persistentcoursegrade SET modified = modified + interval '1 second' WHERE id = %s",
            (grade,),
        )
    # Then only the second enqueued (the grade's LMS time is part of what Credentials keeps)
    assert enqueued.rows() == [grade_check("ada")]


def test_grades_cleared_enqueue_nothing_as_upstream_sends_no_signal(
    database_url: str, platform: Platform, enqueued: Enqueued
) -> None:
    ada = platform.learner("ada")
    platform.grade(ada["id"], RUN)
    enqueued.mark()
    with host_transaction(database_url) as host:
        host.execute("DELETE FROM grades_persistentcoursegrade WHERE user_id = %s", (ada["id"],))
    assert enqueued.rows() == []


def test_a_grade_and_a_certificate_saved_in_one_transaction_enqueue_in_the_order_they_were_made(
    database_url: str, platform: Platform, enqueued: Enqueued
) -> None:
    # Given a learner
    ada = platform.learner("ada")
    enqueued.mark()
    # When the LMS grades the learner, then generates the certificate, in one transaction
    with host_transaction(database_url) as host:
        host.execute(
            "INSERT INTO grades_persistentcoursegrade (user_id, course_id, percent_grade, letter_grade)"
            " VALUES (%s, %s, 0.9, 'A')",
            (ada["id"], RUN),
        )
        host.execute(
            "INSERT INTO certificates_generatedcertificate (user_id, course_id, mode, status)"
            " VALUES (%s, %s, 'verified', 'downloadable')",
            (ada["id"], RUN),
        )
    # Then the rows are in that order, all on the learner's ordering key
    assert enqueued.rows() == [grade_check("ada"), *certificate_changed("ada"), program_award("ada")]


# --- course_overviews_courseoverview ------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("self_paced", True),
        ("certificates_display_behavior", "end_with_date"),
        ("certificate_available_date", FEB),
    ],
)
def test_a_course_run_whose_pacing_display_behaviour_or_available_date_changes_enqueues_one_update(
    database_url: str, platform: Platform, enqueued: Enqueued, column: str, value: Any
) -> None:
    # Given an instructor-paced run shown at its end, available in January
    platform.course_run(RUN, certificate_available_date=JAN, display_behavior="end")
    enqueued.mark()
    # When one of the three columns changes
    with host_transaction(database_url) as host:
        host.execute(
            pgsql.SQL("UPDATE course_overviews_courseoverview SET {} = %s WHERE id = %s").format(
                pgsql.Identifier(column)
            ),
            (value, RUN),
        )
    # Then the course update is enqueued once
    assert enqueued.rows() == [course_update()]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE course_overviews_courseoverview SET org = 'edX2' WHERE id = %(run)s",
        'UPDATE course_overviews_courseoverview SET "end" = now() WHERE id = %(run)s',
        "UPDATE course_overviews_courseoverview SET self_paced = false, certificate_available_date"
        " = certificate_available_date, certificates_display_behavior = 'end' WHERE id = %(run)s",
        "INSERT INTO course_overviews_courseoverview (id, org) VALUES ('course-v1:edX+New+2027', 'edX')",
    ],
)
def test_a_course_run_inserted_or_updated_without_a_relevant_change_enqueues_nothing(
    database_url: str, platform: Platform, enqueued: Enqueued, statement: str
) -> None:
    # Given an instructor-paced run shown at its end, available in January
    platform.course_run(RUN, certificate_available_date=JAN, display_behavior="end")
    enqueued.mark()
    # When the host inserts a run, or updates columns the certificates do not depend on
    with host_transaction(database_url) as host:
        host.execute(statement, {"run": RUN})
    # Then nothing is enqueued
    assert enqueued.rows() == []


# --- migrate ------------------------------------------------------------------------------------


def test_migrating_with_triggers_twice_keeps_one_trigger_per_table_and_enqueues_once(
    database_url: str, sql: Any, platform: Platform, triggers: migrate.Report
) -> None:
    # Given triggers installed once
    assert triggers.with_triggers
    assert triggers.reference_host
    # When migrate --reference-host --with-triggers runs again
    again = install(database_url)
    # Then each table still has exactly one credsync trigger
    assert again.applied == ()
    counts = sql.execute(
        "SELECT c.relname, count(*) AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace GROUP BY c.relname"
    ).fetchall()
    assert {r["relname"]: r["n"] for r in counts} == dict.fromkeys(HOST_TABLES, 1)
    # And a certificate saved enqueues its tasks once, not twice
    enqueued = Enqueued(sql)
    ada = platform.learner("ada")
    enqueued.mark()
    platform.certificate(ada["id"], RUN)
    assert enqueued.rows() == [*certificate_changed("ada"), program_award("ada")]


def test_with_triggers_without_the_reference_host_is_a_configuration_error(database_url: str) -> None:
    # When triggers are asked for without the reference host tables
    with pytest.raises(errors.ConfigurationError, match="--reference-host"):
        migrate.run(
            database_url, host_schema="public", tasks=tasks.REGISTRY.registrations(), with_triggers=True
        )


def test_migrate_without_triggers_installs_none(database_url: str, sql: Any) -> None:
    # When migrate --reference-host runs without --with-triggers
    report = migrate.run(
        database_url, host_schema="public", tasks=tasks.REGISTRY.registrations(), reference_host=True
    )
    # Then the host tables have no trigger
    assert report.with_triggers is False
    found = sql.execute(
        "SELECT count(*) AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace"
    ).fetchone()
    assert found == {"n": 0}


def test_triggers_in_another_host_schema_read_that_schema_and_fill_the_credsync_outbox(
    database_url: str, sql: Any
) -> None:
    # Given a host schema "lms", and a same-id user in public with another name
    sql.execute("CREATE SCHEMA lms")
    install(database_url, host_schema="lms")
    ada_id = sql.execute("INSERT INTO lms.auth_user (username) VALUES ('ada') RETURNING id").fetchone()["id"]
    sql.execute("INSERT INTO public.auth_user (id, username) VALUES (%s, 'not-ada')", (ada_id,))
    sql.execute("INSERT INTO lms.course_overviews_courseoverview (id, org) VALUES (%s, 'edX')", (RUN,))
    enqueued = Enqueued(sql)
    enqueued.mark()
    # When a host whose session search_path is public writes to the lms tables
    with host_transaction(database_url) as host:
        host.execute(
            "INSERT INTO lms.certificates_generatedcertificate (user_id, course_id, mode, status)"
            " VALUES (%s, %s, 'verified', 'downloadable')",
            (ada_id, RUN),
        )
        host.execute("UPDATE lms.course_overviews_courseoverview SET self_paced = true WHERE id = %s", (RUN,))
    # Then the rows land in credsync.outbox with the lms learner, and public has no trigger
    assert enqueued.rows() == [*certificate_changed("ada"), program_award("ada"), course_update()]
    public = sql.execute(
        "SELECT count(*) AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace"
    ).fetchone()
    assert public == {"n": 0}


def test_a_host_view_in_place_of_a_reference_table_is_refused_with_a_clear_message(
    database_url: str, sql: Any
) -> None:
    # Given a host schema exposing its course overviews as a view
    sql.execute("CREATE SCHEMA lms")
    sql.execute("CREATE TABLE lms.course_catalogue (id text PRIMARY KEY, org text NOT NULL)")
    sql.execute(
        "CREATE VIEW lms.course_overviews_courseoverview AS SELECT id, org, false AS self_paced,"
        ' NULL::timestamptz AS "end", NULL::timestamptz AS certificate_available_date,'
        " 'end'::text AS certificates_display_behavior FROM lms.course_catalogue"
    )
    # When triggers are asked for
    with pytest.raises(errors.DatabaseError, match="course_overviews_courseoverview must be a table"):
        install(database_url, host_schema="lms")


def test_no_trigger_that_fires_in_a_host_transaction_notifies(sql: Any, triggers: migrate.Report) -> None:
    # Given the host triggers and the outbox's own insert trigger
    sources = sql.execute(
        "SELECT DISTINCT p.proname, p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
        " JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE NOT t.tgisinternal AND (c.relname = ANY(%s) OR c.oid = 'credsync.outbox'::regclass)"
        " UNION SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'credsync\\_%%'",
        (list(HOST_TABLES),),
    ).fetchall()
    # Then none of them sends a NOTIFY
    assert {r["proname"] for r in sources} >= {
        "credsync_generatedcertificate_enqueue",
        "credsync_certificatedateoverride_enqueue",
        "credsync_courseoverview_enqueue",
        "credsync_persistentcoursegrade_enqueue",
        "credsync_enqueue_award_course_certificate",
        "outbox_before_insert",
    }
    for row in sources:
        # ("notify" also catches pg_notify)
        assert "notify" not in row["prosrc"].lower(), row["proname"]


def test_a_host_with_only_the_writer_role_can_save_certificates_through_the_triggers(
    database_url: str, sql: Any, platform: Platform, enqueued: Enqueued
) -> None:
    # Given a login role with credsync_writer and rights on the host tables only
    name = f"credsync_test_{uuid.uuid4().hex[:10]}"
    sql.execute(f"CREATE ROLE {name} LOGIN IN ROLE credsync_writer")
    try:
        sql.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {name}")
        sql.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {name}")
        ada = platform.learner("ada")
        enqueued.mark()
        parts = urlsplit(database_url)
        url = urlunsplit(parts._replace(netloc=f"{name}@{parts.hostname}:{parts.port or 5432}"))
        # When that host saves a certificate
        with host_transaction(url) as host:
            host.execute(
                "INSERT INTO certificates_generatedcertificate (user_id, course_id, mode, status)"
                " VALUES (%s, %s, 'verified', 'notpassing')",
                (ada["id"], RUN),
            )
        # Then its triggers enqueued with its rights
        assert enqueued.rows() == [*certificate_changed("ada"), program_revoke("ada")]
    finally:
        sql.execute(f"DROP OWNED BY {name}")
        sql.execute(f"DROP ROLE {name}")
