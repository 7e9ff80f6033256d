"""Prometheus metrics: what each process counts and measures, and where it is served.

Off unless ``CREDSYNC_METRICS_PORT`` is set (``worker.settings``); then each process serves
``/metrics`` on ``CREDSYNC_METRICS_HOST`` (default ``127.0.0.1``):

* **worker**, on the port: Dramatiq's ``Prometheus`` middleware (``dramatiq_messages_total``,
  ``dramatiq_message_errors_total``, ``dramatiq_message_duration_milliseconds``, ...) and
  ``WorkerMetrics`` (``credsync_http_requests_total{method,status}``,
  ``credsync_rows_total{task,outcome}``, ``credsync_row_latency_seconds{task,outcome}``), written
  by every Dramatiq process to shared files and served by one exposition process
  (``serve_worker_metrics``, a Dramatiq fork);
* **scanner**, on the port + 1: ``ScannerMetrics``, the outbox gauges read from the database at
  scrape time (``OutboxCollector``) and the scanner's own counters.

``prometheus_client`` is imported inside functions only, never when this module is imported: in a
Dramatiq worker process it must be imported after the middleware has set
``PROMETHEUS_MULTIPROC_DIR`` (at process boot), because it chooses between in-process values and
shared files once, at import.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, cast

import dramatiq

from worker import db, settings
from worker.outbox import repository, scanner

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

#: Buckets of the insert → finished latency: from a sub-second pickup to a row that took an hour.
ROW_LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
#: A scrape's queries give up after this long (Prometheus' own scrape timeout defaults to 10 s).
SCRAPE_STATEMENT_TIMEOUT_MS = 5_000
#: Row statuses counted by ``credsync_outbox_rows`` (done rows, most of the table, are not counted).
COUNTED_STATUSES = ("pending", "enqueued", "running", "retrying", "failed")
HOLD_KINDS = ("retry_after", "learner_throttle", "refused")
#: The exposition process's main thread waits on its server thread in steps this long (a signal
#: interrupts the wait at once).
_IDLE_WAIT_S = 3600.0

P = ParamSpec("P")


# -- worker processes -------------------------------------------------------------------------------


class WorkerMetrics:
    """The credsync metrics of one worker process: HTTP exchanges and row outcomes.

    Create it after Dramatiq's process boot (``app.runtime()`` does, lazily). ``registry`` is for
    tests; in a worker process the values go to the shared files whatever the registry.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        import prometheus_client

        registry = registry if registry is not None else prometheus_client.CollectorRegistry()
        self.http_requests = prometheus_client.Counter(
            "credsync_http_requests",
            "HTTP requests to Credentials and its token endpoint, by method and status (none: no answer).",
            ["method", "status"],
            registry=registry,
        )
        self.rows = prometheus_client.Counter(
            "credsync_rows",
            "Row outcomes recorded by workers: done, failed, retrying, deferred (a cooldown).",
            ["task", "outcome"],
            registry=registry,
        )
        self.row_latency = prometheus_client.Histogram(
            "credsync_row_latency_seconds",
            "Seconds from a row's insert to its finish (done or failed).",
            ["task", "outcome"],
            buckets=ROW_LATENCY_BUCKETS_S,
            registry=registry,
        )

    def http_exchange(
        self, method: str, url: str, status: int | None, duration_ms: int, error: str | None
    ) -> None:
        """A ``CredentialsClient`` observer: count one exchange."""
        self.http_requests.labels(method, "none" if status is None else str(status)).inc()

    def row_outcome(self, task: str, outcome: str, latency_s: float | None) -> None:
        """An ``actors.Runtime.on_outcome`` hook: count the outcome, and observe its latency if given."""
        self.rows.labels(task, outcome).inc()
        if latency_s is not None:
            self.row_latency.labels(task, outcome).observe(latency_s)


def tee(*observers: Callable[P, None]) -> Callable[P, None]:
    """One observer that tells each of ``observers`` in turn; a failing one does not stop the others."""

    def observe(*args: P.args, **kwargs: P.kwargs) -> None:
        for observer in observers:
            try:
                observer(*args, **kwargs)
            except Exception:
                log.exception("observer %r failed", observer)

    return observe


