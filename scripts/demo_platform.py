"""The demo's sample platform and its progress display (used by scripts/demo).

``load``: writes a few dozen learners' grades and certificates into the reference host tables, each
with its outbox rows in the same transaction, as the LMS's grade and certificate signals would.
``watch``: shows the sync state from SQL until every row is settled, then the summary, failures and timings.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import sys
import time
import urllib.request
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from worker.emulator import admin

DEMO_X = "course-v1:edX+DemoX+2026"
PYTHON = "course-v1:edX+Python101+2026_T1"
CIRCUITS = "course-v1:MITx+6.002x+2026"
RUNS = {DEMO_X: "verified", PYTHON: "verified", CIRCUITS: "professional"}
PROGRAMS = [
    # (uuid, title, [(course key, [(run key, run type)])])
    (
        "0b0e5c1e-5d0a-4c52-9f1e-7d1a3c0f0001",
        "Data Science Essentials",
        [("edX+DemoX", [(DEMO_X, "verified")]), ("edX+Python101", [(PYTHON, "verified")])],
    ),
    (
        "0b0e5c1e-5d0a-4c52-9f1e-7d1a3c0f0002",
        "Circuits and Electronics",
        [("MITx+6.002x", [(CIRCUITS, "professional")])],
    ),
    (
        "0b0e5c1e-5d0a-4c52-9f1e-7d1a3c0f0003",
        "Full Stack Engineering",
        [("edX+Python101", [(PYTHON, "verified")]), ("edX+WebX", [("course-v1:edX+WebX+2027", "verified")])],
    ),
]
LEARNERS = 36
SERVICE_USERNAME = "credentials_service_user"


def load(database_url: str, emulator_url: str, seed: int) -> int:
    """Write the sample platform; every sync-worthy change commits its outbox rows with it."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    with admin.EmulatorAdmin(emulator_url) as credentials:
        # Credentials' catalog copy (synced from the catalog service) knows the course runs, and
        # the program certificates are configured there.
        credentials.add_course_runs(sorted(RUNS))
        for uuid, _, courses in PROGRAMS:
            credentials.configure_program(
                uuid, active=True, course_runs=[r for _, runs in courses for r, _ in runs]
            )
    rows = 0
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        with conn.transaction():
            conn.execute(
                "INSERT INTO credentials_credentialsapiconfig (enabled, enable_learner_issuance)"
                " VALUES (true, true)"
            )
            # The LMS's Credentials service user: its row gives the claims of credsync's write token.
            conn.execute(
                "INSERT INTO auth_user (username, email, is_staff) VALUES (%s, %s, true)",
                (SERVICE_USERNAME, f"{SERVICE_USERNAME}@lms.example.com"),
            )
            for key, mode in RUNS.items():
                org = key.removeprefix("course-v1:").split("+")[0]
                end = datetime.datetime(2026, 6, 30, tzinfo=datetime.UTC)
                conn.execute(
                    'INSERT INTO course_overviews_courseoverview (id, org, self_paced, "end",'
                    " certificates_display_behavior) VALUES (%s, %s, false, %s, 'end')",
                    (key, org, end),
                )
                for slug in ("audit", mode):
                    conn.execute(
                        "INSERT INTO course_modes_coursemode (course_id, mode_slug) VALUES (%s, %s)",
                        (key, slug),
                    )
            for uuid, title, courses in PROGRAMS:
                document = {
                    "uuid": uuid,
                    "title": title,
                    "courses": [
                        {"key": course, "course_runs": [{"key": run, "type": kind} for run, kind in runs]}
                        for course, runs in courses
                    ],
                }
                conn.execute(
                    "INSERT INTO catalog_program (uuid, title, data) VALUES (%s, %s, %s)",
                    (uuid, title, Jsonb(document)),
                )
        users: dict[str, int] = {}
        for n in range(1, LEARNERS + 1):
            username = f"learner{n:02d}"
            with conn.transaction():  # the learner signs up
                user = conn.execute(
                    "INSERT INTO auth_user (username, email) VALUES (%s, %s) RETURNING id",
                    (username, f"{username}@example.com"),
                ).fetchone()
                assert user is not None
                users[username] = user["id"]
            if n <= 12:  # completes Data Science Essentials
                runs = [DEMO_X, PYTHON]
            elif n <= 24:
                runs = rng.sample(sorted(RUNS), rng.randint(1, 3))
            else:  # Circuits learners, some with no-id-professional certificates
                runs = [CIRCUITS]
            for key in runs:
                mode = RUNS[key]
                if n > 24 and n % 2:
                    mode = "no-id-professional"
                elif 12 < n <= 24 and rng.random() < 0.15:
                    mode = "audit"
                status = "notpassing" if 12 < n <= 24 and rng.random() < 0.15 else "downloadable"
                rows += _certificate_saved(conn, rng, users[username], username, key, mode, status)
        with conn.transaction():
            # A learner graded in a run but without a certificate there: the grade is not sent
            # (done, skipped: no_certificate), as upstream's gate decides.
            rows += _grade_saved(conn, rng, users["learner05"], "learner05", CIRCUITS)
        with conn.transaction():
            # What a host gets wrong now and then: they end done (skipped) or failed, never stuck.
            _enqueue(conn, "award_course_certificate", {"username": "ghost", "course_run_key": DEMO_X})
            _enqueue(
                conn, "award_course_certificate", {"username": "learner01", "course_run_key": "not-a-key"}
            )
            _enqueue(conn, "award_course_certificate", {"username": 1234, "course_run_key": DEMO_X})
            rows += 3
    return rows


