"""Credentials misbehaving: errors, timeouts, dropped connections and throttling, then recovery."""

from __future__ import annotations

import subprocess
import time

from tests.faults import harness, host, invariants
from tests.system import processes
from worker.emulator import server

CREDENTIALS = server.CREDENTIALS_PATH
#: How long the mixed faults last (part of the fault, not a measurement): well inside the time ten
#: retries take with 100 ms → 1 s backoff, so every row outlives them.
FAULTY_FOR_S = 2.0


def test_rows_outlive_errors_timeouts_dropped_connections_and_throttling_and_end_done(
    system: harness.System,
) -> None:
    # Given a read timeout of 1 s, the default retry budget, the processes running, and Credentials
    # that hangs past the timeout, drops connections, throttles with Retry-After and answers 500
    system.env["CREDSYNC_HTTP_READ_TIMEOUT_S"] = "1"
    for fault in (
        server.Fault(method="POST", path_prefix=CREDENTIALS, action="hang", latency_ms=2500, probability=0.1),
        server.Fault(method="POST", path_prefix=CREDENTIALS, action="drop", probability=0.15),
        server.Fault(method="POST", path_prefix=CREDENTIALS, status=429, retry_after_s=1, probability=0.2),
        server.Fault(method="POST", path_prefix=CREDENTIALS, status=500, probability=0.5),
    ):
        system.emulator.add_fault(fault)
    host.add_course_runs(system)
    system.start_all()

    # When 60 awards are committed, and meanwhile every token is revoked while the token endpoint
    # fails half the time, and Credentials recovers after a while
    ids = host.awards(system, [f"flaky{i:02d}" for i in range(20)])
    processes.wait_until(
        lambda: system.emulator.stats()["faults"] >= 30, 30, "faults to be injected", system.report
    )
    system.emulator.add_fault(server.Fault(path_prefix="/oauth2/", status=500, probability=0.5))
    system.emulator.revoke_tokens()
    time.sleep(FAULTY_FOR_S)
    system.emulator.clear_faults()

    # Then every row ends done, and Credentials holds the host's truth
    system.wait_settled()
    rows = system.check_invariants(ids)
    assert all(r["status"] == "done" for r in rows)
    # And every kind of fault was met and survived by some row
    faults = {r["fault"] for r in system.emulator.requests() if r["fault"]}
    statuses = {r["status"] for r in system.emulator.requests() if r["fault"] == "status"}
    assert faults == {"hang", "drop", "status"}, faults
    assert {429, 500} <= statuses, statuses
    assert system.emulator.stats()["token"] >= 2, "no new token was fetched after the revocation"
    assert any(r["attempts"] > 1 for r in rows)


def test_with_a_short_retry_budget_rows_fail_with_a_clear_error_and_retry_brings_them_back(
    system: harness.System,
) -> None:
    # Given one retry per row, the processes running, and Credentials answering 500 for good
    system.env["CREDSYNC_MAX_RETRIES"] = "1"
    system.emulator.add_fault(server.Fault(method="POST", path_prefix=CREDENTIALS, status=500))
    host.add_course_runs(system)
    system.start_all()

    # When 20 awards are committed
    ids = host.awards(system, [f"doomed{i:02d}" for i in range(10)], host.RUNS[:2])

    # Then every row ends failed after two attempts, saying what happened
    system.wait_settled()
    rows = system.check_invariants(ids, may_fail=ids)
    assert {(r["status"], r["attempts"]) for r in rows} == {("failed", 2)}
    for row in rows:
        assert "answered HTTP 500" in row["last_error"], row
        assert CREDENTIALS in row["last_error"], row
        assert "(an HTML page: Server Error" in row["last_error"], row

    # When Credentials recovers and an operator retries every failed row
    system.emulator.clear_faults()
    retry = subprocess.run(
        [processes.CREDSYNC, "retry", "--all-failed"],
        env=system.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert retry.returncode == 0, retry.stderr
    assert f"{len(ids)} rows back to pending" in retry.stdout

    # Then every row ends done, and Credentials holds the host's truth
    system.wait_settled()
    rows = system.check_invariants(ids)
    assert {(r["status"], r["attempts"]) for r in rows} == {("done", 1)}


def test_an_answer_slower_than_the_lease_is_waited_for_and_never_sent_twice(system: harness.System) -> None:
    # Given a 3 s lease, a 10 s read timeout, and Credentials taking 5 s to answer
    system.env["CREDSYNC_HTTP_READ_TIMEOUT_S"] = "10"
    system.emulator.add_fault(
        server.Fault(method="POST", path_prefix=CREDENTIALS, action="latency", latency_ms=5000)
    )
    host.add_course_runs(system)
    system.start_all()

    # When 4 awards are committed (one per worker thread)
    ids = host.awards(system, [f"slow{i}" for i in range(4)], host.RUNS[:1])

    # Then the lease heartbeat keeps every slow attempt its own: each row ran once, was never
    # rescued, and Credentials received one award per row
    system.wait_settled()
    rows = system.check_invariants(ids)
    assert {(r["status"], r["attempts"]) for r in rows} == {("done", 1)}
    assert [s for s in system.audit() if s["new_status"] == "pending"] == []
    assert invariants.posts_per_learner(system) == dict.fromkeys(invariants.host_truth(system), 1)
