"""What a ``credsync notify`` run selects (upstream's ``notify_credentials`` filters, SPEC-grades §5.1-§5.2).

A filter is always a filter: unknown course runs, programs or users are refused with their names
(upstream dropped the user filter when none of the given users existed, §7.10, and ignored unknown
program uuids). ``--program-uuids`` add every run of those programs, their active curriculum and
its child programs (``worker.ops.program_runs``). The window is ``[start, end)``: an ``end`` given
by the operator is inclusive, as upstream's, and is kept as the instant after it. ``auto`` chains
windows: each run starts where the previous one with the same filters ended and ends at the last
full hour (UTC), so a row on an hour boundary is sent once and a missed cron run leaves no gap
(§7.15); it takes no dates (upstream's silently overrode them).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from worker import db
from worker.ops import program_runs
from worker.sync import keys

#: Upstream's NOTIFY_CREDENTIALS_FREQUENCY: the window of a first ``auto`` run.
AUTO_FREQUENCY_S = 14400
_ONE_TICK = datetime.timedelta(microseconds=1)


class SelectionError(ValueError):
    """The options contradict each other or name what the platform does not have; the message says which."""


@dataclasses.dataclass(frozen=True)
class Selection:
    """What a run enqueues. None: no filter on that (every run, every user, no time bound).

    Course keys and user ids are sorted, so the same filters given in another order name the same run.
    """

    course_keys: tuple[str, ...] | None = None
    user_ids: tuple[int, ...] | None = None
    start: datetime.datetime | None = None  # inclusive
    end: datetime.datetime | None = None  # exclusive
    notify_programs: bool = False
    revoke_program_certs: bool = False
    auto: bool = False

    @property
    def filters(self) -> str:
        """A hash of everything but the window: ``auto`` runs with equal filters chain."""
        return _digest([self.course_keys, self.user_ids, self.notify_programs, self.revoke_program_certs])

    @property
    def name(self) -> str:
        """The run's name: ``auto@<end>/<filters>``, or ``notify@<hash of the whole selection>``."""
        if self.auto:
            return f"auto@{_iso(self.end)}/{self.filters}"
        return f"notify@{_digest([self.filters, _iso(self.start), _iso(self.end)])}"

    def params(self) -> dict[str, Any]:
        """The selection as the batch statements take it."""
        return {
            "course_keys": None if self.course_keys is None else list(self.course_keys),
            "user_ids": None if self.user_ids is None else list(self.user_ids),
            "start": self.start,
            "end": self.end,
            "notify_programs": self.notify_programs,
            "revoke_program_certs": self.revoke_program_certs,
        }


def select(
    database: db.Database,
    *,
    courses: Sequence[str] = (),
    program_uuids: Sequence[str] = (),
    user_ids: Sequence[int] = (),
    start: datetime.datetime | None = None,
    end: datetime.datetime | None = None,
    auto: bool = False,
    auto_frequency_s: int = AUTO_FREQUENCY_S,
    notify_programs: bool = False,
    revoke_program_certs: bool = False,
    now: datetime.datetime | None = None,
) -> Selection:
    """The selection the options ask for, checked against the platform; ``SelectionError`` if wrong.

    ``end`` is inclusive (upstream's ``--end-date``). ``auto`` takes no dates: its window ends at
    the last full hour of ``now`` (UTC) and starts where the last ``auto`` run with the same
    filters ended, or ``auto_frequency_s`` before its end for the first; an unfinished ``auto`` run
    with the same filters is continued first.
    """
    if auto and (start is not None or end is not None):
        raise SelectionError("--auto sets the time window itself: give no --start-date or --end-date with it")
    for moment in (start, end):
        if moment is not None and moment.utcoffset() is None:
            raise SelectionError(f"dates must be timezone-aware, not {moment.isoformat()}")
    if start is not None and end is not None and start > end:
        raise SelectionError(f"--start-date {start.isoformat()} is after --end-date {end.isoformat()}")
    run_keys = _course_keys(database, courses, program_uuids)
    users = _user_ids(database, user_ids)
    if run_keys is None and users is None and start is None and end is None and not auto:
        raise SelectionError(
            "give a filter: --courses, --program-uuids, --start-date, --end-date, --user-ids or --auto"
        )
    selection = Selection(
        course_keys=run_keys,
        user_ids=users,
        start=None if start is None else start.astimezone(datetime.UTC),
        end=None if end is None else end.astimezone(datetime.UTC) + _ONE_TICK,
        notify_programs=notify_programs,
        revoke_program_certs=revoke_program_certs,
        auto=auto,
    )
    return _auto_window(database, selection, now, auto_frequency_s) if auto else selection


def _course_keys(
    database: db.Database, courses: Sequence[str], program_uuids: Sequence[str]
) -> tuple[str, ...] | None:
    """The run keys to select, checked and with programs expanded; None when neither was given."""
    if not courses and not program_uuids:
        return None
    bad = [key for key in courses if not _parses(key)]
    if bad:
        raise SelectionError(f"not a course run key: {', '.join(bad)} (expected course-v1:ORG+COURSE+RUN)")
    if courses:
        with database.statement() as cur:
            known = {r["key"] for r in db.fetch_all(cur, "notify_known_course_runs", {"keys": list(courses)})}
        unknown = [key for key in courses if key not in known]
        if unknown:
            raise SelectionError(
                f"unknown course run: {', '.join(unknown)} (no course overview, certificate or grade has it)"
            )
    expanded = list(courses)
    if program_uuids:
        with database.statement() as cur:
            found = {
                r["uuid"]: r["data"]
                for r in db.fetch_all(cur, "notify_programs", {"uuids": list(program_uuids)})
            }
        missing = [uuid for uuid in program_uuids if uuid not in found]
        if missing:
            raise SelectionError(f"unknown program uuid: {', '.join(missing)} (not in catalog_program)")
        for uuid in program_uuids:
            expanded.extend(program_runs.course_run_keys(found[uuid]))
    return tuple(sorted(set(expanded)))


def _user_ids(database: db.Database, user_ids: Sequence[int]) -> tuple[int, ...] | None:
    if not user_ids:
        return None
    with database.statement() as cur:
        known = {int(r["id"]) for r in db.fetch_all(cur, "notify_known_users", {"ids": list(user_ids)})}
    unknown = [str(i) for i in user_ids if i not in known]
    if unknown:
        raise SelectionError(f"unknown user id: {', '.join(unknown)} (not in auth_user)")
    return tuple(sorted(set(user_ids)))


def _auto_window(
    database: db.Database, selection: Selection, now: datetime.datetime | None, frequency_s: int
) -> Selection:
    with database.statement() as cur:
        unfinished = db.fetch_one(cur, "notify_auto_unfinished", {"filters": selection.filters})
        last = db.fetch_one(cur, "notify_auto_last_end", {"filters": selection.filters})
    if unfinished is not None:
        return dataclasses.replace(selection, start=unfinished["window_start"], end=unfinished["window_end"])
    moment = (now or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
    end = moment.replace(minute=0, second=0, microsecond=0)
    previous = None if last is None else last["window_end"]
    start = previous if previous is not None else end - datetime.timedelta(seconds=frequency_s)
    return dataclasses.replace(selection, start=min(start, end), end=end)


def _parses(key: str) -> bool:
    try:
        keys.parse_course_key(key)
    except keys.InvalidCourseKey:
        return False
    return True


def _digest(parts: Iterable[Any]) -> str:
    text = json.dumps(list(parts), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _iso(moment: datetime.datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
