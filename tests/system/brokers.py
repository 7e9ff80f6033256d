"""The message broker a test's processes talk to: an interface, with Redis and RabbitMQ behind it.

``Broker`` is what every test of the whole system needs (the ``BROKER_URL`` to give the processes,
a sender of messages, its queue deleted afterwards); ``PrivateBroker`` adds what the fault tests
do to a server they own (lose every message, crash, start again empty). Each broker implements
both: ``SharedRedis``/``PrivateRedis`` and ``SharedRabbitmq``/``PrivateRabbitmq`` (a RabbitMQ node
of the test run's own, with its own Erlang port mapper, ports, data and cookie, so the machine's
RabbitMQ is never disturbed). ``KINDS`` names them, for the fixtures that run a test on each.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import dramatiq
import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]
import pytest
import redis
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import dq_name, xq_name

from tests.system import processes
from worker import broker as brokers

#: The brokers every end-to-end and fault scenario runs on (the ids of the parametrised fixtures).
KINDS = ("redis", "rabbitmq")
REDIS, RABBITMQ = KINDS


class Broker(Protocol):
    """A broker server the processes of a test are pointed at."""

    #: ``"redis"`` or ``"rabbitmq"`` (one of ``KINDS``)
    kind: str
    #: the ``BROKER_URL`` of the processes
    url: str

    def url_via(self, host: str, port: int) -> str:
        """``url`` with its address replaced (the processes reach the server through a relay)."""
        ...

    def sender(self) -> contextlib.AbstractContextManager[dramatiq.Broker]:
        """A Dramatiq broker on this server, for a test to send messages as a scanner would."""
        ...

    def delete_queue(self, queue: str) -> None:
        """Delete a test's queue and every message of it (the server may be shared)."""
        ...


class PrivateBroker(Broker, Protocol):
    """A broker server of the test run's own, that tests may empty, crash and start again."""

    #: the port it listens on, on 127.0.0.1
    port: int

    def server_pids(self) -> list[int]:
        """The server's running processes (for the CPU time it spends)."""
        ...

    def flush(self) -> None:
        """Drop every message of every queue, as a restart without persistence does (RabbitMQ:
        every ready message; those a consumer holds unacknowledged stay)."""
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

    kind = REDIS
    url: str

    def url_via(self, host: str, port: int) -> str:
        return _with_address(self.url, host, port)

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

    def server_pids(self) -> list[int]:
        """The server's processes (for its CPU time)."""
        return [self.process.pid] if self.process.poll() is None else []

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


def _with_address(url: str, host: str, port: int) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{host}:{port}" if credentials else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


# -- RabbitMQ ---------------------------------------------------------------------------------------

#: How long a RabbitMQ node may take to boot (about 4 s here) before a test gives up.
RABBITMQ_BOOT_TIMEOUT_S = 60.0
#: The consumer-timeout check runs on every channel tick: once a second on the private node (the
#: server's default is once a minute), so a test of a short ``consumer_timeout`` sees it in time.
CHANNEL_TICK_MS = 1000
RABBITMQ_MISSING = (
    "RabbitMQ is not installed: install it (Debian/Ubuntu: apt-get install rabbitmq-server) to run "
    "the scenarios on RabbitMQ, or point CREDSYNC_TEST_AMQP_URL at a running server"
)


class _Rabbitmq:
    """What a RabbitMQ server offers as a ``Broker``, given its URL."""

    kind = RABBITMQ
    url: str

    def url_via(self, host: str, port: int) -> str:
        return _with_address(self.url, host, port)

    def connection(self) -> Any:
        params = pika.URLParameters(self.url)
        params.socket_timeout = 5
        params.connection_attempts = 1
        return pika.BlockingConnection(params)

    @contextlib.contextmanager
    def sender(self) -> Iterator[dramatiq.Broker]:
        broker = RabbitmqBroker(url=self.url)
        try:
            yield broker
        finally:
            broker.close()

    def delete_queue(self, queue: str) -> None:
        """Delete the queue, its delay queue and its dead-letter queue (Dramatiq declares all three)."""
        with contextlib.suppress(pika.exceptions.AMQPConnectionError):
            connection = self.connection()
            try:
                for name in (queue, dq_name(queue), xq_name(queue)):
                    channel = connection.channel()
                    with contextlib.suppress(pika.exceptions.AMQPChannelError):
                        channel.queue_delete(name)
                    if channel.is_open:
                        channel.close()
            finally:
                if connection.is_open:
                    connection.close()

    def message_counts(self, queue: str) -> dict[str, tuple[int, int]]:
        """(ready messages, consumers) of the queue and of its delay queue, by name; absent ones left out."""
        counts: dict[str, tuple[int, int]] = {}
        connection = self.connection()
        try:
            for name in (queue, dq_name(queue)):
                channel = connection.channel()
                try:
                    ok = channel.queue_declare(queue=name, passive=True)
                    counts[name] = (int(ok.method.message_count), int(ok.method.consumer_count))
                except pika.exceptions.ChannelClosedByBroker:
                    continue
                finally:
                    if channel.is_open:
                        channel.close()
        finally:
            if connection.is_open:
                connection.close()
        return counts


