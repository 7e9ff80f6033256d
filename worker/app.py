"""Composition root: the broker, the outbox machinery and the sync tasks wired together.

``dramatiq worker.app`` and ``periodiq worker.app`` import this module; the ``scanner`` process
calls ``run_scanner``. Settings are read once at import (an invalid value stops the process with a
message naming the variable). Everything holding connections is built lazily, once per process,
so it is created after Dramatiq forks its worker processes (and, with metrics on, after Dramatiq's
Prometheus middleware has prepared them: see ``worker.metrics``).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import dramatiq
from periodiq import cron

from worker import broker as brokers
from worker import db, errors, logs, metrics, settings, tasks
from worker.clients import credentials
from worker.outbox import actors, cooldowns, ledger, maintenance, middleware, repository, rows, scanner
from worker.sync import host

log = logging.getLogger(__name__)

MAINTENANCE_ACTOR = "credsync_maintenance"
#: Database connections per worker process: Dramatiq's threads plus the heartbeat and hooks.
POOL_MAX_SIZE = 16


def _load_settings() -> settings.Settings:
    try:
        return settings.load()
    except errors.ConfigurationError as exc:
        print(f"credsync: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


SETTINGS = _load_settings()
logs.apply(SETTINGS.log_format)  # on the handlers Dramatiq / periodiq set up before importing us
broker = brokers.build(SETTINGS)
dramatiq.set_broker(broker)

_runtime: actors.Runtime[tasks.Deps] | None = None
_runtime_lock = threading.Lock()


def runtime() -> actors.Runtime[tasks.Deps]:
    """This process's database pool, Credentials client and outbox repository (built on first use)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            database = db.Database(
                SETTINGS.database_url,
                host_schema=SETTINGS.host_schema,
                max_size=POOL_MAX_SIZE,
                application_name="credsync-worker",
                synchronous_commit=SETTINGS.synchronous_commit,
            )
            observer: credentials.Observer = ledger.Ledger(database).record
            on_outcome: actors.OutcomeHook | None = None
            if SETTINGS.metrics_port is not None:
                counters = metrics.WorkerMetrics()
                observer = metrics.tee(observer, counters.http_exchange)
                on_outcome = counters.row_outcome
            _runtime = actors.Runtime(
                outbox=repository.Outbox(database, lease_s=SETTINGS.lease_s),
                on_outcome=on_outcome,
                deps=tasks.build_deps(SETTINGS, database, observer=observer),
            )
        return _runtime


TASK_NAMES = frozenset(tasks.REGISTRY.names())
broker.add_middleware(middleware.OutboxRows(runtime, TASK_NAMES, lease_s=SETTINGS.lease_s))
ACTORS = actors.declare(
    broker,
    tasks.REGISTRY,
    runtime,
    queue_name=SETTINGS.queue_name,
    time_limit_ms=SETTINGS.actor_time_limit_ms,
)


def send(claimed: Sequence[rows.Claimed]) -> None:
    """Send the messages of claimed rows (each the row id only), in one round trip on Redis."""
    queue = SETTINGS.queue_name
    brokers.enqueue_many(broker, [actors.message_for(row.id, row.task, queue) for row in claimed])


def make_scanner(
    outbox: repository.Outbox,
    reader: host.HostReader,
    *,
    observe: Callable[[scanner.ScanResult], None] | None = None,
) -> scanner.Scanner:
    """A scanner that claims nothing while the host disabled sync or Credentials asked to wait.

    ``observe``, when given, is told what each pass did (the scanner's metrics).
    """
    waits = cooldowns.Cooldowns(outbox.database)
    default_destination = credentials.destination(SETTINGS.credentials_url)

    def paused() -> str | None:
        return reader.paused_reason() or waits.paused_reason(default_destination)

    options: dict[str, Any] = {
        "known_tasks": TASK_NAMES,
        "gate": paused,
        "batch": SETTINGS.claim_batch,
        "max_in_flight": SETTINGS.max_in_flight,
        "max_retries": SETTINGS.max_retries,
        "rescue_every_s": max(1.0, SETTINGS.lease_s / 6),
    }
    if observe is None:
        return scanner.Scanner(outbox, send, **options)
    return metrics.ObservedScanner(outbox, send, observe=observe, **options)


@dramatiq.actor(
    actor_name=MAINTENANCE_ACTOR,
    queue_name=SETTINGS.queue_name,
    periodic=cron("* * * * *"),
    max_retries=0,
)
def run_maintenance() -> None:
    """Every minute (periodiq): rescue lost rows, prune old finished rows, scan once."""
    rt = runtime()
    maintenance.run_once(
        rt.outbox,
        make_scanner(rt.outbox, rt.deps.host),
        max_retries=SETTINGS.max_retries,
        retention_done_days=SETTINGS.retention_done_days,
        retention_failed_days=SETTINGS.retention_failed_days,
    )


def run_scanner() -> int:
    """The ``scanner`` process: scan until SIGTERM or SIGINT."""
    database = db.Database(
        SETTINGS.database_url,
        host_schema=SETTINGS.host_schema,
        max_size=2,
        application_name="credsync-scanner",
        synchronous_commit=SETTINGS.synchronous_commit,
    )
    outbox = repository.Outbox(database, lease_s=SETTINGS.lease_s)
    reader = host.HostReader(database)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        log.info("scanner: %s received, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop_metrics: Callable[[], None] | None = None
    if SETTINGS.metrics_port is None:
        the_scanner = make_scanner(outbox, reader)
    else:
        exported = metrics.ScannerMetrics()
        the_scanner = make_scanner(outbox, reader, observe=exported.observe)
        # The gauges are read at scrape time, with the scanner's own pool and pause gate.
        exported.register(metrics.OutboxCollector(database, the_scanner.gate))
        stop_metrics = exported.serve(SETTINGS.metrics_host, SETTINGS.metrics_port + 1)
    try:
        the_scanner.run_forever(stop, interval_s=SETTINGS.scan_interval_ms / 1000)
    finally:
        if stop_metrics is not None:
            stop_metrics()
        database.close()
        broker.close()
    return 0
