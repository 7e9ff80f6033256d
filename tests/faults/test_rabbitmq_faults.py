"""RabbitMQ's own ways of failing a Dramatiq deployment, on a private node the tests restart and abuse.

A restart mid-drain, every connection closed under the workers, the queue purged, a retry delay
longer than ``consumer_timeout`` (Dramatiq holds delayed messages unacked in the worker until they
are due: Bogdanp/dramatiq #827), and a worker SIGKILLed while it holds prefetched and delayed
messages. The outbox is the truth in each: every row ends as the host says, none is lost, none
runs twice at once for a learner (``invariants``), and each recovery is measured.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import pytest
from dramatiq.common import dq_name

from tests.faults import harness, host, invariants
from tests.faults.harness import LEASE_S
from tests.system import brokers, processes
from worker.emulator import server

pytestmark = pytest.mark.parametrize("private_broker", [brokers.RABBITMQ], indirect=True)

WORKER_ARGS = harness.WORKER_ARGS
CREDENTIALS = server.CREDENTIALS_PATH
#: Room before the next minute tick, so the scheduler's maintenance pass does not help a recovery.
TICK_CLEARANCE_S = 15.0
#: The short consumer_timeout of the retry test, and its retry delays (4 to 8 s: always longer).
CONSUMER_TIMEOUT_MS = 2000
RETRY_MIN_BACKOFF_MS, RETRY_MAX_BACKOFF_MS = 5000, 8000


@pytest.fixture
def rabbitmq(system: harness.System) -> brokers.PrivateRabbitmq:
    assert isinstance(system.broker, brokers.PrivateRabbitmq)
    return system.broker


def _latency(system: harness.System, ms: int) -> None:
    system.emulator.add_fault(
        server.Fault(method="POST", path_prefix=CREDENTIALS, action="latency", latency_ms=ms)
    )


def _clear_of_the_tick() -> None:
    if harness.seconds_to_next_minute() < TICK_CLEARANCE_S:
        harness.sleep_until_seconds_to_next_minute(TICK_CLEARANCE_S, 59)


def _rescued_after(system: harness.System, since: object) -> set[int]:
    """Rows the lease rescue put back to pending after ``since``."""
    return {
        s["row_id"]
        for s in system.audit()
        if s["new_status"] == "pending" and s["old_status"] in invariants.IN_FLIGHT and s["at"] > since
    }


def _alive_or_fail(system: harness.System) -> None:
    dead = [role for role, process in system.processes.items() if not process.alive()]
    assert not dead, f"processes exited instead of reconnecting: {dead}\n{system.output()}"


def test_after_a_rabbitmq_restart_mid_drain_every_process_reconnects_and_every_row_ends_done(
    system: harness.System, rabbitmq: brokers.PrivateRabbitmq
) -> None:
    # Given Credentials answering in ~20 ms, the processes running, and 240 awards committed
    _latency(system, 20)
    host.add_course_runs(system)
    system.start_all()
    _clear_of_the_tick()
    ids = host.awards(system, [f"restart{i:03d}" for i in range(80)])
    system.wait_for_statuses(lambda c: c["done"] >= 40, "the drain to be under way")

    # When the node is stopped as an operator stops it and started again on its data (durable
    # queues, persistent messages)
    at_restart = system.statuses()
    stopped_at = system.now()
    began = time.monotonic()
    rabbitmq.restart()
    outage_s = time.monotonic() - began
    back = time.monotonic()

    # Then every row ends done without any process being restarted, and Credentials holds the
    # host's truth
    system.wait_settled()
    settled_s = time.monotonic() - back
    _alive_or_fail(system)
    rows = system.check_invariants(ids)
    assert all(r["status"] == "done" for r in rows)
    rescued = _rescued_after(system, stopped_at)
    system.record(
        f"RabbitMQ restarted mid-drain (rabbitmqctl stop, start on its data: {outage_s:.1f} s down;"
        f" {at_restart['running']} running, {at_restart['enqueued']} enqueued, {at_restart['pending']}"
        f" pending): every row done {settled_s:.2f} s after the node was back; {len(rescued)} rows came"
        " back through the lease rescue"
    )
    # And the processes keep working: a new row is picked up and sent
    later = host.changes(system, [("restart000", host.RUNS[0], "downloadable")])
    system.wait_settled()
    system.check_invariants(ids + later)


def test_when_rabbitmq_closes_every_connection_under_the_workers_their_messages_come_back_and_run_once(
    system: harness.System, rabbitmq: brokers.PrivateRabbitmq
) -> None:
    # Given Credentials answering in ~200 ms (so that the workers hold messages), two workers, and
    # 240 awards committed
    _latency(system, 200)
    host.add_course_runs(system)
    system.start_all(workers=2)
    ids = host.awards(system, [f"closed{i:03d}" for i in range(80)])
    system.wait_for_statuses(lambda c: c["done"] >= 20 and c["running"] >= 4, "the drain to be under way")

    # When the node closes every client connection (rabbitmqctl close_all_connections): the
    # workers' unacknowledged messages go back to the queue while their rows may be running
    closed_at = system.now()
    rabbitmq.close_all_connections()
    back = time.monotonic()
    at_close = system.statuses()
    in_flight = {r["id"] for r in system.rows() if r["status"] in invariants.IN_FLIGHT}
    assert at_close["done"] < len(ids), "the drain was over before the connections were closed"

    # Then every row ends done, exactly once at a time per learner, without a process restart
    system.wait_settled()
    settled_s = time.monotonic() - back
    _alive_or_fail(system)
    rows = system.check_invariants(ids)
    assert all(r["status"] == "done" for r in rows)
    # And the messages delivered again while their row ran, or after it was done, were ignored
    logs = system.log("worker") + system.log("worker2")
    ignored = logs.count(": not started, it is ")
    reconnects = logs.count("Consumer encountered a connection error")
    assert reconnects >= 2, f"no consumer lost its connection\n{system.output()}"
    finished = [
        (s["at"] - closed_at).total_seconds()
        for s in system.audit()
        if s["row_id"] in in_flight and s["new_status"] == "done" and s["at"] > closed_at
    ]
    system.record(
        f"RabbitMQ closed every connection mid-drain ({len(ids) - at_close['done']} rows not done yet):"
        f" the {len(in_flight)} rows in flight then were all done {max(finished):.2f} s later;"
        f" {reconnects} consumers reconnected, {ignored}"
        f" redelivered messages found their row running or done and did nothing; every row done"
        f" {settled_s:.2f} s later; {len(_rescued_after(system, closed_at))} rows came back through the"
        " lease rescue"
    )


def test_rows_whose_messages_were_purged_from_the_queue_mid_drain_come_back_through_the_lease_rescue(
    system: harness.System, rabbitmq: brokers.PrivateRabbitmq
) -> None:
    # Given Credentials answering in ~50 ms, the processes running, and 240 awards committed
    _latency(system, 50)
    host.add_course_runs(system)
    system.start_all()
    ids = host.awards(system, [f"purged{i:03d}" for i in range(80)])
    system.wait_for_statuses(lambda c: c["done"] >= 20 and c["enqueued"] >= 40, "a backlog in the queue")

    # When the queue and its delay queue are purged under the running workers
    purged_at = system.now()
    at_purge = {r["id"]: r["status"] for r in system.rows()}
    purged = rabbitmq.purge(system.queue, dq_name(system.queue))

    # Then every row ends done, and Credentials holds the host's truth
    system.wait_settled()
    rows = system.check_invariants(ids)
    assert all(r["status"] == "done" for r in rows)
    assert purged > 0, "the purge found nothing to drop"
    # And the rows whose messages were dropped came back through the lease rescue, within the bound
    # (rows still pending at the purge may be rescued later too, when they wait in the queue longer
    # than the 3 s lease: not what is measured here)
    rescued = {i for i in _rescued_after(system, purged_at) if at_purge[i] in invariants.IN_FLIGHT}
    assert rescued, "no row was rescued: the purge dropped nothing that mattered"
    back = system.back_running_after(rescued, purged_at)
    recovery = max(back.values())
    system.record(
        f"RabbitMQ queue purged mid-drain: {purged} messages dropped; {len(rescued)} rows rescued, the"
        f" last running again {recovery:.2f} s after the purge (lease {LEASE_S} s)"
    )
    assert recovery <= harness.RECOVERY_BOUND_S, system.output()


def _channel_timeouts(rabbitmq: brokers.PrivateRabbitmq) -> int:
    return rabbitmq.server_log().count("timed out waiting for delivery acknowledgement")


@pytest.fixture
def short_consumer_timeout(rabbitmq: brokers.PrivateRabbitmq) -> Iterator[int]:
    """The node's ``consumer_timeout`` at 2 s for the channels of this test (put back afterwards)."""
    before = rabbitmq.consumer_timeout_ms()
    rabbitmq.set_consumer_timeout_ms(CONSUMER_TIMEOUT_MS)
    try:
        yield CONSUMER_TIMEOUT_MS
    finally:
        rabbitmq.set_consumer_timeout_ms(before)


