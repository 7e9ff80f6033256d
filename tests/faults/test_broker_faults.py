"""The broker misbehaving: messages wiped out by a flush, the same message delivered three times,
the server lost and replaced by an empty one (mid-drain, and over the scheduler's tick).

Each runs on Redis and on RabbitMQ (the ``private_broker`` fixture). RabbitMQ's own faults (a
restart, connections closed, a purge, ``consumer_timeout``, a worker killed holding delayed
messages) are in ``test_rabbitmq_faults``.
"""

from __future__ import annotations

import re
import time
from typing import Any

import dramatiq

from tests.faults import harness, host, invariants
from tests.faults.harness import LEASE_S, RECOVERY_BOUND_S
from tests.system import processes
from worker.emulator import server
from worker.outbox import messages

WORKER_ARGS = ("-p", "1", "-t", "4")
TASK = "award_course_certificate"
#: How long the broker stays down (part of the fault, not a measurement).
OUTAGE_S = 2.0
#: Room before the next minute tick for a drain to get under way and the outage to end.
TICK_CLEARANCE_S = 12.0


def test_rows_whose_messages_a_broker_flush_wiped_out_all_end_done(system: harness.System) -> None:
    # Given Credentials answering 500 to every award, and 30 rows cycling through their retries
    system.emulator.add_fault(
        server.Fault(method="POST", path_prefix=server.CREDENTIALS_PATH, action="status", status=500)
    )
    host.add_course_runs(system)
    system.start_all()
    retrying = host.awards(system, [f"retry{i:02d}" for i in range(30)], host.RUNS[:1])
    system.wait_for_statuses(
        lambda c: c["retrying"] == len(retrying), "every row to wait in a retry delay", timeout_s=30
    )
    # And, while the worker is stopped for a moment, 20 more rows claimed and sent to the broker
    system.stop("worker")
    enqueued = host.awards(system, [f"queued{i:02d}" for i in range(20)], host.RUNS[:1])
    system.wait_for_statuses(lambda c: c["enqueued"] == len(enqueued), "the new rows to be enqueued")
    before = {r["id"]: r for r in system.rows()}
    assert {before[i]["status"] for i in retrying} == {"retrying"}

    # When the broker is flushed (Redis: FLUSHALL; RabbitMQ: every queue purged), Credentials
    # recovers and the worker starts again
    system.broker.flush()
    flushed_at = system.now()
    system.emulator.clear_faults()
    system.start("worker", *WORKER_ARGS)

    # Then every row ends done and Credentials holds the host's truth
    system.wait_settled()
    rows = {r["id"]: r for r in system.check_invariants(retrying + enqueued)}
    assert all(r["status"] == "done" for r in rows.values())
    # And the rows came back through the lease rescue, the waiting ones with their attempts kept
    audit = system.audit()
    rescued = {s["row_id"] for s in audit if s["new_status"] == "pending" and s["at"] > flushed_at}
    assert rescued == set(retrying + enqueued)
    assert all(rows[i]["attempts"] == before[i]["attempts"] + 1 for i in retrying)
    assert all(rows[i]["attempts"] == 1 for i in enqueued)
    back = system.back_running_after(retrying + enqueued, flushed_at)
    recovery = max(back.values())
    system.record(
        f"scenario 3, broker flushed: {len(retrying)} retrying + {len(enqueued)} enqueued rows lost their"
        f" messages; the last one was running again {recovery:.2f} s after the flush"
        f" (lease {LEASE_S} s, bound {RECOVERY_BOUND_S:.0f} s)"
    )
    assert recovery <= RECOVERY_BOUND_S, system.output()


