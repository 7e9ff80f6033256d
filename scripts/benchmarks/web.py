"""The console's pages against the size of the finished history: are they still fast with 5M rows?

For each size (ascending, cumulative), the outbox is filled as the history phase fills it (finished
rows of every task, many learners and course runs, 1 in 101 failed) plus what a live install also
has: failed rows with several errors, the delivery ledger (every failed row's requests, one in ten
done rows'), a few learners with thousands of rows, and an unfinished tail (pending, waiting on a
retry or a hold, in flight past its lease). Then VACUUM ANALYZE, as autovacuum would.

Each page is timed by calling the console's own reads (``worker.web.reads.Reader``) over a login
role that is only a member of ``credsync_inspector``, as ``credsync web`` does: the figure is the
database's part of a page (its statements, their round trips and the rows' decoding), not
Jinja's, which does not grow with the table. Every statement a page runs is recorded as it runs
and, at the largest size, EXPLAINed with the same parameters: a sequential scan of credsync.outbox
or credsync.delivery fails the phase, the plan printed.

The overview's auto-refresh: the overview's reads every ``CREDSYNC_WEB_REFRESH_S`` for a window,
on one connection, and the CPU that connection's Postgres backend spent meanwhile
(``/proc/<pg_backend_pid()>/stat``), as a share of one core.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from benchmarks import env, history
from worker import db, queries
from worker.settings import defaults
from worker.web import filters, reads

#: Unmeasured loads of each page before its samples (plan cache, buffers).
WARMUP = 2
#: Measured loads of each page; the figures are their median and max.
SAMPLES = 15
#: The bound on every page's statements, ms, and on the refresh's share of one core.
PAGE_BOUND_MS = 100.0
REFRESH_BOUND = 0.01
#: Learners with many rows each (a bot, a test account, a learner of every course).
HEAVY_LEARNERS = 3
HEAVY_ROWS = 2_000
#: The unfinished tail: pending, retrying (waiting on a delay), held, in flight past the lease.
TAIL = {"pending": 1_000, "retrying": 200, "held": 100, "stuck": 50}
TABLES = ("outbox", "delivery")
#: Back-to-back overviews whose backend CPU gives one overview's cost.
BURST = 30

#: Failed rows say different things; the failed page filters on them.
ERRORS_SQL = """
UPDATE credsync.outbox SET last_error = CASE id %% 3
        WHEN 0 THEN 'Credentials answered 400: {"detail": "invalid course run"}'
        WHEN 1 THEN 'Credentials answered 404: {"detail": "Not found."}'
        ELSE 'gave up after 3 attempts: HTTPSConnectionPool(host=credentials.example): Read timed out.' END
WHERE status = 'failed' AND id > %(after)s
"""

#: The ledger: each failed row's three requests, one request for one in ten done rows.
LEDGER_SQL = """
INSERT INTO credsync.delivery (outbox_id, attempt, at, method, url, status, duration_ms, error, run)
SELECT o.id, a, o.finished_at - make_interval(secs => 3 - a), 'POST',
       'https://credentials.example/api/v2/credentials/',
       CASE WHEN o.status = 'failed' THEN 400 ELSE 201 END, 40 + o.id %% 50,
       CASE WHEN o.status = 'failed' THEN o.last_error END, 1
FROM credsync.outbox o
CROSS JOIN LATERAL generate_series(1, CASE WHEN o.status = 'failed' THEN 3 ELSE 1 END) AS a
WHERE o.id > %(after)s AND o.finished_at IS NOT NULL AND (o.status = 'failed' OR o.id %% 10 = 0)
"""

#: Learners with many finished rows, over many course runs.
HEAVY_SQL = """
INSERT INTO credsync.outbox (task, payload, ordering_key, status, attempts, created_at, run_after,
                             started_at, finished_at, result)
SELECT 'award_course_certificate',
       jsonb_build_object('username', 'heavy' || l, 'course_run_key', 'course-v1:edX+C' || n || '+2026'),
       'learner:heavy' || l, 'done', 1, f - interval '4 s', f - interval '4 s', f - interval '1 s', f,
       '{"outcome": "sent", "status": "awarded"}'
FROM generate_series(1, %(learners)s) AS l, generate_series(1, %(rows)s) AS n,
     LATERAL (SELECT now() - make_interval(secs => (n * 7919 + l) %% 604800)) AS t(f)
