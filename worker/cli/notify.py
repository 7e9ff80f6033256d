"""``credsync notify``: re-send certificates and grades to Credentials (upstream's ``notify_credentials``).

The rows go into the outbox in batches (``worker.ops.notify``); the selection is checked first
(``worker.ops.notify_selection``), and a wrong option is a usage error naming what is wrong. On a
terminal a progress bar shows on stderr; a summary ends every run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

from worker import settings
from worker.cli import common

if TYPE_CHECKING:
    from worker.ops import notify as notify_ops
    from worker.ops import notify_selection

DEFAULT_BATCH = 1000
BAR_WIDTH = 30


def register(add: common.Add) -> None:
    p = add(
        "notify",
        _notify,
        "re-send certificates and grades to Credentials (upstream's notify_credentials); resumable",
    )
    p.add_argument("--courses", nargs="+", default=[], metavar="KEY", help="course run keys")
    p.add_argument(
        "--program-uuids",
        "--program_uuids",
        nargs="+",
        default=[],
        metavar="UUID",
        help="programs: every course run of each (catalog_program), curricula and child programs included",
    )
    p.add_argument(
        "--start-date", type=common.aware_datetime, help="changed at or after (ISO 8601; no zone: UTC)"
    )
    p.add_argument(
        "--end-date", type=common.aware_datetime, help="changed at or before (ISO 8601; no zone: UTC)"
    )
    p.add_argument(
        "--auto",
        action="store_true",
        help="for cron: from where the last --auto run with the same filters ended to the last full hour",
    )
    p.add_argument(
        "--auto-window-s",
        type=common.positive_int,
        default=14400,
        help="seconds a first --auto run looks back (upstream's NOTIFY_CREDENTIALS_FREQUENCY; default 14400)",
    )
    p.add_argument(
        "--user-ids",
        "--user_ids",
        nargs="+",
        type=common.positive_int,
        default=[],
        metavar="ID",
        help="auth_user ids",
    )
    p.add_argument(
        "--notify-programs",
        "--notify_programs",
        action="store_true",
        help="also award_program_certificates for each passing certificate",
    )
    p.add_argument(
        "--revoke-program-certs",
        "--revoke_program_certs",
        action="store_true",
        help="also revoke_program_certificates for each certificate that is not passing",
    )
    p.add_argument("--dry-run", action="store_true", help="print the rows it would enqueue; enqueue nothing")
    p.add_argument(
        "--batch",
        type=common.positive_int,
        default=DEFAULT_BATCH,
        help=f"certificates or grades per transaction (default {DEFAULT_BATCH})",
    )
    p.add_argument("--restart", action="store_true", help="run a finished notify of the same selection again")


def _notify(args: argparse.Namespace) -> int:
    from worker.ops import notify, notify_selection

    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    with common.outbox(settings.load_core()) as outbox:
        try:
            selection = notify_selection.select(
                outbox.database,
                courses=args.courses,
                program_uuids=args.program_uuids,
                user_ids=args.user_ids,
                start=args.start_date,
                end=args.end_date,
                auto=args.auto,
                auto_frequency_s=args.auto_window_s,
                notify_programs=args.notify_programs,
                revoke_program_certs=args.revoke_program_certs,
            )
        except notify_selection.SelectionError as exc:
            print(f"credsync notify: {exc}", file=sys.stderr)
            return common.EXIT_USAGE
        print(f"notify {selection.name}: {describe(selection)}", file=sys.stderr)
        try:
            result = notify.run(
                outbox.database,
                selection,
                batch=args.batch,
                progress=bar.update if bar is not None else None,
                restart=args.restart,
                dry_run=args.dry_run,
                show=_show,
            )
        finally:
            if bar is not None:
                bar.close()
    print(summary(result))
    return common.EXIT_OK


def _show(task: str, payload: Mapping[str, Any]) -> None:
    print(f"would enqueue  {task}  {json.dumps(dict(payload))}")


def describe(selection: notify_selection.Selection) -> str:
    """The selection in words: course runs, users, window, program tasks."""
    runs = (
        "every course run" if selection.course_keys is None else f"{len(selection.course_keys)} course run(s)"
    )
    users = "every user" if selection.user_ids is None else f"{len(selection.user_ids)} user(s)"
    if selection.start is None and selection.end is None:
        window = "any time"
    else:
        start = "-" if selection.start is None else selection.start.isoformat()
        end = "-" if selection.end is None else selection.end.isoformat()
        window = f"changed in [{start}, {end})"
    extras = [
        flag
        for flag, on in (
            ("program awards", selection.notify_programs),
            ("program revocations", selection.revoke_program_certs),
        )
        if on
    ]
    return ", ".join([runs, users, window, *extras])


def summary(result: notify_ops.Result) -> str:
    """One line on what the run did, with the rows per task."""
    per_task = ", ".join(f"{task} {count}" for task, count in sorted(result.tasks.items())) or "none"
    if result.dry_run:
        return (
            f"DRY RUN {result.name}: would enqueue {result.enqueued} rows ({per_task}); nothing was enqueued"
        )
    if result.already_done:
        return f"notify {result.name} already finished ({result.total} rows); --restart runs it again"
    state = "finished" if result.finished else "stopped (run it again to continue)"
    resumed = " (resumed)" if result.resumed else ""
    counts = f"{result.enqueued} rows enqueued now ({per_task}), {result.total} in all"
    return f"notify {result.name}{resumed}: {counts}; {state}"


class ProgressBar:
    """One line on a terminal, redrawn after each batch: the phase, how far, rows so far, time."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.drawn = False

    def update(self, progress: notify_ops.Progress) -> None:
        filled = round(progress.fraction * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        rows = f"{progress.rows:,} rows  {progress.elapsed_s:.1f} s"
        self.stream.write(f"\r  {progress.phase:<12} [{bar}] {progress.fraction:4.0%}  {rows}")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
