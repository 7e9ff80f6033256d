"""The worker processes' metrics: Dramatiq's Prometheus middleware, its exposition process, and ours.

Every Dramatiq process writes its values to shared files (prometheus_client's multiprocess mode,
a directory per Dramatiq run); ``serve_worker_metrics``, forked once per run by Dramatiq, serves
their sum on ``CREDSYNC_METRICS_PORT``. See ``worker.metrics`` for the names; ``prometheus_client``
is imported inside functions only (why: ``worker.metrics``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, cast

import dramatiq

from worker import settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

#: Buckets of the insert → finished latency: from a sub-second pickup to a row that took an hour.
ROW_LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
#: The exposition process's main thread waits on its server thread in steps this long (a signal
#: interrupts the wait at once).
_IDLE_WAIT_S = 3600.0

P = ParamSpec("P")


class WorkerMetrics:
    """The credsync metrics of one worker process: HTTP exchanges and row outcomes.

    Create it after Dramatiq's process boot (``composition.App.runtime()`` does, lazily).
    ``registry`` is for tests; in a worker process the values go to the shared files whatever the
    registry.
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
