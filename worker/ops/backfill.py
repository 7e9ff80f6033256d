"""Backfill: enqueue sync work for the whole platform in resumable batches (upstream "backpopulate").

``programs`` enqueues one ``award_program_certificates`` row per learner holding a passing
certificate (``downloadable`` or ``generating``); ``course_certificates`` enqueues one
``award_course_certificate`` row per certificate that is not ``audit_passing``/``audit_notpassing``
(the certificate ``award_course_certificate`` reads, SPEC §3.2 step 5). With ``since``, only
certificates modified at or after it count. These are the rows the LMS signals of SPEC §3.8 would
have enqueued, for a platform that ran before credsync, or after an outage of the Credentials
service. ``course_dates`` (upstream's ``backfill_date_for_all_course_runs``, SPEC-grades §5.5)
enqueues one ``update_certificate_available_date_on_course_update`` row per course overview: every
run, as upstream (the task decides each run's date); it takes no ``since``.

Each batch is one statement: it inserts the next ``batch`` rows in key order (user id, certificate
id, course run key) and advances the run's progress in ``credsync.backfill``, so they commit
together. A crash loses nothing, and running the same backfill again continues where it stopped:
nothing is enqueued twice. A finished run is only started over on request (``restart=True``).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time
from collections.abc import Callable
from typing import Literal, get_args

from worker import db

log = logging.getLogger(__name__)

Kind = Literal["programs", "course_certificates", "course_dates"]
KINDS: tuple[str, ...] = get_args(Kind)
DEFAULT_BATCH = 1000


@dataclasses.dataclass(frozen=True)
class BackfillProgress:
    """Reported after each batch: rows enqueued by the run so far (all calls), the last key, time."""

    rows: int
    #: A user or certificate id, or a course run key (``course_dates``).
    last_key: int | str
    elapsed_s: float


@dataclasses.dataclass(frozen=True)
class BackfillResult:
    """What one call did: rows it enqueued, the run's total, and whether the run is finished.

    ``resumed``: the call continued an unfinished run. ``already_done``: the run had finished
    before this call, which therefore did nothing (pass ``restart=True`` to run it again).
    """

    name: str
    enqueued: int
    total: int
    finished: bool
    resumed: bool
    already_done: bool = False


@dataclasses.dataclass(frozen=True)
class _Step:
    enqueued: int
    rows: int
    last_key: int | str
    finished: bool


def run_name(kind: Kind, since: datetime.datetime | None) -> str:
    """The name of the run of ``kind`` from ``since``: ``programs@all``, ``programs@2026-01-01T00:00:00Z``."""
    if kind not in KINDS:
        raise ValueError(f"unknown backfill kind {kind!r}: expected one of {', '.join(KINDS)}")
    if kind == "course_dates" and since is not None:
        raise ValueError("a course_dates backfill takes no since: it enqueues every course run")
    if since is None:
        return f"{kind}@all"
    return f"{kind}@{_utc(since).isoformat().replace('+00:00', 'Z')}"


def run(
    database: db.Database,
    *,
    kind: Kind,
    since: datetime.datetime | None,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[BackfillProgress], None] | None = None,
    restart: bool = False,
) -> BackfillResult:
    """Enqueue the rows of backfill ``kind`` in batches of ``batch``, continuing an unfinished run.

    The run is named by ``run_name(kind, since)``. An unfinished run of that name is continued
    after its last key (``resumed=True``), also when ``restart`` is given, so repeating a command
    after a crash never enqueues twice. A finished run returns at once (``already_done=True``)
    unless ``restart`` is true, which starts it over from the first key. ``progress`` is called
    after each committed batch; an exception it raises stops the run, which a later call continues.
    ``since`` must be timezone-aware.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    name = run_name(kind, since)
    step_once = _STEPS[kind]
    started = time.monotonic()
    with database.transaction() as cur:
        existing = _get(cur, name)
        if existing is None:
            _start(cur, name, kind, None if since is None else _utc(since))
            resumed = False
        elif existing["finished_at"] is None:
            resumed = True
        elif restart:
            _restart(cur, name)
            resumed = False
        else:
            log.info("backfill %s finished at %s: nothing to do", name, existing["finished_at"])
            return BackfillResult(name, 0, int(existing["rows"]), True, False, already_done=True)
    log.info("backfill %s: %s in batches of %d", name, "resuming" if resumed else "starting", batch)
    enqueued = 0
    while True:
        with database.transaction() as cur:
            step = step_once(cur, name, batch)
        if step is None:
            # Another process finished the run between our batches (each batch locks the run row).
            with database.transaction() as cur:
                current = _get(cur, name)
            total = 0 if current is None else int(current["rows"])
            finished = current is not None and current["finished_at"] is not None
            return BackfillResult(name, enqueued, total, finished, resumed)
        enqueued += step.enqueued
        log.info("backfill %s: %d rows so far, last key %s", name, step.rows, step.last_key)
        if progress is not None:
            progress(BackfillProgress(step.rows, step.last_key, time.monotonic() - started))
        if step.finished:
            log.info("backfill %s finished: %d rows (%d by this call)", name, step.rows, enqueued)
            return BackfillResult(name, enqueued, step.rows, True, resumed)


def _utc(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"since must be timezone-aware, not {moment.isoformat()}")
    return moment.astimezone(datetime.UTC)


def _get(cur: db.Cursor, name: str) -> db.Row | None:
    return db.fetch_one(cur, "backfill_get", {"name": name})


def _start(cur: db.Cursor, name: str, kind: Kind, since: datetime.datetime | None) -> None:
    db.execute(cur, "backfill_start", {"name": name, "kind": kind, "since": since})


def _restart(cur: db.Cursor, name: str) -> None:
    db.execute(cur, "backfill_restart", {"name": name})


def _step(row: db.Row | None) -> _Step | None:
    if row is None:
        return None
    last_key = row["last_key"] if isinstance(row["last_key"], str) else int(row["last_key"])
    return _Step(int(row["enqueued"]), int(row["rows"]), last_key, row["finished_at"] is not None)


def _programs_batch(cur: db.Cursor, name: str, batch: int) -> _Step | None:
    return _step(db.fetch_one(cur, "backfill_programs_batch", {"name": name, "batch": batch}))


def _course_certificates_batch(cur: db.Cursor, name: str, batch: int) -> _Step | None:
    return _step(db.fetch_one(cur, "backfill_course_certificates_batch", {"name": name, "batch": batch}))


def _course_dates_batch(cur: db.Cursor, name: str, batch: int) -> _Step | None:
    return _step(db.fetch_one(cur, "backfill_course_dates_batch", {"name": name, "batch": batch}))


_STEPS: dict[str, Callable[[db.Cursor, str, int], _Step | None]] = {
    "programs": _programs_batch,
    "course_certificates": _course_certificates_batch,
    "course_dates": _course_dates_batch,
}
