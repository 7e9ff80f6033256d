"""Processes killed at the worst moment: the worker mid-drain, a scanner between claim and send."""

from __future__ import annotations

from tests.faults import harness, host, invariants
from tests.faults.harness import LEASE_S, RECOVERY_BOUND_S
from worker import db
from worker.emulator import server
from worker.outbox import repository

WORKER_ARGS = ("-p", "1", "-t", "4")


def test_a_worker_killed_mid_drain_loses_no_row_and_its_rows_run_again_within_the_lease(
    system: harness.System,
) -> None:
    # Given Credentials answering in ~20 ms, and 500 to one award in five (so that some rows wait
    # in a retry delay), the processes running, and 300 awards committed
    for fault in (
        server.Fault(method="POST", path_prefix=server.CREDENTIALS_PATH, status=500, probability=0.2),
        server.Fault(method="POST", path_prefix=server.CREDENTIALS_PATH, action="latency", latency_ms=20),
    ):
        system.emulator.add_fault(fault)
    host.add_course_runs(system)
    system.start_all()
    ids = host.awards(system, [f"crash{i:03d}" for i in range(100)])
    assert len(ids) == 300
    system.wait_for_statuses(lambda c: c["done"] >= 60, "the drain to be under way")

    # When every process of the worker is SIGKILLed mid-drain, and the worker is started again
    doomed = system.pids("worker")
    system.kill("worker")
    killed_at = system.now()
    at_kill = system.rows()
    in_flight = [r["id"] for r in at_kill if r["status"] in invariants.IN_FLIGHT]
    counts = {s: sum(1 for r in at_kill if r["status"] == s) for s in invariants.IN_FLIGHT}
    system.start("worker", *WORKER_ARGS)

    # Then every row ends done, exactly once in the table, in order per learner, and Credentials
    # holds the host's truth
    system.wait_settled()
    assert len(doomed) >= 3, f"expected the supervisor, Dramatiq's main and worker processes: {doomed}"
    assert in_flight, "the kill came after the drain; nothing was in flight"
    rows = system.check_invariants(ids)
    assert all(r["status"] == "done" for r in rows)
    assert any(r["attempts"] > 1 for r in rows), "no row was retried"
    # And every row in flight at the kill ran again, within the documented bound
    back = system.back_running_after(in_flight, killed_at)
    assert set(back) == set(in_flight), f"never ran again: {sorted(set(in_flight) - set(back))}"
    recovery = max(back.values())
    system.record(
        f"scenario 1, worker SIGKILL mid-drain: {counts['running']} running, {counts['enqueued']} enqueued,"
        f" {counts['retrying']} retrying rows in flight at the kill; the last one was running again"
        f" {recovery:.2f} s after the kill (lease {LEASE_S} s, bound {RECOVERY_BOUND_S:.0f} s)"
    )
    assert recovery <= RECOVERY_BOUND_S, system.output()


def test_rows_claimed_by_a_scanner_that_crashed_before_sending_come_back_through_the_lease_rescue(
    system: harness.System,
) -> None:
    # Given the worker running, no scanner yet, and 60 awards committed for 20 learners
    host.add_course_runs(system)
    system.start("worker", *WORKER_ARGS)
    ids = host.awards(system, [f"claimed{i:02d}" for i in range(20)])

    # When a scanner claims them and dies before sending a single message
    database = db.Database(system.url, host_schema="public", max_size=1, application_name="doomed-scanner")
    try:
        claimed = repository.Outbox(database, lease_s=LEASE_S).claim_due(batch=500, max_in_flight=2000)
    finally:
        database.close()
    crashed_at = system.now()
    claimed_ids = [row.id for row in claimed]
    assert len(claimed_ids) == 20, "one row per learner (the head of each ordering key) is claimable"
    # And a scanner and the scheduler are started (again)
    system.start("scanner", wait_ready=False)
    system.start("scheduler")
    system.wait_ready("scanner")

    # Then every row ends done, and the claimed rows went back to pending through the lease rescue
    system.wait_settled()
    rows = system.check_invariants(ids)
    assert all(r["status"] == "done" and r["attempts"] == 1 for r in rows), [
        r for r in rows if r["attempts"] != 1
    ]
    rescued = {
        step["row_id"]
        for step in system.audit()
        if (step["old_status"], step["new_status"]) == ("enqueued", "pending")
    }
    assert rescued == set(claimed_ids)
    back = system.back_running_after(claimed_ids, crashed_at)
    assert set(back) == set(claimed_ids)
    recovery = max(back.values())
    system.record(
        f"scenario 2, scanner dead between claim and send: {len(claimed_ids)} claimed rows; the last one"
        f" was running {recovery:.2f} s after the claim (lease {LEASE_S} s, bound {RECOVERY_BOUND_S:.0f} s)"
    )
    assert recovery <= RECOVERY_BOUND_S, system.output()


def test_when_one_of_two_workers_is_killed_the_other_finishes_every_row(system: harness.System) -> None:
    # Given Credentials answering in ~20 ms, two workers, a scanner and the scheduler running, and
    # 240 awards committed
    system.emulator.add_fault(
        server.Fault(method="POST", path_prefix=server.CREDENTIALS_PATH, action="latency", latency_ms=20)
    )
    host.add_course_runs(system)
    system.start_all(workers=2)
    ids = host.awards(system, [f"half{i:02d}" for i in range(80)])
    system.wait_for_statuses(lambda c: c["done"] >= 40, "the drain to be under way")

    # When one worker is SIGKILLed mid-drain and never comes back
    system.kill("worker2")
    killed_at = system.now()
    at_kill = {r["id"]: r for r in system.rows()}

    # Then the survivor runs every row to done, those the dead worker held included
    system.wait_settled()
    rows = system.check_invariants(ids)
    assert all(r["status"] == "done" for r in rows)
    # (every row in flight at the kill ran again, unless it was the survivor's running attempt)
    in_flight = [i for i, r in at_kill.items() if r["status"] in invariants.IN_FLIGHT]
    back = system.back_running_after(in_flight, killed_at)
    finished = {r["id"]: r for r in rows}
    kept = [i for i in in_flight if i not in back]
    assert all(at_kill[i]["status"] == "running" for i in kept), [at_kill[i] for i in kept]
    assert all(finished[i]["attempts"] == at_kill[i]["attempts"] for i in kept)
    audit = system.audit()
    rescued = {s["row_id"] for s in audit if s["new_status"] == "pending" and s["at"] > killed_at}
    rescued &= set(in_flight)
    assert rescued, "the dead worker held no row: nothing was tested"
    recovery = max(back[i] for i in rescued)
    system.record(
        f"extra, one of two workers SIGKILLed for good: {len(rescued)} rows it held were rescued; the"
        f" survivor was running the last of them {recovery:.2f} s after the kill"
    )
    assert recovery <= RECOVERY_BOUND_S, system.output()