class SharedRabbitmq(_Rabbitmq):
    """A RabbitMQ server the tests were pointed at (``CREDSYNC_TEST_AMQP_URL``); each test has its queue."""

    def __init__(self, url: str) -> None:
        self.url = url

    def reachable(self) -> bool:
        try:
            self.connection().close()
        except pika.exceptions.AMQPError:
            return False
        return True


def _rabbitmq_programs() -> tuple[Path, Path] | None:
    """``rabbitmq-server`` and ``rabbitmqctl`` to run as the current user.

    Debian's ``/usr/sbin`` ones are wrappers that switch to the ``rabbitmq`` user (and its home,
    hence its Erlang cookie); the scripts they call live in ``/usr/lib/rabbitmq/bin``.
    """
    for directory in (Path("/usr/lib/rabbitmq/bin"), Path("/usr/local/lib/rabbitmq/bin")):
        if (directory / "rabbitmq-server").exists() and (directory / "rabbitmqctl").exists():
            return directory / "rabbitmq-server", directory / "rabbitmqctl"
    server, ctl = shutil.which("rabbitmq-server"), shutil.which("rabbitmqctl")
    if server and ctl:
        return Path(server), Path(ctl)
    return None


class PrivateRabbitmq(_Rabbitmq):
    """A RabbitMQ node of the test run's own, in a temp dir, that tests may restart, crash and lose.

    Everything is its own: node name, AMQP and distribution ports (127.0.0.1 only), an Erlang port
    mapper (``epmd``) on a free port, data and logs, and an Erlang cookie in its own ``HOME``, for
    ``rabbitmqctl`` too. No plugin is enabled. ``loopback_users = none`` lets ``guest`` in from a
    relay; the server still listens on 127.0.0.1 only.
    """

    def __init__(self) -> None:
        programs = _rabbitmq_programs()
        epmd = shutil.which("epmd") or next(
            iter(sorted(Path("/usr/lib/erlang").glob("erts-*/bin/epmd"))), None
        )
        if programs is None or epmd is None:
            pytest.skip(RABBITMQ_MISSING)
        self.server_program, self.ctl_program = programs
        self.dir = Path(tempfile.mkdtemp(prefix="credsync-faults-rabbitmq-"))
        self.node = f"credsync-{uuid.uuid4().hex[:8]}@localhost"
        self.port = processes.free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"
        epmd_port, dist_port = processes.free_port(), processes.free_port()
        cookie = self.dir / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq.conf").write_text("loopback_users = none\n")
        (self.dir / "advanced.config").write_text(
            f"[{{rabbit, [{{channel_tick_interval, {CHANNEL_TICK_MS}}}]}}].\n"
        )
        (self.dir / "rabbitmq-env.conf").write_text("")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))},
            "HOME": str(self.dir),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(epmd_port),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            # Not the machine's /etc/rabbitmq/rabbitmq-env.conf (its node name and flags).
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.dir / "rabbitmq.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        self._log = (self.dir / "server.log").open("ab")
        self.epmd = subprocess.Popen(
            [str(epmd), "-port", str(epmd_port), "-address", "127.0.0.1"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.process: subprocess.Popen[bytes] | None = None
        try:
            self._spawn()
        except BaseException:
            self.stop()
            raise

    # -- the node's life ---------------------------------------------------------------------------

    def _spawn(self) -> None:
        self._log.write(f"\n===== start {time.strftime('%H:%M:%S')}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            [str(self.server_program)],
            env=self.env,
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.wait_until(
            self._answers, RABBITMQ_BOOT_TIMEOUT_S, f"the private RabbitMQ node {self.node}", self.log_tail
        )

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"the private RabbitMQ node exited\n{self.log_tail()}")
        # pika logs every refused attempt at ERROR: while the node boots, that is expected.
        quiet = logging.getLogger("pika")
        level, quiet.level = quiet.level, logging.CRITICAL
        try:
            self.connection().close()
        except pika.exceptions.AMQPError:
            return False
        finally:
            quiet.setLevel(level)
        return True

    def ctl(self, *args: str, timeout_s: float = 60) -> str:
        """``rabbitmqctl -n <node> args`` (its cookie from this node's ``HOME``); its output."""
        done = subprocess.run(
            [str(self.ctl_program), "-n", self.node, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def _kill_node(self, sig: int) -> None:
        process = self.process
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # The Erlang VM and its helpers (erl_child_setup, inet_gethost) share the session.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        self.process = None

    def server_pids(self) -> list[int]:
        """The node's processes: the Erlang VM and its helpers, in the session it was started in."""
        return [] if self.process is None else processes.session_pids(self.process.pid)

    def flush(self) -> None:
        """Purge every queue of the node: its ready messages go; those a consumer holds do not."""
        names = self.ctl("list_queues", "--quiet", "--no-table-headers", "name").split()
        connection = self.connection()
        try:
            for name in names:
                channel = connection.channel()
                with contextlib.suppress(pika.exceptions.AMQPChannelError):
                    channel.queue_purge(name)
                if channel.is_open:
                    channel.close()
        finally:
            connection.close()

    def crash(self) -> None:
        """SIGKILL the node and lose its disk: every connection cut, every message gone.

        What losing the node means to Dramatiq's classic queues (no mirroring, no quorum queues):
        a replacement node starts empty (``start_again``).
        """
        self._kill_node(signal.SIGKILL)
        shutil.rmtree(self.dir / "mnesia", ignore_errors=True)

    def start_again(self) -> None:
        self._spawn()

    def restart(self) -> None:
        """Stop the node as an operator does (``rabbitmqctl stop``) and start it again on its data.

        Durable queues and persistent messages survive; every connection is cut. (``stop_app`` and
        ``start_app`` would keep the Erlang VM, but RabbitMQ 3.10 on Erlang 25 here fails to
        listen again on its port after ``start_app``: eaddrinuse.)
        """
        self.ctl("stop")
        self._kill_node(signal.SIGTERM)
        self._spawn()

    def close_all_connections(self, why: str = "credsync fault test") -> None:
        self.ctl("close_all_connections", why)

    def purge(self, *queues: str) -> int:
        """Purge ``queues`` (their ready messages; those consumers hold stay); how many went."""
        purged = 0
        connection = self.connection()
        try:
            channel = connection.channel()
            for queue in queues:
                purged += int(channel.queue_purge(queue).method.message_count)
        finally:
            connection.close()
        return purged

    def queue_stats(self) -> dict[str, tuple[int, int, int]]:
        """Every queue's (ready, unacknowledged, consumers), by name, as the node counts them."""
        out = self.ctl(
            "list_queues",
            "--quiet",
            "--no-table-headers",
            "name",
            "messages_ready",
            "messages_unacknowledged",
            "consumers",
        )
        stats = {}
        for line in out.splitlines():
            fields = line.split()
            if len(fields) == 4:
                stats[fields[0]] = (int(fields[1]), int(fields[2]), int(fields[3]))
        return stats

    def consumer_timeout_ms(self) -> int | None:
        out = self.ctl("eval", "application:get_env(rabbit, consumer_timeout).").strip()
        return int(out[len("{ok,") : -1]) if out.startswith("{ok,") else None

    def set_consumer_timeout_ms(self, value: int | None) -> None:
        """The node's ``consumer_timeout`` for channels opened from now on (None: no timeout)."""
        if value is None:
            self.ctl("eval", "application:unset_env(rabbit, consumer_timeout).")
        else:
            self.ctl("eval", f"application:set_env(rabbit, consumer_timeout, {int(value)}).")

    def server_log(self) -> str:
        """The node's own log (where it says which channels it closed, and why)."""
        return "".join(p.read_text(errors="replace") for p in sorted((self.dir / "log").glob("*.log")))

    def log_tail(self, chars: int = 3000) -> str:
        return processes.tail(self.dir / "server.log", chars) + "\n" + self.server_log()[-chars:]

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.ctl("stop", timeout_s=30)
            self._kill_node(signal.SIGTERM)
        self.epmd.terminate()
        try:
            self.epmd.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.epmd.kill()
            self.epmd.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
