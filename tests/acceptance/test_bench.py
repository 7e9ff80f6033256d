"""``scripts/bench --quick``: it runs, prints its table, and its JSON carries every figure.

A smoke test: the figures are checked for presence and sense (numbers, sizes, every task), never
against the speed targets; those are the full bench's business (README, "Performance").
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from worker import tasks

ROOT = Path(__file__).resolve().parents[2]
FIGURES = [
    "claim.rows_per_s",
    "claim.ceiling_rows_per_s",
    "claim.enqueue_ceiling_rows_per_s",
    "e2e.rows_per_s",
    "e2e.ceiling_rows_per_s",
    "e2e.ratio",
    "latency.p50_ms",
    "latency.p99_ms",
    "rss.worker_start_mb",
    "rss.worker_end_mb",
    "rss.scanner_start_mb",
    "rss.scanner_end_mb",
]


def test_the_quick_bench_runs_and_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDSYNC_BENCH_")}
    done = subprocess.run(
        [str(ROOT / "scripts" / "bench"), "--quick", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    # The table, one line per measurement
    assert "| Measurement | credsync | Ceiling (same run) |" in done.stdout
    for line in ("Claim + enqueue", "End to end", "Pickup latency", "RSS over", "HTTP requests per row"):
        assert line in done.stdout, done.stdout
    assert "| credsync vs Celery | credsync | Celery (same run) |" in done.stdout, done.stdout
    figures = json.loads(out.read_text())
    for key in FIGURES:
        assert isinstance(figures[key], int | float), (key, figures.get(key))
        assert figures[key] > 0, (key, figures[key])
    ratio = figures["e2e.rows_per_s"] / figures["e2e.ceiling_rows_per_s"]
    assert abs(figures["e2e.ratio"] - ratio) < 0.01, (figures["e2e.ratio"], ratio)
    assert figures["latency.p50_ms"] <= figures["latency.p99_ms"]
    # History: the claim time at each history size, the empty table first
    history = figures["history.claim_ms"]
    assert list(history) == [str(size) for size in figures["meta"]["sizes"]["history_sizes"]]
    assert len(history) == 3, history
    assert all(ms > 0 for ms in history.values()), history
    # HTTP economy: every task of the backlog has its requests per row; tokens are signed (no OAuth)
    per_row = figures["http.requests_per_row"]
    assert set(per_row) == set(tasks.REGISTRY.names()), per_row
    assert per_row["award_course_certificate"] >= 1
    assert figures["http.token_requests"] == 0
    # Every row of the end-to-end run and of the memory run ended done
    assert figures["e2e.failed"] == 0
    assert figures["e2e.rows"] >= figures["meta"]["sizes"]["e2e_rows"]
    # credsync vs Celery on the same work: both sides measured, each learner got exactly one accepted POST
    versus = figures["versus"]
    assert versus["rows"] == figures["meta"]["sizes"]["versus_rows"]
    for side in ("credsync", "celery"):
        assert versus[side]["one_post_per_learner"] is True, (side, versus[side])
        for window in ("e2e", "drain"):
            runs = versus[side][window]["runs"]
            assert len(runs) == versus["repetitions"], (side, window, runs)
            assert all(run["rows"] == versus["rows"] and run["refused_posts"] == 0 for run in runs), runs
            for figure in ("rows_per_s", "cpu_ms_per_row"):
                assert versus[side][window][figure] > 0, (side, window, figure, versus[side][window])
    assert versus["ceiling"]["rows_per_s"] > 0, versus["ceiling"]
    assert set(versus["ratio"]) == {
        "e2e.rows_per_s",
        "e2e.cpu_ms_per_row",
        "drain.rows_per_s",
        "drain.cpu_ms_per_row",
    }
    assert all(ratio > 0 for ratio in versus["ratio"].values()), versus["ratio"]
    # Web console: every page timed at each size (the empty table first), the overview's refresh CPU
    assert "Console page, slowest of" in done.stdout, done.stdout
    assert "auto-refresh" in done.stdout, done.stdout
    sizes = [str(size) for size in figures["meta"]["sizes"]["web_sizes"]]
    assert list(figures["web.page_ms"]) == sizes == list(figures["web.page_max_ms"]), figures["web.page_ms"]
    pages = set(figures["web.page_ms"][sizes[0]])
    assert {"overview", "failed", "waiting", "row", "learner", "course run", "doctor"} <= pages, pages
    for size in sizes:
        assert set(figures["web.page_ms"][size]) == pages == set(figures["web.page_max_ms"][size])
        assert all(ms > 0 for ms in figures["web.page_max_ms"][size].values()), figures["web.page_max_ms"]
    assert set(figures["web.plans"]) == pages, figures["web.plans"]
    assert "outbox_failed_idx" in figures["web.plans"]["failed"], figures["web.plans"]
    assert figures["web.refreshes"] >= 1, figures["web.refreshes"]
    assert figures["web.overview_cpu_ms"] > 0, figures["web.overview_cpu_ms"]
    assert isinstance(figures["web.refresh_cpu_share"], float), figures["web.refresh_cpu_share"]
