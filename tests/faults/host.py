"""The host's side of a fault test: course runs, certificates and their outbox rows, as a platform writes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import psycopg

from tests.platform import Platform

if TYPE_CHECKING:
    from tests.faults import harness

RUNS = ("course-v1:edX+Fault1+2026", "course-v1:edX+Fault2+2026", "course-v1:edX+Fault3+2026")
TASK = "award_course_certificate"


def certificate_status(learner_index: int, run_index: int) -> str:
    """A deterministic mix: one certificate in three is not passing (a revocation)."""
    return "notpassing" if (learner_index + run_index) % 3 == 0 else "downloadable"


def add_course_runs(system: harness.System, runs: Iterable[str] = RUNS) -> None:
    """The runs on the host, and in Credentials' catalog copy (else a course-run award answers 400)."""
    runs = list(runs)
    with system.sql() as conn:
        platform = Platform(conn)
        for run in runs:
            platform.course_run(run)
    system.emulator.add_course_runs(runs)


def awards(
    system: harness.System,
    learners: Iterable[str],
    runs: Iterable[str] = RUNS,
    *,
    status: Callable[[int, int], str] = certificate_status,
) -> list[int]:
    """As a host: per learner and run, the certificate and its outbox row in one transaction."""
    ids = []
    runs = list(runs)
    with psycopg.connect(system.url) as conn:
        platform = Platform(conn)
        for i, username in enumerate(learners):
            with conn.transaction():
                learner = platform.learner(username)
            for j, run in enumerate(runs):
                with conn.transaction():
                    platform.certificate(learner["id"], run, status=status(i, j))
                    ids.append(platform.enqueue(TASK, {"username": username, "course_run_key": run}))
    return ids


def changes(system: harness.System, changed: Iterable[tuple[str, str, str]]) -> list[int]:
    """As a host: set each (learner, run) certificate to its status, each change with its outbox row."""
    ids = []
    with psycopg.connect(system.url) as conn:
        platform = Platform(conn)
        for username, run, status in changed:
            with conn.transaction():
                conn.execute(
                    "UPDATE certificates_generatedcertificate SET status = %s, modified_date = now()"
                    " WHERE course_id = %s AND user_id = (SELECT id FROM auth_user WHERE username = %s)",
                    (status, run, username),
                )
                ids.append(platform.enqueue(TASK, {"username": username, "course_run_key": run}))
    return ids
