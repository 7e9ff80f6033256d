"""Guarded status changes: replays and races are no-ops; lost rows come back; old rows go."""

from __future__ import annotations

from tests.conftest import Clock
from worker.outbox import repository, rows


def _claimed_row(outbox: repository.Outbox, platform, username: str = "ada") -> int:  # type: ignore[no-untyped-def]
    row_id = platform.enqueue("award_course_certificate", {"username": username, "course_run_key": "k"})
    assert [r.id for r in outbox.claim_due(batch=10, max_in_flight=100)] == [row_id]
    return row_id


def test_start_moves_an_enqueued_row_to_running_and_counts_the_attempt(
    outbox: repository.Outbox, platform
) -> None:  # type: ignore[no-untyped-def]
    row_id = _claimed_row(outbox, platform)
    started = outbox.start(row_id)
    assert started is not None
    assert (started.attempt, started.task, started.payload["username"]) == (
        1,
        "award_course_certificate",
        "ada",
    )
    assert outbox.status_of(row_id) == (rows.Status.RUNNING, 1)


def test_a_second_message_for_a_running_or_done_row_does_nothing(outbox: repository.Outbox, platform) -> None:  # type: ignore[no-untyped-def]
    row_id = _claimed_row(outbox, platform)
    started = outbox.start(row_id)
    assert started is not None
    assert outbox.start(row_id) is None
    assert outbox.mark_done(row_id, started.attempt, {"outcome": "sent"})
    assert outbox.start(row_id) is None
    assert outbox.status_of(row_id) == (rows.Status.DONE, 1)


def test_a_pending_row_is_not_started_by_a_stray_message(outbox: repository.Outbox, platform) -> None:  # type: ignore[no-untyped-def]
    row_id = platform.enqueue("award_course_certificate", {"username": "ada", "course_run_key": "k"})
    assert outbox.start(row_id) is None