def change(database_url: str) -> int:
    """Later: certificates invalidated, grades recomputed and course dates changed, each with its rows."""
    rows = 0
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        users = {
            r["username"]: r["id"]
            for r in conn.execute(
                "SELECT id, username FROM auth_user WHERE username LIKE 'learner%%'"
            ).fetchall()
        }
        for username in ("learner01", "learner02", "learner03"):
            # The certificate is invalidated: COURSE_CERT_CHANGED and COURSE_CERT_REVOKED.
            with conn.transaction():
                conn.execute(
                    "UPDATE certificates_generatedcertificate SET status = 'notpassing',"
                    " modified_date = now() WHERE user_id = %s AND course_id = %s",
                    (users[username], DEMO_X),
                )
                _enqueue(conn, "award_course_certificate", {"username": username, "course_run_key": DEMO_X})
                _enqueue(conn, "send_grade_to_credentials", {"username": username, "course_run_key": DEMO_X})
                _enqueue(conn, "revoke_program_certificates", {"username": username, "course_key": DEMO_X})
                rows += 3
        for username in ("learner04", "learner05", "learner06"):
            # A regrade (a rescored problem): COURSE_GRADE_CHANGED sends the learner's new grade.
            with conn.transaction():
                conn.execute(
                    "UPDATE grades_persistentcoursegrade"
                    " SET percent_grade = least(1.0, percent_grade + 0.05), modified = now()"
                    " WHERE user_id = %s AND course_id = %s",
                    (users[username], PYTHON),
                )
                _enqueue(conn, "send_grade_to_credentials", {"username": username, "course_run_key": PYTHON})
                rows += 1
        for key, behavior, date in (
            (DEMO_X, "end_with_date", datetime.datetime(2026, 7, 15, 12, tzinfo=datetime.UTC)),
            (CIRCUITS, "early_no_info", None),
        ):
            with (
                conn.transaction()
            ):  # Studio changes the certificate display behaviour: COURSE_CERT_DATE_CHANGE
                conn.execute(
                    "UPDATE course_overviews_courseoverview SET certificates_display_behavior = %s,"
                    " certificate_available_date = %s WHERE id = %s",
                    (behavior, date, key),
                )
                _enqueue(conn, "update_certificate_available_date_on_course_update", {"course_key": key})
                rows += 1
    return rows