def test_a_message_delivered_three_times_runs_its_row_once(system: harness.System) -> None:
    # Given Credentials answering in 300 ms, the processes running, and 12 awards committed
    system.emulator.add_fault(
        server.Fault(method="POST", path_prefix=server.CREDENTIALS_PATH, action="latency", latency_ms=300)
    )
    host.add_course_runs(system)
    system.start_all()
    ids = host.awards(system, [f"dup{i:02d}" for i in range(12)], host.RUNS[:1])

    # When each row's message is delivered twice more: once while the row runs, once after it is done
    duplicates: dict[int, Any] = {i: messages.message_for(i, TASK, system.queue) for i in ids}
    sent_while: dict[int, str] = {}
    sent_after: set[int] = set()

    def deliver_duplicates(broker: dramatiq.Broker) -> bool:
        for row in system.rows():
            if row["id"] not in sent_while and row["status"] in ("running", "done"):
                broker.enqueue(duplicates[row["id"]])
                sent_while[row["id"]] = row["status"]
            elif row["id"] in sent_while and row["status"] == "done" and row["id"] not in sent_after:
                broker.enqueue(duplicates[row["id"]])
                sent_after.add(row["id"])
        return len(sent_after) == len(ids)

    with system.broker.sender() as broker:
        processes.wait_until(
            lambda: deliver_duplicates(broker), 60, "the duplicates to be delivered", system.report, 0.02
        )

    # Then the worker saw every duplicate and ran none of them
    def ignored(row_id: int) -> int:
        return len(
            re.findall(rf"row {row_id} \({TASK}\): not started, it is (?:running|done)", system.log("worker"))
        )

    processes.wait_until(
        lambda: all(ignored(i) >= 2 for i in ids), 30, "the worker to receive every duplicate", system.output
    )
    rows = system.check_invariants(ids)
    assert [(r["status"], r["attempts"]) for r in rows] == [("done", 1)] * len(ids)
    # And Credentials received exactly one award per row
    assert invariants.posts_per_learner(system) == dict.fromkeys(invariants.host_truth(system), 1)
    caught_running = sum(1 for status in sent_while.values() if status == "running")
    assert caught_running >= len(ids) // 2, f"too few duplicates arrived while their row ran: {sent_while}"


class SchedulerDied(AssertionError):
    """The scheduler process exited instead of riding out the broker outage."""


def test_the_scheduler_rides_out_a_broker_outage_over_its_minute_tick(system: harness.System) -> None:
    # Given the scheduler running
    system.start("scheduler")

    # When the broker is down from 1 s before the scheduler's minute tick until 2 s after it
    harness.sleep_until_seconds_to_next_minute(1.0, 1.2)
    system.broker.crash()
    try:
        harness.sleep_until_seconds_to_next_minute(57.8, 58.0)
    finally:
        system.broker.start_again()

    # Then the scheduler is still running a moment after the broker is back (a grace period: a
    # process that dies while reconnecting has it to do so)
    time.sleep(2.0)
    if not system.processes["scheduler"].alive():
        raise SchedulerDied(f"the scheduler exited:\n{system.output()}")


def test_after_the_broker_crashes_and_comes_back_empty_every_process_reconnects_and_every_row_ends_done(
    system: harness.System,
) -> None:
    # Given Credentials answering in ~20 ms, the processes running, and 240 awards committed (far
    # enough from the scheduler's minute tick that the outage does not cover it: see the test
    # before, which this one follows so that it starts just after a tick and need not wait)
    system.emulator.add_fault(
        server.Fault(method="POST", path_prefix=server.CREDENTIALS_PATH, action="latency", latency_ms=20)
    )
    host.add_course_runs(system)
    system.start_all()
    if harness.seconds_to_next_minute() < TICK_CLEARANCE_S:
        harness.sleep_until_seconds_to_next_minute(TICK_CLEARANCE_S, 59)
    ids = host.awards(system, [f"redis{i:03d}" for i in range(80)])
    system.wait_for_statuses(lambda c: c["done"] >= 40, "the drain to be under way")

    # When the broker is SIGKILLed mid-drain and lost (Redis: no persistence; RabbitMQ: the node
    # and its disk, as when a node without mirroring is replaced), and an empty one is started on
    # its port 2 s later
    system.broker.crash()
    crashed_at = system.now()
    try:
        time.sleep(OUTAGE_S)
    finally:
        system.broker.start_again()

    # Then every row ends done without any process being restarted, and Credentials holds the
    # host's truth
    system.wait_settled()
    dead = [role for role, process in system.processes.items() if not process.alive()]
    assert not dead, f"processes exited instead of reconnecting: {dead}\n{system.output()}"
    rows = system.check_invariants(ids)
    assert all(r["status"] == "done" for r in rows)
    back = system.back_running_after([r["id"] for r in rows], crashed_at)
    system.record(
        f"extra, broker SIGKILLed mid-drain and back empty after {OUTAGE_S:.0f} s: every row done; the last"
        f" row started {max(back.values()):.2f} s after the crash"
    )
    # And the processes keep working: a new row is picked up and sent
    later = host.changes(system, [("redis000", host.RUNS[0], "downloadable")])
    system.wait_settled()
    system.check_invariants(ids + later)
