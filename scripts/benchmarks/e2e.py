"""End to end through the Procfile processes, side by side with the direct-call ceiling.

One system (a database, the emulator, the Procfile's ``worker`` and ``scanner`` lines with default
settings) serves four measurements in turn:

* **ceiling**: the committed backlog's handlers called directly (``benchmarks.direct``), with as
  many processes and threads as the worker line runs (one process per CPU, 8 threads);
* **end to end**: the same backlog, from the moment the host enables sync (the scanner's pause
  gate opens) to the last row finished, by the rows' own timestamps;
* **HTTP economy**: requests the Credentials service received per row, by task, and tokens issued;
* **pickup latency**: rows inserted one per transaction at a steady rate on the idle system,
  commit (``created_at``) to ``running`` (``started_at``);
* **memory**: RSS of the worker and scanner process trees before and after draining a second,
  larger backlog (after the first drain warmed them up).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from benchmarks import env, hostdata

THREADS = 8  # the worker line's default (credsync worker --threads)
TOKEN_PATH = "/oauth2/access_token"  # noqa: S105 - a URL path, not a secret


def processes() -> int:
    """The worker line's default process count: one per CPU."""
    return os.cpu_count() or 1


def direct_ceiling(system: env.System) -> dict[str, Any]:
    """Rows/s of the handlers called directly, over every row of the committed backlog."""
    child_env = {**system.env, "PYTHONPATH": str(env.ROOT / "scripts")}
    shards = processes()
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.direct",
                "--shard",
                str(k),
                "--shards",
                str(shards),
                "--threads",
                str(THREADS),
            ],
            env=child_env,
            cwd=env.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(shards)
    ]
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("a direct-call process did not start")
    cpu_before = env.cpu_seconds()
    started = time.time()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    reports = []
    for child in children:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            raise RuntimeError(f"a direct-call process failed ({child.wait()})")
        reports.append(json.loads(line))
    cpu = env.cpu_by_role(
        cpu_before,
        env.cpu_seconds(),
        {"direct": [c.pid for c in children], "emulator": system.emulator.process.pids()},
    )
    for child in children:
        child.communicate("exit\n", timeout=60)
    outcomes: dict[str, int] = {}
    for report in reports:
        for kind, count in report["outcomes"].items():
            outcomes[kind] = outcomes.get(kind, 0) + count
    seconds = max(r["finished_at"] for r in reports) - started
    rows = sum(outcomes.values())
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "outcomes": outcomes, "cpu": cpu}


def set_enabled(conn: psycopg.Connection[Any], enabled: bool) -> Any:
    """The host switches sync on or off (a new credentials config row); returns its commit time."""
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO credentials_credentialsapiconfig (enabled, enable_learner_issuance)"
            " VALUES (%s, true) RETURNING change_date",
            (enabled,),
        ).fetchone()
    assert row is not None
    return row["change_date"]


def _transactions(conn: psycopg.Connection[Any]) -> int:
    """Transactions committed or rolled back in this database so far (each autocommit statement is one)."""
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(
        "SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    return int(row["n"]) if row else 0


def _unfinished(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM credsync.outbox WHERE status NOT IN ('done', 'failed')"
    ).fetchone()
    return int(row["n"]) if row else 0


def drain(
    system: env.System, conn: psycopg.Connection[Any], since_id: int, timeout_s: float
) -> dict[str, Any]:
    """Open the gate and wait until every row is finished; rows/s by the rows' own timestamps."""
    roles = {kind: system.pids(kind) for kind in system.processes}
    roles["emulator"] = system.emulator.process.pids()
    cpu_before = env.cpu_seconds()
    xacts_before = _transactions(conn)
    opened = set_enabled(conn, True)
    env.wait_until(lambda: _unfinished(conn) == 0, timeout_s, "the backlog to drain", poll_s=0.2)
    for backend in conn.execute(
        "SELECT pid, coalesce(nullif(application_name, ''), backend_type) AS name FROM pg_stat_activity"
    ).fetchall():
        # Postgres's CPU split by whom its backends serve (credsync-worker, credsync-scanner, ...).
        roles.setdefault(f"postgres: {backend['name']}", []).append(backend["pid"])
    cpu = env.cpu_by_role(cpu_before, env.cpu_seconds(), roles)
    time.sleep(1.5)  # backends report their statistics at most once a second
    transactions = _transactions(conn) - xacts_before
    row = conn.execute(
        "SELECT count(*) AS rows, count(*) FILTER (WHERE status = 'failed') AS failed,"
        " max(finished_at) AS last, sum(attempts) AS attempts FROM credsync.outbox WHERE id > %s",
        (since_id,),
    ).fetchone()
    assert row is not None
    seconds = (row["last"] - opened).total_seconds()
    return {
        "rows": row["rows"],
        "failed": row["failed"],
        "attempts": row["attempts"],
        "seconds": seconds,
        "rows_per_s": row["rows"] / seconds,
        "cpu": cpu,
        "transactions": transactions,
    }


def http_economy(conn: psycopg.Connection[Any], stats: dict[str, Any], rows: int) -> dict[str, Any]:
    """Requests per finished row by task (the delivery ledger), and what the emulator counted."""
    found = conn.execute(
        "SELECT o.task, count(DISTINCT o.id) AS rows,"
        " count(d.id) FILTER (WHERE d.url NOT LIKE %s) AS api,"
        " count(d.id) FILTER (WHERE d.url LIKE %s) AS token"
        " FROM credsync.outbox o LEFT JOIN credsync.delivery d ON d.outbox_id = o.id"
        " GROUP BY o.task ORDER BY o.task",
        (f"%{TOKEN_PATH}%", f"%{TOKEN_PATH}%"),
    ).fetchall()
    received = sum(
        count for endpoint, count in stats.get("by_endpoint", {}).items() if "/_emulator/" not in endpoint
    )
    return {
        "http.requests_per_row": {r["task"]: round(r["api"] / r["rows"], 3) for r in found},
        "http.token_requests": stats.get("token", 0),
        "http.requests_received": received,
        "http.requests_received_per_row": round(received / rows, 3) if rows else 0.0,
    }


def pickup_latency(conn: psycopg.Connection[Any], rate_per_s: float, seconds: float) -> dict[str, Any]:
    """Insert rows one per transaction at a steady rate; commit to ``running``, in ms."""
    count = max(1, int(rate_per_s * seconds))
    ids = []
    start = time.monotonic()
    for n in range(count):
        time.sleep(max(0.0, start + n / rate_per_s - time.monotonic()))
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO credsync.outbox (task, payload) VALUES ('award_course_certificate', %s)"
                " RETURNING id",
                (Jsonb({"username": f"latency{n}", "course_run_key": hostdata.run_key(0)}),),
            ).fetchone()
        assert row is not None
        ids.append(row["id"])
    env.wait_until(lambda: _unfinished(conn) == 0, 60, "the latency rows to finish", poll_s=0.2)
    found = conn.execute(
        "SELECT extract(epoch FROM started_at - created_at) * 1000 AS ms FROM credsync.outbox"
        " WHERE id = ANY(%s) AND attempts = 1",
        (ids,),
    ).fetchall()
    latencies = sorted(float(r["ms"]) for r in found)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "latency.p50_ms": round(statistics.median(latencies), 1),
        "latency.p99_ms": round(cuts[98], 1),
        "latency.max_ms": round(latencies[-1], 1),
        "latency.rows": len(latencies),
        "latency.rate_per_s": rate_per_s,
    }


