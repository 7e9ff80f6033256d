"""The fuzz tier's report (at the end of a run, the inputs tried per door and the crashes)."""

from __future__ import annotations

import pytest

from tests.fuzz import doors


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A failing input of a megabyte is reported all the same: hypothesis's warning that its repr is
    # large would otherwise count as a second failure (filterwarnings = error).
    quiet = pytest.mark.filterwarnings("ignore:Generating overly large repr")
    for item in items:
        if item.nodeid.startswith("tests/fuzz/"):
            item.add_marker(quiet)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if doors.TRIED:
        for line in doors.summary().splitlines():
            terminalreporter.write_line(line)
