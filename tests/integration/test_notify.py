"""Notify (``worker.ops.notify``): what it selects, the rows it enqueues, batches, resume, dry run.

The platform is upstream's test platform in spirit: a learner with certificates and grades in three
runs changed on the first of January, February and March, plus what each case needs.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tests.platform import Platform
from worker.ops import notify, notify_selection

RUN1 = "course-v1:edX+Test+1"
RUN2 = "course-v1:edX+Test+2"
RUN3 = "course-v1:testX+Test+3"
JAN, FEB, MAR = (datetime.datetime(2017, month, 1, tzinfo=datetime.UTC) for month in (1, 2, 3))
DAY = datetime.timedelta(days=1)
Row = tuple[str, dict[str, Any]]


def award(username: str, run: str) -> Row:
    return ("award_course_certificate", {"username": username, "course_run_key": run})


def grade(username: str, run: str) -> Row:
    return ("send_grade_to_credentials", {"username": username, "course_run_key": run})


def program_award(username: str) -> Row:
    return ("award_program_certificates", {"username": username})


def program_revoke(username: str, run: str) -> Row:
    return ("revoke_program_certificates", {"username": username, "course_key": run})


def _outbox(sql: Any) -> list[Row]:
    return [
        (r["task"], r["payload"])
        for r in sql.execute("SELECT task, payload FROM credsync.outbox ORDER BY id")
    ]


@pytest.fixture
def ada(platform: Platform) -> dict[str, Any]:
    """ada's certificate and grade in each run, changed on Jan 1, Feb 1 and Mar 1."""
    learner = platform.learner("ada")
    for run, when in ((RUN1, JAN), (RUN2, FEB), (RUN3, MAR)):
        platform.course_run(run)
        platform.modified(platform.certificate(learner["id"], run), when)
        platform.grade(learner["id"], run, modified=when)
    return learner


def _run(database: Any, **options: Any) -> notify.Result:
    batch = options.pop("batch", notify.DEFAULT_BATCH)
    selection = notify_selection.select(database, **options)
    return notify.run(database, selection, batch=batch)


# --- the selection -----------------------------------------------------------------------------


def test_course_runs_select_their_certificates_each_with_its_grade_check(database, sql, ada) -> None:  # type: ignore[no-untyped-def]
    # When notify runs for two of the runs
    result = _run(database, courses=[RUN1, RUN2])
    # Then each certificate's course award and grade check are enqueued, in certificate order
    assert _outbox(sql) == [award("ada", RUN1), grade("ada", RUN1), award("ada", RUN2), grade("ada", RUN2)]
    assert result.tasks == {"award_course_certificate": 2, "send_grade_to_credentials": 2}
    assert (result.total, result.finished, result.resumed) == (4, True, False)


@pytest.mark.parametrize(
    ("start", "end", "runs"),
    [
        (JAN + 30 * DAY, None, [RUN2, RUN3]),  # upstream's "--start-date 2017-01-31"
        (FEB, FEB + DAY, [RUN2]),  # "--start-date 2017-02-01 --end-date 2017-02-02"
        (None, FEB + DAY, [RUN1, RUN2]),  # "--end-date 2017-02-02"
        (FEB, FEB, [RUN2]),  # both ends are inclusive, as upstream's
        (FEB + datetime.timedelta(microseconds=1), MAR - datetime.timedelta(microseconds=1), []),
    ],
)
def test_a_time_window_selects_what_changed_in_it_both_ends_included(
    database, sql, ada, start, end, runs
) -> None:  # type: ignore[no-untyped-def]
    _run(database, start=start, end=end)
    assert _outbox(sql) == [row for run in runs for row in (award("ada", run), grade("ada", run))]


def test_a_grade_changed_in_the_window_whose_certificate_did_not_is_enqueued_on_its_own(
    database, sql, platform, ada
) -> None:  # type: ignore[no-untyped-def]
    # Given a grade recomputed in March in a run whose certificate last changed in January, and a
    # grade in a run where the learner has no certificate
    platform.grade(ada["id"], RUN1, modified=MAR)
    bob = platform.learner("bob")
    platform.grade(bob["id"], RUN2, modified=MAR)
    # When notify runs for March
    _run(database, start=MAR)
    # Then the March certificate with its grade check, then the two grades on their own
    assert _outbox(sql) == [award("ada", RUN3), grade("ada", RUN3), grade("ada", RUN1), grade("bob", RUN2)]