def test_retries_delayed_longer_than_the_consumer_timeout_still_run_and_every_row_ends_done(
    system: harness.System, rabbitmq: brokers.PrivateRabbitmq, short_consumer_timeout: int
) -> None:
    # Given a consumer_timeout of 2 s, retry delays of 4 to 8 s, and Credentials answering 500
    system.env["CREDSYNC_MIN_BACKOFF_MS"] = str(RETRY_MIN_BACKOFF_MS)
    system.env["CREDSYNC_MAX_BACKOFF_MS"] = str(RETRY_MAX_BACKOFF_MS)
    system.emulator.add_fault(server.Fault(method="POST", path_prefix=CREDENTIALS, status=500))
    host.add_course_runs(system)
    timeouts_before = _channel_timeouts(rabbitmq)
    system.start_all()

    # When 20 awards fail their first attempt, and Credentials recovers while their retries wait:
    # delayed messages the worker holds unacknowledged for longer than the consumer_timeout
    ids = host.awards(system, [f"late{i:02d}" for i in range(20)], host.RUNS[:1])
    system.wait_for_statuses(lambda c: c["retrying"] == len(ids), "every row to wait in a retry delay")
    system.emulator.clear_faults()
    due = {r["id"]: r["run_after"] for r in system.rows()}
    delays = sorted((due[i] - system.now()).total_seconds() for i in ids)

    # Then every row ends done, after exactly two attempts, and Credentials holds the host's truth
    system.wait_settled()
    rows = system.check_invariants(ids)
    assert {(r["status"], r["attempts"]) for r in rows} == {("done", 2)}
    # And RabbitMQ did close the channel that held them (the consumer_timeout was met)
    timeouts = _channel_timeouts(rabbitmq) - timeouts_before
    assert timeouts >= 1, f"RabbitMQ never timed a consumer out\n{rabbitmq.server_log()[-3000:]}"
    # (how late each retry ran, against when it was due)
    late = []
    for step in system.audit():
        if step["row_id"] in due and step["new_status"] == "running" and step["attempts"] == 2:
            late.append((step["at"] - due[step["row_id"]]).total_seconds())
    rescued = sum(
        1
        for s in system.audit()
        if s["row_id"] in due and (s["old_status"], s["new_status"]) == ("retrying", "pending")
    )
    system.record(
        f"RabbitMQ consumer_timeout {short_consumer_timeout / 1000:.0f} s, retry delays"
        f" {delays[0]:.1f}-{delays[-1]:.1f} s: {timeouts} channels closed by the timeout; every row done;"
        f" retries ran {statistics.median(late):.2f} s (median) / {max(late):.2f} s (max) after due;"
        f" {rescued} through the lease rescue"
    )