def _certificate_saved(
    conn: psycopg.Connection[Any],
    rng: random.Random,
    user_id: int,
    username: str,
    key: str,
    mode: str,
    status: str,
) -> int:
    """A certificate saved, as the LMS does it: enrollment, course grade and certificate, with their
    outbox rows."""
    rows = _grade_saved(conn, rng, user_id, username, key, passed=status == "downloadable")
    with conn.transaction():
        conn.execute(
            "INSERT INTO student_courseenrollment (user_id, course_id, mode) VALUES (%s, %s, %s)",
            (user_id, key, mode),
        )
        cert = conn.execute(
            "INSERT INTO certificates_generatedcertificate (user_id, course_id, mode, status)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            (user_id, key, mode, status),
        ).fetchone()
        assert cert is not None
        if rng.random() < 0.1:
            conn.execute(
                "INSERT INTO certificates_certificatedateoverride"
                " (generated_certificate_id, date) VALUES (%s, now() + interval '30 days')",
                (cert["id"],),
            )
        # COURSE_CERT_CHANGED on every save (the course award and the grade check);
        # COURSE_CERT_AWARDED when it is passing.
        _enqueue(conn, "award_course_certificate", {"username": username, "course_run_key": key})
        _enqueue(conn, "send_grade_to_credentials", {"username": username, "course_run_key": key})
        if status in ("downloadable", "generating"):
            _enqueue(conn, "award_program_certificates", {"username": username})
            return rows + 3
    return rows + 2


def _grade_saved(
    conn: psycopg.Connection[Any],
    rng: random.Random,
    user_id: int,
    username: str,
    key: str,
    *,
    passed: bool = True,
) -> int:
    """The LMS persists a course grade (COURSE_GRADE_CHANGED), with its outbox row."""
    percent = round(rng.uniform(0.7, 1.0) if passed else rng.uniform(0.1, 0.6), 2)
    letter = "Pass" if passed else ""
    with conn.transaction():
        conn.execute(
            "INSERT INTO grades_persistentcoursegrade (user_id, course_id, percent_grade, letter_grade)"
            " VALUES (%s, %s, %s, %s)",
            (user_id, key, percent, letter),
        )
        _enqueue(conn, "send_grade_to_credentials", {"username": username, "course_run_key": key})
    return 1


def _enqueue(conn: psycopg.Connection[Any], task: str, payload: dict[str, Any]) -> None:
    conn.execute("INSERT INTO credsync.outbox (task, payload) VALUES (%s, %s)", (task, Jsonb(payload)))


def watch(database_url: str, timeout_s: float, emulator_url: str, *, report: bool = True) -> int:
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database_url, row_factory=dict_row, autocommit=True) as conn:
        while True:
            counts = {
                r["status"]: r["n"]
                for r in conn.execute(
                    "SELECT status, count(*) AS n FROM credsync.outbox GROUP BY status"
                ).fetchall()
            }
            line = "  ".join(
                f"{s}={counts.get(s, 0)}"
                for s in ("pending", "enqueued", "running", "retrying", "done", "failed")
            )
            print(f"\r  {line}   ", end="", flush=True)
            unsettled = sum(n for s, n in counts.items() if s not in ("done", "failed"))
            if unsettled == 0 and counts:
                print()
                break
            if time.monotonic() > deadline:
                print(
                    f"\ncredsync demo: {unsettled} rows still unsettled after {timeout_s:.0f} s",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.5)
        if report:
            _report(conn, emulator_url)
    return 0


