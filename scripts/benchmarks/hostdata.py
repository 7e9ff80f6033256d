"""A host platform for the bench: course runs, programs, learners, and a mixed backlog of outbox rows.

Every learner's certificates and outbox rows are written in host transactions (1,000 learners
each), as the LMS's certificate signals would: the rows are committed with the data they describe.
Per learner (enrolled in both runs of one program), in insert order: ``award_course_certificate``
for the two runs (every fifth learner failed the second, so Credentials gets a revocation),
``award_program_certificates``, and for every fifth learner ``revoke_program_certificates``.
About one row in a hundred is a course-date change
(``update_certificate_available_date_on_course_update``), whose handler hands a follow-up row over.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from worker.emulator import admin

PROGRAMS = 20
LEARNER_RUNS = 2 * PROGRAMS
DATE_RUNS = 200
CHUNK = 1000
DATE_TASK = "update_certificate_available_date_on_course_update"


def run_key(index: int) -> str:
    return f"course-v1:Bench+C{index:03d}+2026"


def program_uuid(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012d}"


def program_runs(index: int) -> list[str]:
    return [run_key(2 * index), run_key(2 * index + 1)]


def prepare(database_url: str, emulator: admin.EmulatorAdmin) -> None:
    """The catalog: course runs with their modes, programs in the host and in Credentials."""
    prepare_host(database_url)
    prepare_emulator(emulator)


def prepare_emulator(emulator: admin.EmulatorAdmin) -> None:
    """Credentials' catalog copy of the course runs, and the programs' certificates configured there."""
    emulator.add_course_runs([run_key(index) for index in range(DATE_RUNS)])
    for index in range(PROGRAMS):
        emulator.configure_program(program_uuid(index), active=True, course_runs=program_runs(index))


def prepare_host(database_url: str) -> None:
    """The host's catalog: sync enabled, course runs with their modes, programs."""
    ended = datetime.datetime(2026, 6, 30, tzinfo=datetime.UTC)
    available = datetime.datetime(2026, 8, 1, tzinfo=datetime.UTC)
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO credentials_credentialsapiconfig (enabled, enable_learner_issuance)"
            " VALUES (true, true)"
        )
        # The service user: its auth_user row gives the claims of the write token credsync signs.
        conn.execute(
            "INSERT INTO auth_user (username, email, is_staff) VALUES (%s, %s, true)",
            ("credentials_service_user", "credentials_service_user@lms.bench"),
        )
        for index in range(DATE_RUNS):
            with_date = index >= LEARNER_RUNS
            conn.execute(
                'INSERT INTO course_overviews_courseoverview (id, org, self_paced, "end",'
                " certificate_available_date, certificates_display_behavior)"
                " VALUES (%s, 'Bench', false, %s, %s, %s)",
                (
                    run_key(index),
                    ended,
                    available if with_date else None,
                    "end_with_date" if with_date else "end",
                ),
            )
            for slug in ("audit", "verified"):
                conn.execute(
                    "INSERT INTO course_modes_coursemode (course_id, mode_slug) VALUES (%s, %s)",
                    (run_key(index), slug),
                )
        for index in range(PROGRAMS):
            document = {
                "uuid": program_uuid(index),
                "title": f"Bench program {index}",
                "courses": [
                    {"key": f"Bench+C{2 * index + k:03d}", "course_runs": [{"key": run, "type": "verified"}]}
                    for k, run in enumerate(program_runs(index))
                ],
            }
            conn.execute(
                "INSERT INTO catalog_program (uuid, title, data) VALUES (%s, %s, %s)",
                (program_uuid(index), document["title"], Jsonb(document)),
            )


def learner_rows(n: int) -> list[tuple[str, dict[str, Any]]]:
    """The outbox rows of learner ``n``, in the order its host transaction writes them."""
    username = f"bench{n}"
    program = n % PROGRAMS
    first, second = program_runs(program)
    rows: list[tuple[str, dict[str, Any]]] = [
        ("award_course_certificate", {"username": username, "course_run_key": first}),
        ("award_course_certificate", {"username": username, "course_run_key": second}),
        ("award_program_certificates", {"username": username}),
    ]
    if n % 2 == 0:
        # The grade check COURSE_CERT_CHANGED brings (no grade row: a zero grade, as upstream sends).
        rows.append(("send_grade_to_credentials", {"username": username, "course_run_key": first}))
    if n % 5 == 0:
        rows.append(("revoke_program_certificates", {"username": username, "course_key": second}))
    return rows


def plan(rows: int, first_learner: int = 0) -> tuple[list[list[int]], int]:
    """Which learners each host transaction writes, and how many course-date rows go with them."""
    dates = min(DATE_RUNS, max(5, rows // 100))
    learners: list[int] = []
    count = 0
    n = first_learner
    while count < rows - dates:
        learners.append(n)
        count += len(learner_rows(n))
        n += 1
    chunks = [learners[i : i + CHUNK] for i in range(0, len(learners), CHUNK)] or [[]]
    return chunks, dates


@dataclasses.dataclass(frozen=True)
class Backlog:
    by_task: collections.Counter[str]
    next_learner: int


def write_backlog(database_url: str, rows: int, *, first_learner: int = 0) -> Backlog:
    """``rows`` outbox rows (mixed tasks) with their host data, learners from ``first_learner`` on."""
    chunks, dates = plan(rows, first_learner)
    by_task: collections.Counter[str] = collections.Counter()
    date_runs = iter(range(DATE_RUNS))
    with psycopg.connect(database_url) as conn:
        for index, learners in enumerate(chunks):
            # Course-date changes spread over the chunks, each on its own run (its own ordering key).
            share = dates * (index + 1) // len(chunks) - dates * index // len(chunks)
            with conn.transaction():
                outbox: list[tuple[str, dict[str, Any]]] = []
                if learners:
                    users = conn.execute(
                        "INSERT INTO auth_user (username, email)"
                        " SELECT 'bench' || n, 'bench' || n || '@example.com'"
                        " FROM unnest(%s::int[]) AS n RETURNING id, username",
                        (learners,),
                    ).fetchall()
                    ids = {username: user_id for user_id, username in users}
                    with conn.cursor().copy(
                        "COPY student_courseenrollment (user_id, course_id, mode) FROM STDIN"
                    ) as copy:
                        for n in learners:
                            for key in program_runs(n % PROGRAMS):
                                copy.write_row((ids[f"bench{n}"], key, "verified"))
                    with conn.cursor().copy(
                        "COPY certificates_generatedcertificate (user_id, course_id, mode, status) FROM STDIN"
                    ) as copy:
                        for n in learners:
                            first, second = program_runs(n % PROGRAMS)
                            user_id = ids[f"bench{n}"]
                            copy.write_row((user_id, first, "verified", "downloadable"))
                            copy.write_row(
                                (user_id, second, "verified", "notpassing" if n % 5 == 0 else "downloadable")
                            )
                    for n in learners:
                        outbox.extend(learner_rows(n))
                for _ in range(share):
                    outbox.append((DATE_TASK, {"course_key": run_key(next(date_runs))}))
                with conn.cursor().copy("COPY credsync.outbox (task, payload) FROM STDIN") as copy:
                    for task, payload in outbox:
                        copy.write_row((task, Jsonb(payload)))
                        by_task[task] += 1
    return Backlog(by_task, max((n for chunk in chunks for n in chunk), default=first_learner - 1) + 1)