def test_a_date_override_changed_in_the_window_selects_its_certificate(database, sql, platform, ada) -> None:  # type: ignore[no-untyped-def]
    # Given the January certificate's date override deleted in February (its history says so)
    certificate = sql.execute(
        "SELECT id FROM certificates_generatedcertificate WHERE course_id = %s", (RUN1,)
    ).fetchone()["id"]
    platform.override_history(certificate, FEB + DAY / 2, kind="-")
    # When notify runs for February
    _run(database, start=FEB, end=FEB + DAY)
    # Then that certificate is selected too (whatever its own modified date), in certificate order
    assert _outbox(sql) == [award("ada", RUN1), grade("ada", RUN1), award("ada", RUN2), grade("ada", RUN2)]


def test_override_changes_count_only_with_a_window_and_only_inside_it(database, sql, platform, ada) -> None:  # type: ignore[no-untyped-def]
    certificate = sql.execute(
        "SELECT id FROM certificates_generatedcertificate WHERE course_id = %s", (RUN1,)
    ).fetchone()["id"]
    platform.override_history(certificate, MAR + 10 * DAY, kind="+")
    _run(database, start=FEB, end=FEB + DAY)
    assert _outbox(sql) == [award("ada", RUN2), grade("ada", RUN2)]


def test_user_ids_restrict_certificates_and_grades_to_those_learners(database, sql, platform, ada) -> None:  # type: ignore[no-untyped-def]
    # Given bob, with a certificate and a grade in RUN1
    bob = platform.learner("bob")
    platform.certificate(bob["id"], RUN1)
    platform.grade(bob["id"], RUN2)
    # When notify runs for bob only
    _run(database, user_ids=[bob["id"]])
    # Then only bob's rows
    assert _outbox(sql) == [award("bob", RUN1), grade("bob", RUN1), grade("bob", RUN2)]


def test_unknown_user_ids_are_refused_instead_of_dropping_the_filter(database, sql, ada) -> None:  # type: ignore[no-untyped-def]
    # (upstream sent every grade when none of the given users existed: SPEC-grades §7.10)
    with pytest.raises(notify_selection.SelectionError, match="unknown user id: 999"):
        _run(database, user_ids=[999])
    assert _outbox(sql) == []


