"""Soak: many rows through the whole system with faults sprinkled in; memory stays flat, rows pruned.

The short form (3,000 rows) runs every time; the long form (100,000 rows) with ``CREDSYNC_SLOW=1``.
Figures (throughput, RSS at start and end, claim plan and time on the drained table) are printed
in the terminal summary; only the memory bound is asserted, and only in the long form.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.faults import harness, invariants
from tests.system import processes
from worker.emulator import server

RUN = "course-v1:edX+Soak+2026"


def _rss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def _host_backlog(system: harness.System, rows: int) -> None:
    """As many learners, certificates and outbox rows as asked, written in host transactions of 1,000."""
    system.emulator.add_course_runs([RUN])  # Credentials' catalog copy knows the run
    with psycopg.connect(system.url) as conn:
        conn.execute(
            "INSERT INTO course_overviews_courseoverview (id, org, certificates_display_behavior)"
            " VALUES (%s, 'edX', 'end')",
            (RUN,),
        )
        conn.commit()
        for start in range(0, rows, 1000):
            stop = min(rows, start + 1000)
            with conn.transaction():
                conn.execute(
                    "INSERT INTO auth_user (username, email)"
                    " SELECT 'soak' || n, 'soak' || n || '@example.com'"
                    " FROM generate_series(%s::int, %s::int) AS n",
                    (start, stop - 1),
                )
                conn.execute(
                    "INSERT INTO certificates_generatedcertificate (user_id, course_id, mode, status)"
                    " SELECT u.id, %s, 'verified',"
                    " CASE WHEN substr(u.username, 5)::int %% 10 = 0 THEN 'notpassing'"
                    " ELSE 'downloadable' END"
                    " FROM auth_user u WHERE u.username = ANY(%s)",
                    (RUN, [f"soak{n}" for n in range(start, stop)]),
                )
                conn.execute(
                    "INSERT INTO credsync.outbox (task, payload)"
                    " SELECT 'award_course_certificate', jsonb_build_object('username', 'soak' || n,"
                    " 'course_run_key', %s::text) FROM generate_series(%s::int, %s::int) AS n",
                    (RUN, start, stop - 1),
                )


def _costs(system: harness.System) -> dict[str, float]:
    """What the system has spent so far: Postgres transactions of its database, CPU seconds of the
    servers and processes, requests to Credentials. (The test's own polling is a few transactions.)"""
    with system.sql() as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        conn.execute("SELECT pg_stat_clear_snapshot()")
    assert row is not None
    return {
        "transactions": float(row["n"]),
        "postgres_cpu_s": processes.cpu_seconds(system.pg.server_pids()),
        "broker_cpu_s": processes.cpu_seconds(system.broker.server_pids()),
        "worker_cpu_s": processes.cpu_seconds(system.pids("worker")),
        "scanner_cpu_s": processes.cpu_seconds(system.pids("scanner")),
        "credentials_requests": float(system.emulator.stats()["requests"]),
    }


def _soak(system: harness.System, rows: int, *, assert_memory: bool) -> None:
    # Given the processes running, and Credentials failing now and then (500s, dropped connections)
    system.env["CREDSYNC_MAX_RETRIES"] = "20"
    system.start_all()
    system.emulator.add_fault(
        server.Fault(method="POST", path_prefix="/api/v2/", status=500, probability=0.02)
    )
    system.emulator.add_fault(
        server.Fault(method="POST", path_prefix="/api/v2/", action="drop", probability=0.01)
    )
    # When a host commits a backlog of rows
    before = _costs(system)
    started = time.monotonic()
    _host_backlog(system, rows)
    processes.wait_until(
        lambda: system.statuses()["done"] >= rows // 10, 120, "the first tenth done", system.report, 0.5
    )
    rss_start = {role: _rss_mb(system.pids(role)) for role in ("worker", "scanner")}
    processes.wait_until(
        lambda: system.statuses() == {"done": rows}, max(120.0, rows / 50), "the drain", system.report, 0.5
    )
    drained_s = time.monotonic() - started
    spent = {what: _costs(system)[what] - before[what] for what in before}
    rss_end = {role: _rss_mb(system.pids(role)) for role in ("worker", "scanner")}
    system.record(
        f"soak {rows} rows: drained in {drained_s:.1f} s ({rows / drained_s:.0f} rows/s with 3% faults); "
        f"RSS worker {rss_start['worker']:.0f} -> {rss_end['worker']:.0f} MB, "
        f"scanner {rss_start['scanner']:.0f} -> {rss_end['scanner']:.0f} MB"
    )
    per_row = {what: value / rows for what, value in spent.items()}
    system.record(
        f"soak {rows} rows, cost per row (1 worker process x 4 threads): Postgres"
        f" {per_row['transactions']:.2f} transactions, {per_row['postgres_cpu_s'] * 1000:.2f} ms CPU;"
        f" {system.broker.kind} {per_row['broker_cpu_s'] * 1000:.3f} ms CPU;"
        f" worker {per_row['worker_cpu_s'] * 1000:.2f} ms CPU; scanner {per_row['scanner_cpu_s'] * 1000:.3f}"
        f" ms CPU; Credentials {per_row['credentials_requests']:.2f} requests"
    )
    # Then every row ended done (the faults were retried), and Credentials holds the host's truth
    statuses = system.statuses()
    assert statuses == {"done": rows}, system.report()
    held = invariants.held(system)
    assert len(held) == rows
    assert sum(1 for status in held.values() if status == "revoked") == rows // 10
    # And the pending scan on the drained table reads an index of unfinished rows, not the history
    with system.sql() as conn:
        plan = conn.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON)"
            " SELECT id FROM credsync.outbox WHERE status = 'pending' ORDER BY id LIMIT 500"
        ).fetchone()
    plan_text = json.dumps(plan)
    claim_ms = next(iter(plan.values()))[0]["Execution Time"]
    # (which partial index of unfinished rows the planner picks may vary; a scan of the history may not)
    assert '"Node Type": "Seq Scan"' not in plan_text, plan_text
    # And pruning (here with a retention of 1 day, the rows made 2 days old) removes every finished row
    with system.sql() as conn:
        conn.execute("UPDATE credsync.outbox SET finished_at = finished_at - interval '2 days'")
    done = subprocess.run(
        [processes.CREDSYNC, "prune", "--older-than-days", "1"],
        env=system.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert system.statuses() == {}, done.stdout + done.stderr
    system.record(f"soak {rows} rows: pending scan on the drained table {claim_ms:.2f} ms; all pruned")
    if assert_memory:
        for role in ("worker", "scanner"):
            assert rss_end[role] <= rss_start[role] * 1.2 + 10, f"{role} RSS grew: {rss_start} -> {rss_end}"


def test_a_short_soak_drains_with_faults_keeps_memory_and_prunes(system: harness.System) -> None:
    _soak(system, 3_000, assert_memory=False)


@pytest.mark.slow
def test_a_soak_of_a_hundred_thousand_rows_keeps_memory_flat(system: harness.System) -> None:
    _soak(system, 100_000, assert_memory=True)