def test_a_retrying_row_starts_only_when_its_retry_is_due(
    outbox: repository.Outbox, platform, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    row_id = _claimed_row(outbox, platform)
    first = outbox.start(row_id)
    assert first is not None
    assert outbox.mark_retrying(row_id, first.attempt, delay_ms=30_000)
    assert outbox.start(row_id) is None  # a stale duplicate, long before the retry is due
    clock.advance(seconds=29)
    second = outbox.start(row_id)  # within the 2 s clock-skew allowance
    assert second is not None
    assert second.attempt == 2


def test_an_outcome_of_an_older_attempt_is_ignored(outbox: repository.Outbox, platform, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    # Given attempt 1 was lost (lease expired, rescued) and attempt 2 is running
    row_id = _claimed_row(outbox, platform)
    assert outbox.start(row_id) is not None
    clock.advance(seconds=31)
    outbox.rescue_expired(max_retries=10)
    outbox.claim_due(batch=10, max_in_flight=100)
    assert outbox.start(row_id) is not None
    # When the lost attempt 1 reports late
    assert not outbox.mark_done(row_id, 1, {"outcome": "sent"})
    assert not outbox.mark_retrying(row_id, 1, delay_ms=1000)
    assert not outbox.mark_failed(row_id, 1, "late")
    # Then attempt 2 still owns the row
    assert outbox.status_of(row_id) == (rows.Status.RUNNING, 2)


def test_done_keeps_the_result_and_inserts_follow_ups_in_the_same_transaction(
    outbox: repository.Outbox, platform, sql
) -> None:  # type: ignore[no-untyped-def]
    row_id = _claimed_row(outbox, platform)
    started = outbox.start(row_id)
    assert started is not None
    follow_up = ("award_course_certificate", {"username": "bob", "course_run_key": "k2"})
    assert outbox.mark_done(row_id, 1, {"outcome": "sent", "status": "awarded"}, [follow_up])
    # A replayed completion inserts nothing more
    assert not outbox.mark_done(row_id, 1, {"outcome": "sent"}, [follow_up])
    found = sql.execute("SELECT id, status, result, payload FROM credsync.outbox ORDER BY id").fetchall()
    assert found[0]["status"] == "done"
    assert found[0]["result"] == {"outcome": "sent", "status": "awarded"}
    assert [(r["status"], r["payload"]["username"]) for r in found[1:]] == [("pending", "bob")]


def test_an_enqueued_row_whose_message_was_lost_goes_back_to_pending_after_its_lease(
    outbox: repository.Outbox, platform, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    row_id = _claimed_row(outbox, platform)
    clock.advance(seconds=29)
    assert outbox.rescue_expired(max_retries=10) == []
    clock.advance(seconds=2)
    assert outbox.rescue_expired(max_retries=10) == [
        rows.Rescued(row_id, "award_course_certificate", rows.Status.PENDING, 0)
    ]
    assert [r.id for r in outbox.claim_due(batch=10, max_in_flight=100)] == [row_id]


def test_a_running_row_whose_worker_died_is_rescued_with_a_clear_error(
    outbox: repository.Outbox, platform, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    row_id = _claimed_row(outbox, platform)
    assert outbox.start(row_id) is not None
    clock.advance(seconds=31)
    assert [r.status for r in outbox.rescue_expired(max_retries=10)] == [rows.Status.PENDING]
    row = outbox.get(row_id)
    assert row is not None
    assert row["attempts"] == 1
    assert "attempt 1 was lost" in row["last_error"]


def test_a_heartbeat_keeps_a_long_running_row_from_being_rescued(
    outbox: repository.Outbox, platform, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    row_id = _claimed_row(outbox, platform)
    assert outbox.start(row_id) is not None
    for _ in range(5):
        clock.advance(seconds=20)
        assert outbox.extend_leases([row_id]) == 1
        assert outbox.rescue_expired(max_retries=10) == []
    assert outbox.status_of(row_id) == (rows.Status.RUNNING, 1)


def test_a_lost_last_attempt_fails_the_row(outbox: repository.Outbox, platform, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    row_id = _claimed_row(outbox, platform)
    assert outbox.start(row_id) is not None
    clock.advance(seconds=31)
    assert [r.status for r in outbox.rescue_expired(max_retries=0)] == [rows.Status.FAILED]
    row = outbox.get(row_id)
    assert row is not None
    assert row["finished_at"] is not None


def test_a_retrying_row_whose_retry_message_was_lost_comes_back_after_delay_and_lease(
    outbox: repository.Outbox, platform, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    row_id = _claimed_row(outbox, platform)
    assert outbox.start(row_id) is not None
    assert outbox.mark_retrying(row_id, 1, delay_ms=60_000)
    clock.advance(seconds=60 + 29)
    assert outbox.rescue_expired(max_retries=10) == []
    clock.advance(seconds=2)
    assert [r.status for r in outbox.rescue_expired(max_retries=10)] == [rows.Status.PENDING]


def test_prune_deletes_only_finished_rows_older_than_their_retention(
    outbox: repository.Outbox, platform, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    done_id = _claimed_row(outbox, platform, "a")
    failed_id = _claimed_row(outbox, platform, "b")
    pending_id = platform.enqueue("award_course_certificate", {"username": "c", "course_run_key": "k"})
    assert outbox.start(done_id)
    assert outbox.start(failed_id)
    assert outbox.mark_done(done_id, 1, {"outcome": "sent"})
    assert outbox.mark_failed(failed_id, 1, "boom")
    clock.advance(days=8)
    assert outbox.prune_finished(done_days=7, failed_days=30) == 1
    assert outbox.get(done_id) is None
    clock.advance(days=30)
    assert outbox.prune_finished(done_days=7, failed_days=30) == 1
    assert outbox.get(failed_id) is None
    assert outbox.get(pending_id) is not None


def test_retry_puts_failed_rows_back_with_a_fresh_budget(outbox: repository.Outbox, platform) -> None:  # type: ignore[no-untyped-def]
    row_id = _claimed_row(outbox, platform)
    assert outbox.start(row_id) is not None
    assert outbox.mark_failed(row_id, 1, "boom")
    assert outbox.failed_ids() == [row_id]
    assert outbox.retry_failed([row_id]) == [row_id]
    assert outbox.status_of(row_id) == (rows.Status.PENDING, 0)
    assert outbox.retry_failed([row_id]) == []
