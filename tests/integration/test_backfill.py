"""Backfill (``worker.ops.backfill``): the rows it enqueues, in batches, resumable, never twice."""

from __future__ import annotations

import datetime
import threading
from typing import Any

import pytest

from worker import errors
from worker.ops import backfill

RUN = "course-v1:edX+DemoX+2026"
OTHER_RUN = "course-v1:edX+Other+2026"


def _outbox(sql: Any) -> list[dict[str, Any]]:
    return sql.execute(
        "SELECT id, task, payload, status, ordering_key FROM credsync.outbox ORDER BY id"
    ).fetchall()


def _usernames(sql: Any) -> list[str]:
    return [row["payload"]["username"] for row in _outbox(sql)]


def _learners_with_certificates(platform: Any, count: int) -> list[str]:
    names = []
    for number in range(count):
        learner = platform.learner(f"learner{number:02d}")
        platform.certificate(learner["id"], RUN, status="downloadable")
        names.append(learner["username"])
    return names


class Crash(Exception):
    """Stands for the process dying between batches."""


def test_a_programs_backfill_enqueues_one_row_per_learner_with_a_passing_certificate_in_user_id_order(
    database, platform, sql
) -> None:  # type: ignore[no-untyped-def]
    # Given learners with passing, non-passing, audit and several certificates
    ada = platform.learner("ada")
    platform.certificate(ada["id"], RUN, status="downloadable")
    bob = platform.learner("bob")
    platform.certificate(bob["id"], RUN, status="notpassing")
    cy = platform.learner("cy")
    platform.certificate(cy["id"], RUN, status="generating")
    dee = platform.learner("dee")
    platform.certificate(dee["id"], RUN, mode="audit", status="audit_passing")
    eve = platform.learner("eve")
    platform.certificate(eve["id"], RUN, status="downloadable")
    platform.certificate(eve["id"], OTHER_RUN, status="downloadable")
    platform.learner("fay")
    # When the programs backfill runs
    result = backfill.run(database, kind="programs", since=None)
    # Then one award_program_certificates row per learner with a passing certificate, in user id order
    rows = _outbox(sql)
    assert [(r["task"], r["payload"]) for r in rows] == [
        ("award_program_certificates", {"username": "ada"}),
        ("award_program_certificates", {"username": "cy"}),
        ("award_program_certificates", {"username": "eve"}),
    ]
    assert result == backfill.BackfillResult("programs@all", 3, 3, finished=True, resumed=False)


def test_a_course_certificates_backfill_enqueues_one_row_per_certificate_but_audit_ones_in_id_order(
    database, platform, sql
) -> None:  # type: ignore[no-untyped-def]
    # Given certificates of every kind of status, created in an order unlike the learners'
    ada, bob = platform.learner("ada"), platform.learner("bob")
    platform.certificate(bob["id"], RUN, status="downloadable")
    platform.certificate(ada["id"], RUN, status="notpassing")
    platform.certificate(ada["id"], OTHER_RUN, mode="audit", status="audit_notpassing")
    platform.certificate(bob["id"], OTHER_RUN, status="unverified")
    # When the course certificates backfill runs
    result = backfill.run(database, kind="course_certificates", since=None)
    # Then one award_course_certificate row per certificate not audit_*, in certificate id order
    assert [(r["task"], r["payload"]) for r in _outbox(sql)] == [
        ("award_course_certificate", {"username": "bob", "course_run_key": RUN}),
        ("award_course_certificate", {"username": "ada", "course_run_key": RUN}),
        ("award_course_certificate", {"username": "bob", "course_run_key": OTHER_RUN}),
    ]
    assert (result.name, result.enqueued, result.total, result.finished) == (
        "course_certificates@all",
        3,
        3,
        True,
    )


def test_since_counts_only_certificates_modified_at_or_after_it(database, platform, sql) -> None:  # type: ignore[no-untyped-def]
    # Given certificates modified before, exactly at, and after the bound
    since = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    for username, modified in (
        ("old", since - datetime.timedelta(seconds=1)),
        ("edge", since),
        ("new", since + datetime.timedelta(days=3)),
    ):
        learner = platform.learner(username)
        cert_id = platform.certificate(learner["id"], RUN, status="downloadable")
        sql.execute(
            "UPDATE certificates_generatedcertificate SET modified_date = %s WHERE id = %s",
            (modified, cert_id),
        )
    # When both backfills run from the bound
    programs = backfill.run(database, kind="programs", since=since)
    certificates = backfill.run(database, kind="course_certificates", since=since)
    # Then only the certificates modified at or after it count, and each run is named by its bound
    assert _usernames(sql) == ["edge", "new", "edge", "new"]
    assert programs.name == "programs@2026-01-01T00:00:00Z"
    assert certificates.name == "course_certificates@2026-01-01T00:00:00Z"


