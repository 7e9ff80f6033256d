"""The ``credsync`` command (also ``python -m worker``): processes, migrations, inspection, repair.

Exit codes: 0 success; 1 the command ran but found a problem (e.g. ``wait`` timed out,
``status --fail-on-failed`` saw failed rows); 2 invalid usage or configuration; 3 database error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from worker import db, errors, logs, migrate, settings, tasks
from worker.outbox import repository

if TYPE_CHECKING:
    from worker import composition

log = logging.getLogger("credsync")

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_DATABASE = 0, 1, 2, 3
#: In-flight actors get this long to finish after SIGTERM (the Procfile contract: exit within 10 s).
WORKER_SHUTDOWN_TIMEOUT_MS = 9_000


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["emulator"]:
        # The emulator has options of its own (keys, switches): its parser reads them all.
        from worker.emulator import cli as emulator_cli

        return emulator_cli.main(given[1:])
    parser = _parser()
    args = parser.parse_args(given)
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        # Only the logging settings here: each command reads the rest, and only what it needs.
        logging_config = settings.load_logging()
        logs.configure(logging_config.log_format, logging_config.log_level)
        return command(args)
    except errors.ConfigurationError as exc:
        print(f"credsync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except errors.DatabaseError as exc:
        print(f"credsync: database error: {exc}", file=sys.stderr)
        return EXIT_DATABASE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="credsync", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(command=func)
        return p

    p = command("migrate", _migrate, "apply the credsync migrations and register the tasks (idempotent)")
    p.add_argument("--reference-host", action="store_true", help="also create the reference host tables")
    p.add_argument(
        "--with-triggers",
        action="store_true",
        help="with --reference-host: host tables enqueue the upstream signals' tasks themselves",
    )

    # Listed for --help only: main() hands `credsync emulator ...` to the emulator's own parser.
    command("emulator", _emulator, "run the local Credentials + OAuth2 emulator (credsync emulator --help)")

    p = command("worker", _worker, "run the Dramatiq workers (in their own session; one TERM forwarded)")
    p.add_argument("--processes", "-p", type=int, default=None, help="worker processes (default: CPUs)")
    p.add_argument("--threads", "-t", type=int, default=8, help="threads per process (default 8)")

    command("scanner", _scanner, "run the scanner: claim due rows and send them to the broker")
    command("scheduler", _scheduler, "run the periodiq scheduler: per-minute maintenance (run one)")
    command("maintenance", _maintenance, "run the maintenance pass once, now")

    p = command("status", _status, "rows per task and status, and whether processing is paused")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--fail-on-failed", action="store_true", help="exit 1 when any row is failed")

    p = command("failed", _failed, "recent failed rows with their last error")
    p.add_argument("--limit", type=int, default=20)

    p = command("show", _show, "one row, every column")
    p.add_argument("id", type=int)

    p = command("retry", _retry, "put failed rows back to pending with a fresh attempt budget")
    p.add_argument("ids", type=int, nargs="*")
    p.add_argument("--task", help="only failed rows of this task (with --all-failed)")
    p.add_argument("--all-failed", action="store_true", help="every failed row (or of --task)")
    p.add_argument("--dry-run", action="store_true", help="only count what would be retried")

    p = command("prune", _prune, "delete finished rows older than the retention")
    p.add_argument("--older-than-days", type=int, default=None, help="for done and failed rows alike")

    p = command(
        "backfill", _backfill, "enqueue rows for the whole platform (upstream's backpopulate); resumable"
    )
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument(
        "--programs", action="store_true", help="award_program_certificates per passing learner"
    )
    kind.add_argument(
        "--course-certificates", action="store_true", help="award_course_certificate per certificate"
    )
    p.add_argument("--since", type=_aware_datetime, help="only certificates modified since (ISO 8601)")
    p.add_argument("--batch", type=int, default=1000, help="rows per transaction (default 1000)")
    p.add_argument("--restart", action="store_true", help="run a finished backfill of the same kind again")

    p = command("load-programs", _load_programs, "upsert catalog programs (the catalog service's JSON)")
    p.add_argument(
        "source", help="a JSON file (a program, a list, or a /api/v1/programs/ page), or - for stdin"
    )

    command(
        "doctor", _doctor, "check the database, the broker and Credentials; a verdict and advice for each"
    )

    p = command("enqueue", _enqueue, "insert one outbox row (as a host would)")
    p.add_argument("task")
    p.add_argument("payload", help="JSON object")

    p = command("wait", _wait, "wait until every row is done or failed")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds (default 300)")
    return parser


def _core() -> settings.CoreSettings:
    return settings.load_core()


@contextlib.contextmanager
def _outbox(config: settings.CoreSettings) -> Iterator[repository.Outbox]:
    """The outbox for one command; its connections are closed however the command ends."""
    database = db.Database(
        config.database_url, host_schema=config.host_schema, max_size=2, application_name="credsync-cli"
    )
    try:
        yield repository.Outbox(database, lease_s=config.lease_s)
    finally:
        database.close()


def _migrate(args: argparse.Namespace) -> int:
    config = _core()
    report = migrate.run(
        config.database_url,
        host_schema=config.host_schema,
        tasks=tasks.REGISTRY.registrations(),
        reference_host=args.reference_host,
        with_triggers=args.with_triggers,
    )
    print(f"migrations applied: {', '.join(report.applied) or 'none (up to date)'}")
    print(f"tasks registered: {', '.join(report.tasks)}")
    if report.reference_host:
        print(f"reference host tables present in schema {config.host_schema}")
    if report.with_triggers:
        print(
            f"host triggers installed in schema {config.host_schema} (certificate and course changes enqueue)"
        )
    return EXIT_OK


def _emulator(args: argparse.Namespace) -> int:
    from worker.emulator import cli as emulator_cli

    return emulator_cli.main([])


def _worker(args: argparse.Namespace) -> int:
    config = settings.load()  # fail here, with the variable named, rather than in every child
    command = [sys.executable, "-m", "dramatiq", "worker.app", "--threads", str(args.threads)]
    command += ["--queues", config.queue_name, "--worker-shutdown-timeout", str(WORKER_SHUTDOWN_TIMEOUT_MS)]
    if args.processes:
        command += ["--processes", str(args.processes)]
    return _supervise(command)


def _supervise(command: list[str]) -> int:
    """Run ``command`` in its own session and forward one SIGTERM/SIGINT to it.

    Process managers (honcho, systemd's default KillMode) signal the whole process group; Dramatiq
    exits hard on a second SIGTERM, stranding prefetched messages. In its own session the child gets
    exactly one TERM from us, lets in-flight actors finish and requeues the rest.
    """
    child = subprocess.Popen(command, start_new_session=True)
    forwarded = False

    def forward(signum: int, frame: object) -> None:
        nonlocal forwarded
        if not forwarded:
            forwarded = True
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return child.wait()


def _app(config: settings.CoreSettings) -> composition.App:
    """The app, as the Procfile's processes build it (``worker.composition``)."""
    from worker import composition

    return composition.build(config)


def _scanner(args: argparse.Namespace) -> int:
    return _app(settings.load()).run_scanner()


def _scheduler(args: argparse.Namespace) -> int:
    from worker import scheduler

    return scheduler.run(_app(settings.load()).broker)


def _maintenance(args: argparse.Namespace) -> int:
    _app(settings.load()).run_maintenance()
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from worker.outbox import cooldowns

    config: settings.CoreSettings
    try:
        config = settings.load()  # with CREDENTIALS_URL, the scanner's gate pauses on its cooldowns too
    except errors.ConfigurationError:
        config = _core()
    with _outbox(config) as outbox:
        summary = outbox.summary()
        activity = outbox.recent_activity()
        paused = _app(config).gate(outbox.database)()
        holds = cooldowns.Cooldowns(outbox.database, cache_s=0).holds()
    cooling = [f"{h.scope}: {h.reason}" for h in holds if h.kind != "refused"]
    refused = [h.reason for h in holds if h.kind == "refused"]
    failed = sum(r["rows"] for r in summary if r["status"] == "failed")
    if args.json:
        print(
            json.dumps(
                {"rows": summary, **activity, "paused": paused, "cooldowns": cooling, "refused": refused},
                default=str,
            )
        )
    else:
        _print_table(["task", "status", "rows", "oldest_age_s"], summary)
        oldest = activity["oldest_pending_s"]
        print(f"finished per minute (last hour): {activity['finished_per_minute']:.1f}")
        print(f"oldest pending row: {'none' if oldest is None else f'{oldest:.0f} s old'}")
        print(f"processing: {'PAUSED: ' + paused if paused else 'active'}")
        for line in refused:
            print(f"REFUSED (rows that need it wait, no attempt used): {line}")
        for line in cooling:
            print(f"cooling down: {line}")
    return EXIT_PROBLEM if args.fail_on_failed and failed else EXIT_OK


def _failed(args: argparse.Namespace) -> int:
    with _outbox(_core()) as outbox:
        rows = outbox.recent_failed(args.limit)
    _print_table(["id", "task", "attempts", "finished_at", "last_error", "payload"], rows)
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    from worker.outbox import ledger

    with _outbox(_core()) as outbox:
        row = outbox.get(args.id)
        if row is not None:
            row["deliveries"] = ledger.Ledger(outbox.database).of_row(args.id)
    if row is None:
        print(f"credsync: no outbox row {args.id}", file=sys.stderr)
        return EXIT_PROBLEM
    print(json.dumps(row, indent=2, default=str))
    return EXIT_OK


def _retry(args: argparse.Namespace) -> int:
    if not args.ids and not args.all_failed:
        print("credsync: name row ids, or pass --all-failed [--task T]", file=sys.stderr)
        return EXIT_USAGE
    with _outbox(_core()) as outbox:
        ids = list(args.ids) if args.ids else outbox.failed_ids(args.task)
        if args.dry_run:
            print(f"{len(ids)} failed rows would be retried")
            return EXIT_OK
        retried = outbox.retry_failed(ids)
    skipped = len(ids) - len(retried)
    print(f"{len(retried)} rows back to pending" + (f" ({skipped} were not failed)" if skipped else ""))
    return EXIT_OK


def _prune(args: argparse.Namespace) -> int:
    config = _core()
    done_days = config.retention_done_days if args.older_than_days is None else args.older_than_days
    failed_days = config.retention_failed_days if args.older_than_days is None else args.older_than_days
    total = 0
    with _outbox(config) as outbox:
        while deleted := outbox.prune_finished(done_days=done_days, failed_days=failed_days):
            total += deleted
    print(f"pruned {total} rows")
    return EXIT_OK


def _aware_datetime(text: str) -> datetime.datetime:
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _backfill(args: argparse.Namespace) -> int:
    from worker.ops import backfill

    kind: backfill.Kind = "programs" if args.programs else "course_certificates"

    def progress(p: backfill.BackfillProgress) -> None:
        print(f"  {p.rows} rows enqueued (up to id {p.last_key}) in {p.elapsed_s:.1f} s", file=sys.stderr)

    with _outbox(_core()) as outbox:
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
    return EXIT_OK


def _load_programs(args: argparse.Namespace) -> int:
    from worker.ops import catalog

    source = sys.stdin.read() if args.source == "-" else pathlib.Path(args.source).read_text(encoding="utf-8")
    try:
        with _outbox(_core()) as outbox:
            result = catalog.load_programs(outbox.database, source)
    except catalog.CatalogError as exc:
        print(f"credsync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"programs: {result.inserted} inserted, {result.updated} updated, {result.unchanged} unchanged")
    for index, reason in result.skipped:
        print(f"  skipped document {index}: {reason}", file=sys.stderr)
    if result.next_page:
        print(f"this was one page: load the next one too ({result.next_page})")
    return EXIT_PROBLEM if result.skipped else EXIT_OK


def _doctor(args: argparse.Namespace) -> int:
    from worker.ops import doctor

    config = _core()
    client = None
    try:
        full = settings.load()
    except errors.ConfigurationError as exc:
        full = None
        print(f"credsync: Credentials not checked: {exc}", file=sys.stderr)
    try:
        with _outbox(config) as outbox:
            if full is not None:
                # No hold book: the doctor's probes must not make rows wait.
                client = _app(full).client(outbox.database, holds=False)
            findings = doctor.run(
                database=outbox.database,
                broker_url=config.broker_url,
                queue_name=config.queue_name,
                credentials=client,
                claim=doctor.ClaimSettings.of(config),
            )
    finally:
        if client is not None:
            client.close()
    print(doctor.render(findings))
    return doctor.exit_code(findings)


def _enqueue(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.payload)
    except json.JSONDecodeError as exc:
        print(f"credsync: the payload is not JSON: {exc}", file=sys.stderr)
        return EXIT_USAGE
    with _outbox(_core()) as outbox:
        print(outbox.insert(args.task, payload))
    return EXIT_OK


def _wait(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    with _outbox(_core()) as outbox:
        while (left := outbox.unsettled_count()) > 0:
            if time.monotonic() > deadline:
                print(f"credsync: {left} rows still unsettled after {args.timeout:.0f} s", file=sys.stderr)
                return EXIT_PROBLEM
            time.sleep(0.2)
    return EXIT_OK


def _print_table(columns: list[str], rows: list[dict[str, Any]]) -> None:
    def cell(value: Any) -> str:
        text = json.dumps(value) if isinstance(value, dict | list) else "" if value is None else str(value)
        return text if len(text) <= 80 else text[:77] + "..."

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    if not rows:
        print("(no rows)")
