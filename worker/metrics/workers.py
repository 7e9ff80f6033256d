"""The worker processes' own metrics (``WorkerMetrics``), and the middleware that exports them.

Every Dramatiq worker process writes its values to the files of its run (prometheus_client's
multiprocess mode). The middleware, which records Dramatiq's message metrics too, is
``worker.metrics.exporter``; the process that serves them all, ``worker.metrics.exposition``.
See ``worker.metrics`` for the names; ``prometheus_client`` is imported inside functions only
(why: ``worker.metrics``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec

import dramatiq

from worker import settings
from worker.metrics import exporter, exposition

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

#: Buckets of the insert → finished latency: from a sub-second pickup to a row that took an hour.
ROW_LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

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
    """The broker middleware that exports the worker processes' metrics (``worker.metrics.exporter``).

    Its run directories are under ``exposition.base_dir(config)``; its exposition process serves on
    ``CREDSYNC_METRICS_HOST`` and ``CREDSYNC_METRICS_PORT``.
    """
    return exporter.Exporter(exposition.base_dir(config))
