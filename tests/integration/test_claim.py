"""The claim: due rows in insert order, one in flight per ordering key, safe under concurrency."""

from __future__ import annotations

import threading

from tests.conftest import Clock
from worker.outbox import repository


def _course(username: str, run: str = "course-v1:edX+DemoX+2026") -> dict[str, str]:
    return {"username": username, "course_run_key": run}


def test_claim_takes_due_rows_in_insert_order_and_marks_them_enqueued(
    outbox: repository.Outbox, platform, sql
) -> None:  # type: ignore[no-untyped-def]
    # Given three rows of three learners
    ids = [platform.enqueue("award_course_certificate", _course(name)) for name in ("c", "a", "b")]
    # When the scanner claims
    claimed = outbox.claim_due(batch=10, max_in_flight=100)
    # Then all three are claimed in insert order and are enqueued with a lease
    assert [r.id for r in claimed] == ids
    rows = sql.execute("SELECT status, lease_until > enqueued_at AS leased FROM credsync.outbox").fetchall()
    assert rows == [{"status": "enqueued", "leased": True}] * 3


def test_claim_respects_the_batch_size(outbox: repository.Outbox, platform) -> None:  # type: ignore[no-untyped-def]
    ids = [platform.enqueue("award_course_certificate", _course(f"u{i}")) for i in range(5)]
    assert [r.id for r in outbox.claim_due(batch=2, max_in_flight=100)] == ids[:2]
    assert [r.id for r in outbox.claim_due(batch=2, max_in_flight=100)] == ids[2:4]


def test_claim_holds_no_more_than_max_in_flight(outbox: repository.Outbox, platform) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        platform.enqueue("award_course_certificate", _course(f"u{i}"))
    assert len(outbox.claim_due(batch=10, max_in_flight=3)) == 3
    assert outbox.claim_due(batch=10, max_in_flight=3) == []


def test_only_the_oldest_unfinished_row_of_a_learner_is_claimed(outbox: repository.Outbox, platform) -> None:  # type: ignore[no-untyped-def]
    # Given an award then a later row for the same learner, and a row of another learner
    first = platform.enqueue("award_course_certificate", _course("ada", "course-v1:a+b+1"))
    second = platform.enqueue("award_course_certificate", _course("ada", "course-v1:a+b+2"))
    other = platform.enqueue("award_course_certificate", _course("bob"))
    # When claimed twice, the first still in flight
    assert [r.id for r in outbox.claim_due(batch=10, max_in_flight=100)] == [first, other]
    assert outbox.claim_due(batch=10, max_in_flight=100) == []
    # Then the second is claimed only once the first finished
    started = outbox.start(first)
    assert started is not None
    assert outbox.mark_done(first, started.attempt, {"outcome": "sent"})
    assert [r.id for r in outbox.claim_due(batch=10, max_in_flight=100)] == [second]


def test_a_retrying_row_holds_back_later_rows_of_its_learner(outbox: repository.Outbox, platform) -> None:  # type: ignore[no-untyped-def]
    first = platform.enqueue("award_course_certificate", _course("ada", "course-v1:a+b+1"))
    platform.enqueue("award_course_certificate", _course("ada", "course-v1:a+b+2"))
    outbox.claim_due(batch=10, max_in_flight=100)
    started = outbox.start(first)
    assert started is not None
    assert outbox.mark_retrying(first, started.attempt, delay_ms=60_000)
    assert outbox.claim_due(batch=10, max_in_flight=100) == []


def test_a_failed_row_does_not_block_its_learner(outbox: repository.Outbox, platform) -> None:  # type: ignore[no-untyped-def]
    first = platform.enqueue("award_course_certificate", _course("ada", "course-v1:a+b+1"))
    second = platform.enqueue("award_course_certificate", _course("ada", "course-v1:a+b+2"))
    outbox.claim_due(batch=10, max_in_flight=100)
    started = outbox.start(first)
    assert started is not None
    assert outbox.mark_failed(first, started.attempt, "boom")
    assert [r.id for r in outbox.claim_due(batch=10, max_in_flight=100)] == [second]


