"""The audit check itself: it passes a clean history and catches each violation it looks for."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import pytest

from tests.faults import invariants

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _audit(*steps: tuple[int, str, str, str, float]) -> list[dict[str, Any]]:
    """Audit entries from (row id, ordering key, old status, new status, seconds after T0)."""
    seq = itertools.count(1)
    return [
        {
            "seq": next(seq),
            "row_id": row_id,
            "ordering_key": key,
            "old_status": old,
            "new_status": new,
            "attempts": 1,
            "at": T0 + datetime.timedelta(seconds=at),
        }
        for row_id, key, old, new, at in steps
    ]


def _run(row_id: int, key: str, start: float, end: float) -> list[tuple[int, str, str, str, float]]:
    return [
        (row_id, key, "pending", "enqueued", start - 0.5),
        (row_id, key, "enqueued", "running", start),
        (row_id, key, "running", "done", end),
    ]


def test_a_clean_history_with_a_retry_and_a_rescue_passes() -> None:
    # Given row 1 retried then done, row 2 of the same learner after it, and row 3 rescued once
    audit = _audit(
        (1, "learner:ada", "pending", "enqueued", 0),
        (1, "learner:ada", "enqueued", "running", 1),
        (1, "learner:ada", "running", "retrying", 2),
        (1, "learner:ada", "retrying", "running", 3),
        (1, "learner:ada", "running", "done", 4),
        *_run(2, "learner:ada", 5, 6),
        (3, "learner:bob", "pending", "enqueued", 0),
        (3, "learner:bob", "enqueued", "running", 1),
        (3, "learner:bob", "running", "pending", 5),
        (3, "learner:bob", "pending", "enqueued", 6),
        (3, "learner:bob", "enqueued", "running", 6.5),
        (3, "learner:bob", "running", "done", 7),
    )
    # When / Then the check passes
    invariants.check_audit(audit, {1: "done", 2: "done", 3: "done"})


def test_two_rows_of_one_learner_running_at_once_are_caught() -> None:
    audit = _audit(*_run(1, "learner:ada", 1, 3), *_run(2, "learner:ada", 2, 4))
    with pytest.raises(AssertionError, match="rows 1 and 2 were running at the same time"):
        invariants.check_audit(audit, {1: "done", 2: "done"})


def test_rows_of_one_learner_started_out_of_insert_order_are_caught() -> None:
    audit = _audit(*_run(2, "learner:ada", 1, 2), *_run(1, "learner:ada", 3, 4))
    with pytest.raises(AssertionError, match="out of insert order"):
        invariants.check_audit(audit, {1: "done", 2: "done"})


def test_rows_of_different_learners_may_run_at_once() -> None:
    audit = _audit(*_run(1, "learner:ada", 1, 3), *_run(2, "learner:bob", 2, 4))
    invariants.check_audit(audit, {1: "done", 2: "done"})


@pytest.mark.parametrize(
    ("steps", "final", "message"),
    [
        ([(1, "k", "pending", "enqueued", 0), (1, "k", "enqueued", "done", 1)], "done", "illegal transition"),
        ([*_run(1, "k", 1, 2), (1, "k", "done", "pending", 3)], "pending", "illegal transition"),
        ([(1, "k", "pending", "enqueued", 0), (1, "k", "running", "done", 1)], "done", "broken path"),
        ([(1, "k", "enqueued", "running", 0)], "running", "did not start pending"),
        (_run(1, "k", 1, 2), "failed", "is not where it went"),
    ],
)
def test_an_impossible_status_path_is_caught(
    steps: list[tuple[int, str, str, str, float]], final: str, message: str
) -> None:
    with pytest.raises(AssertionError, match=message):
        invariants.check_audit(_audit(*steps), {1: final})