"""

#: The unfinished tail, through the insert trigger as a host writes it, then moved along as the
#: workers would: some retrying later, some held by a cooldown, some in flight past their lease.
TAIL_SQL = """
WITH new AS (
    INSERT INTO credsync.outbox (task, payload)
    SELECT 'award_program_certificates', jsonb_build_object('username', 'tail' || n)
    FROM generate_series(1, %(rows)s) AS n
    RETURNING id
), numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS k FROM new)
UPDATE credsync.outbox o SET
    status = CASE WHEN k <= %(retrying)s THEN 'retrying'
                  WHEN k <= %(retrying)s + %(stuck)s THEN 'running' ELSE 'pending' END,
    attempts = CASE WHEN k <= %(retrying)s + %(stuck)s THEN 1 ELSE 0 END,
    run_after = CASE WHEN k <= %(retrying)s THEN now() + make_interval(secs => k * 7)
                     WHEN k > %(retrying)s + %(stuck)s AND k <= %(retrying)s + %(stuck)s + %(held)s
                         THEN now() + interval '5 min' ELSE o.run_after END,
    waiting_on = CASE WHEN k > %(retrying)s + %(stuck)s AND k <= %(retrying)s + %(stuck)s + %(held)s
                      THEN 'https://credentials.example' END,
    started_at = CASE WHEN k <= %(retrying)s + %(stuck)s THEN now() - interval '10 min' END,
    lease_until = CASE WHEN k > %(retrying)s AND k <= %(retrying)s + %(stuck)s
                       THEN now() - interval '1 min' END,
    last_error = CASE WHEN k <= %(retrying)s THEN 'Credentials answered 503' END
FROM numbered WHERE o.id = numbered.id
"""


def measure(database_url: str, *, sizes: Sequence[int], window_s: float) -> dict[str, Any]:
    """Each page's ms with each number of finished rows (sizes ascending, the first 0), and the
    refresh's CPU on the largest; fails when a page's statement scans a whole table."""
    if list(sizes) != sorted(sizes) or not sizes:
        raise ValueError(f"sizes must be ascending and not empty: {list(sizes)}")
    refresh_s = defaults.DEFAULT_WEB_REFRESH_S
    page_ms: dict[str, dict[str, float]] = {}
    page_max_ms: dict[str, dict[str, float]] = {}
    slowest: dict[str, dict[str, Any]] = {}
    fill_s: dict[str, float] = {}
    refresh: dict[str, Any] = {}
    plans: dict[str, list[str]] = {}
    with env.connect(database_url) as sql, _inspector(database_url, sql) as inspector_url:
        sql.execute("TRUNCATE credsync.outbox CASCADE")
        sql.execute(TAIL_SQL, {"rows": sum(TAIL.values()), **TAIL})
        filled = 0
        for size in sizes:
            key = str(size)
            started = time.perf_counter()
            _fill(sql, filled, size)
            sql.execute("VACUUM ANALYZE credsync.outbox")
            sql.execute("VACUUM ANALYZE credsync.delivery")
            fill_s[key] = round(time.perf_counter() - started, 1)
            filled = size
            database = db.Database(
                inspector_url, host_schema="public", max_size=1, application_name="credsync-bench-web"
            )
            try:
                reader = reads.Reader(database)
                pages = _pages(reader, sql)
                timings, statements = _time_pages(pages)
                page_ms[key] = {page: round(statistics.median(ms), 2) for page, ms in timings.items()}
                page_max_ms[key] = {page: round(max(ms), 2) for page, ms in timings.items()}
                slowest[key] = _slowest_statement(statements)
                if size == sizes[-1]:
                    plans = _plans(inspector_url, statements)
                    refresh = _refresh_cpu(reader, database, refresh_s=refresh_s, window_s=window_s)
            finally:
                database.close()
        sql.execute("TRUNCATE credsync.outbox CASCADE")
    largest = page_ms[str(sizes[-1])]
    worst_page = max(largest, key=lambda page: largest[page])
    return {
        "web.sizes": list(sizes),
        "web.page_ms": page_ms,
        "web.page_max_ms": page_max_ms,
        "web.worst_page": worst_page,
        "web.worst_ms": largest[worst_page],
        "web.page_bound_ms": PAGE_BOUND_MS,
        "web.slowest_statement": slowest,
        "web.refresh_s": refresh_s,
        "web.refresh_window_s": window_s,
        "web.refresh_cpu_share": refresh.get("cpu_share"),
        "web.refresh_cpu_ms": refresh.get("cpu_ms"),
        "web.refreshes": refresh.get("refreshes"),
        "web.overview_cpu_ms": refresh.get("cpu_ms_per_overview"),
        "web.refresh_window_cpu_share": refresh.get("window_cpu_share"),
        "web.refresh_bound": REFRESH_BOUND,
        "web.fill_s": fill_s,
        "web.plans": plans,
    }


@contextlib.contextmanager
def _inspector(database_url: str, sql: psycopg.Connection[Any]) -> Iterator[str]:
    """A login role holding only credsync_inspector's rights, as README "Web console" has a DBA make."""
    name = f"credsync_bench_web_{uuid.uuid4().hex[:8]}"
    sql.execute(f"CREATE ROLE {name} LOGIN IN ROLE credsync_inspector")
    parts = urlsplit(database_url)
    try:
        yield urlunsplit(parts._replace(netloc=f"{name}@{parts.hostname}:{parts.port or 5432}"))
    finally:
        sql.execute(f"DROP OWNED BY {name}")
        sql.execute(f"DROP ROLE {name}")