def dramatiq_middleware(config: settings.CoreSettings) -> dramatiq.Middleware:
    """Dramatiq's ``Prometheus`` middleware, with its files in a directory per Dramatiq run.

    Its exposition process is ``serve_worker_metrics`` (on ``CREDSYNC_METRICS_HOST`` and
    ``CREDSYNC_METRICS_PORT``) instead of Dramatiq's own, which would read host and port from
    ``dramatiq_prom_*`` variables of the Dramatiq parent process, not of the worker processes.
    """
    prometheus = _dramatiq_prometheus(config)

    class Exporter(prometheus.Prometheus):  # type: ignore[misc, name-defined]
        @property
        def forks(self) -> list[Callable[[], int]]:
            return [serve_worker_metrics]

        def after_process_boot(self, broker: dramatiq.Broker) -> None:
            run = _run_dir(config)
            run.mkdir(parents=True, exist_ok=True)
            prometheus.DB_PATH = str(run)
            super().after_process_boot(broker)

    return cast(dramatiq.Middleware, Exporter())


def serve_worker_metrics() -> int:
    """The exposition process Dramatiq forks once per run: every worker process's metrics, until SIGTERM.

    It reads the shared files of this Dramatiq run, and first removes the directories left by
    runs whose Dramatiq process is gone (prometheus_client's files must not outlive their run).
    """
    config = settings.load_core()
    assert config.metrics_port is not None
    run = _run_dir(config)
    run.mkdir(parents=True, exist_ok=True)
    _remove_finished_runs(run)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(run)
    import prometheus_client
    from prometheus_client import multiprocess

    registry = prometheus_client.CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(run))  # type: ignore[no-untyped-call]
    try:
        server, thread = prometheus_client.start_http_server(
            config.metrics_port, addr=config.metrics_host, registry=registry
        )
    except OSError as exc:
        log.error(
            "metrics: cannot serve on %s:%d (%s); workers run on without metrics",
            config.metrics_host,
            config.metrics_port,
            exc,
        )
        return 1
    log.info("metrics: serving worker metrics on http://%s:%d/metrics", *server.server_address[:2])
    try:
        while thread.is_alive():
            thread.join(_IDLE_WAIT_S)
    finally:
        server.shutdown()
        server.server_close()
    return 0


def _dramatiq_prometheus(config: settings.CoreSettings) -> Any:
    """``dramatiq.middleware.prometheus``, imported after its ``dramatiq_prom_*`` variables are set."""
    assert config.metrics_port is not None
    base = _base_dir(config)
    # The module reads these once, at import (lower case, as Dramatiq spells them); its globals are
    # set as well, in case it was imported before.
    os.environ.update(
        dramatiq_prom_host=config.metrics_host,
        dramatiq_prom_port=str(config.metrics_port),
        dramatiq_prom_db=str(base),
    )
    from dramatiq.middleware import prometheus

    prometheus.HTTP_HOST = config.metrics_host
    prometheus.HTTP_PORT = config.metrics_port
    prometheus.DB_PATH = str(base)
    base.mkdir(parents=True, exist_ok=True)
    return prometheus


def _base_dir(config: settings.CoreSettings) -> Path:
    return Path(tempfile.gettempdir()) / f"credsync-prometheus-{config.queue_name}-{config.metrics_port}"


def _run_dir(config: settings.CoreSettings) -> Path:
    # The worker processes and the exposition process are all children of one Dramatiq process.
    return _base_dir(config) / str(os.getppid())


