"""The emulator tests' fixtures: a running emulator on a test clock, and a client of it."""

# A module varies them by overriding the small ones: ``clock``, ``emulator_options`` (``Emulator``
# arguments), ``catalog_runs``, ``switches``, and ``client`` (the service user's by default;
# ``raw_client`` has no token). They apply to this package only: the other integration tests keep
# the top-level ``emulator``.

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.emulator import support
from worker.emulator import server


@pytest.fixture
def clock() -> support.Clock:
    return support.Clock()


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    """``Emulator`` arguments besides the test LMS's key, issuer and the clock."""
    return {}


@pytest.fixture
def catalog_runs() -> list[str]:
    """The course runs in Credentials' catalog at the start."""
    return [support.RUN]


@pytest.fixture
def switches() -> dict[str, bool]:
    """``set_switches`` arguments applied at the start (none: a default install)."""
    return {}


@pytest.fixture
def emulator(
    clock: support.Clock,
    emulator_options: dict[str, Any],
    catalog_runs: list[str],
    switches: dict[str, bool],
) -> Iterator[server.Emulator]:
    with support.running(clock, **emulator_options) as running:
        if catalog_runs:
            running.add_course_runs(catalog_runs)
        if switches:
            running.set_switches(**switches)
        yield running


@pytest.fixture
def raw_client(emulator: server.Emulator, clock: support.Clock) -> Iterator[support.Client]:
    """A client without a token."""
    with support.client_of(emulator, clock) as client:
        yield client


@pytest.fixture
def client(raw_client: support.Client) -> support.Client:
    """A client holding a token of the service user (from the emulator's OAuth endpoint)."""
    return raw_client.as_service()
