"""credsync's Redis broker on a real Redis: messages sent in one round trip reach a real Worker."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.middleware import Middleware

from worker import broker as brokers
from worker import settings
from worker.outbox import messages

REDIS_URL = os.environ.get("CREDSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class Hooks(Middleware):
    """Records the enqueue hooks Dramatiq calls, as (hook, row id)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def before_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: Any) -> None:
        self.calls.append(("before", message.args[0]))

    def after_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: Any) -> None:
        self.calls.append(("after", message.args[0]))


@pytest.fixture
def queue() -> str:
    return f"credsync-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def broker(queue: str) -> Iterator[brokers.IdlePollRedisBroker]:
    """credsync's broker as production builds it, on a queue of this test alone (deleted afterwards)."""
    config = settings.load_core(
        {"DATABASE_URL": "postgresql://unused/x", "BROKER_URL": REDIS_URL, "CREDSYNC_QUEUE": queue}
    )
    built = brokers.build(config)
    assert isinstance(built, brokers.IdlePollRedisBroker)
    yield built
    built.close()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        brokers.delete_queue(client, queue, broker_ids=[built.broker_id])
    finally:
        client.close()


def test_messages_sent_in_one_round_trip_are_queued_in_order_each_with_its_own_redis_id(
    broker: brokers.IdlePollRedisBroker, queue: str
) -> None:
    # Given the messages of five claimed rows
    sent = [messages.message_for(row_id, "probe", queue) for row_id in range(1, 6)]
    # When they are sent together
    brokers.enqueue_many(broker, sent)
    # Then Redis holds them in that order, as Dramatiq's own enqueue would store them
    client = redis.Redis.from_url(REDIS_URL)
    try:
        redis_ids = client.lrange(brokers.queue_key(queue), 0, -1)
        stored = [json.loads(client.hget(brokers.messages_key(queue), i) or b"{}") for i in redis_ids]
    finally:
        client.close()
    assert [m["args"] for m in stored] == [[1], [2], [3], [4], [5]]
    assert [m["options"]["redis_message_id"].encode() for m in stored] == redis_ids
    assert len(set(redis_ids)) == 5
    assert [m["message_id"] for m in stored] == [m.message_id for m in sent]


def test_messages_sent_in_one_round_trip_are_each_run_once_by_a_real_worker_with_the_enqueue_hooks_called(
    broker: brokers.IdlePollRedisBroker, queue: str
) -> None:
    # Given an actor on the queue and a middleware watching enqueues
    hooks = Hooks()
    broker.add_middleware(hooks)
    ran: list[int] = []
    lock = threading.Lock()

    def probe(row_id: int) -> None:
        with lock:
            ran.append(row_id)

    dramatiq.actor(actor_name="probe", queue_name=queue, broker=broker, max_retries=0)(probe)
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=4)
    worker.start()
    try:
        # When 300 messages are sent in one round trip
        brokers.enqueue_many(broker, [messages.message_for(row_id, "probe", queue) for row_id in range(300)])
        broker.join(queue, timeout=30_000)
        worker.join()
    finally:
        worker.stop()
    # Then each ran exactly once, and every message went through both enqueue hooks
    assert sorted(ran) == list(range(300))
    assert hooks.calls == [("before", i) for i in range(300)] + [("after", i) for i in range(300)]


def test_sending_nothing_sends_nothing(broker: brokers.IdlePollRedisBroker, queue: str) -> None:
    brokers.enqueue_many(broker, [])
    assert broker.do_qsize(queue) == 0


# -- Dramatiq's key layout, as credsync's doctor, tests and bench read it -------------------------


def test_the_queue_depth_counts_what_the_broker_sent_waiting_delayed_and_the_senders_heartbeat(
    broker: brokers.IdlePollRedisBroker, queue: str
) -> None:
    # Given three messages sent together and one retry delayed by a minute
    brokers.enqueue_many(broker, [messages.message_for(row_id, "probe", queue) for row_id in range(3)])
    broker.enqueue(messages.message_for(99, "probe", queue), delay=60_000)
    # When
    client = redis.Redis.from_url(REDIS_URL)
    try:
        depth = brokers.queue_depth(client, queue, heartbeats_since_ms=0)
    finally:
        client.close()
    # Then
    assert (depth.waiting, depth.held, depth.delayed, depth.dead_lettered) == (3, 0, 1, 0)
    assert depth.heartbeats >= 1  # this broker's dispatch beat


def test_deleting_a_queue_a_worker_used_leaves_none_of_its_keys_nor_the_brokers_heartbeat(
    broker: brokers.IdlePollRedisBroker, queue: str
) -> None:
    # Given a queue a real worker consumed, with one message dead-lettered and one delayed
    def probe(row_id: int) -> None:
        if row_id == 0:
            raise ValueError("dead-letter me")

    dramatiq.actor(actor_name="probe", queue_name=queue, broker=broker, max_retries=0)(probe)
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        brokers.enqueue_many(broker, [messages.message_for(row_id, "probe", queue) for row_id in range(3)])
        broker.join(queue, timeout=30_000)
        worker.join()
    finally:
        worker.stop()
    broker.enqueue(messages.message_for(9, "probe", queue), delay=60_000)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        assert brokers.queue_depth(client, queue, heartbeats_since_ms=0).dead_lettered == 1
        # When
        deleted = brokers.delete_queue(client, queue, broker_ids=[broker.broker_id])
        # Then
        assert deleted >= 3  # at least the dead-letter set and the delayed list and hash
        assert [k for k in client.scan_iter(match="*") if queue.encode() in k] == []
        assert client.zscore(brokers.heartbeats_key(), broker.broker_id) is None
    finally:
        client.close()
