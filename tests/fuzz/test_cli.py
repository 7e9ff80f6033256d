"""The command door: any ``credsync`` command line ends with an exit status, never a traceback.

``worker.cli.main`` runs against a real database with arbitrary arguments: it returns 0, 1, 2
(usage or configuration) or 3 (database), or argparse stops it with 2 (0 for ``--help``); nothing
else escapes, and nothing it prints is a traceback. ``credsync emulator`` runs until SIGTERM: its
door sends one as soon as the emulator is up.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import doors, strategies
from worker import cli, settings, tasks
from worker.emulator import cli as emulator_cli

EXITS = {0, 1, 2, 3}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(found.choices)


def _options(parser: argparse.ArgumentParser) -> list[tuple[str, bool]]:
    """Each option string, and whether it takes a value."""
    return sorted(
        (option, action.nargs != 0) for action in parser._actions for option in action.option_strings
    )


COMMANDS = {name: _options(p) for name, p in _subcommands(cli.parser()).items() if name != "emulator"}
EMULATOR_OPTIONS = _options(emulator_cli._parser())

#: What real argv can hold: no NUL, and surrogates only as os.fsdecode makes them of undecodable bytes.
ARGV_CHARACTERS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00/") | st.characters(
    min_codepoint=0xDC80, max_codepoint=0xDCFF
)
numbers = st.sampled_from(
    ["0", "1", "-1", "2", "3", "1000", str(2**31), str(2**63), "9" * 30, "1e3", "1.5", "nan", "inf", "-0",
     "0x10", " 5", "\uff15", "65535", "65536"]
)  # fmt: skip
dates = st.sampled_from(
    ["2026-01-01", "2026-01-01T00:00:00", "2026-01-01T00:00:00+25:00", "0001-01-01T00:00:00+01:00",
     "9999-12-31T23:59:59-01:00", "yesterday", "2026-02-30", "-infinity"]
)  # fmt: skip
payloads = (
    st.builds(
        dict,
        username=st.sampled_from(strategies.PLAUSIBLE) | strategies.sized_text(),
        course_run_key=st.sampled_from(strategies.PLAUSIBLE),
    ).flatmap(strategies.json_text)
    | strategies.values(dirty=True).flatmap(strategies.json_text)
    | st.sampled_from(["{", "[" * 5000 + "]" * 5000, "1" * 5000, '{"username": 1e5000}', "NaN"])
)
#: Files a command may be given: created in the test's directory (``_files``), or not there.
FILES = [
    "programs.json",
    "empty.json",
    "binary.json",
    "deep.json",
    "bad-jwk.json",
    "a-directory",
    "missing.json",
    "-",
]
tokens = (
    numbers
    | dates
    | payloads
    | st.sampled_from(tasks.REGISTRY.names() + FILES)
    | st.text(ARGV_CHARACTERS, max_size=20)
)


@st.composite
def arguments(draw: st.DrawFn, options: list[tuple[str, bool]], values: st.SearchStrategy[str]) -> list[str]:
    """Arguments of a command: its options (with a value when they take one) and stray values."""
    argv: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        if options and draw(st.integers(0, 3)) < 3:
            option, takes_value = draw(st.sampled_from(options))
            argv += [option, draw(values)] if takes_value and draw(st.integers(0, 9)) < 9 else [option]
        else:
            argv.append(draw(values))
    return argv


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """A command and arguments: its own options, values around every bound, any text."""
    if draw(st.integers(0, 19)) == 19:
        return draw(st.lists(tokens | st.sampled_from(["-h", "--help", "--version"]), max_size=3))
    command = draw(st.sampled_from(sorted(COMMANDS)))
    return [command, *draw(arguments(COMMANDS[command], tokens))]


@pytest.fixture
def _files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with files the commands may be pointed at."""
    monkeypatch.chdir(tmp_path)
    uuid = "5b2b4c8e-0d7d-4c55-9a53-0f1b5d1e3a11"
    (tmp_path / "programs.json").write_text(f'[{{"uuid": "{uuid}", "title": "Demo"}}]', encoding="utf-8")
    (tmp_path / "empty.json").write_text("", encoding="utf-8")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    (tmp_path / "bad-jwk.json").write_text('{"kty": "RSA", "d": 5, "n": 1, "e": 2}', encoding="utf-8")
    (tmp_path / "a-directory").mkdir()
    return tmp_path


