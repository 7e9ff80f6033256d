"""``credsync notify`` and ``credsync backfill --course-dates`` through the entry point; and a notify
run drained to the emulator, end to end."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

from tests import rig as rigs
from tests.platform import Platform
from worker import cli

RUN = "course-v1:edX+DemoX+2026"
PROGRAM = "0b0e5c1e-5d0a-4c52-9f1e-7d1a3c0f0001"


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)


@pytest.fixture
def learners(platform: Platform) -> list[dict[str, Any]]:
    platform.course_run(RUN)
    found = []
    for name, status in (("ada", "downloadable"), ("bob", "notpassing")):
        learner = platform.learner(name)
        platform.certificate(learner["id"], RUN, status=status)
        platform.grade(learner["id"], RUN, percent=0.9 if status == "downloadable" else 0.2)
        found.append(learner)
    return found


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _count(sql: Any) -> int:
    return int(sql.execute("SELECT count(*) AS n FROM credsync.outbox").fetchone()["n"])


def test_a_dry_run_prints_each_row_it_would_enqueue_and_a_summary_and_enqueues_nothing(
    sql, learners, capsys
) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["notify", "--courses", RUN, "--notify-programs", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        'would enqueue  award_course_certificate  {"username": "ada", "course_run_key": "' + RUN + '"}',
        'would enqueue  send_grade_to_credentials  {"username": "ada", "course_run_key": "' + RUN + '"}',
        'would enqueue  award_program_certificates  {"username": "ada"}',
    ]
    assert out[-1].startswith("DRY RUN notify@")
    assert out[-1].endswith(
        "would enqueue 5 rows (award_course_certificate 2, award_program_certificates 1,"
        " send_grade_to_credentials 2); nothing was enqueued"
    )
    assert _count(sql) == 0


def test_a_run_says_what_it_selected_and_sums_up_what_it_enqueued(sql, learners, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["notify", "--courses", RUN, "--user_ids", str(learners[1]["id"])]) == 0
    captured = capsys.readouterr()
    assert "1 course run(s), 1 user(s), any time" in captured.err
    assert captured.out.rstrip().endswith(
        "2 rows enqueued now (award_course_certificate 1, send_grade_to_credentials 1), 2 in all; finished"
    )
    # When the same command runs again, Then it says the run is finished and enqueues nothing
    assert cli.main(["notify", "--courses", RUN, "--user-ids", str(learners[1]["id"])]) == 0
    assert "already finished (2 rows); --restart runs it again" in capsys.readouterr().out
    assert _count(sql) == 2


def test_a_progress_bar_is_drawn_on_a_terminal_only(
    sql, learners, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # Without a terminal: no bar
    assert cli.main(["notify", "--courses", RUN, "--batch", "1"]) == 0
    assert "[" not in capsys.readouterr().err.replace("[20", "")
    # On a terminal: one line redrawn after each batch, ending at 100 %
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.main(["notify", "--courses", RUN, "--batch", "1", "--restart"]) == 0
    drawn = terminal.getvalue()
    assert drawn.count("\r") >= 3
    assert "certificates [" in drawn
    assert "grades       [##############################] 100%" in drawn
    assert drawn.endswith("\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["notify"], "give a filter"),
        (["notify", "--courses", "course-v1:edX+Nope+1"], "unknown course run"),
        (["notify", "--program-uuids", "nope"], "unknown program uuid: nope"),
        (["notify", "--user-ids", "4242"], "unknown user id: 4242"),
        (["notify", "--auto", "--end-date", "2026-01-01"], "--auto sets the time window itself"),
        (["backfill", "--course-dates", "--since", "2026-01-01"], "--since does not apply to --course-dates"),
    ],
)
def test_a_wrong_option_is_a_usage_error_that_names_it(sql, learners, capsys, argv, message) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert _count(sql) == 0


@pytest.mark.parametrize("argv", [["notify", "--user-ids", "0"], ["notify", "--start-date", "yesterday"]])
def test_values_argparse_refuses_exit_with_a_usage_error(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2


def test_backfill_course_dates_enqueues_one_update_per_course_run(sql, platform, capsys) -> None:  # type: ignore[no-untyped-def]
    for key in ("course-v1:edX+A+1", "course-v1:edX+B+1"):
        platform.course_run(key)
    assert cli.main(["backfill", "--course-dates"]) == 0
    assert "backfill course_dates@all: 2 rows enqueued now, 2 in all; finished" in capsys.readouterr().out
    tasks = {r["task"] for r in sql.execute("SELECT task FROM credsync.outbox")}
    assert tasks == {"update_certificate_available_date_on_course_update"}


def test_a_notify_run_drained_leaves_credentials_with_the_platforms_grades_and_awards(
    database, sql, platform, emulator, learners
) -> None:  # type: ignore[no-untyped-def]
    # Given a platform whose run is in a program, and Credentials that knows the run
    platform.enable_credentials()
    platform.service_user()
    platform.program(PROGRAM, "P", {"courses": [{"course_runs": [{"key": RUN, "type": "verified"}]}]})
    emulator.add_course_runs([RUN])
    # When notify runs for the run, and the outbox drains
    assert cli.main(["notify", "--courses", RUN]) == 0
    r = rigs.Rig(database, emulator)
    try:
        r.pipeline.drain()
    finally:
        r.close()
    # Then every row is done, and Credentials holds both learners' grades (the passed and the failed
    # attempt) and their course certificates
    statuses = {row["status"] for row in sql.execute("SELECT status FROM credsync.outbox")}
    assert statuses == {"done"}
    assert sorted((g["username"], g["percent_grade"]) for g in emulator.grades()) == [
        ("ada", "0.9000"),
        ("bob", "0.2000"),
    ]
    assert sorted((c["username"], c["status"]) for c in emulator.credentials()) == [
        ("ada", "awarded"),
        ("bob", "revoked"),
    ]
