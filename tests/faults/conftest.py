"""Fixtures of the fault-injection suite: private servers for the session, a system per test.

The servers are private because the tests stop, restart and flush them. Measured recovery times
are printed in the terminal summary of every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import databases, harness
from tests.system import brokers, postgres
from worker.emulator import server


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[postgres.PrivatePostgres]:
    pg = postgres.PrivatePostgres()
    try:
        pg.up()
        yield pg
    finally:
        pg.destroy()


@pytest.fixture(scope="session")
def private_broker() -> Iterator[brokers.PrivateBroker]:
    broker = brokers.PrivateRedis()
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
        private_broker.flush()
        fault_databases.drop(database)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if harness.MEASUREMENTS:
        terminalreporter.section("credsync fault recovery (measured)")
        for line in sorted(harness.MEASUREMENTS, key=lambda line: (line.startswith("extra"), line)):
            terminalreporter.write_line(line)