def test_a_worker_killed_holding_prefetched_and_delayed_messages_loses_none_of_their_rows(
    system: harness.System, rabbitmq: brokers.PrivateRabbitmq
) -> None:
    # Given retry delays of 2 to 4 s, Credentials answering in ~200 ms and 500 to a third of the
    # awards, two workers, and 240 awards committed
    system.env["CREDSYNC_MIN_BACKOFF_MS"] = "2000"
    system.env["CREDSYNC_MAX_BACKOFF_MS"] = "4000"
    system.env["CREDSYNC_MAX_RETRIES"] = "20"
    system.emulator.add_fault(
        server.Fault(method="POST", path_prefix=CREDENTIALS, status=500, probability=0.33)
    )
    _latency(system, 200)
    host.add_course_runs(system)
    system.start_all(workers=2)
    ids = host.awards(system, [f"held{i:03d}" for i in range(80)])

    # When worker2 holds both kinds of message unacknowledged (a full prefetch of the queue, and
    # retries waiting in its delay queue), and it is SIGKILLed
    held: dict[str, tuple[int, int, int]] = {}

    def holding() -> bool:
        held.update(rabbitmq.queue_stats())
        main, delayed = held.get(system.queue, (0, 0, 0)), held.get(dq_name(system.queue), (0, 0, 0))
        return main[1] >= 8 and delayed[1] >= 4

    processes.wait_until(
        holding, 60, "the workers to hold prefetched and delayed messages", system.report, 0.2
    )
    system.kill("worker2")
    killed_at = system.now()
    at_kill = {r["id"]: r for r in system.rows()}
    after = rabbitmq.queue_stats()
    system.emulator.clear_faults()
    _latency(system, 20)

    # Then every row ends done, and Credentials holds the host's truth
    system.wait_settled()
    rows = system.check_invariants(ids)
    assert all(r["status"] == "done" for r in rows)
    # And every row in flight at the kill ran again, the last of them within the bound
    in_flight = [i for i, r in at_kill.items() if r["status"] in invariants.IN_FLIGHT]
    back = system.back_running_after(in_flight, killed_at)
    recovery = max(back.values())
    rescued = _rescued_after(system, killed_at)
    main_before, delayed_before = held[system.queue], held[dq_name(system.queue)]
    system.record(
        f"RabbitMQ, a worker SIGKILLed holding messages (both workers: {main_before[1]} prefetched,"
        f" {delayed_before[1]} delayed unacked; after the kill {after.get(system.queue, (0, 0, 0))[1]} and"
        f" {after.get(dq_name(system.queue), (0, 0, 0))[1]}): every row done; the last in-flight row ran"
        f" again {recovery:.2f} s after the kill; {len(rescued)} rows through the lease rescue"
    )
    assert recovery <= harness.RECOVERY_BOUND_S, system.output()
