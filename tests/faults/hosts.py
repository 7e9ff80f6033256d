"""A fault test's processes spread over hosts: workers and the scanner each in a network namespace.

``Hosts`` puts the processes of a ``harness.System`` on the hosts of a ``network.Network``: each
host reaches Postgres, the broker and Credentials through its own links (``tests.system.network``)
and a relay, so that a test cuts one host off from one service and heals it, and the other hosts
carry on. The default layout: two worker hosts, ``a`` and ``b``, and ``s`` for the scanner and the
scheduler.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from urllib.parse import urlsplit

from tests.faults import harness
from tests.system import network, processes

WORKER_HOSTS = ("a", "b")
SCANNER_HOST = "s"
HOST_NAMES = (*WORKER_HOSTS, SCANNER_HOST)


@dataclasses.dataclass(frozen=True)
class Impairment:
    """A slow, lossy link (``tests.system.relay``): one-way delay, and the chance a chunk is lost."""

    delay_ms: float = 0.0
    loss: float = 0.0


class Hosts:
    """The system's processes on hosts; ``close`` heals every link and stops the relay."""

    def __init__(
        self,
        system: harness.System,
        net: network.Network,
        *,
        broker_port: int,
        workdir: Path,
        impaired: Impairment | None = None,
    ) -> None:
        self.system = system
        self.network = net
        self.ports = {
            network.PG: system.pg.port,
            network.BROKER: broker_port,
            network.CREDENTIALS: int(urlsplit(system.emulator.url).port or 80),
        }
        impairment = impaired or Impairment()
        routes = [
            network.Route(
                listen=(link.address, self.ports[service]),
                target=("127.0.0.1", self.ports[service]),
                delay_ms=impairment.delay_ms,
                loss=impairment.loss,
            )
            for host in net.hosts.values()
            for service, link in host.links.items()
        ]
        self.relay = network.Relay(routes, workdir)
        #: role → the host it runs on
        self.placed: dict[str, str] = {}
        #: host → libpq parameters its processes add to DATABASE_URL (e.g. "tcp_user_timeout=2000")
        self.database_params: dict[str, str] = {}

    def env(self, host: str) -> dict[str, str]:
        """The system's environment, with every server reached through ``host``'s links."""
        links = self.network.hosts[host]
        credentials = f"http://{links.address(network.CREDENTIALS)}:{self.ports[network.CREDENTIALS]}"
        return {
            **self.system.env,
            "DATABASE_URL": (
                f"postgresql://postgres@{links.address(network.PG)}:{self.ports[network.PG]}"
                f"/{self.system.database}"
                + (f"?{self.database_params[host]}" if host in self.database_params else "")
            ),
            "BROKER_URL": self.system.broker.url_via(
                links.address(network.BROKER), self.ports[network.BROKER]
            ),
            "CREDENTIALS_URL": credentials,
            "OAUTH_URL": credentials,
        }

    def start(self, role: str, host: str, *args: str, wait_ready: bool = True) -> processes.Process:
        """Start ``credsync <kind> args`` as ``role`` on ``host``."""
        argv = self.network.hosts[host].argv(processes.credsync_argv(role, *args))
        process = self.system.launcher.start(role, argv, self.env(host))
        self.placed[role] = host
        if wait_ready:
            self.system.wait_ready(role)
        return process

    def start_all(self) -> None:
        """A worker on each worker host (``worker`` on a, ``worker2`` on b), the scanner and the
        scheduler on s."""
        roles = {"worker": "a", "worker2": "b", "scanner": SCANNER_HOST, "scheduler": SCANNER_HOST}
        for role, host in roles.items():
            args = harness.WORKER_ARGS if role.startswith("worker") else ()
            self.start(role, host, *args, wait_ready=False)
        for role in roles:
            self.system.wait_ready(role)

    def cut(self, host: str, *services: str) -> None:
        self.network.cut(host, *services)

    def heal(self, host: str, *services: str) -> None:
        self.network.heal(host, *services)

    def impair(self, on: bool) -> None:
        """Switch the relay's impairment on or off (it starts on when the relay was given one)."""
        self.relay.impair(on)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            for name in self.network.hosts:
                self.network.heal(name)
        self.relay.stop()
