"""``OutboxRows``: a Dramatiq middleware that mirrors Dramatiq's retry decisions onto the rows.

* ``before_enqueue`` with a delay for an attempt that just failed → row ``retrying``, due then;
* ``after_nack`` (retries exhausted, a ``throws`` error, a dead message) → row ``failed``;
* while the worker runs, a heartbeat thread extends the lease of the rows it is running, so
  the lease rescue never re-runs a row that is still running.
Every hook is guarded: a database error here is logged and the lease rescue repairs the row later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Container
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.middleware import Middleware

from worker.outbox import actors, messages

log = logging.getLogger(__name__)


class OutboxRows(Middleware):
    def __init__(
        self, runtime: Callable[[], actors.Runtime[Any]], task_names: Container[str], *, lease_s: int
    ) -> None:
        self.runtime = runtime
        self.task_names = task_names
        self.heartbeat_s = max(1.0, lease_s / 3)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def before_enqueue(
        self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int | None
    ) -> None:
        attempt = message.options.get(actors.ATTEMPT_OPTION)
        if delay is None or attempt is None or message.actor_name not in self.task_names:
            return
        for row_id in _rows(message):
            try:
                runtime = self.runtime()
                if runtime.outbox.mark_retrying(row_id, attempt, delay):
                    runtime.report(message.actor_name, "retrying")
                log.info(
                    "row %d (%s): attempt %d failed, next in %.1f s",
                    row_id,
                    message.actor_name,
                    attempt,
                    delay / 1000,
                )
            except Exception:
                log.exception("row %d: could not record the retry (the lease rescue will repair it)", row_id)

    def after_nack(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        if message.actor_name not in self.task_names or not message.args:
            return
        attempt = message.options.get(actors.ATTEMPT_OPTION)
        task = message.actor_name

        def report(latency_s: float) -> None:
            self.runtime().report(task, "failed", latency_s)

        for row_id in _rows(message):
            try:
                failed = self.runtime().outbox.mark_failed(row_id, attempt, on_finished=report)
                if failed:
                    log.error("row %d (%s) failed after attempt %s", row_id, message.actor_name, attempt)
            except Exception:
                log.exception(
                    "row %d: could not record the failure (the lease rescue will repair it)", row_id
                )

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._heartbeat, name="credsync-heartbeat", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                runtime = self.runtime()
                runtime.outbox.extend_leases(runtime.in_flight.snapshot())
            except Exception:
                log.exception("lease heartbeat failed")


def _rows(message: dramatiq.Message[Any] | MessageProxy) -> list[int]:
    """The rows a failed or retried delivery concerns: those it names, else every row it carries."""
    named = message.options.get(messages.ROWS_OPTION)
    return [int(row_id) for row_id in (named if named is not None else message.args)]
