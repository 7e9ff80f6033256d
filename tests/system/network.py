"""Several hosts on one machine: network namespaces whose links to the servers a test cuts and heals.

``Network`` makes one network namespace per host (``ip netns``) and, per host, one veth link per
service it reaches (``SERVICES``: Postgres, the broker, Credentials), so that a test can cut one
host off from one service and leave the rest alone. Each link is a /30 of its own: the host's end
is ``.2``, the root namespace's end ``.1``, and a relay process in the root namespace
(``tests.system.relay``) listens on every ``.1`` address and forwards to the server on
127.0.0.1 (the servers listen there only, which no other namespace can reach).

Cutting a link is ``ip link set <root end> down``: from then on the kernel drops what the host
sends on it. The host's connections stall and retransmit, its new connections time out, as when a
real network partitions; ``heal`` sets the link up and the stalled connections carry on. A slow,
lossy link is the relay's job (``Relay`` with ``delay_ms`` and ``loss``): this kernel has no
``netem``.

Names and addresses are unique per run (a random tag; a free 10.x.0.0/16), and ``destroy``
removes every namespace (and with it every link): the fixtures call it in a finalizer, so nothing
survives a failed test. Everything here needs root; ``Network.unavailable()`` says why it cannot
run, so the tests skip instead of failing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from tests.system import processes

PG, BROKER, CREDENTIALS = SERVICES = ("pg", "broker", "credentials")
#: Root-namespace device names: ``cs`` + run tag + host index + service letter (15 characters max).
_SERVICE_LETTER = {PG: "p", BROKER: "b", CREDENTIALS: "c"}


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


@dataclasses.dataclass(frozen=True)
class Link:
    """One host's link to one service."""

    host: str
    service: str
    #: the link's device in the root namespace (what ``cut`` sets down)
    device: str
    #: the relay's address on this link: where the host's processes connect to reach ``service``
    address: str


@dataclasses.dataclass(frozen=True)
class Host:
    """A network namespace standing for one machine, and its links."""

    name: str
    namespace: str
    links: Mapping[str, Link]

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host (``ip netns exec``: the same process, in the namespace)."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def address(self, service: str) -> str:
        return self.links[service].address


class Network:
    """The hosts of a test run, their links, and the cuts; ``destroy`` removes everything."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:4]
        self.subnet = _free_subnet()
        self.hosts: dict[str, Host] = {}

    @staticmethod
    def unavailable() -> str | None:
        """Why namespaces cannot be made here (not root, no ``ip``, not permitted), or None."""
        if sys.platform != "linux":
            return "network namespaces need Linux"
        if os.geteuid() != 0:
            return "the partition tests make network namespaces (ip netns), which needs root"
        if shutil.which("ip") is None:
            return "the partition tests need the ip command (Debian/Ubuntu: apt-get install iproute2)"
        probe = f"credsync-probe-{uuid.uuid4().hex[:6]}"
        made = _ip("netns", "add", probe, check=False)
        if made.returncode != 0:
            return f"ip netns add is not permitted here: {made.stderr.strip()}"
        _ip("netns", "del", probe, check=False)
        return None

    def add_host(self, name: str) -> Host:
        """A namespace ``credsync-<tag>-<name>`` with one link per service, each up."""
        index = len(self.hosts) + 1
        namespace = f"credsync-{self.tag}-{name}"
        _ip("netns", "add", namespace)
        links = {}
        try:
            _ip("-n", namespace, "link", "set", "lo", "up")
            for number, service in enumerate(SERVICES):
                device = f"cs{self.tag}{index}{_SERVICE_LETTER[service]}"
                inside = f"to-{service}"[:15]
                base = self.subnet.network_address + (index << 8) + number * 4
                root_address, host_address = str(base + 1), str(base + 2)
                _ip("link", "add", device, "type", "veth", "peer", "name", inside, "netns", namespace)
                _ip("addr", "add", f"{root_address}/30", "dev", device)
                _ip("link", "set", device, "up")
                _ip("-n", namespace, "addr", "add", f"{host_address}/30", "dev", inside)
                _ip("-n", namespace, "link", "set", inside, "up")
                links[service] = Link(name, service, device, root_address)
        except BaseException:
            _ip("netns", "del", namespace, check=False)
            raise
        host = Host(name, namespace, links)
        self.hosts[name] = host
        return host

    def _links(self, host: str, services: Iterable[str] | None) -> list[Link]:
        links = self.hosts[host].links
        return [links[s] for s in (SERVICES if services is None else services)]

    def cut(self, host: str, *services: str) -> None:
        """Cut ``host`` off from ``services`` (from everything when none): its packets are dropped."""
        for link in self._links(host, services or None):
            _ip("link", "set", link.device, "down")

    def heal(self, host: str, *services: str) -> None:
        """Put ``host``'s links to ``services`` (every link when none) back up."""
        for link in self._links(host, services or None):
            _ip("link", "set", link.device, "up")

    def destroy(self) -> None:
        """Remove every namespace of this run; the links go with them."""
        for host in list(self.hosts.values()):
            _ip("netns", "del", host.namespace, check=False)
            for link in host.links.values():  # gone with the namespace; this is belt and braces
                _ip("link", "del", link.device, check=False)
        self.hosts.clear()


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.x.0.0/16 that no address or route of the machine touches."""
    used: list[ipaddress.IPv4Network] = []
    for args in (("-4", "-o", "addr", "show"), ("-4", "route", "show", "table", "all")):
        for word in _ip(*args, check=False).stdout.split():
            with contextlib.suppress(ValueError):
                if word[0].isdigit():
                    used.append(ipaddress.IPv4Network(word, strict=False))
    candidates = [ipaddress.IPv4Network(f"10.{n}.0.0/16") for n in range(200, 250)]
    random.shuffle(candidates)
    for candidate in candidates:
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise RuntimeError("no free 10.x.0.0/16 for the test network")


@dataclasses.dataclass(frozen=True)
class Route:
    """What the relay forwards: from ``listen`` to ``target``, through a link slowed as it says."""

    listen: tuple[str, int]
    target: tuple[str, int]
    delay_ms: float = 0.0
    loss: float = 0.0


class Relay:
    """The relay process (``tests.system.relay``) for some routes; ``stop`` ends it."""

    def __init__(self, routes: Sequence[Route], workdir: Path) -> None:
        self.log_path = workdir / "relay.log"
        self._log = self.log_path.open("ab")
        argv = [
            sys.executable,
            "-m",
            "tests.system.relay",
            *(json.dumps(dataclasses.asdict(r)) for r in routes),
        ]
        self.process = subprocess.Popen(
            argv,
            cwd=processes.ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        processes.wait_until(
            lambda: "ready" in self.log_path.read_text(errors="replace") or not self._alive(),
            15,
            "the relay to listen",
            lambda: processes.tail(self.log_path, 2000),
        )
        if not self._alive():
            raise RuntimeError(f"the relay exited:\n{processes.tail(self.log_path, 2000)}")

    def _alive(self) -> bool:
        return self.process.poll() is None

    def impair(self, on: bool) -> None:
        """Switch the routes' delay and loss on or off (SIGUSR1 / SIGUSR2), and wait until it is."""
        log_before = self.log_path.read_text(errors="replace").count("impairment ")
        self.process.send_signal(signal.SIGUSR1 if on else signal.SIGUSR2)
        processes.wait_until(
            lambda: self.log_path.read_text(errors="replace").count("impairment ") > log_before,
            5,
            "the relay to switch its impairment",
            lambda: processes.tail(self.log_path, 2000),
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self._alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
