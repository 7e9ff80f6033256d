"""The broker check: Redis or RabbitMQ reachable, and the depth and consumers of the credsync queue."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from worker.ops.doctor import findings

CHECK_BROKER = "broker"

BROKER_TIMEOUT_S = 2.0
WORKER_HEARTBEAT_WINDOW_S = 60


def broker_verdict(*, waiting: int, consumers: int | None) -> findings.Verdict:
    """warn when messages wait and no consumer is there to take them (None: unknown)."""
    return "warn" if waiting > 0 and consumers == 0 else "ok"


def check_broker(
    broker_url: str | None, queue_name: str, *, now: Callable[[], float] = time.time
) -> findings.Finding:
    """Broker reachability and the depth of the credsync queue (Redis or RabbitMQ)."""
    if broker_url is None:
        return findings.Finding(
            CHECK_BROKER,
            "warn",
            "not checked: no broker URL configured",
            "set BROKER_URL (redis://... or amqp://...) to the broker the workers use",
        )
    scheme = urlsplit(broker_url).scheme
    if scheme in ("redis", "rediss"):
        return _check_redis(broker_url, queue_name, now=now)
    if scheme in ("amqp", "amqps"):
        return _check_rabbitmq(broker_url, queue_name)
    return findings.Finding(
        CHECK_BROKER,
        "fail",
        f"unsupported broker URL scheme {scheme!r} ({redact_url(broker_url)})",
        "BROKER_URL must start with redis://, rediss://, amqp:// or amqps://",
    )


def _check_redis(url: str, queue_name: str, *, now: Callable[[], float]) -> findings.Finding:
    import redis

    from worker import broker as brokers

    shown = redact_url(url)
    client = redis.Redis.from_url(
        url, socket_timeout=BROKER_TIMEOUT_S, socket_connect_timeout=BROKER_TIMEOUT_S
    )
    try:
        started = time.perf_counter()
        client.ping()
        ping_ms = findings.ms_since(started)
        depth = brokers.queue_depth(
            client, queue_name, heartbeats_since_ms=(now() - WORKER_HEARTBEAT_WINDOW_S) * 1000
        )
    except redis.exceptions.AuthenticationError as exc:
        return findings.Finding(
            CHECK_BROKER,
            "fail",
            f"{shown}: Redis refused the credentials ({exc})",
            "check the user and password in BROKER_URL",
        )
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        return findings.Finding(
            CHECK_BROKER,
            "fail",
            f"{shown}: unreachable within {BROKER_TIMEOUT_S:.0f} s ({type(exc).__name__}: {exc})",
            "check that Redis runs and that BROKER_URL points at it from this host; nothing is sent "
            "to the workers meanwhile (claimed rows go back to pending and wait)",
        )
    finally:
        client.close()
    summary = (
        f"{shown}: PING {ping_ms:.1f} ms; queue {queue_name!r}: {depth.waiting:,} waiting, "
        f"{depth.held:,} held by workers, {depth.delayed:,} delayed (retries), "
        f"{depth.dead_lettered:,} dead-lettered; {depth.heartbeats:,} Dramatiq consumers polled in the last "
        f"{WORKER_HEARTBEAT_WINDOW_S} s"
    )
    verdict = broker_verdict(waiting=depth.waiting, consumers=depth.heartbeats)
    if verdict == "ok":
        return findings.Finding(CHECK_BROKER, verdict, summary)
    return findings.Finding(
        CHECK_BROKER,
        verdict,
        summary,
        "messages wait and no Dramatiq worker polls this Redis: start the `worker` process (Procfile) "
        "and check its logs and BROKER_URL",
    )


def _check_rabbitmq(url: str, queue_name: str) -> findings.Finding:
    import pika  # type: ignore[import-untyped]
    import pika.exceptions  # type: ignore[import-untyped]
    from dramatiq.common import dq_name

    shown = redact_url(url)
    params = pika.URLParameters(url)
    params.socket_timeout = BROKER_TIMEOUT_S
    params.blocked_connection_timeout = BROKER_TIMEOUT_S
    params.stack_timeout = 2 * BROKER_TIMEOUT_S
    params.connection_attempts = 1
    started = time.perf_counter()
    try:
        connection = pika.BlockingConnection(params)
    except pika.exceptions.ProbableAuthenticationError as exc:
        return findings.Finding(
            CHECK_BROKER, "fail", f"{shown}: RabbitMQ refused the credentials ({exc!r})", _AMQP_AUTH_ADVICE
        )
    except pika.exceptions.ProbableAccessDeniedError as exc:
        return findings.Finding(
            CHECK_BROKER, "fail", f"{shown}: RabbitMQ denied access ({exc!r})", _AMQP_AUTH_ADVICE
        )
    except pika.exceptions.AMQPError as exc:
        return findings.Finding(
            CHECK_BROKER,
            "fail",
            f"{shown}: unreachable ({type(exc).__name__}: {exc!r})",
            "check that RabbitMQ runs and that BROKER_URL points at it from this host",
        )
    connect_ms = findings.ms_since(started)
    counts: dict[str, tuple[int, int] | None] = {}
    try:
        for name in (queue_name, dq_name(queue_name)):
            channel = connection.channel()
            try:
                declared = channel.queue_declare(queue=name, passive=True)
                counts[name] = (int(declared.method.message_count), int(declared.method.consumer_count))
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != 404:
                    raise
                counts[name] = None
            finally:
                if channel.is_open:
                    channel.close()
    finally:
        if connection.is_open:
            connection.close()
    main, delayed = counts[queue_name], counts[dq_name(queue_name)]
    if main is None:
        return findings.Finding(
            CHECK_BROKER,
            "warn",
            f"{shown}: connected in {connect_ms:.0f} ms; queue {queue_name!r} does not exist",
            "no worker has declared the queue yet: start the `worker` process, and check that "
            "CREDSYNC_QUEUE is the same for the workers and the scanner",
        )
    summary = (
        f"{shown}: connected in {connect_ms:.0f} ms; queue {queue_name!r}: "
        f"{findings.count(main[0], 'message')}, "
        f"{findings.count(main[1], 'consumer')}; {dq_name(queue_name)!r}: "
        + ("absent" if delayed is None else f"{findings.count(delayed[0], 'message')} (delayed retries)")
    )
    verdict = broker_verdict(waiting=main[0], consumers=main[1])
    if verdict == "ok":
        return findings.Finding(CHECK_BROKER, verdict, summary)
    return findings.Finding(
        CHECK_BROKER,
        verdict,
        summary,
        "messages wait and no worker consumes the queue: start the `worker` process (Procfile) "
        "and check its logs",
    )


_AMQP_AUTH_ADVICE = "check the user, password and virtual host in BROKER_URL"


def redact_url(url: str) -> str:
    """``url`` without its user and password."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
