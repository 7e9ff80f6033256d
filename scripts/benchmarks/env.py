"""What every measurement runs against: throwaway databases, the emulator, the Procfile processes.

Everything here is real: a database created (and dropped) on the Postgres server given by
``CREDSYNC_BENCH_PG_URL``, the Redis at ``CREDSYNC_BENCH_REDIS_URL``, the Credentials emulator as
its own process, and the Procfile's own command lines, each in its own session.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

from worker import broker as brokers
from worker import migrate, tasks
from worker.emulator import admin

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CREDSYNC = str(BIN / "credsync")
#: The bench platform's JWT_AUTH: credsync signs its tokens as the LMS does (README "Connecting to
#: Credentials"), and the emulator trusts the key, as a Credentials install trusts its LMS.
JWT_ISSUER, JWT_AUDIENCE = "http://lms.bench/oauth2", "lms-key"
SERVICE_USERNAME = "credentials_service_user"


def signing_jwk() -> str:
    """A fresh RSA private JWK (JSON), the platform's JWT_PRIVATE_SIGNING_JWK for one bench run."""
    import json

    import jwt.algorithms
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return json.dumps({**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key)), "kid": "credsync-bench"})


def server_url() -> str:
    return os.environ.get("CREDSYNC_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def redis_url() -> str:
    return os.environ.get("CREDSYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


@contextlib.contextmanager
def database(prefix: str = "credsync_bench") -> Iterator[str]:
    """A new database with credsync's schema and the reference host tables; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_url = server_url()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(admin_url)._replace(path="/" + name))
    try:
        migrate.run(url, host_schema="public", tasks=tasks.REGISTRY.registrations(), reference_host=True)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def connect(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection for the bench's own setup and checks (host tables in ``public``)."""
    with psycopg.connect(database_url, autocommit=True, options="-c search_path=public") as conn:
        yield conn


def delete_queue(broker_url: str, queue: str, *, broker_ids: Sequence[str] = ()) -> None:
    """Leave nothing in Redis: the queue's keys and ack sets and, given broker ids, their heartbeats."""
    client = redis.Redis.from_url(broker_url)
    try:
        brokers.delete_queue(client, queue, broker_ids=broker_ids)
    finally:
        client.close()


def rss_mb(pids: Sequence[int]) -> float:
    """Resident memory of these processes together, in MB (from /proc)."""
    total_kb = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


@dataclasses.dataclass(frozen=True)
class ProcStat:
    """What /proc/PID/stat says of one process."""

    name: str
    parent: int
    cpu_s: float  # user + system


def proc_stats() -> dict[int, ProcStat]:
    """Every process now, by pid."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                found[int(entry.name)] = ProcStat(
                    stat[stat.index("(") + 1 : stat.rindex(")")],
                    int(fields[1]),
                    (int(fields[11]) + int(fields[12])) / tick,
                )
    return found


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for child, stat in proc_stats().items():
        children.setdefault(stat.parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds() -> dict[int, tuple[str, float]]:
    """CPU time (user + system) of every process now: pid -> (command name, seconds)."""
    return {pid: (stat.name, stat.cpu_s) for pid, stat in proc_stats().items()}


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy so far, every CPU and process together: the
    first line of /proc/stat, all but its idle and iowait columns (guest time is inside user)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks + [0] * (8 - len(ticks))
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_by_role(
    before: Mapping[int, tuple[str, float]],
    after: Mapping[int, tuple[str, float]],
    roles: Mapping[str, Sequence[int]],
) -> dict[str, float]:
    """CPU seconds spent between two ``cpu_seconds()`` by each role (its pids) and by Postgres and Redis."""
    spent: dict[str, float] = {}
    for pid, (name, seconds) in after.items():
        used = seconds - before.get(pid, (name, 0.0))[1]
        role = next((r for r, pids in roles.items() if pid in pids), None)
        if role is None and name in ("postgres", "redis-server"):
            role = name.replace("-server", "")
        if role is not None:
            spent[role] = spent.get(role, 0.0) + used
    return spent


class Process:
    """One command in its own session, its output in a log file."""

    def __init__(self, name: str, command: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            ["bash", "-c", command],
            env=dict(env),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def pids(self) -> list[int]:
        return descendants(self.popen.pid)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 15) -> None:
        """SIGTERM to the whole group (as honcho does), SIGKILL when it does not stop in time."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._log.close()


def procfile() -> dict[str, str]:
    """The Procfile's lines: process type -> command."""
    lines = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            kind, _, command = line.partition(":")
            lines[kind.strip()] = command.strip()
    return lines


class Emulator:
    """``credsync emulator`` as its own process (as in the demo), with its admin client."""

    def __init__(self, log_dir: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.jwk = signing_jwk()
        key_file = log_dir / "emulator-jwk.json"
        key_file.touch(mode=0o600)
        key_file.write_text(self.jwk)
        command = (
            f"exec {shlex.quote(CREDSYNC)} emulator --port {port} --issuer {JWT_ISSUER} "
            f"--audience {JWT_AUDIENCE} --jwt-signing-jwk-file {shlex.quote(str(key_file))}"
        )
        self.process = Process("emulator", command, os.environ, log_dir)
        self.admin = admin.EmulatorAdmin(self.url)
        self.admin.wait_until_ready(20)

    def close(self) -> None:
        self.admin.close()
        self.process.stop()


class System:
    """A database, a queue, the emulator: the environment the Procfile processes run in."""

    def __init__(self, database_url: str, emulator: Emulator, log_dir: Path, **settings: str) -> None:
        self.database_url = database_url
        self.emulator = emulator
        self.log_dir = log_dir
        self.queue = f"credsync-bench-{uuid.uuid4().hex[:8]}"
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(("CREDSYNC_", "OAUTH_", "LMS_JWT_"))
        }
        self.env: dict[str, str] = {
            **inherited,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": database_url,
            "BROKER_URL": redis_url(),
            "CREDENTIALS_URL": emulator.url,
            "LMS_JWT_ISSUER": JWT_ISSUER,
            "LMS_JWT_AUDIENCE": JWT_AUDIENCE,
            "LMS_JWT_PRIVATE_SIGNING_JWK": emulator.jwk,
            "CREDSYNC_QUEUE": self.queue,
            **settings,
        }
        self.processes: dict[str, Process] = {}

    def start(self, *kinds: str) -> None:
        """Start these Procfile process types (their Procfile command lines, unchanged)."""
        lines = procfile()
        for kind in kinds:
            self.processes[kind] = Process(kind, lines[kind], self.env, self.log_dir)
        for kind in kinds:
            self.wait_ready(kind)

    def wait_ready(self, kind: str, timeout_s: float = 60) -> None:
        """Until the process type has logged that it runs (and has not exited)."""
        # The worker line starts one Dramatiq process per CPU by default; each says it is ready.
        marker, count = {
            "worker": ("Worker process is ready for action.", os.cpu_count() or 1),
            "scanner": ("scanner started", 1),
        }.get(kind, ("", 0))

        def ready() -> bool:
            process = self.processes[kind]
            if process.popen.poll() is not None:
                raise RuntimeError(f"{kind} exited:\n{process.log_tail()}")
            return process.log_tail(1_000_000).count(marker) >= count if marker else True

        wait_until(ready, timeout_s, f"the {kind} process to be ready")

    def pids(self, kind: str) -> list[int]:
        return self.processes[kind].pids()

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()
        self.processes.clear()
        with contextlib.suppress(Exception):
            delete_queue(redis_url(), self.queue)
