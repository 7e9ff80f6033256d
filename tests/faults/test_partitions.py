"""Network partitions between hosts: a worker host cut off from Postgres, the broker or Credentials.

The workers run on hosts ``a`` and ``b``, the scanner and the scheduler on ``s`` (``hosts``): each a
network namespace whose links to the servers are real links, cut by setting them down, so the
cut-off host's packets are dropped and its TCP connections stall and retransmit as across a real
partition (``tests.system.network``). Each scenario cuts host ``b`` off mid-attempt for twice the
lease, heals it, and proves that the rows are finished, on ``a`` when ``b`` cannot finish them,
that what ``b`` writes late is refused by the guarded updates and changes nothing, and that
nothing is lost or finished twice (``invariants``). A last scenario runs the system over a slow,
lossy network: throughput degrades, correctness does not.

They need root (network namespaces); elsewhere they are skipped, saying why. The broker cut runs on
both brokers; the other cuts and the slow network, in which the broker plays a small part, run on
one broker each by default and on both with ``CREDSYNC_SLOW=1``.
"""

from __future__ import annotations

import collections
import datetime
import re
import time
from typing import Any

import pytest

from tests.faults import harness, host, hosts, invariants
from tests.faults.harness import LEASE_S
from tests.faults.hosts import Hosts, Impairment
from tests.system import brokers, network, processes
from worker.emulator import server

CREDENTIALS = server.CREDENTIALS_PATH
TASK = host.TASK


#: Runs a scenario on ``first`` by default, and on the other broker too with ``CREDSYNC_SLOW=1``.
def on_both_brokers_first(first: str) -> pytest.MarkDecorator:
    kinds = [first, *(kind for kind in brokers.KINDS if kind != first)]
    params = [kind if kind == first else pytest.param(kind, marks=pytest.mark.slow) for kind in kinds]
    return pytest.mark.parametrize("private_broker", params, indirect=True)


#: How long a host stays cut off: twice the lease, so its rows' leases expire while it is away.
CUT_S = 2.0 * LEASE_S
#: The TCP user timeout of the database connections of the host that gives up during a cut.
DB_GIVE_UP_MS = 2000
#: How long the cut-off host's late writes may take to arrive once healed: its TCP connections
#: retransmit with a backoff that had reached a few seconds during the cut.
LATE_WRITES_S = 30.0
#: How long a test waits for the messages a host held while cut off to be delivered after the heal.
LATE_MESSAGES_S = 10.0
#: How long the healed host may take to run rows again (its connections fail until it re-resolves
#: the link's neighbour, then Dramatiq restarts its consumer after a pause).
REJOIN_S = 45.0
#: How long after a heal a request stalled in the cut-off host's kernel may take to arrive (TCP's
#: retransmission backoff had reached several seconds).
STALE_WAIT_S = 20.0


def _latency(system: harness.System, ms: int) -> None:
    system.emulator.add_fault(
        server.Fault(method="POST", path_prefix=CREDENTIALS, action="latency", latency_ms=ms)
    )


def _transitions_after(system: harness.System, since: Any, pairs: set[tuple[str, str]]) -> set[int]:
    return {
        s["row_id"] for s in system.audit() if (s["old_status"], s["new_status"]) in pairs and s["at"] > since
    }


def _answered_award_posts(system: harness.System, ids: list[int]) -> int:
    """Award POSTs of ``ids`` the delivery ledger shows answered: each reached Credentials in time."""
    with system.sql() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM credsync.delivery"
            " WHERE outbox_id = ANY(%s) AND method = 'POST' AND status IS NOT NULL AND url LIKE %s",
            (ids, f"%{CREDENTIALS}"),
        ).fetchone()
    return int(row["n"])


def _seconds_to(
    system: harness.System, ids: set[int], since: Any, pairs: set[tuple[str, str]]
) -> list[float]:
    """Seconds from ``since`` until each of ``ids`` first made one of the transitions ``pairs``."""
    first: dict[int, float] = {}
    for s in system.audit():
        if s["row_id"] in ids and (s["old_status"], s["new_status"]) in pairs and s["at"] > since:
            first.setdefault(s["row_id"], (s["at"] - since).total_seconds())
    return sorted(first.values())


def _refused_late(log: str) -> set[int]:
    """Rows whose finished attempt the worker could not record: the row had moved on (guard refused)."""
    return {
        int(m[1])
        for m in re.finditer(
            rf"row (\d+) \({TASK}\) attempt \d+: done.*\(the row had moved on; result not recorded\)", log
        )
    }


