"""End to end: host transactions -> outbox -> scanner -> broker -> workers -> emulator -> rows settled.

Each test runs on Redis and on RabbitMQ (the ``system`` fixture of tests/acceptance/conftest.py).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.acceptance.conftest import System, wait_for
from tests.platform import Platform
from worker.emulator import server

RUN = "course-v1:edX+DemoX+2026"


@pytest.fixture(autouse=True)
def _catalog(emulator: server.Emulator) -> None:
    """Credentials' catalog copy knows the run (a course-run award for another run answers 400)."""
    emulator.add_course_runs([RUN])


def _host_awards(database_url: str, usernames: list[str], *, status: str = "downloadable") -> list[int]:
    """Each learner's certificate and its outbox row, written in one host transaction each."""
    ids = []
    with psycopg.connect(database_url) as conn:
        platform = Platform(conn)
        for username in usernames:
            with conn.transaction():
                learner = platform.learner(username)
                platform.certificate(learner["id"], RUN, status=status)
                ids.append(
                    platform.enqueue(
                        "award_course_certificate", {"username": username, "course_run_key": RUN}
                    )
                )
    return ids


def _rows(database_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "SELECT id, status, attempts, last_error, result, payload FROM credsync.outbox ORDER BY id"
        ).fetchall()


def _setup_platform(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        platform = Platform(conn)
        platform.enable_credentials()
        platform.course_run(RUN)


def test_rows_committed_by_a_host_end_done_and_credentials_holds_them(
    system: System, database_url: str, emulator: server.Emulator
) -> None:
    # Given a platform with Credentials enabled, and the Procfile processes running
    _setup_platform(database_url)
    system.start()
    # When a host commits 20 awards and 3 revocations, and one malformed row
    learners = [f"learner{i:02d}" for i in range(20)]
    _host_awards(database_url, learners)
    _host_awards(database_url, ["rev1", "rev2", "rev3"], status="notpassing")
    with psycopg.connect(database_url) as conn:
        bad = Platform(conn).enqueue("award_course_certificate", {"username": 42, "course_run_key": RUN})
    # Then every row settles
    wait_for(
        lambda: all(r["status"] in ("done", "failed") for r in _rows(database_url)),
        60,
        "rows to settle",
        system,
    )
    rows = {r["id"]: r for r in _rows(database_url)}
    # The malformed row failed with a message saying what is wrong; the others are done
    assert rows[bad]["status"] == "failed"
    assert "username: Input should be a valid string (got 42)" in rows[bad]["last_error"]
    assert sorted(r["status"] for i, r in rows.items() if i != bad) == ["done"] * 23
    # And Credentials holds exactly the host's truth
    held = {(c["username"], c["status"]) for c in emulator.credentials()}
    assert held == {(u, "awarded") for u in learners} | {(u, "revoked") for u in ("rev1", "rev2", "rev3")}


def test_stopping_the_procfile_runner_lets_actors_finish_and_strands_no_message(
    system: System, database_url: str, emulator: server.Emulator
) -> None:
    # Given slow Credentials answers, a long lease (so no rescue can hide a stranded message)
    _setup_platform(database_url)
    emulator.add_fault(
        server.Fault(method="POST", path_prefix="/api/v2/credentials/", action="latency", latency_ms=300)
    )
    system.env["CREDSYNC_LEASE_S"] = "600"
    system.start()
    learners = [f"slow{i:02d}" for i in range(40)]
    _host_awards(database_url, learners)
    wait_for(
        lambda: sum(r["status"] == "done" for r in _rows(database_url)) >= 5, 60, "some rows done", system
    )
    # When the runner is stopped mid-drain (honcho signals the whole process group)
    took = system.stop()
    # Then every process exited in time, and no row was left running
    assert system.survivors() == [], system.output()[-4000:]
    assert took < 15, f"stopping took {took:.1f} s"
    statuses = [r["status"] for r in _rows(database_url)]
    assert "running" not in statuses
    # And after a restart every row finishes without any rescue: the unfinished rows' messages
    # were requeued, not stranded
    system.start()
    wait_for(
        lambda: all(r["status"] == "done" for r in _rows(database_url)),
        90,
        "all rows done after restart",
        system,
    )
    assert all(r["attempts"] == 1 for r in _rows(database_url))
    assert {c["username"] for c in emulator.credentials()} == set(learners)


def test_while_credentials_is_disabled_rows_wait_and_then_proceed(
    system: System, database_url: str, emulator: server.Emulator
) -> None:
    # Given Credentials disabled in the host config
    with psycopg.connect(database_url, autocommit=True) as conn:
        platform = Platform(conn)
        platform.enable_credentials(enabled=False)
        platform.course_run(RUN)
    system.start()
    ids = _host_awards(database_url, ["ada", "bob"])
    # When the scanner has had time to see them
    wait_for(lambda: "processing paused" in system.output(), 30, "the scanner to report the pause", system)
    # Then nothing was claimed, attempted or sent
    assert [(r["status"], r["attempts"]) for r in _rows(database_url)] == [("pending", 0)] * len(ids)
    assert emulator.credentials() == []
    # And once it is enabled, they proceed
    with psycopg.connect(database_url, autocommit=True) as conn:
        Platform(conn).enable_credentials()
    wait_for(lambda: all(r["status"] == "done" for r in _rows(database_url)), 30, "rows done", system)
    assert {c["username"] for c in emulator.credentials()} == {"ada", "bob"}


def test_programs_are_awarded_and_revoked_and_course_dates_reach_credentials(
    system: System, database_url: str, emulator: server.Emulator
) -> None:
    # Given a program of two runs, configured in Credentials, and learners who finish both runs
    second = "course-v1:edX+Python101+2026"
    program = "6f0c3f4e-8a57-4d4e-9f6e-000000000001"
    emulator.configure_program(program, active=True, course_runs=[RUN, second])
    with psycopg.connect(database_url, autocommit=True) as conn:
        platform = Platform(conn)
        platform.enable_credentials()
        platform.course_run(RUN, display_behavior="end_with_date", modes=("audit", "verified"))
        platform.course_run(second)
        platform.program(
            program,
            "Data",
            {
                "courses": [
                    {"key": "edX+DemoX", "course_runs": [{"key": RUN, "type": "verified"}]},
                    {"key": "edX+Python101", "course_runs": [{"key": second, "type": "verified"}]},
                ]
            },
        )
    system.start()
    learners = ["ada", "bob"]
    with psycopg.connect(database_url) as conn:
        platform = Platform(conn)
        for username in learners:
            with conn.transaction():
                learner = platform.learner(username)
                for run in (RUN, second):
                    platform.enroll(learner["id"], run)
                    platform.certificate(learner["id"], run)
                    platform.enqueue(
                        "award_course_certificate", {"username": username, "course_run_key": run}
                    )
                platform.enqueue("award_program_certificates", {"username": username})
        with conn.transaction():
            conn.execute(
                "UPDATE course_overviews_courseoverview SET certificate_available_date = '2026-09-01Z'"
                " WHERE id = %s",
                (RUN,),
            )
            platform.enqueue("update_certificate_available_date_on_course_update", {"course_key": RUN})
    settled = lambda: all(r["status"] in ("done", "failed") for r in _rows(database_url))  # noqa: E731
    wait_for(settled, 60, "the first wave to settle", system)
    # Then both learners hold the program, and the run's certificate date reached Credentials
    assert {
        (c["username"], c["status"]) for c in emulator.credentials() if c["credential"]["type"] == "program"
    } == {("ada", "awarded"), ("bob", "awarded")}
    configuration = next(
        c
        for c in emulator.course_certificates()
        if c["course_id"] == RUN and c["certificate_type"] == "verified"
    )
    assert configuration["certificate_available_date"] == "2026-09-01T00:00:00Z"
    # When ada's certificate is invalidated (COURSE_CERT_CHANGED and COURSE_CERT_REVOKED)
    with psycopg.connect(database_url) as conn:
        platform = Platform(conn)
        with conn.transaction():
            conn.execute(
                "UPDATE certificates_generatedcertificate SET status = 'notpassing'"
                " WHERE course_id = %s AND user_id = (SELECT id FROM auth_user WHERE username = 'ada')",
                (RUN,),
            )
            platform.enqueue("award_course_certificate", {"username": "ada", "course_run_key": RUN})
            platform.enqueue("revoke_program_certificates", {"username": "ada", "course_key": RUN})
    wait_for(settled, 60, "the revocation to settle", system)
    # Then her program and course certificates are revoked, bob's are untouched, and no row failed
    held = {
        (c["username"], c["credential"]["type"], c["credential"].get("course_run_key")): c["status"]
        for c in emulator.credentials()
    }
    assert held[("ada", "program", None)] == "revoked"
    assert held[("ada", "course-run", RUN)] == "revoked"
    assert held[("bob", "program", None)] == "awarded"
    assert [r for r in _rows(database_url) if r["status"] == "failed"] == []
