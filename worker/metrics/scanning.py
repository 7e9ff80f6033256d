"""The scanner process's metrics: the outbox gauges, read at each scrape, and the scanner's counters.

Served on ``CREDSYNC_METRICS_PORT`` + 1 by ``ScannerMetrics.serve``; the scanner tells
``ScannerMetrics.observe`` what each pass did (``Scanner(observe=...)``). See ``worker.metrics``
for the names; ``prometheus_client`` is imported inside functions only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, cast

from worker import db
from worker.outbox import repository, scanner

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

#: A scrape's queries give up after this long (Prometheus' own scrape timeout defaults to 10 s).
SCRAPE_STATEMENT_TIMEOUT_MS = 5_000
#: Row statuses counted by ``credsync_outbox_rows`` (done rows, most of the table, are not counted).
COUNTED_STATUSES = ("pending", "enqueued", "running", "retrying", "failed")
HOLD_KINDS = ("retry_after", "learner_throttle", "refused")


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