def test_a_naive_bound_an_unknown_kind_and_an_empty_batch_are_refused(database) -> None:  # type: ignore[no-untyped-def]
    # Given arguments a backfill cannot honour, When it runs, Then it says what is wrong
    with pytest.raises(ValueError, match="timezone-aware"):
        backfill.run(database, kind="programs", since=datetime.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="unknown backfill kind 'grades'"):
        backfill.run(database, kind="grades", since=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch must be at least 1"):
        backfill.run(database, kind="programs", since=None, batch=0)


def test_a_batch_smaller_than_the_set_enqueues_in_several_batches_and_reports_each(
    database, platform, sql
) -> None:  # type: ignore[no-untyped-def]
    # Given ten learners with a passing certificate
    names = _learners_with_certificates(platform, 10)
    ids = [r["id"] for r in sql.execute("SELECT id FROM auth_user ORDER BY id").fetchall()]
    reports: list[backfill.BackfillProgress] = []
    # When the programs backfill runs in batches of three
    result = backfill.run(database, kind="programs", since=None, batch=3, progress=reports.append)
    # Then four batches were reported, with the rows so far and the last user id of each
    assert [(p.rows, p.last_key) for p in reports] == [(3, ids[2]), (6, ids[5]), (9, ids[8]), (10, ids[9])]
    assert all(p.elapsed_s >= 0 for p in reports)
    # And every learner got exactly one row, in order
    assert _usernames(sql) == names
    assert (result.enqueued, result.total, result.finished) == (10, 10, True)


def test_a_set_that_is_a_multiple_of_the_batch_finishes_with_an_empty_batch(database, platform, sql) -> None:  # type: ignore[no-untyped-def]
    # Given six learners with a passing certificate
    names = _learners_with_certificates(platform, 6)
    reports: list[backfill.BackfillProgress] = []
    # When the backfill runs in batches of three
    result = backfill.run(database, kind="programs", since=None, batch=3, progress=reports.append)
    # Then the third batch finds nothing and finishes the run
    assert [p.rows for p in reports] == [3, 6, 6]
    assert _usernames(sql) == names
    assert result.finished


def test_a_backfill_stopped_after_two_batches_resumes_and_enqueues_every_row_exactly_once(
    database, platform, sql
) -> None:  # type: ignore[no-untyped-def]
    # Given ten learners, and a first run that dies after its second batch
    names = _learners_with_certificates(platform, 10)
    reports: list[backfill.BackfillProgress] = []

    def crash_after_two(report: backfill.BackfillProgress) -> None:
        reports.append(report)
        if len(reports) == 2:
            raise Crash

    with pytest.raises(Crash):
        backfill.run(database, kind="programs", since=None, batch=3, progress=crash_after_two)
    assert _usernames(sql) == names[:6]
    # When the same backfill runs again
    result = backfill.run(database, kind="programs", since=None, batch=3)
    # Then it continued the run: every learner has exactly one row, in order
    assert _usernames(sql) == names
    assert result == backfill.BackfillResult("programs@all", 4, 10, finished=True, resumed=True)
    # And the progress table says so
    progress = sql.execute("SELECT kind, since, rows, finished_at FROM credsync.backfill").fetchall()
    assert [(p["kind"], p["since"], p["rows"]) for p in progress] == [("programs", None, 10)]
    assert progress[0]["finished_at"] is not None


def test_a_failed_batch_enqueues_nothing_and_the_run_continues_after_the_last_committed_batch(
    database, platform, sql
) -> None:  # type: ignore[no-untyped-def]
    # Given six certificates, a first batch of three enqueued, then an outbox that refuses the rows
    names = _learners_with_certificates(platform, 6)
    with pytest.raises(Crash):
        backfill.run(database, kind="course_certificates", since=None, batch=3, progress=_stop_at(1))
    sql.execute(
        "UPDATE credsync.task SET required_keys = required_keys || '{grade}' WHERE name = %s",
        ("award_course_certificate",),
    )
    # When the next batch runs
    with pytest.raises(errors.DatabaseError, match='needs payload key "grade"'):
        backfill.run(database, kind="course_certificates", since=None, batch=3)
    # Then it failed whole: none of its rows is enqueued and the run did not advance
    assert _usernames(sql) == names[:3]
    assert sql.execute("SELECT rows FROM credsync.backfill").fetchone() == {"rows": 3}
    # When the cause is fixed and the backfill runs again
    sql.execute("UPDATE credsync.task SET required_keys = array_remove(required_keys, 'grade')")
    result = backfill.run(database, kind="course_certificates", since=None, batch=3)
    # Then it continues after the third certificate
    assert _usernames(sql) == names
    assert (result.enqueued, result.total, result.resumed) == (3, 6, True)


def test_a_finished_run_is_not_repeated_unless_restarted(database, platform, sql) -> None:  # type: ignore[no-untyped-def]
    # Given a finished programs backfill over three learners
    names = _learners_with_certificates(platform, 3)
    backfill.run(database, kind="programs", since=None)
    # When it runs again
    again = backfill.run(database, kind="programs", since=None)
    # Then it does nothing and says it was already done
    assert again == backfill.BackfillResult("programs@all", 0, 3, True, False, already_done=True)
    assert _usernames(sql) == names
    # When it runs with restart
    restarted = backfill.run(database, kind="programs", since=None, restart=True)
    # Then it starts over from the first learner
    assert restarted == backfill.BackfillResult("programs@all", 3, 3, finished=True, resumed=False)
    assert _usernames(sql) == names + names


def test_restart_continues_an_unfinished_run_instead_of_enqueuing_its_first_part_again(
    database, platform, sql
) -> None:  # type: ignore[no-untyped-def]
    # Given a run stopped after its first batch
    names = _learners_with_certificates(platform, 4)
    with pytest.raises(Crash):
        backfill.run(database, kind="programs", since=None, batch=2, progress=_stop_at(1))
    # When the same command is repeated with restart
    result = backfill.run(database, kind="programs", since=None, batch=2, restart=True)
    # Then the unfinished run is continued: nothing is enqueued twice
    assert result.resumed
    assert _usernames(sql) == names


def test_runs_with_different_bounds_are_separate_runs(database, platform, sql) -> None:  # type: ignore[no-untyped-def]
    # Given a finished backfill of every certificate
    names = _learners_with_certificates(platform, 2)
    backfill.run(database, kind="programs", since=None)
    # When a backfill from a bound runs
    since = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
    result = backfill.run(database, kind="programs", since=since)
    # Then it is a run of its own
    assert (result.name, result.enqueued, result.resumed) == ("programs@2000-01-01T00:00:00Z", 2, False)
    assert _usernames(sql) == names + names


def test_every_backfilled_row_passes_the_outbox_insert_trigger_like_a_host_insert(
    database, platform, sql
) -> None:  # type: ignore[no-untyped-def]
    # Given a learner with a passing certificate
    ada = platform.learner("ada")
    platform.certificate(ada["id"], RUN, status="downloadable")
    # When both backfills run
    backfill.run(database, kind="programs", since=None)
    backfill.run(database, kind="course_certificates", since=None)
    # Then each row is a fresh pending row of a known task with its required keys and ordering key
    rows = sql.execute(
        "SELECT o.task, o.status, o.attempts, o.ordering_key, t.required_keys, o.payload"
        " FROM credsync.outbox o JOIN credsync.task t ON t.name = o.task ORDER BY o.id"
    ).fetchall()
    assert [(r["task"], r["status"], r["attempts"], r["ordering_key"]) for r in rows] == [
        ("award_program_certificates", "pending", 0, "learner:ada"),
        ("award_course_certificate", "pending", 0, "learner:ada"),
    ]
    assert all(set(r["required_keys"]) <= set(r["payload"]) for r in rows)


def test_a_platform_with_nothing_to_backfill_finishes_at_once(database, sql) -> None:  # type: ignore[no-untyped-def]
    # Given no certificate at all, When the backfill runs, Then it finishes with no row
    result = backfill.run(database, kind="course_certificates", since=None)
    assert (result.enqueued, result.total, result.finished) == (0, 0, True)
    assert _outbox(sql) == []


def test_two_processes_running_the_same_backfill_take_turns_and_enqueue_each_row_once(
    database, platform, sql
) -> None:  # type: ignore[no-untyped-def]
    # Given forty learners
    names = _learners_with_certificates(platform, 40)
    results: list[backfill.BackfillResult] = []
    # When two callers run the same backfill at once, in batches of one
    threads = [
        threading.Thread(
            target=lambda: results.append(backfill.run(database, kind="programs", since=None, batch=1))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Then every learner has exactly one row, and the two calls together enqueued them all
    assert sorted(_usernames(sql)) == names
    assert sum(r.enqueued for r in results) == 40
    assert all(r.finished and r.total == 40 for r in results)


def _stop_at(batches: int) -> Any:
    seen: list[backfill.BackfillProgress] = []

    def stop(report: backfill.BackfillProgress) -> None:
        seen.append(report)
        if len(seen) == batches:
            raise Crash

    return stop
