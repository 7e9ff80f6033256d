"""The ``credsync`` commands about the whole platform: backfill (upstream's backpopulate), load-programs."""

from __future__ import annotations

import argparse
import pathlib
import sys

from worker import settings
from worker.cli import common

DEFAULT_BATCH = 1000


def register(add: common.Add) -> None:
    p = add("backfill", _backfill, "enqueue rows for the whole platform (upstream's backpopulate); resumable")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument(
        "--programs", action="store_true", help="award_program_certificates per passing learner"
    )
    kind.add_argument(
        "--course-certificates", action="store_true", help="award_course_certificate per certificate"
    )
    kind.add_argument(
        "--course-dates",
        action="store_true",
        help="update_certificate_available_date_on_course_update per course run"
        " (upstream's backfill_date_for_all_course_runs)",
    )
    p.add_argument("--since", type=common.aware_datetime, help="only certificates modified since (ISO 8601)")
    p.add_argument(
        "--batch",
        type=common.positive_int,
        default=DEFAULT_BATCH,
        help=f"rows per transaction (default {DEFAULT_BATCH})",
    )
    p.add_argument("--restart", action="store_true", help="run a finished backfill of the same kind again")

    p = add("load-programs", _load_programs, "upsert catalog programs (the catalog service's JSON)")
    p.add_argument(
        "source", help="a JSON file (a program, a list, or a /api/v1/programs/ page), or - for stdin"
    )


def _backfill(args: argparse.Namespace) -> int:
    from worker.ops import backfill

    kind: backfill.Kind = (
        "programs" if args.programs else "course_dates" if args.course_dates else "course_certificates"
    )
    if kind == "course_dates" and args.since is not None:
        print(
            "credsync backfill: --since does not apply to --course-dates (every run is sent)", file=sys.stderr
        )
        return common.EXIT_USAGE

    def progress(p: backfill.BackfillProgress) -> None:
        up_to = f"id {p.last_key}" if isinstance(p.last_key, int) else p.last_key
        print(f"  {p.rows} rows enqueued (up to {up_to}) in {p.elapsed_s:.1f} s", file=sys.stderr)

    with common.outbox(settings.load_core()) as outbox:
        result = backfill.run(
            outbox.database,
            kind=kind,
            since=args.since,
            batch=args.batch,
            progress=progress,
            restart=args.restart,
        )
    if result.already_done:
        print(f"backfill {result.name} already finished ({result.total} rows); --restart runs it again")
    else:
        state = "finished" if result.finished else "stopped (run it again to continue)"
        resumed = " (resumed)" if result.resumed else ""
        counts = f"{result.enqueued} rows enqueued now, {result.total} in all"
        print(f"backfill {result.name}{resumed}: {counts}; {state}")
    return common.EXIT_OK


def _load_programs(args: argparse.Namespace) -> int:
    from worker.ops import catalog

    try:
        if args.source == "-":
            source = sys.stdin.read()
        else:
            source = pathlib.Path(args.source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"credsync: cannot read {args.source}: {exc}", file=sys.stderr)
        return common.EXIT_USAGE
    try:
        with common.outbox(settings.load_core()) as outbox:
            result = catalog.load_programs(outbox.database, source)
    except catalog.CatalogError as exc:
        print(f"credsync: {exc}", file=sys.stderr)
        return common.EXIT_USAGE
    print(f"programs: {result.inserted} inserted, {result.updated} updated, {result.unchanged} unchanged")
    for index, reason in result.skipped:
        print(f"  skipped document {index}: {reason}", file=sys.stderr)
    if result.next_page:
        print(f"this was one page: load the next one too ({result.next_page})")
    return common.EXIT_PROBLEM if result.skipped else common.EXIT_OK
