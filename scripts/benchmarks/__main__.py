"""``scripts/bench``: run every measurement, print the table, write the JSON (``--out``)."""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import env, report

#: Sizes of the full run and of ``--quick`` (which shrinks sizes, never the set of figures).
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "claim_rows": 50_000,
        "history_sizes": [0, 1_000_000, 5_000_000],
        "e2e_rows": 20_000,
        "memory_rows": 100_000,
        "latency_s": 30.0,
        "versus_rows": 3_000,
        "web_sizes": [0, 5_000_000],
        "web_refresh_window_s": 60.0,
    },
    "quick": {
        "claim_rows": 5_000,
        "history_sizes": [0, 20_000, 100_000],
        "e2e_rows": 2_000,
        "memory_rows": 3_000,
        "latency_s": 8.0,
        "versus_rows": 300,
        "web_sizes": [0, 100_000],
        "web_refresh_window_s": 10.0,
    },
}
LATENCY_RATE_PER_S = 20.0
PHASES = ("claim", "history", "e2e", "versus", "web")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (under two minutes)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON to this file")
    parser.add_argument("--only", choices=PHASES, action="append", help="run only this part (repeatable)")
    parser.add_argument("--e2e-rows", type=int, help="override the end-to-end backlog size")
    args = parser.parse_args(argv)
    sizes = dict(SIZES["quick" if args.quick else "full"])
    if args.e2e_rows:
        sizes["e2e_rows"] = args.e2e_rows
    phases = args.only or list(PHASES)
    log_dir = Path(tempfile.mkdtemp(prefix="credsync-bench-"))
    figures: dict[str, Any] = {"meta": _meta(args.quick, sizes)}
    started = time.monotonic()

    def phase(name: str, run: Callable[[Any], dict[str, Any]]) -> None:
        """Run part ``name`` (its module, loaded only when it runs) and keep its figures."""
        if name in phases:
            print(f"==> {name}", file=sys.stderr, flush=True)
            began = time.monotonic()
            figures.update(run(importlib.import_module(f"benchmarks.{name}")))
            figures["meta"].setdefault("phase_s", {})[name] = round(time.monotonic() - began, 1)

    try:
        phase(
            "claim",
            lambda m: _in_new_database(lambda url: m.measure(url, env.redis_url(), rows=sizes["claim_rows"])),
        )
        phase("history", lambda m: _in_new_database(lambda url: m.measure(url, sizes=sizes["history_sizes"])))
        phase(
            "e2e",
            lambda m: m.measure(
                rows=sizes["e2e_rows"],
                memory_rows=sizes["memory_rows"],
                latency_s=sizes["latency_s"],
                latency_rate=LATENCY_RATE_PER_S,
                log_dir=log_dir,
            ),
        )
        phase("versus", lambda m: m.measure(rows=sizes["versus_rows"], log_dir=log_dir))
        phase(
            "web",
            lambda m: _in_new_database(
                lambda url: m.measure(url, sizes=sizes["web_sizes"], window_s=sizes["web_refresh_window_s"])
            ),
        )
    except BaseException:
        print(f"scripts/bench failed; the processes' logs are in {log_dir}", file=sys.stderr)
        raise
    shutil.rmtree(log_dir, ignore_errors=True)  # kept only when something failed
    figures["meta"]["total_s"] = round(time.monotonic() - started, 1)
    print(report.table(figures))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(f"figures written to {args.out}", file=sys.stderr)
    return 0


def _in_new_database(run: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    with env.database() as url:
        return run(url)


def _meta(quick: bool, sizes: dict[str, Any]) -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=env.ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit or None,
        "quick": quick,
        "sizes": sizes,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    raise SystemExit(main())
