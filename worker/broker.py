"""The Dramatiq broker (Redis or RabbitMQ, from ``BROKER_URL``) with credsync's retry policy.

With ``CREDSYNC_METRICS_PORT`` set, Dramatiq's Prometheus middleware too (``worker.metrics``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import dramatiq
from dramatiq.brokers.redis import RedisBroker
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


class IdlePollRedisBroker(RedisBroker):
    """A RedisBroker whose consumers poll at least every ``REDIS_IDLE_POLL_MS`` when idle."""

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
        return super().consume(queue_name, prefetch, min(timeout, REDIS_IDLE_POLL_MS))


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