def _report(conn: psycopg.Connection[Any], emulator_url: str) -> None:
    print("\nSync state (SELECT * FROM credsync.outbox_summary):")
    _table(
        conn.execute(
            "SELECT task, status, rows FROM credsync.outbox_summary ORDER BY task, status"
        ).fetchall()
    )
    print("\nOutcomes of done rows (result->>'outcome', and the reason or what was sent):")
    _table(
        conn.execute(
            "SELECT task, result->>'outcome' AS outcome,"
            " coalesce(result->>'reason', result->>'status', CASE"
            "   WHEN result ? 'awarded' THEN 'programs awarded: ' || jsonb_array_length(result->'awarded')"
            "   WHEN result ? 'revoked' THEN 'programs revoked: ' || jsonb_array_length(result->'revoked')"
            "   WHEN result ? 'subtask' THEN 'subtask row inserted'"
            "   WHEN result ? 'percent_grade' THEN 'grade sent'"
            "   ELSE 'configuration sent' END) AS detail,"
            " count(*) AS rows FROM credsync.outbox WHERE status = 'done' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).fetchall()
    )
    print("\nFailed rows (SELECT id, task, last_error FROM credsync.outbox_failed):")
    _table(
        conn.execute(
            "SELECT id, task, attempts, last_error FROM credsync.outbox_failed ORDER BY id"
        ).fetchall()
    )
    pickup = "extract(epoch FROM started_at - created_at) * 1000"
    timing = conn.execute(
        f"SELECT count(*) AS rows,"
        f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {pickup}) AS p50_ms,"
        f" percentile_cont(0.95) WITHIN GROUP (ORDER BY {pickup}) AS p95_ms"
        " FROM credsync.outbox WHERE attempts = 1"
    ).fetchone()
    assert timing is not None
    with urllib.request.urlopen(f"{emulator_url}/_emulator/credentials", timeout=5) as answer:  # noqa: S310 - local
        held = json.load(answer)
    credentials = held if isinstance(held, list) else held.get("credentials", [])
    held_rows: dict[tuple[str, str], int] = {}
    for credential in credentials:
        key = (credential["credential"]["type"], credential["status"])
        held_rows[key] = held_rows.get(key, 0) + 1
    with urllib.request.urlopen(f"{emulator_url}/_emulator/course-certificates", timeout=5) as answer:  # noqa: S310
        found = json.load(answer)
    configurations = found if isinstance(found, list) else found.get("course_certificates", [])
    with urllib.request.urlopen(f"{emulator_url}/_emulator/grades", timeout=5) as answer:  # noqa: S310 - local
        grades = json.load(answer)
    by_run: dict[str, int] = {}
    for grade in grades if isinstance(grades, list) else []:
        by_run[grade["course_run"]] = by_run.get(grade["course_run"], 0) + 1
    print("\nWhat the Credentials emulator now holds:")
    _table(
        [
            {"what": f"{kind} credentials", "detail": status, "count": n}
            for (kind, status), n in sorted(held_rows.items())
        ]
        + [
            {
                "what": "course certificate configuration",
                "detail": f"{c['course_id']} ({c['certificate_type']})",
                "count": f"available {c['certificate_available_date'] or 'at once'}",
            }
            for c in configurations
        ]
        + [{"what": "learner grades", "detail": run, "count": n} for run, n in sorted(by_run.items())]
    )
    print(
        f"\nPickup latency (commit -> running, during the demo's bursts): p50 {timing['p50_ms']:.0f} ms,"
        f" p95 {timing['p95_ms']:.0f} ms over {timing['rows']} first attempts."
    )


def _table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("  (none)")
        return
    columns = list(rows[0])
    cells = [[str(r[c]) if r[c] is not None else "" for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  " + "  ".join(v[:100].ljust(w) for v, w in zip(row, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=("load", "change", "watch"))
    parser.add_argument("--quiet", action="store_true", help="watch: no report at the end")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    database_url = os.environ["DATABASE_URL"]
    if args.action == "load":
        written = load(database_url, os.environ["CREDENTIALS_URL"], args.seed)
        print(f"  {written} outbox rows committed by host transactions")
        return 0
    if args.action == "change":
        print(f"  {change(database_url)} outbox rows committed by host transactions")
        return 0
    return watch(database_url, args.timeout, os.environ["CREDENTIALS_URL"], report=not args.quiet)


if __name__ == "__main__":
    raise SystemExit(main())
