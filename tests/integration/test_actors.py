"""Actors through Dramatiq (StubBroker, a real Worker) on a real database: every outcome on the row."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator

import pytest

from tests.harness import QUEUE, Harness
from worker import logs
from worker.outbox import rows, scanner


@pytest.fixture
def harness(database, sql) -> Iterator[Harness]:  # type: ignore[no-untyped-def]
    h = Harness(database, sql)
    yield h
    h.stop()


def test_a_successful_row_ends_done_with_its_result(harness: Harness) -> None:
    row_id = harness.insert(name="a")
    harness.drain()
    row = harness.row(row_id)
    assert (row["status"], row["attempts"], row["result"], row["last_error"]) == (
        "done",
        1,
        {"outcome": "sent", "n": 1},
        None,
    )
    assert row["finished_at"] is not None


def test_a_skipped_row_ends_done_with_the_reason(harness: Harness) -> None:
    row_id = harness.insert(name="a", behaviour="skip")
    harness.drain()
    assert harness.row(row_id)["result"] == {
        "outcome": "skipped",
        "reason": "nothing_to_do",
        "message": "no reason to send",
    }


def test_a_transient_failure_is_retried_and_its_error_kept(harness: Harness) -> None:
    row_id = harness.insert(name="a", behaviour="transient", failures=2)
    harness.drain()
    row = harness.row(row_id)
    assert (row["status"], row["attempts"]) == ("done", 3)
    assert row["last_error"] == "service unavailable (call 2)"


def test_an_unexpected_exception_is_retried_like_upstream(harness: Harness) -> None:
    row_id = harness.insert(name="a", behaviour="crash", failures=1)
    harness.drain()
    row = harness.row(row_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("done", 2, "RuntimeError: unexpected bug")


def test_a_row_fails_when_its_retries_run_out(harness: Harness) -> None:
    row_id = harness.insert(name="a", behaviour="transient", failures=99)
    harness.drain()
    row = harness.row(row_id)
    assert (row["status"], row["attempts"]) == ("failed", 3)  # max_retries=2: three attempts
    assert row["last_error"] == "service unavailable (call 3)"
    assert harness.probe.calls["a"] == 3


def test_a_permanent_error_fails_the_row_at_once(harness: Harness) -> None:
    row_id = harness.insert(name="a", behaviour="permanent")
    harness.drain()
    row = harness.row(row_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 1, "the data is wrong")


def test_a_malformed_payload_fails_with_a_message_while_other_rows_go_on(harness: Harness) -> None:
    bad = harness.insert(name=42)
    good = harness.insert(name="b")
    harness.drain()
    bad_row = harness.row(bad)
    assert bad_row["status"] == "failed"
    assert bad_row["last_error"] == "invalid payload for probe: name: Input should be a valid string (got 42)"
    assert harness.row(good)["status"] == "done"


def test_a_redelivered_message_for_a_finished_row_does_nothing(harness: Harness) -> None:
    row_id = harness.insert(name="a")
    harness.drain()
    harness.send(rows.Claimed(row_id, "probe"))
    harness.broker.join(QUEUE)
    harness.worker.join()
    assert harness.probe.calls["a"] == 1
    assert harness.row(row_id)["attempts"] == 1


def test_follow_up_rows_are_inserted_when_the_row_is_done_and_then_run(harness: Harness) -> None:
    parent = harness.insert(name="p", behaviour="follow")
    harness.drain()
    children = harness.sql.execute(
        "SELECT id, status, payload FROM credsync.outbox WHERE id <> %s", (parent,)
    ).fetchall()
    assert [(c["status"], c["payload"]["name"]) for c in children] == [("done", "p-child")]


def test_rows_of_one_ordering_key_run_one_at_a_time_in_insert_order(harness: Harness) -> None:
    ids = [harness.insert(name="same", behaviour="transient", failures=1) for _ in range(3)]
    harness.drain()
    starts = [harness.row(i)["started_at"] for i in ids]
    finishes = [harness.row(i)["finished_at"] for i in ids]
    assert all(finishes[i] <= starts[i + 1] for i in range(len(ids) - 1))


def test_the_heartbeat_keeps_a_long_attempt_from_being_rescued(database, sql) -> None:  # type: ignore[no-untyped-def]
    # Given a worker whose leases last 2 s, and a handler that takes 4 s
    h = Harness(database, sql, lease_s=2)
    release = threading.Event()
    h.probe.wait = release
    row_id = h.insert(name="slow", behaviour="wait")
    h.scanner.run_once(rescue=False)
    try:
        # When the lease rescue runs every half second while the attempt goes on
        rescued = []
        for _ in range(8):
            release.wait(0.5)
            rescued += scanner.rescue_lost(h.outbox, max_retries=2)
        release.set()
        h.broker.join(QUEUE)
        h.worker.join()
    finally:
        h.stop()
    # Then the row was never rescued, and ended done after one attempt
    assert rescued == []
    row = h.row(row_id)
    assert (row["status"], row["attempts"]) == ("done", 1)


def test_each_outcome_is_one_log_line_carrying_the_rows_context(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="worker.outbox.actors")
    done = harness.insert(name="a")
    failed = harness.insert(name="b", behaviour="permanent")
    harness.drain()
    lines = {r.row_id: r for r in caplog.records if hasattr(r, "row_id")}  # type: ignore[attr-defined]
    assert (lines[done].outcome, lines[done].task, lines[done].attempt) == ("done, sent", "probe", 1)  # type: ignore[attr-defined]
    assert lines[done].ordering_key == "probe:a"  # type: ignore[attr-defined]
    assert lines[done].payload_name == "a"  # type: ignore[attr-defined]
    assert lines[done].duration_ms >= 0  # type: ignore[attr-defined]
    assert (lines[failed].outcome, lines[failed].levelname) == ("failed", "WARNING")  # type: ignore[attr-defined]
    assert "the data is wrong" in lines[failed].getMessage()
    # And the JSON format carries the same context as fields
    entry = json.loads(logs.JsonFormatter().format(lines[done]))
    assert {k: entry[k] for k in ("row_id", "task", "attempt", "outcome", "ordering_key")} == {
        "row_id": done,
        "task": "probe",
        "attempt": 1,
        "outcome": "done, sent",
        "ordering_key": "probe:a",
    }
    assert entry["level"] == "INFO"
    assert entry["message"].startswith(f"row {done} (probe) attempt 1: done, sent in ")
