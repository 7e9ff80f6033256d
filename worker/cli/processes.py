"""The ``credsync`` commands that run processes: migrate, worker, scanner, scheduler, maintenance."""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from worker import migrate, settings, tasks
from worker.cli import common
from worker.metrics import scanning
from worker.outbox import repository

if TYPE_CHECKING:
    from worker import composition

log = logging.getLogger(__name__)

#: In-flight actors get this long to finish after SIGTERM (the Procfile contract: exit within 10 s).
WORKER_SHUTDOWN_TIMEOUT_MS = 9_000
DEFAULT_THREADS = 8
#: Beyond these a worker would exhaust the machine before doing any work.
MAX_PROCESSES, MAX_THREADS = 256, 1_000


def register(add: common.Add) -> None:
    p = add("migrate", _migrate, "apply the credsync migrations and register the tasks (idempotent)")
    p.add_argument("--reference-host", action="store_true", help="also create the reference host tables")
    p.add_argument(
        "--with-triggers",
        action="store_true",
        help="with --reference-host: host tables enqueue the upstream signals' tasks themselves",
    )

    # Listed for --help only: worker.cli.main hands `credsync emulator ...` to the emulator's own parser.
    add("emulator", _emulator, "run the local Credentials + OAuth2 emulator (credsync emulator --help)")

    p = add("worker", _worker, "run the Dramatiq workers (in their own session; one TERM forwarded)")
    p.add_argument(
        "--processes",
        "-p",
        type=common.whole_number(MAX_PROCESSES),
        default=None,
        help="worker processes (default: CPUs)",
    )
    p.add_argument(
        "--threads",
        "-t",
        type=common.whole_number(MAX_THREADS),
        default=DEFAULT_THREADS,
        help=f"threads per process (default {DEFAULT_THREADS})",
    )

    add("scanner", _scanner, "run the scanner: claim due rows and send them to the broker")
    add("scheduler", _scheduler, "run the periodiq scheduler: per-minute maintenance (run one)")
    add("maintenance", _maintenance, "run the maintenance pass once, now")


def _migrate(args: argparse.Namespace) -> int:
    config = settings.load_core()
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
    return common.EXIT_OK


def _emulator(args: argparse.Namespace) -> int:
    from worker.emulator import cli as emulator_cli

    return emulator_cli.main([])


def _worker(args: argparse.Namespace) -> int:
    config = settings.load()  # fail here, with the variable named, rather than in every child
    command = [sys.executable, "-m", "dramatiq", "worker.app", "--threads", str(args.threads)]
    command += ["--queues", config.queue_name, "--worker-shutdown-timeout", str(WORKER_SHUTDOWN_TIMEOUT_MS)]
    if args.processes:
        command += ["--processes", str(args.processes)]
    return supervise(command)


def supervise(command: list[str]) -> int:
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


def _scanner(args: argparse.Namespace) -> int:
    return run_scanner(common.app(settings.load()))


def run_scanner(app: composition.App) -> int:
    """The ``scanner`` process: scan until SIGTERM or SIGINT (with metrics, serve them on port + 1)."""
    from worker import composition

    config = app.config
    broker = app.broker
    database = app.open_database("credsync-scanner", composition.SCANNER_POOL_MAX_SIZE)
    outbox = repository.Outbox(database, lease_s=config.lease_s)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        log.info("scanner: %s received, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop_metrics: Callable[[], None] | None = None
    if config.metrics_port is None:
        the_scanner = app.make_scanner(outbox)
    else:
        exported = scanning.ScannerMetrics()
        the_scanner = app.make_scanner(outbox, observe=exported.observe)
        # The gauges are read at scrape time, with the scanner's own pool and pause gate.
        exported.register(scanning.OutboxCollector(database, the_scanner.gate))
        stop_metrics = exported.serve(config.metrics_host, config.metrics_port + 1)
    try:
        the_scanner.run_forever(stop, interval_s=config.scan_interval_ms / 1000)
    finally:
        if stop_metrics is not None:
            stop_metrics()
        database.close()
        broker.close()
    return 0


def _scheduler(args: argparse.Namespace) -> int:
    from worker import scheduler

    return scheduler.run(common.app(settings.load()).broker)


def _maintenance(args: argparse.Namespace) -> int:
    app = common.app(settings.load())
    try:
        app.run_maintenance()
    finally:
        app.close()
    return common.EXIT_OK
