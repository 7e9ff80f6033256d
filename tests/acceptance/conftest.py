"""The whole system as processes: the Procfile under honcho, a real broker, the emulator over HTTP.

Every test that takes ``system`` runs twice, on Redis and on RabbitMQ (``[redis]``, ``[rabbitmq]``):
the servers of ``CREDSYNC_TEST_REDIS_URL`` and ``CREDSYNC_TEST_AMQP_URL`` (``scripts/test`` makes
sure both answer), each test on a queue of its own, deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import keys
from tests.system import brokers, processes

REDIS_URL = os.environ.get("CREDSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("CREDSYNC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
#: The role of the Procfile runner (honcho) among the test's processes; its children inherit it.
RUNNER = "procfile"
STOP_TIMEOUT_S = 20.0


class System:
    """The Procfile processes for one test, with their environment; stop() is what honcho's user does."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        #: the processes' environment: a test may change it before ``start``
        self.env = env
        self.processes = processes.Processes(workdir)

    def start(self, *names: str) -> None:
        """Run the Procfile processes ``names`` (worker, scanner and scheduler when none) under honcho."""
        self.processes.start(RUNNER, processes.procfile_argv(*names), self.env)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> float:
        """SIGTERM the runner (honcho then signals its whole process group); seconds until all exited."""
        return self.processes.stop(RUNNER, timeout_s)

    def survivors(self) -> list[int]:
        """Processes still running that this test started (the runner and its children)."""
        return self.processes.pids()

    def kill(self) -> None:
        self.processes.kill()

    def output(self) -> str:
        """Everything the runner and its processes wrote, over every start."""
        return self.processes.log(RUNNER)


@pytest.fixture(scope="session", params=brokers.KINDS)
def shared_broker(request: pytest.FixtureRequest) -> brokers.Broker:
    """The broker server of the run: Redis, then RabbitMQ (skipped, saying why, when none answers)."""
    if request.param == brokers.REDIS:
        return brokers.SharedRedis(REDIS_URL)
    rabbitmq = brokers.SharedRabbitmq(AMQP_URL)
    if not rabbitmq.reachable():
        pytest.skip(f"no RabbitMQ answers at CREDSYNC_TEST_AMQP_URL ({AMQP_URL}): {brokers.RABBITMQ_MISSING}")
    return rabbitmq


@pytest.fixture
def system(
    database_url: str, emulator: Any, platform: Any, tmp_path: Path, shared_broker: brokers.Broker
) -> Iterator[System]:
    queue = f"credsync-acc-{uuid.uuid4().hex[:8]}"
    broker = shared_broker
    platform.service_user()  # its auth_user row gives the claims of the write token credsync signs
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OAUTH_", "LMS_JWT_"))},
        "PATH": processes.bin_path(),
        "DATABASE_URL": database_url,
        "BROKER_URL": broker.url,
        "CREDENTIALS_URL": emulator.url,
        "LMS_JWT_ISSUER": keys.ISSUER,
        "LMS_JWT_AUDIENCE": keys.AUDIENCE,
        "LMS_JWT_PRIVATE_SIGNING_JWK": keys.private_jwk(),
        "CREDSYNC_QUEUE": queue,
        "CREDSYNC_MIN_BACKOFF_MS": "200",
        "CREDSYNC_MAX_BACKOFF_MS": "1000",
        "PYTHONUNBUFFERED": "1",
    }
    system = System(env, tmp_path)
    try:
        yield system
    finally:
        # A test that stops the processes gracefully says so itself (and asserts how it went);
        # whatever is left is killed at once.
        system.kill()
        broker.delete_queue(queue)


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, system: System) -> None:
    processes.wait_until(
        condition,
        timeout_s,
        what,
        lambda: f"process output:\n{system.output()[-6000:]}",
        interval_s=0.2,
    )
