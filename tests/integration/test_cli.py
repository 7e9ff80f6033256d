"""The credsync command through its entry point, against a real database: output and exit codes."""

from __future__ import annotations

import json
import time

import pytest

from worker import cli
from worker.outbox import repository

TASK = "award_course_certificate"


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)


def _failed_row(outbox: repository.Outbox, platform, username: str = "ada") -> int:  # type: ignore[no-untyped-def]
    row_id = platform.enqueue(TASK, {"username": username, "course_run_key": "k"})
    outbox.claim_due(batch=100, max_in_flight=1000)
    assert outbox.start(row_id) is not None
    assert outbox.mark_failed(row_id, 1, "Credentials rejected the request: HTTP 400")
    return row_id


def test_migrate_is_idempotent_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["migrate", "--reference-host"]) == 0
    out = capsys.readouterr().out
    assert "migrations applied: none (up to date)" in out
    assert "tasks registered: award_program_certificates, award_course_certificate," in out


def test_status_shows_rows_per_task_and_status_and_whether_processing_is_paused(
    outbox, platform, capsys
) -> None:  # type: ignore[no-untyped-def]
    _failed_row(outbox, platform)
    platform.enqueue(TASK, {"username": "bob", "course_run_key": "k"})
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert "award_course_certificate  failed   1" in out
    assert "award_course_certificate  pending  1" in out
    assert "processing: PAUSED: no credentials_credentialsapiconfig row" in out
    assert "finished per minute (last hour): 0.0" in out  # one row finished in the last hour: 1/60
    assert "oldest pending row: 0 s old" in out
    platform.enable_credentials()
    assert cli.main(["status", "--json", "--fail-on-failed"]) == 1
    status = json.loads(capsys.readouterr().out)
    assert status["paused"] is None
    assert {(r["status"], r["rows"]) for r in status["rows"]} == {("pending", 1), ("failed", 1)}


