"""The demo's sample platform and its progress display (used by scripts/demo).

``load``: writes a few dozen learners' certificates into the reference host tables, each with its
outbox row in the same transaction, as the LMS's certificate signals would. ``watch``: shows the
sync state from SQL until every row is settled, then the summary, failures and timings.
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

RUNS = {
    "course-v1:edX+DemoX+2026": "verified",
    "course-v1:edX+Python101+2026_T1": "verified",
    "course-v1:MITx+6.002x+2026": "professional",
}
LEARNERS = 36


def load(database_url: str, seed: int) -> int:
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    rows = 0
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        with conn.transaction():
            conn.execute(
                "INSERT INTO credentials_credentialsapiconfig (enabled, enable_learner_issuance)"
                " VALUES (true, true)"
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
        for n in range(1, LEARNERS + 1):
            username = f"learner{n:02d}"
            with conn.transaction():  # the learner signs up
                user = conn.execute(
                    "INSERT INTO auth_user (username, email) VALUES (%s, %s) RETURNING id",
                    (username, f"{username}@example.com"),
                ).fetchone()
                assert user is not None
            for key in rng.sample(sorted(RUNS), rng.randint(1, 3)):
                mode = "audit" if rng.random() < 0.1 else RUNS[key]
                status = "notpassing" if rng.random() < 0.15 else "downloadable"
                with conn.transaction():  # a certificate is saved: COURSE_CERT_CHANGED -> one outbox row
                    cert = conn.execute(
                        "INSERT INTO certificates_generatedcertificate (user_id, course_id, mode, status)"
                        " VALUES (%s, %s, %s, %s) RETURNING id",
                        (user["id"], key, mode, status),
                    ).fetchone()
                    assert cert is not None
                    if rng.random() < 0.1:
                        conn.execute(
                            "INSERT INTO certificates_certificatedateoverride"
                            " (generated_certificate_id, date) VALUES (%s, now() + interval '30 days')",
                            (cert["id"],),
                        )
                    _enqueue(conn, "award_course_certificate", {"username": username, "course_run_key": key})
                    rows += 1
        with conn.transaction():
            # What a host gets wrong now and then: they end done (skipped) or failed, never stuck.
            _enqueue(
                conn, "award_course_certificate", {"username": "ghost", "course_run_key": sorted(RUNS)[0]}
            )
            _enqueue(
                conn, "award_course_certificate", {"username": "learner01", "course_run_key": "not-a-key"}
            )
            _enqueue(conn, "award_course_certificate", {"username": 1234, "course_run_key": sorted(RUNS)[0]})
            rows += 3
    return rows


def _enqueue(conn: psycopg.Connection[Any], task: str, payload: dict[str, Any]) -> None:
    conn.execute("INSERT INTO credsync.outbox (task, payload) VALUES (%s, %s)", (task, Jsonb(payload)))


def watch(database_url: str, timeout_s: float, emulator_url: str) -> int:
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
        _report(conn, emulator_url)
    return 0


def _report(conn: psycopg.Connection[Any], emulator_url: str) -> None:
    print("\nSync state (SELECT * FROM credsync.outbox_summary):")
    _table(
        conn.execute(
            "SELECT task, status, rows FROM credsync.outbox_summary ORDER BY task, status"
        ).fetchall()
    )
    print("\nWhy rows were skipped (result->>'reason' of done rows):")
    _table(
        conn.execute(
            "SELECT coalesce(result->>'outcome', '?') AS outcome,"
            " coalesce(result->>'reason', result->>'status') AS detail, count(*) AS rows"
            " FROM credsync.outbox WHERE status = 'done' GROUP BY 1, 2 ORDER BY 1, 2"
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
        f" percentile_cont(0.95) WITHIN GROUP (ORDER BY {pickup}) AS p95_ms,"
        " extract(epoch FROM max(finished_at) - min(created_at)) AS span_s"
        " FROM credsync.outbox WHERE attempts = 1"
    ).fetchone()
    assert timing is not None
    with urllib.request.urlopen(f"{emulator_url}/_emulator/credentials", timeout=5) as answer:  # noqa: S310 - local
        held = json.load(answer)
    credentials = held if isinstance(held, list) else held.get("credentials", [])
    awarded = sum(1 for c in credentials if c.get("status") == "awarded")
    print(
        f"\nCredentials emulator now holds {len(credentials)} course credentials ({awarded} awarded,"
        f" {len(credentials) - awarded} revoked)."
    )
    rate = timing["rows"] / timing["span_s"] if timing["span_s"] else 0.0
    print(
        f"Pickup latency (commit -> running): p50 {timing['p50_ms']:.0f} ms, p95 {timing['p95_ms']:.0f} ms;"
        f" {timing['rows']} rows in {timing['span_s']:.2f} s ({rate:.0f} rows/s, bounded by the insert pace)."
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
    parser.add_argument("action", choices=("load", "watch"))
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    database_url = os.environ["DATABASE_URL"]
    if args.action == "load":
        print(f"  {load(database_url, args.seed)} outbox rows committed by host transactions")
        return 0
    return watch(database_url, args.timeout, os.environ["CREDENTIALS_URL"])


if __name__ == "__main__":
    raise SystemExit(main())
