"""The book of stored certificate types spares the writes of a type this process confirmed lately."""

from __future__ import annotations

from typing import Any

from worker import db
from worker.sync import certificate_types

DESTINATION = "http://credentials.test"
RUN = "course-v1:edX+DemoX+Demo"


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stored(sql: Any) -> list[tuple[str, str]]:
    rows = sql.execute("SELECT certificate_type, source FROM credsync.course_certificate_type").fetchall()
    return [(r["certificate_type"], r["source"]) for r in rows]


def test_a_type_confirmed_lately_is_not_written_again_until_the_confirmation_ages(
    database: db.Database, sql: Any
) -> None:
    # Given a type learned by this process
    ticker = Ticker()
    book = certificate_types.Book(database, confirmed=certificate_types.Confirmed(ticker))
    assert book.learn(DESTINATION, RUN, "verified", certificate_types.AWARD_ANSWER)
    # When its row goes away and the same answer comes again soon after
    sql.execute("DELETE FROM credsync.course_certificate_type")
    ticker.now += certificate_types.CONFIRMED_FOR_S - 1
    # Then nothing is written (no statement at all)
    assert not book.learn(DESTINATION, RUN, "verified", certificate_types.AWARD_ANSWER)
    assert _stored(sql) == []
    # And once the confirmation has aged, the answer is written again
    ticker.now += 2
    assert book.learn(DESTINATION, RUN, "verified", certificate_types.AWARD_ANSWER)
    assert _stored(sql) == [("verified", "award_answer")]


def test_a_different_type_is_always_written(database: db.Database, sql: Any) -> None:
    book = certificate_types.Book(database, confirmed=certificate_types.Confirmed(Ticker()))
    assert book.learn(DESTINATION, RUN, "verified", certificate_types.AWARD_ANSWER)
    assert book.learn(DESTINATION, RUN, "professional", certificate_types.CONFIGURATION_ANSWER)
    assert _stored(sql) == [("professional", "configuration_answer")]
