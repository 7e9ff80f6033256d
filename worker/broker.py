"""The Dramatiq broker (Redis or RabbitMQ, from ``BROKER_URL``) with credsync's retry policy."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import dramatiq
from dramatiq.middleware import CurrentMessage, Retries
from periodiq import PeriodiqMiddleware

from worker import settings


def build(config: settings.CoreSettings) -> dramatiq.Broker:
    """A broker for ``config.broker_url`` whose Retries middleware follows the CREDSYNC_* policy."""
    scheme = urlsplit(config.broker_url).scheme
    broker: dramatiq.Broker
    if scheme in ("amqp", "amqps"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=config.broker_url)
    else:
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=config.broker_url)  # type: ignore[no-untyped-call]
    apply_retry_policy(broker, config)
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(PeriodiqMiddleware(skip_delay=30))
    return broker


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
