"""Claimed rows become messages: one row each on a shallow claim, packed by task when the claim is deep."""

from __future__ import annotations

import pytest

from worker.outbox import messages, rows


def _claimed(count: int, task: str = "a", first: int = 1, attempts: int = 0) -> list[rows.Claimed]:
    return [rows.Claimed(first + i, task, attempts) for i in range(count)]


SPREAD = 8


def test_a_shallow_claim_sends_one_message_per_row() -> None:
    packed = messages.pack(_claimed(SPREAD * 2 - 1), most=10, spread=SPREAD)
    assert packed == [("a", (i,)) for i in range(1, SPREAD * 2)]


def test_a_deep_claim_packs_each_tasks_rows_that_never_ran_up_to_the_most_per_message() -> None:
    # Given 500 rows of task a (deep) and 3 of task b (shallow), b's ids among a's
    claimed = _claimed(250, "a", 1) + _claimed(3, "b", 251) + _claimed(250, "a", 254)
    # When they are packed with at most 10 rows a message
    packed = messages.pack(claimed, most=10, spread=SPREAD)
    # Then a's rows go ten to a message in id order, b's one to a message, ordered by first id
    a = [ids for task, ids in packed if task == "a"]
    assert [len(ids) for ids in a] == [10] * 50
    assert [i for ids in a for i in ids] == [r.id for r in claimed if r.task == "a"]
    assert [ids for task, ids in packed if task == "b"] == [(251,), (252,), (253,)]
    assert [ids[0] for _, ids in packed] == sorted(ids[0] for _, ids in packed)


@pytest.mark.parametrize(("rows", "spread", "size", "count"), [(96, 32, 3, 32), (40, 8, 5, 8), (43, 8, 5, 9)])
def test_a_message_takes_a_share_of_the_claim_below_the_most(
    rows: int, spread: int, size: int, count: int
) -> None:
    # rows // spread rows a message, so at least spread worker threads still get work
    packed = messages.pack(_claimed(rows), most=10, spread=spread)
    assert [len(ids) for _, ids in packed][: rows // size] == [size] * (rows // size)
    assert len(packed) == count
    assert [i for _, ids in packed for i in ids] == list(range(1, rows + 1))


def test_a_row_that_ran_before_goes_alone_and_one_row_per_message_turns_packing_off() -> None:
    claimed = _claimed(200, attempts=0) + _claimed(5, first=1000, attempts=2)
    packed = messages.pack(claimed, most=10, spread=SPREAD)
    assert [ids for _, ids in packed if ids[0] >= 1000] == [(i,) for i in range(1000, 1005)]
    assert {len(ids) for _, ids in messages.pack(claimed, most=1, spread=SPREAD)} == {1}


def test_a_message_carries_its_row_ids_only() -> None:
    message = messages.message_for([3, 4, 5], "a", "q")
    assert (message.actor_name, message.args, message.kwargs, message.options) == ("a", (3, 4, 5), {}, {})
    assert messages.message_for(7, "a", "q").args == (7,)
