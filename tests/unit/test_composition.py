"""The composition root: what ``build`` wires, on the broker it builds and on a broker it is given."""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Retries

from worker import composition, scheduler, settings, tasks
from worker.outbox import middleware


def _core(**overrides: Any) -> settings.CoreSettings:
    return settings.load_core({"DATABASE_URL": "postgresql://unused/x", **overrides})


def _middleware(broker: dramatiq.Broker) -> list[str]:
    return [type(m).__name__ for m in broker.middleware]


def test_a_given_broker_is_wired_with_every_task_the_maintenance_actor_and_the_row_middleware() -> None:
    # Given a StubBroker and settings of our own
    broker = StubBroker()
    # When the app is built on it
    app = composition.build(_core(CREDSYNC_QUEUE="q1", CREDSYNC_MAX_RETRIES="3"), broker=broker)
    try:
        # Then it is the app's broker, with one actor per task on the queue, and the maintenance
        # actor that periodiq schedules
        assert app.broker is broker
        assert set(app.task_actors) == set(tasks.REGISTRY.names())
        assert set(broker.actors) == {*tasks.REGISTRY.names(), composition.MAINTENANCE_ACTOR}
        assert {actor.queue_name for actor in broker.actors.values()} == {"q1"}
        [periodic] = scheduler.periodic_actors(broker)
        assert periodic.actor_name == composition.MAINTENANCE_ACTOR
        # And the retry policy of the settings, and the row middleware
        [retries] = [m for m in broker.middleware if isinstance(m, Retries)]
        assert retries.max_retries == 3
        assert [m for m in broker.middleware if isinstance(m, middleware.OutboxRows)] != []
    finally:
        broker.close()


def test_a_given_broker_gets_the_middleware_of_a_broker_built_from_the_settings() -> None:
    # (building a Redis broker connects to nothing)
    built = composition.build(_core()).broker
    given = composition.build(_core(), broker=StubBroker()).broker
    try:
        assert _middleware(given) == _middleware(built)
    finally:
        built.close()
        given.close()
