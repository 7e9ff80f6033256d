"""The scanner's pass and the per-minute maintenance, on a real database."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from tests.conftest import Clock
from worker.outbox import maintenance, repository, rows, scanner

TASK = "award_course_certificate"


def _scanner(
    outbox: repository.Outbox, sent: list[int], *, gate: Any = None, fail_after: int | None = None
) -> scanner.Scanner:
    """A scanner whose broker records what it was sent; ``fail_after`` messages, it fails mid-batch."""

    def send(claimed: Sequence[rows.Claimed]) -> None:
        for row in claimed:
            if fail_after is not None and len(sent) >= fail_after:
                raise ConnectionError("broker unreachable")
            sent.append(row.id)

    return scanner.Scanner(
        outbox,
        send,
        known_tasks={TASK},
        gate=gate or (lambda: None),
        batch=3,
        max_in_flight=100,
        max_retries=10,
        rescue_every_s=5,
    )


def _row(username: str) -> dict[str, str]:
    return {"username": username, "course_run_key": "k"}


def test_a_pass_claims_and_sends_one_message_per_row_and_says_when_the_batch_was_full(
    outbox: repository.Outbox, platform
) -> None:  # type: ignore[no-untyped-def]
    ids = [platform.enqueue(TASK, _row(f"u{i}")) for i in range(4)]
    sent: list[int] = []
    scan = _scanner(outbox, sent)
    first = scan.run_once()
    assert (first.claimed, first.sent, first.full) == (3, 3, True)
    second = scan.run_once()
    assert (second.claimed, second.full) == (1, False)
    assert sent == ids


def test_while_paused_nothing_is_claimed_and_the_reason_is_reported(
    outbox: repository.Outbox, platform
) -> None:  # type: ignore[no-untyped-def]
    platform.enqueue(TASK, _row("ada"))
    sent: list[int] = []
    result = _scanner(outbox, sent, gate=lambda: "config disabled").run_once()
    assert (result.paused, result.claimed, sent) == ("config disabled", 0, [])


def test_each_pass_is_told_to_the_observer_and_a_failing_observer_never_stops_a_pass(
    outbox: repository.Outbox, platform, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    # Given four due rows, and a scanner whose observer records each pass, then breaks
    for i in range(4):
        platform.enqueue(TASK, _row(f"u{i}"))
    heard: list[scanner.ScanResult] = []

    def observe(result: scanner.ScanResult) -> None:
        heard.append(result)
        if len(heard) > 1:
            raise RuntimeError("metrics down")

    scan = _scanner(outbox, [])
    scan.observe = observe
    # When it makes two passes
    first, second = scan.run_once(), scan.run_once()
    # Then the observer heard both, and the failure is logged, not raised
    assert heard == [first, second]
    assert (first.claimed, second.claimed) == (3, 1)
    assert "metrics down" in caplog.text


def test_a_pass_hands_its_whole_batch_to_the_broker_at_once_in_insert_order(
    outbox: repository.Outbox, platform
) -> None:  # type: ignore[no-untyped-def]
    ids = [platform.enqueue(TASK, _row(f"u{i}")) for i in range(3)]
    calls: list[list[int]] = []
    scan = _scanner(outbox, [])
    scan.send = lambda claimed: calls.append([row.id for row in claimed])
    scan.run_once()
    assert calls == [ids]


def test_when_the_broker_fails_mid_batch_every_row_of_the_batch_goes_back_to_pending(
    outbox: repository.Outbox, platform
) -> None:  # type: ignore[no-untyped-def]
    # Given three due rows, and a broker that fails after taking the first message
    ids = [platform.enqueue(TASK, _row(f"u{i}")) for i in range(3)]
    sent: list[int] = []
    with pytest.raises(ConnectionError):
        _scanner(outbox, sent, fail_after=1).run_once()
    # Then no row is left enqueued: which messages got out is unknown, so all are released (the one
    # that got out finds its row pending and does nothing)
    assert sent == ids[:1]
    assert [outbox.status_of(i)[0] for i in ids] == [rows.Status.PENDING] * 3  # type: ignore[index]
    # And the next pass sends all three again
    again: list[int] = []
    assert _scanner(outbox, again).run_once().sent == 3
    assert again == ids


def test_a_row_of_a_task_this_worker_does_not_know_fails_with_a_message(
    outbox: repository.Outbox, platform, sql
) -> None:  # type: ignore[no-untyped-def]
    sql.execute("INSERT INTO credsync.task VALUES ('retired_task', '{}', 'x', '{id}')")
    row_id = platform.enqueue("retired_task", {"id": 1})
    sent: list[int] = []
    _scanner(outbox, sent).run_once()
    row = outbox.get(row_id)
    assert row is not None
    assert (row["status"], row["last_error"], sent) == (
        "failed",
        "no handler for task 'retired_task' in this worker version",
        [],
    )


def test_the_scanner_rescues_lost_rows_every_few_seconds(
    outbox: repository.Outbox, platform, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    row_id = platform.enqueue(TASK, _row("ada"))
    sent: list[int] = []
    ticks = iter([0.0, 1.0, 6.0])
    scan = _scanner(outbox, sent)
    scan.monotonic = lambda: next(ticks)
    scan.run_once()  # claims and sends; the message is then lost
    clock.advance(seconds=31)
    assert scan.run_once().rescued == 0  # 1 s later: rescue not due yet
    result = scan.run_once()  # 6 s later: rescued and sent again
    assert (result.rescued, result.claimed, sent) == (1, 1, [row_id, row_id])


def test_maintenance_rescues_prunes_and_scans_and_is_safe_to_run_twice_at_once(
    outbox: repository.Outbox, database, platform, clock: Clock
) -> None:  # type: ignore[no-untyped-def]
    # Given a lost in-flight row, an old done row, and a new pending row
    lost = platform.enqueue(TASK, _row("lost"))
    old = platform.enqueue(TASK, _row("old"))
    outbox.claim_due(batch=10, max_in_flight=100)
    assert outbox.start(old) is not None
    assert outbox.mark_done(old, 1, {"outcome": "sent"})
    clock.advance(days=8)
    fresh = platform.enqueue(TASK, _row("fresh"))
    sent: list[int] = []
    lock = threading.Lock()
    results: list[maintenance.MaintenanceResult] = []

    def run() -> None:
        passes = repository.Outbox(database, lease_s=30, clock=clock)

        def send(claimed: Sequence[rows.Claimed]) -> None:
            with lock:
                sent.extend(row.id for row in claimed)

        scan = scanner.Scanner(
            passes,
            send,
            known_tasks={TASK},
            gate=lambda: None,
            batch=10,
            max_in_flight=100,
            max_retries=10,
            rescue_every_s=5,
        )
        results.append(
            maintenance.run_once(
                passes, scan, max_retries=10, retention_done_days=7, retention_failed_days=30
            )
        )

    # When two schedulers' maintenance runs at once
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then the lost row was rescued once, the old row pruned once, and each due row sent once
    assert sum(r.rescued for r in results) == 1
    assert sum(r.pruned for r in results) == 1
    assert outbox.get(old) is None
    assert sorted(sent) == sorted([lost, fresh])
