"""Claim time against the size of the finished history: does a big ``done`` table slow the claim?

For each size (ascending, cumulative), the outbox is filled up to that many finished rows, vacuumed
and analyzed (as autovacuum would), then credsync's real ``Outbox.claim_due`` claims batches from a
pending backlog inserted after them, the newest rows, as in production. Between two claims the rows
just claimed are marked done (untimed), as workers would, so every claim sees the same few rows in
flight. ``history.claim_ms`` is the median per size; ``history.ratio`` the largest size's over the
empty table's.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import psycopg

from benchmarks import env
from worker import db
from worker.ops import doctor
from worker.outbox import repository

#: Finished rows written per statement: big enough to be fast, small enough for modest WAL bursts.
FILL_CHUNK = 500_000
#: Unmeasured claims before each measurement (plan cache, buffers).
WARMUP_CLAIMS = 2
#: Measured claims per size; the figure is their median.
SAMPLES = 15

#: Finished rows as years of use leave them: every task, many learners and course runs, mostly
#: done (sent or skipped), 1 in 101 failed, finished over the past week (failed: month), a few
#: retried. Written with the insert trigger disabled (it would force them pending), so the trigger's
#: columns (ordering_key) are set here the way it sets them.
HISTORY_SQL = """
INSERT INTO credsync.outbox
    (task, payload, ordering_key, status, attempts, created_at, run_after, enqueued_at, started_at,
     finished_at, last_error, result)
SELECT task,
       CASE WHEN kind < 5 THEN jsonb_build_object('username', learner, 'course_run_key', run)
            WHEN kind < 7 THEN jsonb_build_object('username', learner)
            WHEN kind = 7 THEN jsonb_build_object('username', learner, 'course_key', run)
            WHEN kind = 8 THEN jsonb_build_object('course_key', run)
            ELSE jsonb_build_object('course_key', run, 'certificate_available_date', '2026-09-01T00:00:00Z')
       END,
       CASE WHEN kind < 8 THEN 'learner:' || learner ELSE 'course:' || run END,
       CASE WHEN failed THEN 'failed' ELSE 'done' END,
       CASE WHEN n %% 37 = 0 THEN 3 ELSE 1 END,
       finished_at - interval '4 s', finished_at - interval '4 s', finished_at - interval '3 s',
       finished_at - interval '1 s', finished_at,
       CASE WHEN failed THEN 'Credentials answered 400: {"detail": "invalid course run"}' END,
       CASE WHEN failed THEN NULL
            WHEN kind = 8 THEN '{"outcome": "enqueued", "subtask":
                                 "update_credentials_course_certificate_configuration_available_date"}'::jsonb
            WHEN n %% 5 = 0 THEN '{"outcome": "skipped", "reason": "no_certificate",
                                   "message": "the learner has no certificate for this run"}'::jsonb
            ELSE jsonb_build_object('outcome', 'sent', 'status', 'awarded', 'mode', 'verified',
                                    'credential_id', n) END
FROM (
    SELECT n, kind, failed,
           CASE WHEN kind < 5 THEN 'award_course_certificate'
                WHEN kind < 7 THEN 'award_program_certificates'
                WHEN kind = 7 THEN 'revoke_program_certificates'
                WHEN kind = 8 THEN 'update_certificate_available_date_on_course_update'
                ELSE 'update_credentials_course_certificate_configuration_available_date' END AS task,
           'learner' || (n %% 200000) AS learner,
           'course-v1:edX+C' || (n %% 500) || '+2026' AS run,
           now() - make_interval(secs => (n * 7919) %% CASE WHEN failed THEN 2592000 ELSE 604800 END)
               AS finished_at
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n,
         LATERAL (SELECT n %% 10 AS kind, n %% 101 = 0 AS failed) AS k
) AS h
"""

#: The pending backlog the claims take: new rows through the insert trigger, one learner each.
BACKLOG_SQL = """
INSERT INTO credsync.outbox (task, payload)
SELECT 'award_course_certificate',
       jsonb_build_object('username', 'new' || n, 'course_run_key', 'course-v1:edX+C1+2026')