def measure(
    *, rows: int, memory_rows: int, latency_s: float, latency_rate: float, log_dir: Path
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with env.database() as url, psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
        emulator = env.Emulator(log_dir)
        system = env.System(url, emulator, log_dir)
        try:
            hostdata.prepare(url, emulator.admin)
            backlog = hostdata.write_backlog(url, rows)
            ceiling = direct_ceiling(system)
            emulator.admin.reset()  # the same work again for the outbox: nothing held yet
            hostdata.prepare_emulator(emulator.admin)
            set_enabled(conn, False)
            system.start("worker", "scanner", "scheduler")
            drained = drain(system, conn, 0, timeout_s=max(300.0, rows / 20))
            results.update(
                {
                    "e2e.rows": drained["rows"],
                    "e2e.backlog_by_task": dict(backlog.by_task),
                    "e2e.rows_per_s": round(drained["rows_per_s"], 1),
                    "e2e.ceiling_rows_per_s": round(ceiling["rows_per_s"], 1),
                    "e2e.ratio": round(drained["rows_per_s"] / ceiling["rows_per_s"], 3),
                    "e2e.seconds": round(drained["seconds"], 2),
                    "e2e.ceiling_seconds": round(ceiling["seconds"], 2),
                    "e2e.ceiling_rows": ceiling["rows"],
                    "e2e.ceiling_outcomes": ceiling["outcomes"],
                    "e2e.failed": drained["failed"],
                    "e2e.attempts_per_row": round(drained["attempts"] / drained["rows"], 3),
                    "e2e.processes": processes(),
                    "e2e.threads": THREADS,
                    "e2e.cpu_ms_per_row": _per_row(drained["cpu"], drained["rows"]),
                    "e2e.db_transactions_per_row": round(drained["transactions"] / drained["rows"], 2),
                    "e2e.ceiling_cpu_ms_per_row": _per_row(ceiling["cpu"], ceiling["rows"]),
                }
            )
            results.update(http_economy(conn, emulator.admin.stats(), drained["rows"]))
            time.sleep(2)  # idle
            results.update(pickup_latency(conn, latency_rate, latency_s))
            last = conn.execute("SELECT coalesce(max(id), 0) AS id FROM credsync.outbox").fetchone()
            assert last is not None
            rss_start = {kind: env.rss_mb(system.pids(kind)) for kind in ("worker", "scanner")}
            set_enabled(conn, False)
            hostdata.write_backlog(url, memory_rows, first_learner=backlog.next_learner)
            memory = drain(system, conn, last["id"], timeout_s=max(300.0, memory_rows / 20))
            rss_end = {kind: env.rss_mb(system.pids(kind)) for kind in ("worker", "scanner")}
            results.update(
                {
                    "rss.rows": memory["rows"],
                    "rss.worker_start_mb": round(rss_start["worker"], 1),
                    "rss.worker_end_mb": round(rss_end["worker"], 1),
                    "rss.scanner_start_mb": round(rss_start["scanner"], 1),
                    "rss.scanner_end_mb": round(rss_end["scanner"], 1),
                    "rss.worker_growth": round(rss_end["worker"] / rss_start["worker"] - 1, 3),
                    "rss.drain_rows_per_s": round(memory["rows_per_s"], 1),
                }
            )
        finally:
            system.stop()
            emulator.close()
    return results


def _per_row(cpu: dict[str, float], rows: int) -> dict[str, float]:
    """CPU milliseconds per row by role, and their total."""
    shown = {role: round(seconds * 1000 / rows, 3) for role, seconds in sorted(cpu.items())}
    shown["total"] = round(sum(cpu.values()) * 1000 / rows, 3)
    return shown