def _ignored(log: str) -> set[int]:
    """Rows whose message the worker received after the row had moved on, and did nothing with."""
    return {
        int(m[1]) for m in re.finditer(rf"row (\d+) \({TASK}\): not started, it is (?:running|done)", log)
    }


def _rejoins(system: harness.System, healed: float, ids: list[int]) -> float:
    """After the heal, batches of new awards until the healed worker (``worker2`` on b) runs one of
    them; seconds from the heal until it did. Every row ends done, as the host says."""
    later: list[int] = []
    learners = (f"later{i:03d}" for i in range(1000))
    deadline = time.monotonic() + REJOIN_S

    def done_by_b() -> set[int]:
        log = system.log("worker2")
        return {int(m[1]) for m in re.finditer(rf"row (\d+) \({TASK}\) attempt \d+: done", log)}

    while not done_by_b() & set(later):
        assert time.monotonic() < deadline, f"the healed worker ran no new row\n{system.output()}"
        later += host.awards(system, [next(learners) for _ in range(4)], host.RUNS[:2])
        system.wait_settled()
    rejoined_s = time.monotonic() - healed
    system.check_invariants(ids + later)
    return rejoined_s


@pytest.mark.parametrize("private_broker", [brokers.REDIS], indirect=True)  # the broker plays no part
def test_a_worker_host_cut_off_from_postgres_gives_up_its_blocked_statements_during_the_cut(
    system: harness.System, spread: Any
) -> None:
    # Given host b's connections to Postgres giving up on data unacknowledged for 2 s (credsync's
    # default is 30 s; a DATABASE_URL parameter sets it), Credentials answering in 1 s, and 60
    # awards committed, both workers mid-attempt
    placed: Hosts = spread()
    placed.database_params["b"] = f"tcp_user_timeout={DB_GIVE_UP_MS}"
    ids = _both_workers_mid_attempt(system, placed, "pggive")

    # When host b is cut off from Postgres for twice the lease, then healed
    cut_wall = time.time()
    _cut_for(placed, "b", network.PG, CUT_S)

    # Then b's worker learnt of the cut while it lasted: its statements failed after about 2 s,
    # instead of waiting in the kernel for the heal (or for 15 minutes of retransmissions)
    failed_at = _database_errors_at(system.log("worker2"))
    during = [t - cut_wall for t in failed_at if cut_wall < t < cut_wall + CUT_S]
    assert during, f"b's worker met no database error during the {CUT_S:.0f} s cut\n{system.report()}"
    # And every row still ends done exactly once, Credentials holding the host's truth
    system.wait_settled()
    rows = system.check_invariants(ids)
    assert all(r["status"] == "done" for r in rows)
    system.record(
        f"partition, worker host cut off from Postgres for {CUT_S:.0f} s with tcp_user_timeout"
        f" {DB_GIVE_UP_MS} ms: its first blocked statement failed {min(during):.1f} s after the cut"
        f" ({len(during)} database errors during the cut); every row done once"
    )


def _both_workers_mid_attempt(system: harness.System, placed: Hosts, prefix: str) -> list[int]:
    """With Credentials answering in 1 s, every process on its host and 60 awards committed: their
    rows, once both workers are mid-attempt."""
    _latency(system, 1000)
    host.add_course_runs(system)
    placed.start_all()
    ids = host.awards(system, [f"{prefix}{i:02d}" for i in range(30)], host.RUNS[:2])
    system.wait_for_statuses(lambda c: c["done"] >= 4 and c["running"] >= 7, "both workers mid-attempt")
    return ids


def _cut_for(placed: Hosts, cut_host: str, service: str, seconds: float) -> None:
    placed.cut(cut_host, service)
    time.sleep(seconds)
    placed.heal(cut_host, service)


def _database_errors_at(log: str) -> list[float]:
    """When (epoch seconds) the worker logged a record whose text says a database connection timed
    out (the record's timestamp; its traceback lines follow it)."""
    found = []
    for record in re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )", log):
        stamp = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ", record)
        if stamp and "server: Connection timed out" in record:
            at = datetime.datetime.fromisoformat(f"{stamp[1]}.{stamp[2]}").astimezone()
            found.append(at.timestamp())
    return found


