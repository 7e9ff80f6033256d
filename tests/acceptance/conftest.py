"""The whole system as processes: the Procfile under honcho, real Redis, the emulator over HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests import keys
from worker import broker as brokers

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("CREDSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class System:
    """The Procfile processes for one test, with their environment; stop() is what honcho's user does."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *processes: str) -> None:
        honcho = str(Path(sys.executable).with_name("honcho"))
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                honcho,
                "start",
                "-f",
                str(ROOT / "Procfile"),
                "-d",
                str(ROOT),
                *(processes or ("worker", "scanner", "scheduler")),
            ],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, timeout_s: float = 20) -> float:
        """SIGTERM the runner (honcho then signals its whole process group); seconds until all exited."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout_s)
        while self.survivors() and time.monotonic() - started < timeout_s:
            time.sleep(0.1)
        self.log.close()
        return time.monotonic() - started

    def survivors(self) -> list[int]:
        """Processes still running with this test's queue name in their environment."""
        marker = f"CREDSYNC_QUEUE={self.env['CREDSYNC_QUEUE']}".encode()
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                if marker in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
            except OSError:
                continue
        return found

    def kill(self) -> None:
        for pid in self.survivors():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def system(database_url: str, emulator: Any, platform: Any, tmp_path: Path) -> Iterator[System]:
    queue = f"credsync-acc-{uuid.uuid4().hex[:8]}"
    platform.service_user()  # its auth_user row gives the claims of the write token credsync signs
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OAUTH_", "LMS_JWT_"))},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DATABASE_URL": database_url,
        "BROKER_URL": REDIS_URL,
        "CREDENTIALS_URL": emulator.url,
        "LMS_JWT_ISSUER": keys.ISSUER,
        "LMS_JWT_AUDIENCE": keys.AUDIENCE,
        "LMS_JWT_PRIVATE_SIGNING_JWK": keys.private_jwk(),
        "CREDSYNC_QUEUE": queue,
        "CREDSYNC_MIN_BACKOFF_MS": "200",
        "CREDSYNC_MAX_BACKOFF_MS": "1000",
        "PYTHONUNBUFFERED": "1",
    }
    system = System(env, tmp_path / "procfile.log")
    yield system
    if system.process is not None and system.process.poll() is None:
        system.stop()
    system.kill()
    client = redis.Redis.from_url(REDIS_URL)
    try:
        brokers.delete_queue(client, queue)
    finally:
        client.close()


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, system: System) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; process output:\n{system.output()[-6000:]}")