def _remove_finished_runs(current: Path) -> None:
    for entry in current.parent.iterdir():
        if entry != current and entry.name.isdigit() and not _alive(int(entry.name)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- the scanner process ---------------------------------------------------------------------------


class OutboxCollector:
    """Outbox gauges read from the database at each scrape (a custom prometheus_client collector).

    ``gate`` is the scanner's (why processing is paused, or None). A failing query does not fail
    the scrape: its metrics are left out and ``credsync_metrics_scrape_error`` is 1. Scrapes are
    serialized, so they hold at most one of the scanner's database connections.
    """

    def __init__(
        self,
        database: db.Database,
        gate: scanner.Gate,
        *,
        clock: repository.Clock = repository.database_clock,
        timeout_ms: int = SCRAPE_STATEMENT_TIMEOUT_MS,
    ) -> None:
        self.database = database
        self.gate = gate
        self.clock = clock
        self.timeout_ms = timeout_ms
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            return iter(self._collect())

    def _collect(self) -> list[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        found: list[Metric] = []
        failed = False
        try:
            counts, waits, holds = self._read()
        except Exception as exc:
            log.warning("metrics: could not read the outbox: %s", exc)
            failed = True
        else:
            rows = GaugeMetricFamily(
                "credsync_outbox_rows",
                "Rows per status (done rows are not counted).",
                labels=["status"],
            )
            for status in COUNTED_STATUSES:
                rows.add_metric([status], counts[status])
            found.append(rows)
            found.append(
                GaugeMetricFamily(
                    "credsync_outbox_oldest_pending_age_seconds",
                    "Seconds since the oldest pending row was inserted (0: none pending).",
                    value=waits["oldest_pending_age_s"] or 0.0,
                )
            )
            found.append(
                GaugeMetricFamily(
                    "credsync_outbox_claim_lag_seconds",
                    "Seconds the longest-due claimable row has waited to be claimed (0: none).",
                    value=waits["claim_lag_s"] or 0.0,
                )
            )
            held = GaugeMetricFamily(
                "credsync_holds",
                "Holds in force by kind: retry_after (a service asked to wait), learner_throttle (one "
                "learner's reads), refused (Credentials refuses a kind of call: needs a fix).",
                labels=["kind"],
            )
            by_kind = {row["kind"]: row["holds"] for row in holds}
            for kind in HOLD_KINDS:
                held.add_metric([kind], by_kind.get(kind, 0.0))
            found.append(held)
        try:
            paused = self.gate()
        except Exception as exc:
            log.warning("metrics: could not tell whether processing is paused: %s", exc)
            failed = True
        else:
            found.append(
                GaugeMetricFamily(
                    "credsync_processing_paused",
                    "1 while nothing is claimed (Credentials config disabled, or a cooldown), else 0.",
                    value=float(paused is not None),
                )
            )
        found.append(
            GaugeMetricFamily(
                "credsync_metrics_scrape_error",
                "1 when a query of this scrape failed (its metrics are missing), else 0.",
                value=float(failed),
            )
        )
        return found

    def _read(self) -> tuple[db.Row, db.Row, list[db.Row]]:
        with self.database.transaction() as cur:
            db.fetch_one(cur, "metrics_limit_statement_time", {"timeout_ms": self.timeout_ms})
            counts = db.fetch_one(cur, "metrics_outbox_rows")
            now = self.clock()
            waits = db.fetch_one(cur, "metrics_outbox_waits", {"now": now})
            holds = db.fetch_all(cur, "metrics_holds", {"now": now})
        assert counts is not None
        assert waits is not None
        return counts, waits, holds


class ScannerMetrics:
    """The scanner process's own registry: the scanner's counters, and ``OutboxCollector`` once registered."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        import prometheus_client

        self.registry = registry if registry is not None else prometheus_client.CollectorRegistry()
        self.claimed = prometheus_client.Counter(
            "credsync_scanner_claimed", "Rows claimed by the scanner.", registry=self.registry
        )
        self.rescued = prometheus_client.Counter(
            "credsync_scanner_rescued",
            "In-flight rows whose lease expired, put back to pending (or failed) by the scanner.",
            registry=self.registry,
        )

    def register(self, collector: OutboxCollector) -> None:
        """Serve ``collector``'s gauges too."""
        self.registry.register(cast("Collector", collector))

    def observe(self, result: scanner.ScanResult) -> None:
        """Count what one scanner pass did."""
        self.claimed.inc(result.claimed)
        self.rescued.inc(result.rescued)

    def serve(self, host: str, port: int) -> Callable[[], None] | None:
        """Serve ``/metrics`` in a background thread; returns how to stop it (None: could not listen)."""
        import prometheus_client

        try:
            server, thread = prometheus_client.start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            log.error("metrics: cannot serve on %s:%d (%s); scanning without metrics", host, port, exc)
            return None
        log.info("metrics: serving scanner metrics on http://%s:%d/metrics", host, port)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return stop


class ObservedScanner(scanner.Scanner):
    """A ``scanner.Scanner`` that tells ``observe`` what each pass did (the scanner's counters)."""

    def __init__(self, *args: Any, observe: Callable[[scanner.ScanResult], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.observe = observe

    def run_once(self, *, rescue: bool | None = None) -> scanner.ScanResult:
        result = super().run_once(rescue=rescue)
        try:
            self.observe(result)
        except Exception:
            log.exception("metrics: could not count a scan")
        return result
