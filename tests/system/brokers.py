"""The message broker a test's processes talk to: an interface, and Redis behind it.

``Broker`` is what every test of the whole system needs (the ``BROKER_URL`` to give the processes,
a sender of messages, its queue deleted afterwards); ``PrivateBroker`` adds what the fault tests
do to a server they own (lose every message, crash, start again empty). Redis implements both
today; another broker slots in as one more pair of classes.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import dramatiq
import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from tests.system import processes
from worker import broker as brokers


class Broker(Protocol):
    """A broker server the processes of a test are pointed at."""

    #: the ``BROKER_URL`` of the processes
    url: str

    def sender(self) -> contextlib.AbstractContextManager[dramatiq.Broker]:
        """A Dramatiq broker on this server, for a test to send messages as a scanner would."""
        ...

    def delete_queue(self, queue: str) -> None:
        """Delete a test's queue and every message of it (the server may be shared)."""
        ...


class PrivateBroker(Broker, Protocol):
    """A broker server of the test run's own, that tests may empty, crash and start again."""

    def flush(self) -> None:
        """Drop every message of every queue, as a restart without persistence does."""
        ...

    def crash(self) -> None:
        """Kill the server: every connection cut, every message gone."""
        ...

    def start_again(self) -> None:
        """Start an empty server on the same address."""
        ...

    def stop(self) -> None:
        """Stop the server for good and remove its files."""
        ...


class _Redis:
    """What a Redis server offers as a ``Broker``, given its URL."""

    url: str

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=2)

    @contextlib.contextmanager
    def sender(self) -> Iterator[dramatiq.Broker]:
        broker = RedisBroker(url=self.url)  # type: ignore[no-untyped-call]
        try:
            yield broker
        finally:
            broker.client.close()
            broker.client.connection_pool.disconnect()

    def delete_queue(self, queue: str) -> None:
        client = self.client()
        try:
            brokers.delete_queue(client, queue)
        finally:
            client.close()


class SharedRedis(_Redis):
    """A Redis server the tests were pointed at (``CREDSYNC_TEST_REDIS_URL``); each test has its queue."""

    def __init__(self, url: str) -> None:
        self.url = url


class PrivateRedis(_Redis):
    """A foreground ``redis-server`` without persistence, on a free port, that tests may crash."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("the fault tests need redis-server: install Redis (apt-get install redis-server)")
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="credsync-faults-redis-"))
        self.port = processes.free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._log = (self.dir / "redis.log").open("ab")
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        process = subprocess.Popen(
            [self.binary, "--port", str(self.port), *options],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.wait_until(
            self._answers,
            10,
            "the private Redis to answer",
            lambda: processes.tail(self.dir / "redis.log", 2000),
        )
        return process

    def _answers(self) -> bool:
        client = self.client()
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:
            return False
        finally:
            client.close()

    def flush(self) -> None:
        client = self.client()
        try:
            client.flushall()
        finally:
            client.close()

    def crash(self) -> None:
        """SIGKILL the server: every connection cut, every message gone (no persistence)."""
        self.process.kill()
        self.process.wait()

    def start_again(self) -> None:
        self.process = self._spawn()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
