"""End to end through the Procfile processes: grades, ``credsync notify`` and the course-date backfill.

Each test runs on Redis and on RabbitMQ (the ``system`` fixture of tests/acceptance/conftest.py).
"""

from __future__ import annotations

import subprocess
from typing import Any

import psycopg
import psycopg.rows

from tests.acceptance.conftest import System, wait_for
from tests.platform import Platform
from tests.system import processes
from worker.emulator import server

RUN = "course-v1:edX+DemoX+2026"
PROGRAM = "6f0c3f4e-8a57-4d4e-9f6e-000000000002"


def _rows(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT task, status, result FROM credsync.outbox ORDER BY id").fetchall()


def _credsync(system: System, *argv: str) -> str:
    done = subprocess.run(
        [processes.CREDSYNC, *argv], env=system.env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_grades_notify_and_the_course_date_backfill_reach_credentials(
    system: System, database_url: str, emulator: server.Emulator
) -> None:
    # Given a program's run known to Credentials, and two learners with a certificate and a grade
    emulator.configure_program(PROGRAM, active=True, course_runs=[RUN])
    with psycopg.connect(database_url, autocommit=True) as conn:
        platform = Platform(conn)
        platform.enable_credentials()
        platform.course_run(RUN)
        platform.program(
            PROGRAM,
            "Data",
            {"courses": [{"key": "edX+DemoX", "course_runs": [{"key": RUN, "type": "verified"}]}]},
        )
        ada, bob = platform.learner("ada"), platform.learner("bob")
        platform.certificate(ada["id"], RUN)
        platform.certificate(bob["id"], RUN, status="notpassing")
        platform.grade(bob["id"], RUN, percent=0.2, letter="")
    system.start()
    # When ada's grade is saved with its outbox row, in one host transaction
    with psycopg.connect(database_url) as conn, conn.transaction():
        platform = Platform(conn)
        platform.grade(ada["id"], RUN, percent=0.9, letter="A")
        platform.enqueue("send_grade_to_credentials", {"username": "ada", "course_run_key": RUN})
    settled = lambda: all(r["status"] in ("done", "failed") for r in _rows(database_url))  # noqa: E731
    wait_for(lambda: bool(_rows(database_url)) and settled(), 60, "the grade row to settle", system)
    # Then Credentials holds ada's grade, as the row says it sent
    assert [(g["username"], g["course_run"], g["percent_grade"]) for g in emulator.grades()] == [
        ("ada", RUN, "0.9000")
    ]
    # When the operator re-sends the run's history, and backfills the course dates
    summary = _credsync(system, "notify", "--courses", RUN)
    _credsync(system, "backfill", "--course-dates")
    wait_for(settled, 60, "the notify and backfill rows to settle", system)
    # Then both learners' grades and ada's certificate are in Credentials, the run's certificate
    # date was configured, and every row ended done
    assert "enqueued" in summary
    grades = {g["username"]: (g["percent_grade"], g["verified"]) for g in emulator.grades()}
    assert grades == {"ada": ("0.9000", True), "bob": ("0.2000", True)}
    assert {(c["username"], c["status"]) for c in emulator.credentials()} >= {("ada", "awarded")}
    assert any(c["course_id"] == RUN for c in emulator.course_certificates())
    rows = _rows(database_url)
    assert {r["status"] for r in rows} == {"done"}, rows
    tasks = {r["task"] for r in rows}
    assert {
        "send_grade_to_credentials",
        "award_course_certificate",
        "update_certificate_available_date_on_course_update",
    } <= tasks
