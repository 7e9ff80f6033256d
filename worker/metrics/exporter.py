"""``Exporter``: the Dramatiq middleware that exports the worker's metrics to Prometheus.

A ``dramatiq worker.app`` run is a main process that imports no credsync code, its worker processes
(each imports the broker, then Dramatiq emits ``process_boot`` in it), and one process per function
in a middleware's ``forks``, which the main process forks after the worker processes booted. So:

* each worker process, at boot, points prometheus_client's multiprocess mode at the run's directory
  (``PROMETHEUS_MULTIPROC_DIR``, read when ``prometheus_client`` is first imported), then records
  Dramatiq's message metrics there, and credsync's (``worker.metrics.workers``);
* ``exposition.serve_worker_metrics``, this middleware's fork, serves their sum.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.common import q_name

from worker.metrics import exposition

log = logging.getLogger(__name__)

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Buckets of a message's processing time, Dramatiq's own (a scrape's ``le`` labels stay as they were).
DURATION_BUCKETS_MS: tuple[float, ...] = (
    *(5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500),
    *(10_000, 30_000, 60_000, 600_000, 900_000),
)


class Exporter(dramatiq.Middleware):
    """Dramatiq's message metrics, in the files of the run's directory under ``base_dir``.

    Its hooks record nothing until ``process_boot`` (a scanner only enqueues: it has no metrics to
    give). The names and labels are those of Dramatiq's ``Prometheus`` middleware, which this replaces
    (with two of its counts corrected: ``_labels`` and ``after_enqueue`` say which).
    """

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self._messages: _Messages | None = None
        self._run: Path | None = None
        self._delayed: set[str] = set()
        self._started: dict[str, float] = {}

    @property
    def forks(self) -> list[Callable[[], int]]:
        return [exposition.serve_worker_metrics]

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        run = exposition.run_dir(self.base_dir)
        run.mkdir(parents=True, exist_ok=True)
        if "prometheus_client" in sys.modules and MULTIPROC_DIR_ENV not in os.environ:
            # (it chose in-process values at import: nothing this process records would be served)
            log.error(
                "metrics: prometheus_client was imported before process boot; pid %d exports nothing",
                os.getpid(),
            )
        os.environ[MULTIPROC_DIR_ENV] = str(run)
        self._run = run
        self._messages = _Messages()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._run is not None:
            from prometheus_client import multiprocess

            # Drops this process's share of the in-progress gauges; its counters stay in the sum.
            multiprocess.mark_process_dead(os.getpid(), str(self._run))  # type: ignore[no-untyped-call]

    def after_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int) -> None:
        # A retry is enqueued twice: with its backoff, onto the delay queue, then without a delay
        # when it is due. Dramatiq's middleware counted both; this counts the first only.
        if self._messages is not None and delay is not None and "retries" in message.options:
            self._messages.retries.labels(*_labels(message)).inc()

    def after_nack(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        if self._messages is not None:
            self._messages.rejects.labels(*_labels(message)).inc()

    def before_delay_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        if self._messages is not None:
            self._delayed.add(message.message_id)
            self._messages.delayed.labels(*_labels(message)).inc()

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        if self._messages is None:
            return
        if message.message_id in self._delayed:
            self._delayed.discard(message.message_id)
            self._messages.delayed.labels(*_labels(message)).dec()
        self._messages.in_progress.labels(*_labels(message)).inc()
        self._started[message.message_id] = time.monotonic()

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any | None = None,
        exception: BaseException | None = None,
    ) -> None:
        if self._messages is None:
            return
        labels = _labels(message)
        started = self._started.pop(message.message_id, None)
        self._messages.total.labels(*labels).inc()
        if exception is not None:
            self._messages.errors.labels(*labels).inc()
        # A message skipped by an earlier middleware's before hook never reached ours: it was not
        # counted in progress, and has no duration. Out of progress last: a scrape that sees it so
        # sees it counted.
        if started is not None:
            self._messages.duration.labels(*labels).observe((time.monotonic() - started) * 1000)
            self._messages.in_progress.labels(*labels).dec()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self.after_process_message(broker, message)


class _Messages:
    """The message metrics of one worker process, by queue and actor (built after process boot)."""

    def __init__(self) -> None:
        import prometheus_client

        # A registry of their own: in multiprocess mode the values live in the files anyway, and
        # the process's default registry stays free for whoever else uses it.
        registry = prometheus_client.CollectorRegistry()
        labels = ("queue_name", "actor_name")

        def counter(name: str, help_text: str) -> prometheus_client.Counter:
            return prometheus_client.Counter(name, help_text, labels, registry=registry)

        def gauge(name: str, help_text: str) -> prometheus_client.Gauge:
            # livesum: the sum over the run's live processes (a stopped one's share goes with it).
            return prometheus_client.Gauge(
                name, help_text, labels, registry=registry, multiprocess_mode="livesum"
            )

        self.total = counter("dramatiq_messages", "Messages processed (or skipped).")
        self.errors = counter("dramatiq_message_errors", "Messages whose actor raised.")
        self.retries = counter("dramatiq_message_retries", "Messages enqueued again for a retry.")
        self.rejects = counter("dramatiq_message_rejects", "Messages rejected (dead-lettered).")
        self.in_progress = gauge("dramatiq_messages_inprogress", "Messages being processed now.")
        self.delayed = gauge("dramatiq_delayed_messages_inprogress", "Delayed messages held in memory.")
        self.duration = prometheus_client.Histogram(
            "dramatiq_message_duration_milliseconds",
            "Milliseconds spent processing a message.",
            labels,
            buckets=DURATION_BUCKETS_MS,
            registry=registry,
        )


def _labels(message: dramatiq.Message[Any] | MessageProxy) -> tuple[str, str]:
    # The queue, not its delay queue ("<queue>.DQ"), which a delayed message is on when it enters
    # the worker and not when it is processed: by that label, Dramatiq's middleware left its delayed
    # gauge at +1 for the delay queue and -1 for the queue after every delayed message.
    return q_name(message.queue_name), message.actor_name
