"""Credentials' own copy of the Discovery catalog: the course runs it knows and each program's runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable


class Catalog:
    """Course run keys and programs (by uuid) with their runs, as ``copy_catalog`` would store them.

    Credentials looks runs up here to accept a course-run credential, to link a course
    certificate configuration to its run, and (through a program's runs) to decide when a program
    credential is visible. Not thread-safe: the emulator calls it under its lock.
    """

    def __init__(self) -> None:
        self._runs: dict[str, None] = {}  # insertion-ordered set
        self._programs: dict[uuid.UUID, tuple[str, ...]] = {}

    def add_runs(self, keys: Iterable[str]) -> None:
        """Add course runs (keys kept as given); ValueError when a key is not a non-empty string."""
        runs = [keys] if isinstance(keys, str) else list(keys)
        if not all(isinstance(key, str) and key for key in runs):
            raise ValueError("course runs are a list of non-empty course run keys")
        self._runs.update(dict.fromkeys(runs))

    def has_run(self, key: str) -> bool:
        """Whether the run is in the catalog."""
        return key in self._runs

    def runs(self) -> list[str]:
        """Every course run key, in the order they were added."""
        return list(self._runs)

    def set_program(self, program_uuid: uuid.UUID, runs: Iterable[str]) -> None:
        """Create or replace a program with these runs; the runs join the catalog too."""
        keys = [runs] if isinstance(runs, str) else list(runs)
        self.add_runs(keys)
        self._programs[program_uuid] = tuple(dict.fromkeys(keys))

    def program_runs(self, program_uuid: uuid.UUID) -> tuple[str, ...]:
        """The program's runs (none when the program is not in the catalog)."""
        return self._programs.get(program_uuid, ())
