"""Messages of several rows (a deep claim packed): each row's life is the one it would have alone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness import QUEUE, Harness
from worker.outbox import messages


@pytest.fixture
def harness(database, sql) -> Iterator[Harness]:  # type: ignore[no-untyped-def]
    h = Harness(database, sql, max_retries=2)
    yield h
    h.stop()


def _run_together(harness: Harness, ids: list[int]) -> None:
    """Claim the rows and send them in one message, as the scanner packs a deep claim; run it all."""
    claimed = harness.outbox.claim_due(batch=100, max_in_flight=1000)
    assert sorted(r.id for r in claimed) == sorted(ids)
    harness.broker.enqueue(messages.message_for(ids, "probe", QUEUE))
    harness.process()


def _state(harness: Harness, row_id: int) -> tuple[Any, ...]:
    row = harness.row(row_id)
    return row["status"], row["attempts"]


def test_a_deep_backlog_is_sent_in_fewer_messages_and_every_row_is_done_once(harness: Harness) -> None:
    # Given a backlog deeper than the scanner spreads one row to a message
    ids = [harness.insert(name=f"n{i}") for i in range(100)]
    # When it is drained
    harness.drain()
    # Then every row is done at its first attempt, each handler called once
    assert {_state(harness, i) for i in ids} == {("done", 1)}
    assert set(harness.probe.calls.values()) == {1}
    # And rows were started together, several to a statement (one message)
    with harness.outbox.database.statement() as cur:
        cur.execute("SELECT count(DISTINCT started_at) AS n FROM credsync.outbox")
        starts = cur.fetchone()
    assert starts is not None
    assert starts["n"] < len(ids)


def test_a_transient_failure_retries_only_its_row_and_counts_on_the_row(harness: Harness) -> None:
    # Given three rows in one message, the middle one failing once
    ok1 = harness.insert(name="a")
    flaky = harness.insert(name="b", behaviour="transient", failures=1)
    ok2 = harness.insert(name="c")
    # When the message runs, and Dramatiq's Retries retries it
    _run_together(harness, [ok1, flaky, ok2])
    # Then the good rows ran once, the flaky one twice, done at its second attempt
    assert harness.probe.calls == {"a": 1, "b": 2, "c": 1}
    assert [_state(harness, i) for i in (ok1, flaky, ok2)] == [("done", 1), ("done", 2), ("done", 1)]
    assert harness.row(flaky)["last_error"] == "service unavailable (call 1)"


def test_an_unexpected_error_is_retried_like_a_transient_one(harness: Harness) -> None:
    ok = harness.insert(name="a")
    buggy = harness.insert(name="b", behaviour="crash", failures=1)
    _run_together(harness, [ok, buggy])
    assert [_state(harness, i) for i in (ok, buggy)] == [("done", 1), ("done", 2)]
    assert harness.row(buggy)["last_error"] == "RuntimeError: unexpected bug"


def test_a_permanent_error_fails_its_row_at_once_and_the_others_finish(harness: Harness) -> None:
    ok = harness.insert(name="a")
    bad = harness.insert(name="b", behaviour="permanent")
    _run_together(harness, [ok, bad])
    assert [_state(harness, i) for i in (ok, bad)] == [("done", 1), ("failed", 1)]
    assert harness.row(bad)["last_error"] == "the data is wrong"
    assert harness.probe.calls == {"a": 1, "b": 1}


def test_retries_run_out_for_the_failing_row_only(harness: Harness) -> None:
    # Given a row that always fails (max_retries 2: three attempts) beside a good one
    ok = harness.insert(name="a")
    hopeless = harness.insert(name="b", behaviour="transient", failures=99)
    _run_together(harness, [ok, hopeless])
    # Then the failing row fails after its third attempt, the good one is not run again
    assert [_state(harness, i) for i in (ok, hopeless)] == [("done", 1), ("failed", 3)]
    assert harness.probe.calls == {"a": 1, "b": 3}


def test_a_redelivered_message_of_finished_rows_does_nothing(harness: Harness) -> None:
    ids = [harness.insert(name="a"), harness.insert(name="b")]
    _run_together(harness, ids)
    harness.broker.enqueue(messages.message_for(ids, "probe", QUEUE))
    harness.process()
    assert harness.probe.calls == {"a": 1, "b": 1}
    assert {_state(harness, i) for i in ids} == {("done", 1)}


def test_a_row_already_run_by_another_message_is_not_started_again(harness: Harness) -> None:
    # Given two claimed rows, one of them already run by a message of its own
    first, second = harness.insert(name="a"), harness.insert(name="b")
    harness.outbox.claim_due(batch=100, max_in_flight=1000)
    harness.broker.enqueue(messages.message_for(first, "probe", QUEUE))
    harness.process()
    # When a message carrying both arrives
    harness.broker.enqueue(messages.message_for([first, second], "probe", QUEUE))
    harness.process()
    # Then only the other row runs
    assert harness.probe.calls == {"a": 1, "b": 1}
    assert {_state(harness, i) for i in (first, second)} == {("done", 1)}


def test_a_row_that_ran_first_keeps_its_lease_alive_until_the_message_writes_it(harness: Harness) -> None:
    # Given a message whose first row is quick and whose second waits
    quick = harness.insert(name="a")
    slow = harness.insert(name="b", behaviour="wait")
    harness.outbox.claim_due(batch=100, max_in_flight=1000)
    harness.broker.enqueue(messages.message_for([quick, slow], "probe", QUEUE))
    # When the first row has run and the second is running
    deadline = time.monotonic() + 10
    while harness.probe.calls.get("b") is None:
        assert time.monotonic() < deadline, "the second row never started"
        time.sleep(0.01)
    # Then the heartbeat still covers the first row, still running on the table
    assert set(harness.runtime.in_flight.snapshot()) == {quick, slow}
    assert _state(harness, quick) == ("running", 1)
    # And once the message is done, both are written and nothing is left in flight
    harness.probe.wait.set()
    harness.process()
    assert {_state(harness, i) for i in (quick, slow)} == {("done", 1)}
    assert harness.runtime.in_flight.snapshot() == []
