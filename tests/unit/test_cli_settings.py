"""The credsync command, as a process, stops on a missing or invalid setting with the variable named.

Settings are read and checked before any service is touched: the database address here is one
nothing listens on, so a command that got past its settings would fail another way.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.fixture(autouse=True)
def _no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")


def test_an_invalid_setting_stops_the_command_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CREDSYNC_LEASE_S", "forever")
    result = subprocess.run(
        [sys.executable, "-m", "worker", "status"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "CREDSYNC_LEASE_S" in result.stderr


def test_an_invalid_log_level_stops_any_command_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a log level logging does not know
    monkeypatch.setenv("CREDSYNC_LOG_LEVEL", "LOUD")
    # When a command runs
    result = subprocess.run(
        [sys.executable, "-m", "worker", "status"], capture_output=True, text=True, check=False
    )
    # Then it stops with exit 2 and a message naming the variable, not a traceback
    assert result.returncode == 2
    assert "CREDSYNC_LOG_LEVEL: Value error, must be a log level" in result.stderr
    assert "Traceback" not in result.stderr


def test_commands_that_need_no_database_run_without_database_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given no DATABASE_URL, and the logging variables set
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("CREDSYNC_LOG_LEVEL", "debug")
    monkeypatch.setenv("CREDSYNC_LOG_FORMAT", "json")
    for argv in (["--help"], ["emulator", "--help"]):
        # When the command runs
        result = subprocess.run(
            [sys.executable, "-m", "worker", *argv], capture_output=True, text=True, check=False, timeout=60
        )
        # Then it succeeds
        assert (result.returncode, result.stderr) == (0, ""), argv


def test_the_worker_processes_refuse_to_start_without_the_credentials_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("CREDENTIALS_URL", "OAUTH_URL", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    result = subprocess.run(
        [sys.executable, "-m", "worker", "scanner"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 2
    assert "CREDENTIALS_URL: Field required" in result.stderr
