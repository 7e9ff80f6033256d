"""The Dramatiq broker (Redis or RabbitMQ, from ``BROKER_URL``) with credsync's retry policy.

With ``CREDSYNC_METRICS_PORT`` set, Dramatiq's Prometheus middleware too (``worker.metrics``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from dramatiq.middleware import CurrentMessage, Retries
from periodiq import PeriodiqMiddleware

from worker import metrics, settings

#: Longest sleep of an idle Redis consumer between polls. Dramatiq backs off up to the worker
#: timeout (1 s): a row claimed on an idle system then waits ~0.4 s median before a worker sees it.
REDIS_IDLE_POLL_MS = 100


def build(config: settings.CoreSettings) -> dramatiq.Broker:
    """A broker for ``config.broker_url`` whose Retries middleware follows the CREDSYNC_* policy."""
    scheme = urlsplit(config.broker_url).scheme
    broker: dramatiq.Broker
    if scheme in ("amqp", "amqps"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=config.broker_url)
    else:
        broker = _redis_broker(config.broker_url)
    apply_retry_policy(broker, config)
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(PeriodiqMiddleware(skip_delay=30))
    if config.metrics_port is not None:
        broker.add_middleware(metrics.dramatiq_middleware(config))
    return broker


def enqueue_many(broker: dramatiq.Broker, messages: Sequence[dramatiq.Message[Any]]) -> None:
    """Enqueue ``messages`` in order: in one round trip on credsync's Redis broker, else one by one.

    Not atomic: when it raises, any of them may have been enqueued.
    """
    if isinstance(broker, IdlePollRedisBroker):
        broker.enqueue_many(messages)
        return
    for message in messages:
        broker.enqueue(message)


class IdlePollRedisBroker(RedisBroker):
    """A RedisBroker whose consumers poll at least every ``REDIS_IDLE_POLL_MS`` when idle, and that
    can send many messages in one round trip (``enqueue_many``)."""

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
        return super().consume(queue_name, prefetch, min(timeout, REDIS_IDLE_POLL_MS))

    def enqueue_many(self, messages: Sequence[dramatiq.Message[Any]]) -> None:
        """``enqueue`` each message (no delay), pipelined: one round trip to Redis for all of them.

        One by one, a scanner spent most of its pass waiting for Redis's reply to each message.
        Each message is what ``RedisBroker.enqueue`` would send (its own ``redis_message_id``, the
        enqueue middleware hooks, the broker's dispatch script); only the replies are read at the end.
        """
        if not messages:
            return
        # RedisBroker's private protocol, as RedisBroker._dispatch calls its dispatch script
        # (dramatiq 1.x-2.2); tests/integration/test_broker_redis.py has a real Worker consume them.
        script = self.scripts["dispatch"]
        unpack_size = self._max_unpack_size()  # type: ignore[no-untyped-call]
        sent: list[dramatiq.Message[Any]] = []
        with self.client.pipeline(transaction=False) as pipe:
            for message in messages:
                redis_id = str(uuid.uuid4())
                message = message.copy(options={"redis_message_id": redis_id})
                self.emit_before("enqueue", message, None)
                args = [
                    "enqueue",
                    current_millis(),
                    message.queue_name,
                    self.broker_id,
                    self.heartbeat_timeout,
                    self.dead_message_ttl,
                    self._should_do_maintenance("enqueue"),
                    unpack_size,
                    redis_id,
                    message.encode(),
                ]
                script(keys=[self.namespace], args=args, client=pipe)
                sent.append(message)
            pipe.execute()
        for message in sent:
            self.emit_after("enqueue", message, None)


def _redis_broker(url: str) -> dramatiq.Broker:
    return IdlePollRedisBroker(url=url)  # type: ignore[no-untyped-call]


def apply_retry_policy(broker: dramatiq.Broker, config: settings.CoreSettings) -> None:
    """Configure the broker's Retries middleware: upstream policy by default (10 retries, 30 s → 600 s)."""
    retries: Any = next((m for m in broker.middleware if isinstance(m, Retries)), None)
    if retries is None:
        broker.add_middleware(
            Retries(
                max_retries=config.max_retries,
                min_backoff=config.min_backoff_ms,
                max_backoff=config.max_backoff_ms,
            )
        )
        return
    retries.max_retries = config.max_retries
    retries.min_backoff = config.min_backoff_ms
    retries.max_backoff = config.max_backoff_ms