def test_program_uuids_expand_to_their_runs_curricula_and_child_programs(database, sql, platform) -> None:  # type: ignore[no-untyped-def]
    # Given a program with a run of its own, an active curriculum with a run and a child program
    # with a run, an inactive curriculum, and a learner certified in every run
    runs = [f"course-v1:edX+P{n}+1" for n in range(5)]
    ada = platform.learner("ada")
    for run in runs:
        platform.certificate(ada["id"], run)
    platform.program(
        "p1",
        "Parent",
        {
            "courses": [{"course_runs": [{"key": runs[0]}]}],
            "curricula": [
                {"is_active": False, "courses": [{"course_runs": [{"key": runs[3]}]}]},
                {
                    "is_active": True,
                    "courses": [{"course_runs": [{"key": runs[1]}]}],
                    "programs": [{"courses": [{"course_runs": [{"key": runs[2]}]}]}],
                },
            ],
        },
    )
    # When notify runs for the program
    selection = notify_selection.select(database, program_uuids=["p1"])
    notify.run(database, selection)
    # Then the runs of the program, its active curriculum and its child program were selected
    assert selection.course_keys == tuple(sorted(runs[:3]))
    assert {payload["course_run_key"] for _, payload in _outbox(sql)} == set(runs[:3])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "give a filter"),
        ({"program_uuids": ["nope"]}, "unknown program uuid: nope"),
        ({"courses": ["course-v1:edX+Nowhere+1"]}, r"unknown course run: course-v1:edX\+Nowhere\+1"),
        ({"courses": ["not a key"]}, "not a course run key: not a key"),
        ({"start": MAR, "end": JAN}, "is after --end-date"),
        ({"auto": True, "start": JAN}, "--auto sets the time window itself"),
        ({"start": datetime.datetime(2017, 1, 1)}, "timezone-aware"),
    ],
)
def test_options_that_select_nothing_real_are_refused_with_a_clear_message(
    database, sql, ada, options, message
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(notify_selection.SelectionError, match=message):
        notify_selection.select(database, **options)


# --- program tasks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({}, [award("ada", RUN1), grade("ada", RUN1), award("ada", RUN2), grade("ada", RUN2)]),
        (
            {"notify_programs": True},
            [
                award("ada", RUN1),
                grade("ada", RUN1),
                program_award("ada"),
                award("ada", RUN2),
                grade("ada", RUN2),
            ],
        ),
        (
            # revocations need no other flag (upstream's needed --notify_programs: SPEC-grades §7.12)
            {"revoke_program_certs": True},
            [
                award("ada", RUN1),
                grade("ada", RUN1),
                award("ada", RUN2),
                grade("ada", RUN2),
                program_revoke("ada", RUN2),
            ],
        ),
    ],
)
def test_program_awards_follow_passing_certificates_and_revocations_the_others(
    database, sql, platform, flags, expected
) -> None:  # type: ignore[no-untyped-def]
    ada = platform.learner("ada")
    platform.certificate(ada["id"], RUN1, status="generating")
    platform.certificate(ada["id"], RUN2, status="notpassing")
    _run(database, courses=[RUN1, RUN2], **flags)
    assert _outbox(sql) == expected


# --- batches, resume, dry run ------------------------------------------------------------------


class Crash(Exception):
    """Stands for the process dying between batches."""


@pytest.fixture
def many(platform: Platform) -> list[str]:
    """Seven learners certified in RUN1 and graded there, and three graded in RUN2 only."""
    names = []
    for n in range(10):
        learner = platform.learner(f"l{n}")
        if n < 7:
            platform.certificate(learner["id"], RUN1)
            platform.grade(learner["id"], RUN1)
        else:
            platform.grade(learner["id"], RUN2)
        names.append(learner["username"])
    return names


def _expected_many(names: list[str]) -> list[Row]:
    return [row for n in names[:7] for row in (award(n, RUN1), grade(n, RUN1))] + [
        grade(n, RUN2) for n in names[7:]
    ]


def test_small_batches_enqueue_the_same_rows_as_one_batch_and_report_each(database, sql, many) -> None:  # type: ignore[no-untyped-def]
    reports: list[notify.Progress] = []
    selection = notify_selection.select(database, courses=[RUN1, RUN2])
    result = notify.run(database, selection, batch=3, progress=reports.append)
    assert _outbox(sql) == _expected_many(many)
    # certificates 3, 3, 1 (the last finishes the phase); grades 3 (a full batch), then an empty one
    assert [(r.phase, r.rows) for r in reports] == [
        ("certificates", 6),
        ("certificates", 12),
        ("certificates", 14),
        ("grades", 17),
        ("grades", 17),
    ]
    assert reports[2].fraction == reports[-1].fraction == 1.0
    assert 0 < reports[0].fraction < 1
    assert result.total == 17


@pytest.mark.parametrize("stop_after", [1, 3, 4])
def test_a_run_stopped_mid_way_resumes_where_it_stopped_and_enqueues_every_row_once(
    database, sql, many, stop_after
) -> None:  # type: ignore[no-untyped-def]
    # Given a run that dies after some batches (in the certificate phase, at its end, in the grades)
    selection = notify_selection.select(database, courses=[RUN1, RUN2])
    seen: list[notify.Progress] = []

    def crash(report: notify.Progress) -> None:
        seen.append(report)
        if len(seen) == stop_after:
            raise Crash

    with pytest.raises(Crash):
        notify.run(database, selection, batch=3, progress=crash)
    # When the same command runs again
    again = notify_selection.select(database, courses=[RUN2, RUN1])  # (the same filters, in another order)
    result = notify.run(database, again, batch=3)
    # Then it continued: every row exactly once, in order
    assert _outbox(sql) == _expected_many(many)
    assert (result.resumed, result.finished, result.total) == (True, True, 17)
    assert result.enqueued == 17 - seen[-1].rows


