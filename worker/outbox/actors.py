"""One row's attempt in a worker: ``execute_row`` and ``Attempt`` (actors and messages: ``messages``).

``execute_row`` is the life of one attempt: guarded start (a no-op for a finished or already
running row), the handler, then the outcome on the row. Failures are recorded on the row and
handed to Dramatiq's Retries middleware: ``TransientSyncError`` (and any unexpected exception)
retries, ``PermanentSyncError`` is in the actors' ``throws`` and fails at once. The
``OutboxRows`` middleware mirrors Dramatiq's decision onto the row (retrying / failed).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic

import dramatiq
from dramatiq.middleware import CurrentMessage

from worker import errors, logs, outcomes
from worker.outbox import handlers, ledger, repository, rows

log = logging.getLogger(__name__)

#: Message option carrying the row's attempt number, so later hooks guard on the same attempt.
ATTEMPT_OPTION = "credsync_attempt"

OutcomeHook = Callable[[str, str, "float | None"], None]
"""Told of every row outcome a worker records (metrics): task, outcome (``done``, ``failed``,
``retrying`` or ``deferred``), and for ``done`` and ``failed`` the seconds from insert to finish."""


class InFlight:
    """The rows this process is running now (for the lease heartbeat)."""

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._lock = threading.Lock()

    def add(self, row_id: int) -> None:
        with self._lock:
            self._ids.add(row_id)

    def discard(self, row_id: int) -> None:
        with self._lock:
            self._ids.discard(row_id)

    def snapshot(self) -> list[int]:
        with self._lock:
            return sorted(self._ids)


@dataclasses.dataclass
class Runtime(Generic[handlers.Deps]):
    """What running a row needs in a worker process (built lazily, after the fork)."""

    outbox: repository.Outbox
    deps: handlers.Deps
    in_flight: InFlight = dataclasses.field(default_factory=InFlight)
    on_outcome: OutcomeHook | None = None

    def report(self, task: str, outcome: str, latency_s: float | None = None) -> None:
        """Tell ``on_outcome`` of a row outcome; a failing hook is logged, never the row's problem."""
        if self.on_outcome is None:
            return
        try:
            self.on_outcome(task, outcome, latency_s)
        except Exception:
            log.exception("could not report a %s outcome of a %s row", outcome, task)


def execute_row(runtime: Runtime[Any], spec: handlers.TaskSpec[Any], row_id: int) -> None:
    """Run one attempt of row ``row_id``; raise to let Dramatiq retry or fail it.

    Logs one line per outcome with the row's context as ``extra`` fields (``worker.logs``).
    """
    row = runtime.outbox.start(row_id)
    if row is None:
        state = runtime.outbox.status_of(row_id)
        log.info("row %d (%s): not started, it is %s", row_id, spec.name, state[0] if state else "gone")
        return
    message = CurrentMessage.get_current_message()
    if message is not None:
        message.options[ATTEMPT_OPTION] = row.attempt
        # The row counts attempts across lost messages too: Retries counts from the row.
        message.options["retries"] = row.attempt - 1
    attempt = Attempt(runtime, spec, row)
    runtime.in_flight.add(row.id)
    try:
        outcome = attempt.run()
    finally:
        runtime.in_flight.discard(row.id)
    if outcome is None:
        return
    result = outcome.as_result()
    won = runtime.outbox.mark_done(
        row.id,
        row.attempt,
        result,
        [(f.task, f.payload) for f in outcome.follow_ups],
        on_finished=lambda latency_s: runtime.report(spec.name, "done", latency_s),
    )
    attempt.done(outcome, result, won)


class Attempt:
    """One attempt of a started row: its handler, the error or hold it met, and its log lines."""

    def __init__(self, runtime: Runtime[Any], spec: handlers.TaskSpec[Any], row: rows.Started) -> None:
        self.runtime = runtime
        self.spec = spec
        self.row = row
        self.started = time.monotonic()

    def run(self) -> outcomes.Outcome | None:
        """The handler's outcome, or None when a hold deferred the row (the attempt not counted).

        An error is recorded on the row, then raised for Dramatiq: ``PermanentSyncError`` as it is,
        a transient one as ``dramatiq.Retry`` (with its delay), anything else as it is (retried).
        """
        row, spec = self.row, self.spec
        try:
            with ledger.attempt_scope(row.id, row.attempt, row.run):
                return spec.execute(self.runtime.deps, row.payload)
        except errors.DeferredSyncError as exc:
            until = datetime.datetime.fromtimestamp(exc.until, datetime.UTC)
            if self.runtime.outbox.defer(row.id, row.attempt, until, str(exc)):
                self.runtime.report(spec.name, "deferred")
            self.log(
                logging.INFO, "deferred", f"until {until:%Y-%m-%dT%H:%M:%SZ}, attempt not counted: {exc}"
            )
            return None
        except errors.PermanentSyncError as exc:
            self.failed("failed", str(exc), exc.details)
            raise
        except errors.TransientSyncError as exc:
            self.failed("will retry", str(exc), exc.details)
            raise dramatiq.Retry(str(exc), delay=exc.delay_ms) from exc
        except Exception as exc:
            self.failed("will retry", f"{type(exc).__name__}: {exc}", None)
            raise

    def done(self, outcome: outcomes.Outcome, result: Mapping[str, Any], won: bool) -> None:
        self.log(
            logging.INFO,
            f"done, {_describe(outcome)}",
            "" if won else "(the row had moved on; result not recorded)",
            user_id=result.get("user_id"),
        )

    def failed(self, what: str, error: str, details: Mapping[str, Any] | None) -> None:
        self.log(logging.WARNING, what, error, user_id=(details or {}).get("user_id"))
        result = {"outcome": "error", **details} if details else None
        self.runtime.outbox.record_error(self.row.id, self.row.attempt, error, result)

    def log(self, level: int, outcome: str, note: str, *, user_id: object = None) -> None:
        duration_ms = round((time.monotonic() - self.started) * 1000)
        keys = {k: self.row.payload.get(k) for k in self.spec.required_keys if k in self.row.payload}
        # A payload key must not overwrite a LogRecord attribute (logging refuses, e.g. "name").
        fields = {(f"payload_{k}" if k in logs.RESERVED else k): v for k, v in keys.items()}
        context: dict[str, Any] = {
            "row_id": self.row.id,
            "task": self.spec.name,
            "attempt": self.row.attempt,
            "duration_ms": duration_ms,
            "ordering_key": self.row.ordering_key,
            "outcome": outcome,
            **fields,
        }
        if user_id is not None:
            context["user_id"] = user_id
        shown = " ".join(f"{k}={v}" for k, v in keys.items())
        learner = f" user_id={user_id}" if user_id is not None else ""
        log.log(
            level,
            "row %d (%s) attempt %d: %s in %d ms [%s%s]%s",
            self.row.id,
            self.spec.name,
            self.row.attempt,
            outcome,
            duration_ms,
            shown,
            learner,
            f": {note}" if note else "",
            extra=context,
        )


def _describe(outcome: outcomes.Outcome) -> str:
    if isinstance(outcome, outcomes.Skipped):
        return f"skipped ({outcome.reason})"
    return "sent" if isinstance(outcome, outcomes.Sent) else "enqueued follow-up rows"