@on_both_brokers_first(brokers.REDIS)
def test_a_worker_host_cut_off_from_postgres_mid_attempt_has_its_rows_run_elsewhere_and_late_writes_refused(
    system: harness.System, spread: Any
) -> None:
    # Given Credentials answering in 1 s, a worker on each of hosts a and b, the scanner and the
    # scheduler on s, and 60 awards committed
    placed: Hosts = spread()
    ids = _both_workers_mid_attempt(system, placed, "pgcut")

    # When host b is cut off from Postgres mid-attempt, for twice the lease, then healed
    cut_at = system.now()
    _cut_for(placed, "b", network.PG, CUT_S)
    healed = time.monotonic()

    # Then b's late writes, once it could reach Postgres again, were refused by the guards
    processes.wait_until(
        lambda: bool(_refused_late(system.log("worker2"))), LATE_WRITES_S, "b's late writes", system.report
    )
    late_after_s = time.monotonic() - healed
    # And every row ends done exactly once (legal, continuous paths; one running row per learner),
    # and Credentials holds the host's truth
    system.wait_settled()
    rows = {r["id"]: r for r in system.check_invariants(ids)}
    # And the rows b was running were rescued when their lease ran out, and run again on a, with
    # the result of a's attempt; b's refused writes were for those rows only
    rescued = _transitions_after(system, cut_at, {("running", "pending")})
    assert rescued, f"no row of b was rescued\n{system.report()}"
    back = system.back_running_after(rescued, cut_at)
    assert set(back) == rescued
    refused = _refused_late(system.log("worker2"))
    assert refused <= rescued, f"b's refused writes were for rows never taken from it: {refused - rescued}"
    assert all(r["status"] == "done" for r in rows.values())
    assert all(rows[i]["attempts"] >= 2 for i in rescued)
    rescued_s = _seconds_to(system, rescued, cut_at, {("running", "pending")})
    system.record(
        f"partition, worker host cut off from Postgres for {CUT_S:.0f} s mid-attempt: the"
        f" {len(rescued)} rows it ran were rescued {rescued_s[0]:.2f}-{rescued_s[-1]:.2f} s after the cut"
        f" (lease {LEASE_S} s), the last running again on the other host {max(back.values()):.2f} s after"
        f" it; {len(refused)} late writes refused by the guards, the first {late_after_s:.1f} s after the"
        " heal; every row done once"
    )
    assert max(back.values()) <= harness.RECOVERY_BOUND_S
    # And the healed host works again
    rejoined_s = _rejoins(system, healed, ids)
    system.record(
        f"partition, worker host cut off from Postgres: it ran new rows {rejoined_s:.1f} s after the heal"
    )


def test_a_worker_host_cut_off_from_the_broker_mid_attempt_loses_no_row_and_its_stale_messages_change_nothing(
    system: harness.System, spread: Any
) -> None:
    # Given Credentials answering in 500 ms and 500 to half the awards (so that b retries while it
    # is cut off), the processes on their hosts, and 80 awards committed
    system.env["CREDSYNC_MAX_RETRIES"] = "20"
    # (the emulator applies the first fault that matches: the 500s first, the latency to the rest)
    system.emulator.add_fault(
        server.Fault(method="POST", path_prefix=CREDENTIALS, status=500, probability=0.5)
    )
    _latency(system, 500)
    host.add_course_runs(system)
    placed: Hosts = spread()
    placed.start_all()
    ids = host.awards(system, [f"mqcut{i:02d}" for i in range(40)], host.RUNS[:2])
    system.wait_for_statuses(
        lambda c: c["done"] >= 4 and c["running"] >= 7 and c["enqueued"] >= 16,
        "both workers mid-attempt, with messages waiting for them",
    )

    # When host b is cut off from the broker mid-attempt, for twice the lease, then healed
    cut_at = system.now()
    placed.cut("b", network.BROKER)
    time.sleep(CUT_S)
    placed.heal("b", network.BROKER)
    healed_at = system.now()
    healed = time.monotonic()
    system.emulator.clear_faults()

    # Then every row ends done exactly once, and Credentials holds the host's truth
    system.wait_settled()
    rows = {r["id"]: r for r in system.check_invariants(ids)}
    assert all(r["status"] == "done" for r in rows.values())
    # And the rows whose messages were stranded on b (prefetched behind its blocked threads, or
    # retries it could not send) came back through the lease rescue and ran again
    stranded_by: dict[int, str] = {}
    rescued_at: dict[int, float] = {}
    until = healed_at + datetime.timedelta(seconds=LEASE_S + 1)
    for step in system.audit():
        pair = (step["old_status"], step["new_status"])
        if pair in {("enqueued", "pending"), ("retrying", "pending")} and cut_at < step["at"] <= until:
            stranded_by.setdefault(step["row_id"], step["old_status"])
            rescued_at.setdefault(step["row_id"], (step["at"] - cut_at).total_seconds())
    stranded = set(stranded_by)
    assert stranded, f"no row was rescued while b was cut off\n{system.report()}"
    back: dict[int, float] = {}  # seconds from the cut until the row ran again after its rescue
    for step in system.audit():
        row_id = step["row_id"]
        since_cut = (step["at"] - cut_at).total_seconds()
        if row_id in stranded and step["new_status"] == "running" and since_cut > rescued_at[row_id]:
            back.setdefault(row_id, since_cut)
    assert set(back) == stranded
    kinds = collections.Counter(stranded_by.values())
    # And the messages b held or sent late, delivered after the heal, found their row moved on and
    # did nothing (on RabbitMQ they come at once; a Redis message b had fetched comes back only
    # when Redis's own maintenance notices b's silence, a minute later: not waited for here)
    deadline = time.monotonic() + LATE_MESSAGES_S
    while (
        time.monotonic() < deadline and not _ignored(system.log("worker") + system.log("worker2")) & stranded
    ):
        time.sleep(0.2)
    ignored = _ignored(system.log("worker") + system.log("worker2")) & stranded
    system.check_invariants(ids)
    system.record(
        f"partition, worker host cut off from the broker for {CUT_S:.0f} s mid-attempt:"
        f" {kinds['enqueued']} enqueued and {kinds['retrying']} retrying rows stranded on it were rescued"
        f" {min(rescued_at.values()):.2f}-{max(rescued_at.values()):.2f} s after the cut and all running"
        f" again {max(back.values()):.2f} s after it; {len(ignored)} of their messages were delivered"
        " after the heal and ignored; every row done once"
    )
    rejoined_s = _rejoins(system, healed, ids)
    system.record(
        f"partition, worker host cut off from the broker: it ran new rows {rejoined_s:.1f} s after the heal"
    )