def test_a_finished_run_is_not_repeated_unless_restarted(database, sql, ada) -> None:  # type: ignore[no-untyped-def]
    selection = notify_selection.select(database, courses=[RUN1])
    notify.run(database, selection)
    again = notify.run(database, selection)
    assert (again.already_done, again.enqueued, again.total) == (True, 0, 2)
    restarted = notify.run(database, selection, restart=True)
    assert (restarted.already_done, restarted.enqueued) == (False, 2)
    assert _outbox(sql) == [award("ada", RUN1), grade("ada", RUN1)] * 2


def test_a_dry_run_shows_every_row_a_real_run_enqueues_and_enqueues_nothing(database, sql, many) -> None:  # type: ignore[no-untyped-def]
    # When a dry run walks the selection in small batches
    shown: list[Row] = []
    selection = notify_selection.select(database, courses=[RUN1, RUN2], notify_programs=True)
    dry = notify.run(
        database,
        selection,
        batch=3,
        dry_run=True,
        show=lambda task, payload: shown.append((task, dict(payload))),
    )
    # Then nothing was enqueued and no run was recorded
    assert _outbox(sql) == []
    assert sql.execute("SELECT count(*) AS n FROM credsync.notify").fetchone() == {"n": 0}
    # And what it showed is exactly what the real run then enqueues
    real = notify.run(database, selection, batch=3)
    assert shown == _outbox(sql)
    assert dry.tasks == real.tasks
    assert dry.dry_run
    assert not real.dry_run


def test_the_run_records_its_selection_for_operators(database, sql, ada) -> None:  # type: ignore[no-untyped-def]
    _run(database, courses=[RUN1], user_ids=[ada["id"]], start=JAN, end=FEB, notify_programs=True)
    recorded = sql.execute("SELECT * FROM credsync.notify").fetchone()
    assert (recorded["course_keys"], recorded["user_ids"], recorded["notify_programs"]) == (
        [RUN1],
        [ada["id"]],
        True,
    )
    assert (recorded["window_start"], recorded["window_end"]) == (
        JAN,
        FEB + datetime.timedelta(microseconds=1),
    )
    assert (recorded["phase"], recorded["rows"]) == ("grades", 3)  # award, grade check, program award
    assert recorded["finished_at"] is not None


def test_every_row_passes_the_outbox_insert_trigger_on_the_learners_ordering_key(database, sql, ada) -> None:  # type: ignore[no-untyped-def]
    _run(database, courses=[RUN1], revoke_program_certs=True)
    rows = sql.execute("SELECT status, attempts, ordering_key FROM credsync.outbox ORDER BY id").fetchall()
    assert {(r["status"], r["attempts"], r["ordering_key"]) for r in rows} == {("pending", 0, "learner:ada")}


# --- --auto ------------------------------------------------------------------------------------


def test_auto_runs_chain_from_where_the_last_one_ended_to_the_last_full_hour(database, sql, platform) -> None:  # type: ignore[no-untyped-def]
    # Given certificates changed at 07:30, 08:00 sharp, 11:59 and 12:00
    ada = platform.learner("ada")
    day = datetime.datetime(2026, 3, 2, tzinfo=datetime.UTC)
    runs = {f"course-v1:edX+A+{h}": day + datetime.timedelta(hours=h) for h in (7.5, 8, 11.99, 12)}
    for run, when in runs.items():
        platform.modified(platform.certificate(ada["id"], run), when)
    # When cron runs --auto at 12:05 (the first run looks back four hours), then at 16:10
    first = notify_selection.select(database, auto=True, now=day + datetime.timedelta(hours=12, minutes=5))
    notify.run(database, first)
    after_first = [p["course_run_key"] for t, p in _outbox(sql) if t == "award_course_certificate"]
    second = notify_selection.select(database, auto=True, now=day + datetime.timedelta(hours=16, minutes=10))
    notify.run(database, second)
    # Then the first took [08:00, 12:00), the second [12:00, 16:00): 08:00 and 12:00 once each
    assert (first.start, first.end) == (day + datetime.timedelta(hours=8), day + datetime.timedelta(hours=12))
    assert (second.start, second.end) == (first.end, day + datetime.timedelta(hours=16))
    assert after_first == ["course-v1:edX+A+8", "course-v1:edX+A+11.99"]
    awards = [p["course_run_key"] for t, p in _outbox(sql) if t == "award_course_certificate"]
    assert awards == [*after_first, "course-v1:edX+A+12"]