def test_a_row_scheduled_for_later_is_claimed_only_when_due(
    outbox: repository.Outbox, sql, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    sql.execute(
        "INSERT INTO credsync.outbox (task, payload, run_after) VALUES ('award_course_certificate',"
        ' \'{"username": "ada", "course_run_key": "k"}\', now() + interval \'1 hour\')'
    )
    assert outbox.claim_due(batch=10, max_in_flight=100) == []
    clock.advance(hours=1, seconds=1)
    assert len(outbox.claim_due(batch=10, max_in_flight=100)) == 1


def test_two_scanners_claiming_at_once_never_claim_the_same_row(database, platform) -> None:  # type: ignore[no-untyped-def]
    # Given 400 rows of 400 learners
    ids = {platform.enqueue("award_course_certificate", _course(f"u{i}")) for i in range(400)}
    scanners = [repository.Outbox(database, lease_s=30) for _ in range(4)]
    claims: list[list[int]] = [[] for _ in scanners]
    barrier = threading.Barrier(len(scanners))

    def scan(index: int) -> None:
        barrier.wait()
        while batch := scanners[index].claim_due(batch=7, max_in_flight=10_000):
            claims[index].extend(r.id for r in batch)

    # When four scanners claim concurrently
    threads = [threading.Thread(target=scan, args=(i,)) for i in range(len(scanners))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then every row was claimed exactly once
    every = [i for c in claims for i in c]
    assert sorted(every) == sorted(ids)
    assert len(set(every)) == len(every)


def test_concurrent_scanners_keep_one_row_in_flight_per_learner(database, platform) -> None:  # type: ignore[no-untyped-def]
    # Given 10 rows for each of 20 learners
    for round_ in range(10):
        for learner in range(20):
            platform.enqueue("award_course_certificate", _course(f"u{learner}", f"course-v1:o+c+r{round_}"))
    scanners = [repository.Outbox(database, lease_s=30) for _ in range(3)]
    barrier = threading.Barrier(len(scanners))
    claimed: list[list[int]] = [[] for _ in scanners]

    def scan(index: int) -> None:
        barrier.wait()
        for _ in range(5):
            claimed[index].extend(r.id for r in scanners[index].claim_due(batch=50, max_in_flight=10_000))

    # When three scanners claim repeatedly while nothing finishes
    threads = [threading.Thread(target=scan, args=(i,)) for i in range(len(scanners))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then exactly one row per learner is in flight: each learner's oldest
    with database.transaction() as cur:
        cur.execute(
            "SELECT ordering_key, count(*) AS n, min(id) AS id FROM credsync.outbox"
            " WHERE status = 'enqueued' GROUP BY ordering_key"
        )
        in_flight = cur.fetchall()
        cur.execute("SELECT ordering_key, min(id) AS id FROM credsync.outbox GROUP BY ordering_key")
        oldest = {r["ordering_key"]: r["id"] for r in cur.fetchall()}
    assert len(in_flight) == 20
    assert all(r["n"] == 1 and r["id"] == oldest[r["ordering_key"]] for r in in_flight)


# -- the claim's cost does not grow with the backlog or the history --------------------------------


def _pending(sql, count: int, prefix: str) -> None:  # type: ignore[no-untyped-def]
    sql.execute(
        "INSERT INTO credsync.outbox (task, payload) SELECT 'award_course_certificate',"
        " jsonb_build_object('username', %s || n, 'course_run_key', 'course-v1:edX+C1+2026')"
        " FROM generate_series(1, %s) AS n",
        (prefix, count),
    )


def _claim_buffers(database, batch: int) -> int:  # type: ignore[no-untyped-def]
    """Buffers one claim of ``batch`` rows touches, run as ``Outbox.claim_due`` runs it (rolled back)."""
    top = repository.Outbox(database, lease_s=30).explain_claim(batch=batch, max_in_flight=10_000)[0]
    assert top["Plan"]["Actual Rows"] == batch
    return int(top["Plan"]["Shared Hit Blocks"]) + int(top["Plan"].get("Shared Read Blocks", 0))


def test_a_claim_costs_the_same_with_a_small_or_a_large_backlog(database, sql) -> None:  # type: ignore[no-untyped-def]
    # Given a table without statistics and 1,000 pending rows
    _pending(sql, 1_000, "a")
    small = _claim_buffers(database, 100)
    # When 20,000 more arrive
    _pending(sql, 20_000, "b")
    # Then a claim still reads about one batch, not the whole backlog (no sort of every pending row)
    assert _claim_buffers(database, 100) < 2 * small


def test_after_statistics_of_a_finished_history_a_burst_of_rows_is_claimed_at_the_same_cost(
    database, sql
) -> None:  # type: ignore[no-untyped-def]
    # Given 20,000 finished rows, analyzed while nothing else was in the table, then 1,000 new rows
    sql.execute("ALTER TABLE credsync.outbox DISABLE TRIGGER outbox_before_insert")
    sql.execute(
        "INSERT INTO credsync.outbox (task, payload, ordering_key, status, attempts, finished_at, result)"
        " SELECT 'award_program_certificates', jsonb_build_object('username', 'old' || (n % 5000)),"
        " 'learner:old' || (n % 5000), 'done', 1, now(), '{\"outcome\": \"sent\"}'"
        " FROM generate_series(1, 20000) AS n"
    )
    sql.execute("ALTER TABLE credsync.outbox ENABLE TRIGGER outbox_before_insert")
    sql.execute("VACUUM ANALYZE credsync.outbox")
    _pending(sql, 1_000, "a")
    small = _claim_buffers(database, 100)
    # When 10,000 more arrive before the statistics catch up
    _pending(sql, 10_000, "b")
    # Then a claim still checks each row it takes once (no scan of every unfinished row per row)
    assert _claim_buffers(database, 100) < 2 * small
