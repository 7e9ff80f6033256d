"""The scheduler process rides out a broker that refuses a tick's messages."""

from __future__ import annotations

import logging

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from periodiq import PeriodiqMiddleware, cron

from worker import scheduler


class RefusingBroker(StubBroker):
    """A broker whose server is down: every enqueue fails as redis-py does."""

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:  # type: ignore[type-arg]
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_a_tick_whose_messages_cannot_be_sent_is_logged_and_the_scheduler_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a broker that refuses every message, and two periodic actors
    broker = RefusingBroker()
    broker.add_middleware(PeriodiqMiddleware())
    sent = []
    for name in ("first", "second"):
        dramatiq.actor(actor_name=name, broker=broker, periodic=cron("* * * * *"))(lambda: sent.append(1))
    actors = scheduler.periodic_actors(broker)
    # When a tick sends them
    scheduler.ResilientScheduler(actors=actors).send_actors(actors, "2026-11-25T10:00:00")
    # Then nothing is raised, and each failure is logged by name
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failures] == [
        "could not enqueue first at 2026-11-25T10:00:00; the next tick tries again",
        "could not enqueue second at 2026-11-25T10:00:00; the next tick tries again",
    ]
    broker.close()
