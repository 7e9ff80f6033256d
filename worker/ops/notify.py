"""Notify: re-send the platform's history to Credentials as outbox rows (upstream's ``notify_credentials``).

What a run enqueues (the selection itself: ``worker.ops.notify_selection``), SPEC-grades §5.4:

* per selected certificate, in this order for its learner: ``award_course_certificate``, the
  grade check (``send_grade_to_credentials``: the worker reads the certificate's real mode and
  status, so the grade is judged as the LMS meant to: §7.1, §7.11), then
  ``award_program_certificates`` for a passing status with ``notify_programs``, or
  ``revoke_program_certificates`` for any other with ``revoke_program_certs`` (which needs no
  other flag: §7.12);
* then one ``send_grade_to_credentials`` per selected grade whose certificate was not selected
  (its grade check went with it).

Each batch is one statement that inserts its rows and advances the run (``credsync.notify``), as
``worker.ops.backfill`` does: keyset by id, so a live table neither skips nor repeats rows (§7.13);
a crash loses nothing and the same command continues where it stopped, never enqueuing twice. A
dry run walks the same statements without inserting and hears each row it would enqueue. One bad
row stops nothing (§7.14): nothing is sent here, and each row succeeds or fails on its own.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from worker import db
from worker.ops import notify_selection

log = logging.getLogger(__name__)

DEFAULT_BATCH = 1000
PHASES = ("certificates", "grades")


@dataclasses.dataclass(frozen=True)
class Progress:
    """Reported after each batch: the phase and how far through its table, rows so far (this call)."""

    phase: str
    fraction: float
    rows: int
    elapsed_s: float


@dataclasses.dataclass(frozen=True)
class Result:
    """What one call did: rows per task (this call), the run's total, whether the run is finished.

    ``resumed``: it continued an unfinished run; ``already_done``: the run had finished before, so
    nothing was done (``restart=True`` runs it again); ``dry_run``: nothing was inserted.
    """

    name: str
    selection: notify_selection.Selection
    tasks: Mapping[str, int]
    total: int
    finished: bool
    resumed: bool = False
    already_done: bool = False
    dry_run: bool = False

    @property
    def enqueued(self) -> int:
        return sum(self.tasks.values())


def run(
    database: db.Database,
    selection: notify_selection.Selection,
    *,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[Progress], None] | None = None,
    restart: bool = False,
    dry_run: bool = False,
    show: Callable[[str, Mapping[str, Any]], None] | None = None,
) -> Result:
    """Enqueue the selection's rows in batches of ``batch`` certificates or grades.

    An unfinished run of the selection is continued (also with ``restart``); a finished one returns
    at once unless ``restart``. ``dry_run`` inserts nothing and records no run: ``show`` hears each
    row it would enqueue, in order. ``progress`` is called after each batch; an exception it raises
    stops the run, which the same call later continues.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    if dry_run:
        return _dry_run(database, selection, batch, progress, show)
    name, resumed = selection.name, True
    with database.transaction() as cur:
        existing = db.fetch_one(cur, "notify_get", {"name": name})
        if existing is None:
            db.execute(cur, "notify_start", _start_params(selection))
            resumed = False
        elif existing["finished_at"] is not None and restart:
            db.execute(cur, "notify_restart", {"name": name})
            resumed = False
        elif existing["finished_at"] is not None:
            log.info("notify %s finished at %s: nothing to do", name, existing["finished_at"])
            return Result(name, selection, {}, int(existing["rows"]), True, already_done=True)
    log.info("notify %s: %s in batches of %d", name, "resuming" if resumed else "starting", batch)
    walk = _Walk(database, selection, batch, progress)
    while True:
        with database.transaction() as cur:
            state = db.fetch_one(cur, "notify_get", {"name": name})
        if state is None or state["finished_at"] is not None:
            total = 0 if state is None else int(state["rows"])
            log.info("notify %s finished: %d rows (%d by this call)", name, total, sum(walk.tasks.values()))
            return Result(name, selection, walk.tasks, total, state is not None, resumed)
        walk.step(state["phase"], name=name, after=0)


def _dry_run(
    database: db.Database,
    selection: notify_selection.Selection,
    batch: int,
    progress: Callable[[Progress], None] | None,
    show: Callable[[str, Mapping[str, Any]], None] | None,
) -> Result:
    walk = _Walk(database, selection, batch, progress)
    for phase in PHASES:
        after = 0
        while True:
            row = walk.step(phase, name="", after=after, dry_run=True)
            for item in row["items"]:
                if show is not None:
                    show(item["task"], item["payload"])
            if row["picked"] < batch:
                break
            after = int(row["last_key"])
    return Result(selection.name, selection, walk.tasks, sum(walk.tasks.values()), True, dry_run=True)


class _Walk:
    """Runs batches of one selection, counting rows per task and reporting progress."""

    def __init__(
        self,
        database: db.Database,
        selection: notify_selection.Selection,
        batch: int,
        progress: Callable[[Progress], None] | None,
    ) -> None:
        self.database, self.selection, self.batch, self.progress = database, selection, batch, progress
        self.tasks: dict[str, int] = {}
        self.started = time.monotonic()
        with database.statement() as cur:
            self.key_range = db.fetch_one(cur, "notify_key_range") or {}

    def step(self, phase: str, *, name: str, after: int, dry_run: bool = False) -> db.Row:
        """One batch of ``phase``: committed (a real run) or only read (a dry run)."""
        params = {
            **self.selection.params(),
            "name": name,
            "after": after,
            "batch": self.batch,
            "dry_run": dry_run,
        }
        with self.database.transaction() as cur:
            if phase == "certificates":
                row = db.fetch_one(cur, "notify_certificates_batch", params)
            else:
                row = db.fetch_one(cur, "notify_grades_batch", params)
        assert row is not None  # the statement always answers one row
        if row["ran"]:
            for task, count in row["tasks"].items():
                self.tasks[task] = self.tasks.get(task, 0) + int(count)
            if self.progress is not None:
                self.progress(self._report(phase, row))
        return row

    def _report(self, phase: str, row: db.Row) -> Progress:
        top = int(self.key_range.get(phase) or 0)
        done = row["picked"] < self.batch
        fraction = 1.0 if done or top == 0 else min(1.0, int(row["last_key"] or 0) / top)
        return Progress(phase, fraction, sum(self.tasks.values()), time.monotonic() - self.started)


def _start_params(selection: notify_selection.Selection) -> dict[str, Any]:
    params = selection.params()
    return {
        "name": selection.name,
        "auto": selection.auto,
        "filters": selection.filters,
        "course_keys": params["course_keys"],
        "user_ids": params["user_ids"],
        "window_start": selection.start,
        "window_end": selection.end,
        "notify_programs": selection.notify_programs,
        "revoke_program_certs": selection.revoke_program_certs,
    }