class Terminal:
    """Standard output and error as a process has them: stderr writes what it cannot encode as
    backslash escapes (argparse echoes arguments there, surrogates of undecodable bytes included),
    stdout refuses it (pytest's capture would refuse both)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
        self.err = io.TextIOWrapper(
            io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True
        )
        monkeypatch.setattr("sys.stdout", self.out)
        monkeypatch.setattr("sys.stderr", self.err)

    def read_err(self) -> str:
        """What was written to stderr since the last read."""
        raw = self.err.buffer
        assert isinstance(raw, io.BytesIO)
        text = raw.getvalue().decode("utf-8")
        raw.seek(0)
        raw.truncate()
        return text


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Terminal:
    return Terminal(monkeypatch)


@pytest.fixture
def _environment(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    # The test database, the test Redis; no Credentials: the process commands stop at their settings.
    for field in settings.Settings.model_fields.values():
        monkeypatch.delenv(str(field.validation_alias), raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv(
        "BROKER_URL", os.environ.get("CREDSYNC_TEST_REDIS_URL", settings.defaults.DEFAULT_BROKER_URL)
    )


def _run(main: Callable[[], int]) -> int | str | None:
    """The command's exit status, whether returned or raised (argparse: 2 for a usage error, 0
    after --help)."""
    try:
        return main()
    except SystemExit as stop:
        return stop.code


def _settle(sql: Any) -> None:
    """Nothing is left unsettled for the next input (``credsync wait`` would wait for it)."""
    sql.execute(
        "UPDATE credsync.outbox SET status = 'failed', finished_at = now(), lease_until = NULL,"
        " last_error = 'settled by the fuzz test' WHERE status NOT IN ('done', 'failed')"
    )


@pytest.mark.usefixtures("_files", "_environment")
@doors.EXAMPLES
@given(argv=command_lines(), stdin=st.text(max_size=50) | payloads)
def test_every_command_line_ends_with_an_exit_status_and_no_traceback(
    sql: Any,
    terminal: Terminal,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    stdin: str,
) -> None:
    with doors.attempt("cli"):
        # Given the database as earlier command lines left it, and a standard input
        _settle(sql)
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        # When the command line runs
        status = _run(lambda: cli.main(argv))
        # Then it ends with an exit status of the contract, and no traceback
        err = terminal.read_err()
        assert status in EXITS, status
        assert "Traceback" not in err, err
        doors.answered("cli", f"exit {status}")


@pytest.fixture
def terminated() -> Iterator[Callable[[list[str]], int | str | None]]:
    """Runs ``credsync emulator`` in this (main) thread and sends it SIGTERM until it returns.

    Before the emulator installs its handler, and after it restores ours, the signals meet a
    handler that ignores them.
    """
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)

    def run(argv: list[str]) -> int | str | None:
        done = threading.Event()

        def terminate() -> None:
            while not done.wait(0.02):
                os.kill(os.getpid(), signal.SIGTERM)

        sender = threading.Thread(target=terminate, daemon=True)
        sender.start()
        try:
            return _run(lambda: cli.main(["emulator", *argv]))
        finally:
            done.set()
            sender.join()

    try:
        yield run
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.usefixtures("_files")
@doors.EXAMPLES
@given(
    argv=arguments(
        EMULATOR_OPTIONS,
        numbers
        | st.sampled_from(["0", "127.0.0.1", "::1", "localhost", "no-such-host.invalid", *FILES])
        | st.text(ARGV_CHARACTERS, max_size=12),
    )
)
def test_every_emulator_command_line_ends_with_an_exit_status_and_no_traceback(
    terminated: Any, terminal: Terminal, argv: list[str]
) -> None:
    with doors.attempt("cli emulator"):
        # Given the emulator's arguments, on port 0 unless they choose one (none is listening on it)
        if "--port" not in argv:
            argv = [*argv, "--port", "0"]
        # When the command runs (and is told to stop as soon as it serves)
        status = terminated(argv)
        # Then it ends with an exit status of the contract, and no traceback
        err = terminal.read_err()
        assert status in EXITS, status
        assert "Traceback" not in err, err
        doors.answered("cli emulator", f"exit {status}")