def _fill(sql: psycopg.Connection[Any], have: int, want: int) -> None:
    """The history phase's finished rows ``have + 1 .. want``, then their errors, heavy learners, ledger."""
    if want <= have:
        return
    after = int(sql.execute("SELECT coalesce(max(id), 0) FROM credsync.outbox").fetchone()[0])  # type: ignore[index]
    history._fill(sql, have, want)
    sql.execute("ALTER TABLE credsync.outbox DISABLE TRIGGER outbox_before_insert")
    try:
        if have == 0:
            sql.execute(HEAVY_SQL, {"learners": HEAVY_LEARNERS, "rows": HEAVY_ROWS})
    finally:
        sql.execute("ALTER TABLE credsync.outbox ENABLE TRIGGER outbox_before_insert")
    sql.execute(ERRORS_SQL, {"after": after})
    sql.execute(LEDGER_SQL, {"after": after})


Page = Callable[[], object]


def _pages(reader: reads.Reader, sql: psycopg.Connection[Any]) -> dict[str, Page]:
    """Each page of the console as the reads its route makes (app.py), on the rows the table has now."""
    failed_id = _one(sql, "SELECT max(id) FROM credsync.outbox WHERE status = 'failed'")
    row_id = failed_id or _one(sql, "SELECT max(id) FROM credsync.outbox")
    course = "course-v1:edX+C7+2026"
    first = reader.failed_page(filters.FailedFilter())
    cursor = (first[-1]["finished_at"], first[-1]["id"]) if len(first) == reads.PAGE_ROWS else None
    by_error = filters.FailedFilter(task="award_course_certificate", error="404")
    last_week = filters.FailedFilter(
        since=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=7), error="timed out"
    )
    return {
        "overview": reader.overview,
        "failed": lambda: (reader.failed_page(filters.FailedFilter()), reader.tasks()),
        "failed, next page": lambda: (reader.failed_page(filters.FailedFilter(), cursor), reader.tasks()),
        "failed, task + error": lambda: (reader.failed_page(by_error), reader.tasks()),
        "failed, last week + error": lambda: (reader.failed_page(last_week), reader.tasks()),
        "retry preview, every failed row": lambda: reader.failed_match(
            filters.FailedFilter(), datetime.datetime.now(datetime.UTC)
        ),
        "retry preview, task + error": lambda: reader.failed_match(
            by_error, datetime.datetime.now(datetime.UTC)
        ),
        "waiting": reader.waiting,
        "row": lambda: reader.row(row_id or 1),
        "learner (heavy)": lambda: reader.learner("heavy1"),
        "learner": lambda: reader.learner("learner7"),
        "course run": lambda: reader.course(course),
        "progress": reader.progress,
        "audit": reader.audit,
        "doctor": lambda: reader.doctor(None, defaults.DEFAULT_QUEUE),
    }


def _one(sql: psycopg.Connection[Any], query: str) -> Any:
    row = sql.execute(query).fetchone()  # type: ignore[arg-type]
    return row[0] if row else None


@contextlib.contextmanager
def _recording() -> Iterator[list[tuple[str, dict[str, Any], float]]]:
    """Every named statement run meanwhile: (name, parameters, ms), through db's own helpers."""
    seen: list[tuple[str, dict[str, Any], float]] = []
    originals = db.fetch_one, db.fetch_all

    def wrap(run: Callable[..., Any]) -> Callable[..., Any]:
        def timed(cur: db.Cursor, name: str, params: Any = None) -> Any:
            started = time.perf_counter()
            try:
                return run(cur, name, params)
            finally:
                seen.append((name, dict(params or {}), (time.perf_counter() - started) * 1000))

        return timed

    db.fetch_one, db.fetch_all = wrap(originals[0]), wrap(originals[1])  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        db.fetch_one, db.fetch_all = originals