def test_failed_and_show_explain_a_failed_row(outbox, platform, capsys) -> None:  # type: ignore[no-untyped-def]
    row_id = _failed_row(outbox, platform)
    assert cli.main(["failed"]) == 0
    assert "Credentials rejected the request: HTTP 400" in capsys.readouterr().out
    assert cli.main(["show", str(row_id)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["status"], shown["attempts"], shown["payload"]["username"]) == ("failed", 1, "ada")
    assert cli.main(["show", "999999"]) == 1


def test_retry_counts_in_a_dry_run_then_puts_failed_rows_back(outbox, platform, capsys) -> None:  # type: ignore[no-untyped-def]
    ids = [_failed_row(outbox, platform, name) for name in ("a", "b")]
    assert cli.main(["retry"]) == 2
    assert cli.main(["retry", "--all-failed", "--dry-run"]) == 0
    assert "2 failed rows would be retried" in capsys.readouterr().out
    assert [outbox.status_of(i)[0] for i in ids] == ["failed", "failed"]  # type: ignore[index]
    assert cli.main(["retry", "--all-failed", "--task", TASK]) == 0
    assert "2 rows back to pending" in capsys.readouterr().out
    assert [outbox.status_of(i)[0] for i in ids] == ["pending", "pending"]  # type: ignore[index]


def test_prune_and_enqueue(outbox, platform, sql, capsys) -> None:  # type: ignore[no-untyped-def]
    _failed_row(outbox, platform)
    recent = _failed_row(outbox, platform, "bob")
    sql.execute("UPDATE credsync.outbox SET finished_at = now() - interval '2 days' WHERE id <> %s", [recent])
    assert cli.main(["prune", "--older-than-days", "1"]) == 0
    assert "pruned 1 rows" in capsys.readouterr().out
    assert outbox.status_of(recent) is not None
    assert cli.main(["enqueue", TASK, '{"username": "ada", "course_run_key": "k"}']) == 0
    row_id = int(capsys.readouterr().out)
    assert outbox.status_of(row_id) == ("pending", 0)
    assert cli.main(["enqueue", TASK, '{"username": "ada"}']) == 3
    assert 'needs payload key "course_run_key"' in capsys.readouterr().err
    assert cli.main(["enqueue", TASK, "{not json"]) == 2


def test_wait_returns_1_when_rows_stay_unsettled(platform) -> None:  # type: ignore[no-untyped-def]
    platform.enqueue(TASK, {"username": "ada", "course_run_key": "k"})
    assert cli.main(["wait", "--timeout", "0.3"]) == 1


def test_migrate_with_triggers_installs_them_and_insists_on_the_reference_host(sql, capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["migrate", "--with-triggers"]) == 2
    assert "--reference-host" in capsys.readouterr().err
    assert cli.main(["migrate", "--reference-host", "--with-triggers"]) == 0
    assert "host triggers installed in schema public" in capsys.readouterr().out
    triggers = sql.execute(
        "SELECT count(*) AS n FROM pg_trigger WHERE NOT tgisinternal"
        " AND tgrelid = 'certificates_generatedcertificate'::regclass"
    ).fetchone()
    assert triggers["n"] >= 1


def test_backfill_enqueues_once_per_learner_and_says_so_when_run_again(platform, sql, capsys) -> None:  # type: ignore[no-untyped-def]
    platform.course_run("course-v1:edX+DemoX+2026")
    for name in ("a", "b"):
        learner = platform.learner(name)
        platform.certificate(learner["id"], "course-v1:edX+DemoX+2026")
    assert cli.main(["backfill", "--programs", "--batch", "1"]) == 0
    captured = capsys.readouterr()
    assert "backfill programs@all: 2 rows enqueued now, 2 in all; finished" in captured.out
    assert "rows enqueued (up to id" in captured.err
    assert cli.main(["backfill", "--programs"]) == 0
    assert "already finished" in capsys.readouterr().out
    rows = sql.execute("SELECT task, payload->>'username' AS u FROM credsync.outbox ORDER BY id").fetchall()
    assert rows == [
        {"task": "award_program_certificates", "u": "a"},
        {"task": "award_program_certificates", "u": "b"},
    ]
    with pytest.raises(SystemExit) as refused:
        cli.main(["backfill", "--programs", "--since", "yesterday"])
    assert refused.value.code == 2
    assert "not an ISO 8601 date-time: 'yesterday'" in capsys.readouterr().err


def test_load_programs_reads_a_catalog_page_and_reports_skipped_documents(tmp_path, sql, capsys) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "programs.json"
    page.write_text(
        '{"count": 2, "next": null, "results": ['
        '{"uuid": "6f0c3f4e-8a57-4d4e-9f6e-000000000001", "title": "Data", "courses": []},'
        '{"title": "no uuid"}]}'
    )
    assert cli.main(["load-programs", str(page)]) == 1
    captured = capsys.readouterr()
    assert "programs: 1 inserted, 0 updated, 0 unchanged" in captured.out
    assert "skipped document 1" in captured.err
    assert sql.execute("SELECT title FROM catalog_program").fetchall() == [{"title": "Data"}]
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert cli.main(["load-programs", str(bad)]) == 2


def test_doctor_reports_every_check_and_exits_1_when_one_is_not_ok(monkeypatch, emulator, capsys) -> None:  # type: ignore[no-untyped-def]
    # Given a reachable Credentials (the emulator) but an unreachable broker
    monkeypatch.setenv("CREDENTIALS_URL", emulator.url)
    monkeypatch.setenv("OAUTH_URL", emulator.url)
    monkeypatch.setenv("OAUTH_CLIENT_ID", "credsync")
    monkeypatch.setenv("OAUTH_CLIENT_SECRET", "credsync-secret")
    monkeypatch.setenv("BROKER_URL", "redis://127.0.0.1:1/0")
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    for check in ("outbox table", "vacuum horizon", "claim query", "broker", "credentials"):
        assert check in out
    assert "fail" in out
    assert "credsync-secret" not in out


def test_status_names_a_refusal_apart_from_cooldowns(database, capsys) -> None:  # type: ignore[no-untyped-def]
    # Given Credentials refuses the learner reads, and one learner is throttled
    from worker.outbox import cooldowns

    book = cooldowns.Cooldowns(database, cache_s=0)
    fix = "Fix: give the service user's group credentials.view_usercredential"
    book.record("http://c#refused:GET /api/v2/credentials/", time.time() + 60, f"HTTP 403. {fix}", "refused")
    book.record(
        "http://c#learner:ada", time.time() + 60, "HTTP 429 with Retry-After 60 s", "learner_throttle"
    )
    # When the operator asks for the status
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    # Then the refusal stands out with its fix, and the throttle is listed as a cooldown
    assert f"REFUSED (rows that need it wait, no attempt used): HTTP 403. {fix}" in out
    assert "cooling down: http://c#learner:ada: HTTP 429" in out
    assert cli.main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["refused"] == [f"HTTP 403. {fix}"]


def test_status_is_paused_by_a_cooldown_as_the_scanner_is(monkeypatch, database, platform, capsys) -> None:  # type: ignore[no-untyped-def]
    # Given sync enabled on the host, and Credentials asked to wait a minute (as a scanner sees it)
    from worker.outbox import cooldowns

    monkeypatch.setenv("CREDENTIALS_URL", "http://credentials.test")
    monkeypatch.setenv("OAUTH_URL", "http://lms.test")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "credsync")
    monkeypatch.setenv("OAUTH_CLIENT_SECRET", "credsync-secret")
    platform.enable_credentials()
    book = cooldowns.Cooldowns(database, cache_s=0)
    book.record("http://credentials.test", time.time() + 60, "HTTP 503 with Retry-After 60 s")
    # When the operator asks for the status
    assert cli.main(["status", "--json"]) == 0
    # Then processing is paused on the cooldown, and the cooldown is listed
    status = json.loads(capsys.readouterr().out)
    assert status["paused"].startswith("http://credentials.test asked to wait")
    assert status["cooldowns"] == ["http://credentials.test: HTTP 503 with Retry-After 60 s"]


def test_maintenance_runs_once_from_the_app_the_processes_build(monkeypatch, outbox, platform, sql) -> None:  # type: ignore[no-untyped-def]
    # Given a row whose message was lost, and a row done long ago (sync disabled: nothing is sent)
    monkeypatch.setenv("CREDENTIALS_URL", "http://credentials.test")
    monkeypatch.setenv("OAUTH_URL", "http://lms.test")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "credsync")
    monkeypatch.setenv("OAUTH_CLIENT_SECRET", "credsync-secret")
    lost = platform.enqueue(TASK, {"username": "ada", "course_run_key": "k"})
    old = platform.enqueue(TASK, {"username": "bob", "course_run_key": "k"})
    sql.execute(
        "UPDATE credsync.outbox SET status = 'enqueued', lease_until = now() - interval '1 minute'"
        " WHERE id = %s",
        (lost,),
    )
    sql.execute(
        "UPDATE credsync.outbox SET status = 'done', finished_at = now() - interval '30 days' WHERE id = %s",
        (old,),
    )
    # When the operator runs the maintenance pass
    assert cli.main(["maintenance"]) == 0
    # Then the lost row is pending again, and the old one is gone
    assert outbox.status_of(lost)[0] == "pending"
    assert outbox.status_of(old) is None