@on_both_brokers_first(brokers.RABBITMQ)
def test_a_worker_host_cut_off_from_credentials_mid_attempt_retries_elsewhere_and_credentials_ends_right(
    system: harness.System, spread: Any
) -> None:
    # Given a 2 s read timeout, Credentials answering in 300 ms, the processes on their hosts, and
    # 60 awards committed
    system.env["CREDSYNC_HTTP_READ_TIMEOUT_S"] = "2"
    system.env["CREDSYNC_HTTP_CONNECT_TIMEOUT_S"] = "1"
    system.env["CREDSYNC_MAX_RETRIES"] = "20"
    _latency(system, 300)
    host.add_course_runs(system)
    placed: Hosts = spread()
    placed.start_all()
    ids = host.awards(system, [f"apicut{i:02d}" for i in range(30)], host.RUNS[:2])
    system.wait_for_statuses(lambda c: c["done"] >= 4 and c["running"] >= 7, "both workers mid-attempt")

    # When host b is cut off from Credentials mid-attempt, for twice the lease, then healed
    cut_at = system.now()
    placed.cut("b", network.CREDENTIALS)
    time.sleep(CUT_S)
    placed.heal("b", network.CREDENTIALS)
    healed_wall, healed = time.time(), time.monotonic()

    # Then every row ends done exactly once, b's timed-out attempts retried (on a, or on b healed),
    # and Credentials holds the host's truth, also after the requests b had sent into the cut
    # arrived (they carry what the host said then, and it did not change)
    system.wait_settled()
    time.sleep(2.0)  # room for b's stalled requests, retransmitted after the heal, to arrive
    rows = {r["id"]: r for r in system.check_invariants(ids)}
    assert all(r["status"] == "done" for r in rows.values())
    retried = _transitions_after(system, cut_at, {("running", "retrying")})
    assert retried, "no attempt of b timed out"
    received = [r for r in system.emulator.requests() if r["method"] == "POST" and r["path"] == CREDENTIALS]
    unanswered = len(received) - _answered_award_posts(system, ids)
    system.record(
        f"partition, worker host cut off from Credentials for {CUT_S:.0f} s mid-attempt: {len(retried)}"
        f" rows retried after a timeout; {unanswered} award requests reached Credentials without their"
        f" answer reaching a worker ({sum(r['at'] > healed_wall for r in received)} POSTs after the heal,"
        " retries included); every row done once, Credentials equal to the host's truth"
    )
    rejoined_s = _rejoins(system, healed, ids)
    system.record(
        f"partition, worker host cut off from Credentials: it ran new rows {rejoined_s:.1f} s after the heal"
    )


