"""Postgres restarted under the running system: every process reconnects on its own."""

from __future__ import annotations

import time

import pytest

from tests.faults import harness, host
from worker.emulator import server

#: How long the server stays down (part of the fault, not a measurement).
OUTAGE_S = 2.0


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_after_a_postgres_restart_mid_drain_every_process_reconnects_and_every_row_ends_done(
    system: harness.System, mode: str
) -> None:
    # Given Credentials answering in ~20 ms, the processes running, and 240 awards committed
    system.emulator.add_fault(
        server.Fault(method="POST", path_prefix=server.CREDENTIALS_PATH, action="latency", latency_ms=20)
    )
    host.add_course_runs(system)
    system.start_all()
    ids = host.awards(system, [f"pg{i:03d}" for i in range(80)])
    system.wait_for_statuses(lambda c: c["done"] >= 40, "the drain to be under way")

    # When Postgres is stopped (fast: every connection cut; immediate: a crash, recovered at start),
    # left down for 2 s, and started again
    at_outage = system.statuses()
    system.pg.down(mode)
    try:
        time.sleep(OUTAGE_S)
    finally:
        system.pg.up()
    back_at = time.monotonic()

    # Then every row ends done (a row may have been retried, none lost or stuck), and no process
    # had to be restarted
    system.wait_settled()
    settled_after = time.monotonic() - back_at
    dead = [role for role, process in system.processes.items() if not process.alive()]
    assert not dead, f"processes exited instead of reconnecting: {dead}\n{system.output()}"
    rows = system.check_invariants(ids)
    assert all(r["status"] == "done" for r in rows)
    retried = sum(1 for r in rows if r["attempts"] > 1)
    system.record(
        f"scenario 4, Postgres stopped ({mode}) for {OUTAGE_S:.0f} s mid-drain"
        f" ({at_outage['running']} running, {at_outage['enqueued']} enqueued, {at_outage['pending']}"
        f" pending): every row done"
        f" {settled_after:.2f} s after it was back; {retried} rows took a second attempt"
    )
    # And the processes keep working after the outage: new rows are picked up and sent
    later = host.changes(system, [("pg000", host.RUNS[0], "downloadable")])
    system.wait_settled()
    system.check_invariants(ids + later)
