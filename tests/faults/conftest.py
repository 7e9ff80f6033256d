"""Fixtures of the fault-injection suite: private servers for the session, a system per test.

The servers are private because the tests stop, restart and flush them. Every test that takes a
``system`` runs once per broker (``tests.system.brokers.KINDS``: ``[redis]`` and ``[rabbitmq]``);
pytest runs the tests of one broker together, with one private server of that kind at a time.
The partition tests add ``test_network`` (the hosts, network namespaces made once per run and
always removed) and ``spread`` (this test's processes on those hosts, and the relay to the servers).
Measured recovery times are printed in the terminal summary of every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults import databases, harness, hosts
from tests.system import brokers, network, postgres
from worker.emulator import server


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[postgres.PrivatePostgres]:
    pg = postgres.PrivatePostgres()
    try:
        pg.up()
        yield pg
    finally:
        pg.destroy()


@pytest.fixture(scope="session", params=brokers.KINDS)
def private_broker(request: pytest.FixtureRequest) -> Iterator[brokers.PrivateBroker]:
    broker: brokers.PrivateBroker
    broker = brokers.PrivateRedis() if request.param == brokers.REDIS else brokers.PrivateRabbitmq()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def fault_databases(private_postgres: postgres.PrivatePostgres) -> databases.Databases:
    return databases.Databases(private_postgres)


@pytest.fixture
def system(
    private_postgres: postgres.PrivatePostgres,
    private_broker: brokers.PrivateBroker,
    fault_databases: databases.Databases,
    tmp_path: Path,
) -> Iterator[harness.System]:
    """A fresh database and emulator, and the environment for this test's processes (not started)."""
    database = fault_databases.create()
    emulator = server.Emulator(port=0).start()
    system = harness.System(
        pg=private_postgres, broker=private_broker, database=database, emulator=emulator, workdir=tmp_path
    )
    try:
        yield system
    finally:
        system.shutdown()
        emulator.stop()
        private_broker.delete_queue(system.queue)
        fault_databases.drop(database)


@pytest.fixture(scope="session")
def test_network() -> Iterator[network.Network]:
    """The hosts of the partition tests (``hosts.HOST_NAMES``), made once, always removed."""
    why = network.Network.unavailable()
    if why is not None:
        pytest.skip(f"partition tests skipped: {why}")
    net = network.Network()
    try:
        for name in hosts.HOST_NAMES:
            net.add_host(name)
        yield net
    finally:
        net.destroy()


@pytest.fixture
def spread(
    system: harness.System, test_network: network.Network, tmp_path: Path
) -> Iterator[Callable[..., hosts.Hosts]]:
    """Makes this test's ``hosts.Hosts`` (given an impairment, or none), closed afterwards."""
    made: list[hosts.Hosts] = []

    def make(impaired: hosts.Impairment | None = None) -> hosts.Hosts:
        port = system.broker.port
        placed = hosts.Hosts(system, test_network, broker_port=port, workdir=tmp_path, impaired=impaired)
        made.append(placed)
        return placed

    try:
        yield make
    finally:
        system.shutdown()
        for placed in made:
            placed.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if harness.MEASUREMENTS:
        terminalreporter.section("credsync fault recovery (measured)")
        for line in sorted(harness.MEASUREMENTS, key=lambda line: (line.startswith("extra"), line)):
            terminalreporter.write_line(line)