def _time_pages(
    pages: dict[str, Page],
) -> tuple[dict[str, list[float]], dict[str, list[tuple[str, dict[str, Any], float]]]]:
    """ms of each measured load of each page, and the statements of each page (name, params, ms)."""
    timings: dict[str, list[float]] = {}
    statements: dict[str, list[tuple[str, dict[str, Any], float]]] = {}
    for page, load in pages.items():
        samples = []
        with _recording() as seen:
            for n in range(WARMUP + SAMPLES):
                seen.clear()
                started = time.perf_counter()
                load()
                elapsed_ms = (time.perf_counter() - started) * 1000
                if n >= WARMUP:
                    samples.append(elapsed_ms)
                    statements.setdefault(page, []).extend(seen)
        timings[page] = samples
    return timings, statements


def _slowest_statement(statements: dict[str, list[tuple[str, dict[str, Any], float]]]) -> dict[str, Any]:
    name, _, ms = max((s for ran in statements.values() for s in ran), key=lambda s: s[2])
    return {"statement": name, "ms": round(ms, 2)}


def _plans(
    inspector_url: str, statements: dict[str, list[tuple[str, dict[str, Any], float]]]
) -> dict[str, list[str]]:
    """EXPLAIN each page's statements with the parameters they ran with; raise on a table's seq scan.

    Returns page -> the indexes its statements use on outbox and delivery.
    """
    used: dict[str, list[str]] = {}
    bad: list[str] = []
    with psycopg.connect(inspector_url, autocommit=True, options="-c search_path=public") as conn:
        for page, ran in statements.items():
            indexes: set[str] = set()
            done: set[str] = set()
            for name, params, _ in ran:
                if name in done:
                    continue
                done.add(name)
                (plan,) = conn.execute(f"EXPLAIN (FORMAT JSON) {queries.get(name)}", params).fetchone()  # type: ignore[misc]
                for node in _nodes(plan[0]["Plan"]):
                    relation = node.get("Relation Name")
                    if node.get("Index Name"):  # a bitmap index scan names no relation
                        indexes.add(node["Index Name"])
                    if relation in TABLES and node["Node Type"] == "Seq Scan":
                        bad.append(f"{page}: {name} scans credsync.{relation}:\n{json.dumps(plan, indent=1)}")
            used[page] = sorted(indexes)
    if bad:
        for text in bad:
            print(text, file=sys.stderr)
        raise RuntimeError(f"{len(bad)} console statements scan a whole table (plans above)")
    return used


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _refresh_cpu(
    reader: reads.Reader, database: db.Database, *, refresh_s: float, window_s: float
) -> dict[str, Any]:
    """The overview's reads every ``refresh_s`` for ``window_s`` on one connection, and the CPU its
    Postgres backend spent meanwhile (None when the server is not on this machine)."""
    with database.statement() as cur:
        pid = int(cur.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"])  # type: ignore[index]
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return {}
    tick = os.sysconf("SC_CLK_TCK")

    def cpu_s() -> float:
        text = stat.read_text()
        fields = text[text.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / tick

    # One overview's CPU, precisely: many back to back (a clock tick is 10 ms).
    before = cpu_s()
    for _ in range(BURST):
        reader.overview()
    per_overview_ms = (cpu_s() - before) * 1000 / BURST
    refreshes = 0
    before, began = cpu_s(), time.monotonic()
    while (due := began + refreshes * refresh_s) < began + window_s:
        time.sleep(max(0.0, due - time.monotonic()))
        reader.overview()
        refreshes += 1
    time.sleep(max(0.0, began + window_s - time.monotonic()))
    spent, elapsed = cpu_s() - before, time.monotonic() - began
    with database.statement() as cur:
        same = int(cur.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]) == pid  # type: ignore[index]
    if not same:
        raise RuntimeError("the console's connection changed during the refresh window")
    # Over a short window the backend's clock ticks (10 ms) are coarse: the share is the larger of
    # the window's and one overview's CPU (measured back to back) at the refresh rate.
    return {
        "cpu_share": round(max(spent / elapsed, per_overview_ms / 1000 / refresh_s), 5),
        "window_cpu_share": round(spent / elapsed, 5),
        "cpu_ms": round(spent * 1000 / refreshes, 1),
        "refreshes": refreshes,
        "cpu_ms_per_overview": round(per_overview_ms, 2),
    }