def test_a_missed_cron_run_leaves_no_gap_and_a_repeat_within_the_hour_does_nothing(
    database, sql, platform
) -> None:  # type: ignore[no-untyped-def]
    ada = platform.learner("ada")
    day = datetime.datetime(2026, 3, 2, tzinfo=datetime.UTC)
    platform.modified(
        platform.certificate(ada["id"], "course-v1:edX+A+1"), day + datetime.timedelta(hours=13)
    )
    notify.run(database, notify_selection.select(database, auto=True, now=day + datetime.timedelta(hours=12)))
    # When the 16:00 run was missed and the next one runs at 20:00, then once more at 20:30
    late = notify_selection.select(database, auto=True, now=day + datetime.timedelta(hours=20))
    notify.run(database, late)
    repeat = notify.run(
        database,
        notify_selection.select(database, auto=True, now=day + datetime.timedelta(hours=20, minutes=30)),
    )
    # Then the late run covered 12:00 to 20:00, and the repeat had nothing left to do
    assert late.start == day + datetime.timedelta(hours=12)
    assert [t for t, _ in _outbox(sql)] == ["award_course_certificate", "send_grade_to_credentials"]
    assert repeat.already_done


def test_an_interrupted_auto_run_is_continued_by_the_next_cron_run(database, sql, many) -> None:  # type: ignore[no-untyped-def]
    now = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    first = notify_selection.select(database, auto=True, now=now)

    def crash(_: notify.Progress) -> None:
        raise Crash

    with pytest.raises(Crash):
        notify.run(database, first, batch=3, progress=crash)
    # When cron runs again two hours later
    later = notify_selection.select(database, auto=True, now=now + datetime.timedelta(hours=2))
    result = notify.run(database, later, batch=3)
    # Then it finished the interrupted window first: every row once
    assert (later.start, later.end) == (first.start, first.end)
    assert result.resumed
    assert _outbox(sql) == _expected_many(many)


# --- backfill --course-dates (upstream's backfill_date_for_all_course_runs) -----------------------


def test_the_course_date_backfill_enqueues_every_course_run_once_in_batches_and_resumes(
    database, sql, platform
) -> None:  # type: ignore[no-untyped-def]
    from worker.ops import backfill

    # Given five runs, self-paced and without dates included (as upstream now does)
    keys = [f"course-v1:edX+C{n}+1" for n in range(5)]
    for n, key in enumerate(keys):
        platform.course_run(key, self_paced=n % 2 == 0)
    # When the backfill dies after its first batch of two, then runs again
    with pytest.raises(Crash):
        backfill.run(
            database,
            kind="course_dates",
            since=None,
            batch=2,
            progress=lambda _: (_ for _ in ()).throw(Crash),
        )
    result = backfill.run(database, kind="course_dates", since=None, batch=2)
    # Then every run has exactly one row, in key order
    assert _outbox(sql) == [
        ("update_certificate_available_date_on_course_update", {"course_key": k}) for k in keys
    ]
    assert (result.name, result.resumed, result.total, result.finished) == ("course_dates@all", True, 5, True)
    with pytest.raises(ValueError, match="takes no since"):
        backfill.run(database, kind="course_dates", since=JAN)
    # And restarting a finished run starts from the first run again
    restarted = backfill.run(database, kind="course_dates", since=None, restart=True)
    assert restarted.enqueued == 5