FROM generate_series(1, %(rows)s) AS n
RETURNING id
"""


def measure(database_url: str, *, sizes: Sequence[int], batch: int = 500) -> dict[str, Any]:
    """Claim time per batch with each number of finished rows in the table (sizes ascending, e.g. 0, 1M, 5M).

    Leaves ``credsync.outbox`` empty.
    """
    if list(sizes) != sorted(sizes) or not sizes:
        raise ValueError(f"sizes must be ascending and not empty: {list(sizes)}")
    database = db.Database(
        database_url, host_schema="public", max_size=2, application_name="credsync-bench-history"
    )
    outbox = repository.Outbox(database, lease_s=30)
    claim_ms: dict[str, float] = {}
    spread: dict[str, list[float]] = {}
    fill_s: dict[str, float] = {}
    vacuum_s: dict[str, float] = {}
    plans: dict[str, dict[str, Any]] = {}
    try:
        with env.connect(database_url) as sql:
            sql.execute("TRUNCATE credsync.outbox CASCADE")
            filled = 0
            for size in sizes:
                key = str(size)
                started = time.perf_counter()
                _fill(sql, filled, size)
                fill_s[key] = round(time.perf_counter() - started, 1)
                filled = size
                started = time.perf_counter()
                sql.execute("VACUUM ANALYZE credsync.outbox")
                vacuum_s[key] = round(time.perf_counter() - started, 1)
                samples, plan = _claims(sql, outbox, batch)
                claim_ms[key] = round(statistics.median(samples), 2)
                spread[key] = [round(min(samples), 2), round(max(samples), 2)]
                plans[key] = {
                    "indexes": sorted(plan.indexes),
                    "buffers": plan.buffers,
                    "seq_scan_rows": plan.seq_scan_rows,
                }
            sql.execute("TRUNCATE credsync.outbox CASCADE")
    finally:
        database.close()
    empty, largest = claim_ms[str(sizes[0])], claim_ms[str(sizes[-1])]
    return {
        "history.sizes": list(sizes),
        "history.batch": batch,
        "history.claim_ms": claim_ms,
        "history.claim_ms_min_max": spread,
        "history.ratio": round(largest / empty, 2) if empty else None,
        "history.fill_s": fill_s,
        "history.vacuum_analyze_s": vacuum_s,
        "history.plan": plans,
    }


def _fill(sql: psycopg.Connection[Any], have: int, want: int) -> None:
    """Add finished rows ``have + 1 .. want``, in chunks, with the insert trigger off meanwhile."""
    if want <= have:
        return
    sql.execute("ALTER TABLE credsync.outbox DISABLE TRIGGER outbox_before_insert")
    try:
        for first in range(have + 1, want + 1, FILL_CHUNK):
            last = min(first + FILL_CHUNK - 1, want)
            sql.execute(HISTORY_SQL, {"first": first, "last": last})
    finally:
        sql.execute("ALTER TABLE credsync.outbox ENABLE TRIGGER outbox_before_insert")


def _claims(
    sql: psycopg.Connection[Any], outbox: repository.Outbox, batch: int
) -> tuple[list[float], doctor.ClaimPlan]:
    """ms of each measured claim of one full batch, and the plan of one; the backlog is deleted after."""
    backlog = [r[0] for r in sql.execute(BACKLOG_SQL, {"rows": (WARMUP_CLAIMS + SAMPLES + 1) * batch})]
    samples: list[float] = []
    plan: doctor.ClaimPlan | None = None
    try:
        for n in range(WARMUP_CLAIMS + SAMPLES):
            if n == WARMUP_CLAIMS:
                plan = doctor.parse_claim_plan(outbox.explain_claim(batch=batch, max_in_flight=10 * batch))
            started = time.perf_counter()
            # Back-pressure cannot stop it: at most one batch is ever in flight here.
            claimed = outbox.claim_due(batch=batch, max_in_flight=10 * batch)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if len(claimed) != batch:
                raise RuntimeError(f"a claim took {len(claimed)} rows, not a full batch of {batch}")
            if n >= WARMUP_CLAIMS:
                samples.append(elapsed_ms)
            sql.execute(
                "UPDATE credsync.outbox SET status = 'done', finished_at = now(), lease_until = NULL,"
                ' result = \'{"outcome": "sent"}\' WHERE id = ANY(%s)',
                ([r.id for r in claimed],),
            )
    finally:
        sql.execute("DELETE FROM credsync.outbox WHERE id >= %s", (min(backlog),))
    assert plan is not None
    return samples, plan
