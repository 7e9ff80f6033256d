"""The Dramatiq broker (Redis or RabbitMQ, from ``BROKER_URL``) with credsync's retry policy.

With ``CREDSYNC_METRICS_PORT`` set, credsync's Prometheus exporter middleware too (``worker.metrics``).

This module is the one place that knows Dramatiq's Redis internals: the private dispatch script
``IdlePollRedisBroker.enqueue_many`` calls, and the key layout (``queue_key`` ... ``heartbeats_key``)
with the operations the doctor, the tests and the bench need (``queue_depth``, ``delete_queue``).
None of it is Dramatiq's public API, so ``check_dramatiq_version`` refuses a Dramatiq outside
``TESTED_DRAMATIQ``; it runs when a Redis broker is built and before each Redis operation here.

On either broker an idle consumer wakes at least every ``IDLE_POLL_MS``: Dramatiq hands a delayed
message (a retry waiting for its backoff) back to its queue only when its consumer wakes, which an
idle one otherwise does once per worker timeout (1 s).
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import dramatiq
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis, dq_name, xq_name
from dramatiq.middleware import CurrentMessage, Retries
from periodiq import PeriodiqMiddleware

from worker import errors, settings
from worker.metrics import workers

#: Longest sleep of an idle consumer, on either broker. Dramatiq sleeps up to the worker timeout
#: (1 s). On Redis a row claimed on an idle system then waited ~0.4 s median before a worker saw
#: it; on RabbitMQ (which pushes new messages at once) a retry ran ~0.7 s after it was due.
IDLE_POLL_MS = 100

#: The Dramatiq releases (major, minor), first and last, whose Redis internals this module was
#: tested with: tests/integration/test_broker_redis.py passes on 2.2.1, and 2.0.0 to 2.2.1 ship
#: the same brokers/redis.py, brokers/redis/dispatch.lua and common.py, byte for byte. Widen it
#: (and the dramatiq pin in pyproject.toml) only after that test passes on the new release.
TESTED_DRAMATIQ = ((2, 0), (2, 2))
BROKER_TEST = "tests/integration/test_broker_redis.py"

#: Prefix of every key of Dramatiq's Redis broker (RedisBroker's default, passed explicitly so the
#: key functions below and the broker cannot disagree).
REDIS_NAMESPACE = "dramatiq"


def build(config: settings.CoreSettings) -> dramatiq.Broker:
    """A broker for ``config.broker_url`` whose Retries middleware follows the CREDSYNC_* policy."""
    scheme = urlsplit(config.broker_url).scheme
    broker: dramatiq.Broker
    if scheme in ("amqp", "amqps"):
        broker = IdlePollRabbitmqBroker(url=config.broker_url)
    else:
        broker = _redis_broker(config.broker_url)
    return configure(broker, config)


def configure(broker: dramatiq.Broker, config: settings.CoreSettings) -> dramatiq.Broker:
    """Add credsync's middleware to ``broker`` (one ``build`` made, or a test's StubBroker).

    The retry policy, ``CurrentMessage``, periodiq, and with metrics on, the Prometheus exporter.
    """
    apply_retry_policy(broker, config)
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(PeriodiqMiddleware(skip_delay=30))
    if config.metrics_port is not None:
        broker.add_middleware(workers.dramatiq_middleware(config))
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
    """A RedisBroker whose consumers poll at least every ``IDLE_POLL_MS`` when idle, and that
    can send many messages in one round trip (``enqueue_many``)."""

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
        return super().consume(queue_name, prefetch, min(timeout, IDLE_POLL_MS))

    def enqueue_many(self, messages: Sequence[dramatiq.Message[Any]]) -> None:
        """``enqueue`` each message (no delay), pipelined: one round trip to Redis for all of them.

        One by one, a scanner spent most of its pass waiting for Redis's reply to each message.
        Each message is what ``RedisBroker.enqueue`` would send (its own ``redis_message_id``, the
        enqueue middleware hooks, the broker's dispatch script); only the replies are read at the end.
        """
        if not messages:
            return
        # RedisBroker's private protocol, as RedisBroker._dispatch calls its dispatch script (guarded
        # by TESTED_DRAMATIQ); tests/integration/test_broker_redis.py has a real Worker consume them.
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


class IdlePollRabbitmqBroker(RabbitmqBroker):
    """A RabbitmqBroker whose consumers wake at least every ``IDLE_POLL_MS`` when idle.

    RabbitMQ pushes new messages at once, but a delayed message (a retry: Dramatiq holds it
    unacknowledged in the worker until it is due) goes back to its queue only when the consumer
    holding it wakes: on an idle worker, up to the worker timeout later (a retry ran 0.7 s late,
    median). tests/integration/test_broker_rabbitmq.py measures it.
    """

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 5000) -> Any:
        return super().consume(queue_name, prefetch, min(timeout, IDLE_POLL_MS))


def _redis_broker(url: str) -> dramatiq.Broker:
    check_dramatiq_version()
    return IdlePollRedisBroker(url=url, namespace=REDIS_NAMESPACE)  # type: ignore[no-untyped-call]


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


def check_dramatiq_version(version: str | None = None) -> None:
    """Raise ``errors.UntestedDependencyError`` unless ``version`` (default: the installed one) is tested.

    Only major.minor is compared: a patch release keeps the private protocol this module relies on.
    """
    installed = dramatiq.__version__ if version is None else version
    first, last = TESTED_DRAMATIQ
    found = re.match(r"(\d+)\.(\d+)", installed)
    if found is not None and first <= (int(found[1]), int(found[2])) <= last:
        return
    raise errors.UntestedDependencyError(
        f"dramatiq {installed} is installed, but credsync's Redis broker was tested with dramatiq "
        f"{first[0]}.{first[1]} to {last[0]}.{last[1]} only (it uses Dramatiq's private Redis dispatch "
        f"script and key layout): install dramatiq>={first[0]}.{first[1]},<{last[0]}.{last[1] + 1}, "
        f"or run {BROKER_TEST} against {installed} and, if it passes, widen TESTED_DRAMATIQ in "
        "worker/broker.py and the dramatiq pin in pyproject.toml"
    )


# -- Dramatiq's Redis key layout (described at the top of dramatiq/brokers/redis/dispatch.lua) --------


def queue_key(queue: str) -> str:
    """The list of the ids of messages waiting on ``queue``."""
    return f"{REDIS_NAMESPACE}:{queue}"


def messages_key(queue: str) -> str:
    """The hash of ``queue``'s messages by id: those waiting and those fetched but not yet acked."""
    return f"{queue_key(queue)}.msgs"


def delayed_queue_key(queue: str) -> str:
    """The list of ``queue``'s delayed messages (retries waiting for their backoff, eta in each)."""
    return queue_key(dq_name(queue))


def delayed_messages_key(queue: str) -> str:
    return messages_key(dq_name(queue))


def dead_letter_key(queue: str) -> str:
    """The sorted set of ``queue``'s dead-lettered message ids, by when they were dead-lettered."""
    return queue_key(xq_name(queue))


def dead_letter_messages_key(queue: str) -> str:
    return messages_key(xq_name(queue))


def heartbeats_key() -> str:
    """The sorted set of broker ids by their last dispatch (ms): every enqueue, fetch and ack beats."""
    return f"{REDIS_NAMESPACE}:__heartbeats__"


def acks_key(broker_id: str, queue: str) -> str:
    """The set of ``queue``'s message ids that broker ``broker_id`` fetched and has not acked yet."""
    return f"{REDIS_NAMESPACE}:__acks__.{broker_id}.{queue}"


@dataclasses.dataclass(frozen=True)
class QueueDepth:
    """What Dramatiq's Redis keys say about one queue at one moment."""

    waiting: int
    #: Messages stored for the queue: those waiting plus those fetched by a worker and not yet acked.
    stored: int
    delayed: int
    dead_lettered: int
    #: Brokers (worker processes, and senders) whose dispatch script ran since the time asked about.
    heartbeats: int

    @property
    def held(self) -> int:
        """Messages fetched by a worker and not yet acked."""
        return max(0, self.stored - self.waiting)


def queue_depth(client: redis.Redis, queue: str, *, heartbeats_since_ms: float) -> QueueDepth:
    """Count ``queue``'s messages in each state, and the brokers seen since then, in one round trip."""
    check_dramatiq_version()
    pipe = client.pipeline(transaction=False)
    pipe.llen(queue_key(queue))
    pipe.hlen(messages_key(queue))
    pipe.hlen(delayed_messages_key(queue))
    pipe.zcard(dead_letter_key(queue))
    pipe.zcount(heartbeats_key(), heartbeats_since_ms, "+inf")
    waiting, stored, delayed, dead, heartbeats = (int(n) for n in pipe.execute())
    return QueueDepth(waiting, stored, delayed, dead, heartbeats)


def delete_queue(client: redis.Redis, queue: str, *, broker_ids: Iterable[str] = ()) -> int:
    """Delete every key of ``queue`` (waiting, delayed, dead-lettered, every broker's acks of it)
    and the heartbeats of ``broker_ids``; return how many keys were deleted.

    For tests and the bench, which each use a queue of their own: a live worker's messages go too.
    """
    check_dramatiq_version()
    patterns = [queue_key(queue), acks_key("*", queue)]
    # The delay and dead-letter queues are "<queue>.DQ" and "<queue>.XQ", each with its ".msgs".
    patterns += [f"{pattern}.*" for pattern in patterns]
    keys = {key for pattern in patterns for key in client.scan_iter(match=pattern)}
    deleted = int(client.delete(*keys)) if keys else 0
    ids = [broker_id for broker_id in broker_ids if broker_id]
    if ids:
        client.zrem(heartbeats_key(), *ids)
    return deleted
