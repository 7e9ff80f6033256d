"""Periodic maintenance (run every minute under periodiq): rescue, prune, safety-net scan.

``run_once`` is one pass returning what it did; every step is a guarded statement, so two
schedulers (periodiq has no lock) or a run overlapping the scanner do no harm.
"""

from __future__ import annotations

import dataclasses
import logging

from worker.outbox import repository, rows, scanner

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class MaintenanceResult:
    rescued: int
    failed: int
    pruned: int
    claimed: int
    paused: str | None


def run_once(
    outbox: repository.Outbox,
    scan: scanner.Scanner,
    *,
    max_retries: int,
    retention_done_days: int,
    retention_failed_days: int,
) -> MaintenanceResult:
    """Rescue expired leases, prune old finished rows, and scan once (in case no scanner runs)."""
    rescued = scanner.rescue_lost(outbox, max_retries=max_retries)
    pruned = 0
    while True:
        deleted = outbox.prune_finished(done_days=retention_done_days, failed_days=retention_failed_days)
        pruned += deleted
        if deleted == 0:
            break
    scan_result = scan.run_once(rescue=False)
    result = MaintenanceResult(
        rescued=sum(1 for r in rescued if r.status is rows.Status.PENDING),
        failed=sum(1 for r in rescued if r.status is rows.Status.FAILED),
        pruned=pruned,
        claimed=scan_result.claimed,
        paused=scan_result.paused,
    )
    log.info("maintenance: %s", result)
    return result
