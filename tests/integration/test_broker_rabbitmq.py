"""credsync's RabbitMQ broker on a real RabbitMQ: built from BROKER_URL, sends in order, retries on time.

Runs against ``CREDSYNC_TEST_AMQP_URL`` (``scripts/test`` makes sure one answers), each test on a
queue of its own, deleted afterwards; skipped, saying what to install, when none answers.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]
import pytest
from dramatiq.common import dq_name, xq_name
from dramatiq.middleware import Middleware, Retries

from worker import broker as brokers
from worker import settings

AMQP_URL = os.environ.get("CREDSYNC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


class Hooks(Middleware):
    """Records the enqueue hooks Dramatiq calls, as (hook, row id)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def before_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: Any) -> None:
        self.calls.append(("before", message.args[0]))

    def after_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: Any) -> None:
        self.calls.append(("after", message.args[0]))


@pytest.fixture
def queue() -> Iterator[str]:
    try:
        pika.BlockingConnection(pika.URLParameters(AMQP_URL)).close()
    except pika.exceptions.AMQPError as exc:
        pytest.skip(
            f"no RabbitMQ at CREDSYNC_TEST_AMQP_URL ({type(exc).__name__}): install it (Debian/Ubuntu:"
            " apt-get install rabbitmq-server) or point CREDSYNC_TEST_AMQP_URL at one"
        )
    name = f"credsync-test-{uuid.uuid4().hex[:8]}"
    yield name
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        channel = connection.channel()
        for each in (name, dq_name(name), xq_name(name)):
            channel.queue_delete(each)
    finally:
        connection.close()


@pytest.fixture
def broker(queue: str) -> Iterator[dramatiq.Broker]:
    """credsync's broker as production builds it from an amqp:// BROKER_URL."""
    config = settings.load_core(
        {
            "DATABASE_URL": "postgresql://unused/x",
            "BROKER_URL": AMQP_URL,
            "CREDSYNC_QUEUE": queue,
            "CREDSYNC_MAX_RETRIES": "3",
            "CREDSYNC_MIN_BACKOFF_MS": "150",
            "CREDSYNC_MAX_BACKOFF_MS": "300",
        }
    )
    built = brokers.build(config)
    yield built
    built.close()


def _worker(broker: dramatiq.Broker) -> dramatiq.Worker:
    worker = dramatiq.Worker(broker, worker_threads=2)
    worker.start()
    return worker


def test_a_rabbitmq_broker_url_builds_credsyncs_rabbitmq_broker_with_the_retry_policy(
    broker: dramatiq.Broker,
) -> None:
    # Given an amqp:// BROKER_URL and the CREDSYNC_* retry policy
    # When the broker is built
    # Then it is credsync's RabbitMQ broker, whose Retries middleware follows the policy
    assert isinstance(broker, brokers.IdlePollRabbitmqBroker)
    retries = next(m for m in broker.middleware if isinstance(m, Retries))
    assert (retries.max_retries, retries.min_backoff, retries.max_backoff) == (3, 150, 300)


def test_messages_sent_together_reach_a_real_worker_in_order_each_once_with_the_enqueue_hooks(
    broker: dramatiq.Broker, queue: str
) -> None:
    # Given an actor on the test's queue, and the enqueue hooks recorded
    hooks = Hooks()
    broker.add_middleware(hooks)
    ran: list[int] = []
    lock = threading.Lock()

    @dramatiq.actor(actor_name="probe", queue_name=queue, broker=broker)
    def probe(row_id: int) -> None:
        with lock:
            ran.append(row_id)

    sent = [
        dramatiq.Message(queue_name=queue, actor_name="probe", args=(n,), kwargs={}, options={})
        for n in range(1, 21)
    ]
    # When the messages of 20 claimed rows are sent together, and a worker consumes the queue
    brokers.enqueue_many(broker, sent)
    worker = _worker(broker)
    try:
        deadline = time.monotonic() + 20
        while len(ran) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # room for a duplicate to show
    finally:
        worker.stop()
    # Then each ran exactly once, and the hooks were called for each, in order
    assert sorted(ran) == list(range(1, 21))
    assert hooks.calls == [(hook, n) for n in range(1, 21) for hook in ("before", "after")]


def test_an_idle_worker_runs_a_delayed_message_within_a_tenth_of_a_second_of_its_due_time(
    broker: dramatiq.Broker, queue: str
) -> None:
    # Given an idle worker on the test's queue
    late: list[float] = []

    @dramatiq.actor(actor_name="due", queue_name=queue, broker=broker)
    def due(due_at: float) -> None:
        late.append(time.time() - due_at)

    worker = _worker(broker)
    try:
        time.sleep(1.0)
        # When messages are sent with a 300 ms delay (what a retry is), one at a time
        for _ in range(5):
            due.send_with_options(args=(time.time() + 0.3,), delay=300)
            deadline = time.monotonic() + 5
            count = len(late)
            while len(late) == count and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        worker.stop()
    # Then each ran about when due: Dramatiq's RabbitMQ consumer only looks at the messages it
    # holds back when a message arrives or its idle timeout passes (1 s: 0.7 s late here before
    # credsync capped it, as for Redis)
    assert len(late) == 5
    assert statistics.median(late) < brokers.IDLE_POLL_MS / 1000 + 0.1, late
