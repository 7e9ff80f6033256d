"""The scanner: claims due rows in batches and sends one broker message per row.

``Scanner.run_once()`` is one pass (rescue when due, pause check, claim, send) and returns what it
did; ``run_forever`` is the thin loop of the ``scanner`` process. A pass that fills its batch is
followed at once by another; otherwise the loop sleeps ``interval_s``. A pass hands the messages of
its whole batch to ``send`` at once, so a broker can take them in one round trip, and tells
``observe`` (the scanner's metrics, when on) what it did.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Container, Sequence

from worker import errors
from worker.outbox import repository, rows

log = logging.getLogger(__name__)

Send = Callable[[Sequence[rows.Claimed]], None]
"""Sends one message per claimed row, in order; raises when any of them may not have been sent."""
Gate = Callable[[], str | None]
"""Why nothing may be claimed now (the host disabled sync, Credentials asked to wait), or None."""
Observe = Callable[["ScanResult"], None]
"""Told what each pass did; a failing observer is logged, never the pass's problem."""


@dataclasses.dataclass(frozen=True)
class ScanResult:
    claimed: int = 0
    sent: int = 0
    rescued: int = 0
    paused: str | None = None
    full: bool = False


class Scanner:
    """Moves rows from ``pending`` to the broker; safe to run in several processes at once."""

    def __init__(
        self,
        outbox: repository.Outbox,
        send: Send,
        *,
        known_tasks: Container[str],
        gate: Gate,
        batch: int,
        max_in_flight: int,
        max_retries: int,
        rescue_every_s: float,
        observe: Observe | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.outbox = outbox
        self.send = send
        self.known_tasks = known_tasks
        self.gate = gate
        self.batch = batch
        self.max_in_flight = max_in_flight
        self.max_retries = max_retries
        self.rescue_every_s = rescue_every_s
        self.observe = observe
        self.monotonic = monotonic
        self._next_rescue = 0.0

    def run_once(self, *, rescue: bool | None = None) -> ScanResult:
        """One pass. ``rescue`` forces (True) or skips (False) the lease rescue; None: when due."""
        result = self._pass(rescue)
        if self.observe is not None:
            try:
                self.observe(result)
            except Exception:
                log.exception("could not tell %r what a scan did", self.observe)
        return result

    def _pass(self, rescue: bool | None) -> ScanResult:
        rescued = 0
        now = self.monotonic()
        if rescue or (rescue is None and now >= self._next_rescue):
            self._next_rescue = now + self.rescue_every_s
            rescued = len(rescue_lost(self.outbox, max_retries=self.max_retries))
        paused = self.gate()
        if paused is not None:
            return ScanResult(rescued=rescued, paused=paused)
        claimed = self.outbox.claim_due(batch=self.batch, max_in_flight=self.max_in_flight)
        sent = self._send_all(claimed)
        return ScanResult(len(claimed), sent, rescued, None, full=len(claimed) >= self.batch)

    def _send_all(self, claimed: Sequence[rows.Claimed]) -> int:
        known: list[rows.Claimed] = []
        for row in claimed:
            if row.task in self.known_tasks:
                known.append(row)
            else:
                self.outbox.mark_failed(
                    row.id, None, f"no handler for task {row.task!r} in this worker version"
                )
        if not known:
            return 0
        try:
            self.send(known)
        except Exception:
            # Which messages got out is unknown: release them all. A message that did get out finds
            # its row pending (or claimed again) and its guarded start runs the row at most once.
            log.exception("could not send %d claimed rows to the broker; releasing them", len(known))
            self.outbox.release([r.id for r in known])
            raise
        return len(known)

    def run_forever(self, stop: threading.Event, *, interval_s: float, error_pause_s: float = 1.0) -> None:
        """Scan until ``stop`` is set; database or broker errors are logged and retried."""
        log.info("scanner started (batch %d, poll every %.0f ms)", self.batch, interval_s * 1000)
        paused_reason: str | None = None
        while not stop.is_set():
            try:
                result = self.run_once()
            except (errors.DatabaseError, OSError, ConnectionError) as exc:
                log.warning("scan failed, retrying in %.1f s: %s", error_pause_s, exc)
                stop.wait(error_pause_s)
                continue
            except Exception:
                log.exception("scan failed, retrying in %.1f s", error_pause_s)
                stop.wait(error_pause_s)
                continue
            if result.paused != paused_reason:
                if result.paused:
                    log.warning("processing paused: %s", result.paused)
                else:
                    log.info("processing resumed")
                paused_reason = result.paused
            if result.claimed or result.rescued:
                log.info("claimed %d, sent %d, rescued %d", result.claimed, result.sent, result.rescued)
            if not result.full:
                stop.wait(interval_s)
        log.info("scanner stopped")


def rescue_lost(outbox: repository.Outbox, *, max_retries: int) -> list[rows.Rescued]:
    """Put rows whose lease expired back to pending (or failed when out of attempts), and log each."""
    rescued = outbox.rescue_expired(max_retries=max_retries)
    for row in rescued:
        if row.status is rows.Status.FAILED:
            log.error("row %d (%s) failed: its last attempt (%d) was lost", row.id, row.task, row.attempts)
        else:
            log.warning("row %d (%s) was in flight past its lease; back to pending", row.id, row.task)
    return rescued