@pytest.mark.parametrize("private_broker", [brokers.REDIS], indirect=True)  # the broker plays no part
def test_a_request_given_up_on_during_a_partition_does_not_undo_a_later_change_when_it_arrives_after_the_heal(
    system: harness.System, spread: Any
) -> None:
    # Given a 2 s read timeout, the scanner on s and one worker thread on host b, which has just
    # synced a few certificates (its connection to Credentials is open, idle in its pool)
    system.env["CREDSYNC_HTTP_READ_TIMEOUT_S"] = "2"
    system.env["CREDSYNC_HTTP_CONNECT_TIMEOUT_S"] = "1"
    host.add_course_runs(system)
    placed: Hosts = spread()
    placed.start("scanner", hosts.SCANNER_HOST)
    placed.start("worker2", "b", "-p", "1", "-t", "1")
    warm = host.awards(system, ["warm0", "warm1"], host.RUNS[:2])
    system.wait_settled()

    # When b is cut off from Credentials, and its attempt at ada's award sends the request into
    # the cut and gives up (read timeout), and b's worker dies
    placed.cut("b", network.CREDENTIALS)
    award = host.awards(system, ["ada"], host.RUNS[:1], status=lambda i, j: "downloadable")
    system.wait_for_statuses(lambda c: c["retrying"] == 1, "b's attempt to time out", timeout_s=30)
    [row] = [r for r in system.rows() if r["id"] == award[0]]
    assert "read timeout" in (row["last_error"] or ""), row  # the request went out (not a connect timeout)
    system.kill("worker2")
    # And the host revokes ada's certificate, and a worker on host a syncs both rows
    revoke = host.changes(system, [("ada", host.RUNS[0], "notpassing")])
    placed.start("worker", "a", *harness.WORKER_ARGS)
    system.wait_settled()
    assert invariants.held(system)[("ada", host.RUNS[0])] == "revoked"
    # And b's link to Credentials comes back, and its kernel retransmits what it still holds
    healed_wall = time.time()
    placed.heal("b", network.CREDENTIALS)
    processes.wait_until(
        lambda: (
            any(r["at"] > healed_wall and r["method"] == "POST" for r in system.emulator.requests())
            or time.time() - healed_wall > STALE_WAIT_S
        ),
        STALE_WAIT_S + 5,
        "b's stalled request",
    )

    # Then Credentials still holds the host's truth: ada's certificate revoked
    system.check_invariants(warm + award + revoke)
    late = [r for r in system.emulator.requests() if r["at"] > healed_wall and r["method"] == "POST"]
    system.record(
        f"partition, a request given up on (read timeout) while cut off from Credentials: {len(late)}"
        f" reached Credentials in the {STALE_WAIT_S:.0f} s after the heal; the later revocation stood"
    )


@on_both_brokers_first(brokers.RABBITMQ)
def test_over_a_slow_lossy_network_throughput_degrades_and_every_row_still_ends_as_the_host_says(
    system: harness.System, spread: Any
) -> None:
    # Given every host's links delaying 20 ms each way and losing 2 % of what they carry (a TCP
    # retransmission each), switched off for a first batch, and Credentials answering 500 now and then
    impairment = Impairment(delay_ms=20, loss=0.02)
    system.emulator.add_fault(
        server.Fault(method="POST", path_prefix=CREDENTIALS, status=500, probability=0.05)
    )
    host.add_course_runs(system)
    placed: Hosts = spread(impairment)
    placed.impair(False)
    placed.start_all()

    def drain(prefix: str) -> tuple[list[int], float]:
        started = time.monotonic()
        batch = host.awards(system, [f"{prefix}{i:02d}" for i in range(40)])
        system.wait_settled()
        return batch, time.monotonic() - started

    # When 120 awards go through the clean network, then 120 more through the slow, lossy one
    clean, clean_s = drain("clean")
    placed.impair(True)
    slow, slow_s = drain("lossy")
    placed.impair(False)

    # Then every row ends done once and Credentials holds the host's truth, both times
    rows = system.check_invariants(clean + slow)
    assert all(r["status"] == "done" for r in rows)
    # And the slow network cost throughput, not correctness
    system.record(
        f"partition tier, slow lossy links ({impairment.delay_ms:.0f} ms each way, {impairment.loss:.0%}"
        f" of chunks held one 200 ms retransmission): {len(slow)} rows in {slow_s:.1f} s"
        f" ({len(slow) / slow_s:.0f} rows/s) against {len(clean)} in {clean_s:.1f} s"
        f" ({len(clean) / clean_s:.0f} rows/s) on clean links; every row done, none twice"
    )
    assert invariants.posts_per_learner(system)
