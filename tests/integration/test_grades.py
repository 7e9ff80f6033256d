"""send_grade_to_credentials on real host tables, against the emulator's ``POST /api/v2/grades/``."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest

from tests import rig as rigs
from tests.platform import Platform
from worker import errors, migrate, outcomes, tasks
from worker.emulator import server
from worker.sync import certificates, grades, host, payloads

RUN = "course-v1:edX+DemoX+2026"
OTHER_RUN = "course-v1:edX+Other+2026"
MITX_RUN = "course-v1:MITx+6.002x+2026"
PROGRAM = "0b0e5c1e-5d0a-4c52-9f1e-7d1a3c0f0001"
MODIFIED = datetime.datetime(2026, 5, 1, 12, 34, 56, tzinfo=datetime.UTC)


def _program(platform: Platform, *runs: str, uuid: str = PROGRAM) -> None:
    platform.program(
        uuid,
        "Data Science",
        {
            "uuid": uuid,
            "courses": [{"key": "edX+DemoX", "course_runs": [{"key": r, "type": "verified"} for r in runs]}],
        },
    )


@pytest.fixture(autouse=True)
def _catalog(emulator: server.Emulator) -> None:
    """Credentials' catalog copy knows the runs (a grade for another run answers 400)."""
    emulator.add_course_runs([RUN, OTHER_RUN, MITX_RUN])


@pytest.fixture
def ada(platform: Platform) -> dict[str, Any]:
    """A learner with a downloadable verified certificate in a run of a program, and a grade."""
    platform.enable_credentials()
    learner = platform.learner("ada")
    platform.course_run(RUN)
    _program(platform, RUN)
    platform.certificate(learner["id"], RUN)
    platform.grade(learner["id"], RUN, percent=0.81, letter="B", modified=MODIFIED)
    return learner


def _send(
    database: Any, client: Any, username: str = "ada", run: str = RUN, **options: Any
) -> outcomes.Outcome:
    payload = payloads.SendGradeToCredentials(username=username, course_run_key=run)
    rules = certificates.Rules(disable_honor_certificates=options.pop("disable_honor_certificates", False))
    return grades.send_grade_to_credentials(host.HostReader(database), client, payload, rules, **options)


def _posts(emulator: server.Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.requests() if r["method"] == "POST" and r["path"] == "/api/v2/grades/"]


def test_the_learners_current_grade_is_stored_in_credentials(
    database, emulator, credentials_client, ada
) -> None:  # type: ignore[no-untyped-def]
    # When the task runs
    outcome = _send(database, credentials_client)
    # Then Credentials holds the grade as the platform has it
    assert isinstance(outcome, outcomes.Sent)
    [grade] = emulator.grades()
    assert {k: grade[k] for k in ("username", "course_run", "letter_grade", "percent_grade", "verified")} == {
        "username": "ada",
        "course_run": RUN,
        "letter_grade": "B",
        "percent_grade": "0.8100",
        "verified": True,
    }
    assert grade["lms_last_updated_at"] == "2026-05-01T12:34:56Z"
    assert outcome.details["user_id"] == ada["id"]


def test_a_second_send_updates_the_one_grade_credentials_keeps_and_clears_a_lost_letter(
    database, platform, emulator, credentials_client, ada
) -> None:  # type: ignore[no-untyped-def]
    # Given the grade was sent, then the learner fell below every letter
    _send(database, credentials_client)
    platform.grade(ada["id"], RUN, percent=0.3, letter="")
    # When it is sent again
    _send(database, credentials_client)
    # Then Credentials has one grade for the run, with the new percent and no letter left behind
    [grade] = emulator.grades()
    assert (grade["percent_grade"], grade["letter_grade"]) == ("0.3000", "")


def test_a_learner_with_a_certificate_and_no_grade_row_gets_a_zero_grade(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given an allowlisted learner: a certificate, no persisted grade
    platform.enable_credentials()
    bob = platform.learner("bob")
    _program(platform, RUN)
    platform.certificate(bob["id"], RUN)
    # When the task runs, Then 0 is stored, with no letter and no LMS time
    outcome = _send(database, credentials_client, "bob")
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.details["zero_grade"] is True
    [grade] = emulator.grades()
    assert (grade["percent_grade"], grade["letter_grade"], grade["lms_last_updated_at"]) == (
        "0.0000",
        "",
        None,
    )


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("no such learner", "unknown_learner"),
        ("no certificate", "no_certificate"),
        ("an audit certificate", "ineligible_mode"),
        ("a revoked certificate", "ineligible_status"),
        ("an audit_passing certificate", "ineligible_status"),
        ("a run in no program", "not_in_a_program"),
        ("a run only in a program's curriculum", "not_in_a_program"),
        ("learner records off for the org", "learner_records_disabled"),
    ],
)
def test_each_gate_read_from_the_host_tables_ends_the_row_done_with_its_reason(
    database, platform, emulator, credentials_client, given: str, reason: str
) -> None:  # type: ignore[no-untyped-def]
    # Given a learner graded in a run, and one thing that stops the grade
    platform.enable_credentials()
    ada = platform.learner("ada")
    platform.grade(ada["id"], RUN)
    mode, status = "verified", "downloadable"
    if given == "an audit certificate":
        mode = "audit"
    elif given == "a revoked certificate":
        status = "unavailable"
    elif given == "an audit_passing certificate":
        status = "audit_passing"
    if given != "no certificate":
        platform.certificate(ada["id"], RUN, mode=mode, status=status)
    if given == "a run only in a program's curriculum":
        # (upstream's gate looks at the program's courses only: SPEC-grades §7.17)
        platform.program(
            PROGRAM,
            "Curriculum only",
            {"courses": [], "curricula": [{"is_active": True, "courses": [{"course_runs": [{"key": RUN}]}]}]},
        )
    elif given != "a run in no program":
        _program(platform, RUN)
    if given == "learner records off for the org":
        platform.site_configuration("edx.example.com", orgs=["edX"], ENABLE_LEARNER_RECORDS=False)
    # When the task runs
    outcome = _send(database, credentials_client, "nobody" if given == "no such learner" else "ada")
    # Then it ends with the gate's reason, and Credentials got nothing
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == reason
    assert _posts(emulator) == []


@pytest.mark.parametrize(
    ("configurations", "platform_setting", "sent"),
    [
        # (domain, course_org_filter, enabled, site values) in id order
        ([("a", "edX", True, {"ENABLE_LEARNER_RECORDS": False})], True, False),  # a string filter
        ([("a", ["MITx", "edX"], True, {"ENABLE_LEARNER_RECORDS": False})], True, False),  # a list
        ([("a", ["edX"], False, {"ENABLE_LEARNER_RECORDS": False})], True, True),  # disabled: ignored
        ([("a", ["MITx"], True, {"ENABLE_LEARNER_RECORDS": False})], True, True),  # another org's
        ([("a", ["edXx"], True, {"ENABLE_LEARNER_RECORDS": False})], True, True),  # exact org only
        ([("a", ["edX"], True, {})], False, False),  # no key: the platform's setting
        ([("a", ["edX"], True, {"ENABLE_LEARNER_RECORDS": True})], False, True),  # the org's wins
        (
            [
                ("a", ["edX"], True, {}),
                ("b", ["edX"], True, {"ENABLE_LEARNER_RECORDS": False}),
            ],
            True,
            True,  # the first configuration of the org decides, even without the key
        ),
    ],
)
def test_learner_records_are_read_from_the_orgs_first_enabled_site_configuration(
    database, platform, emulator, credentials_client, ada, configurations, platform_setting, sent
) -> None:  # type: ignore[no-untyped-def]
    for domain, orgs, enabled, values in configurations:
        platform.site_configuration(domain, orgs=orgs, enabled=enabled, **values)
    outcome = _send(database, credentials_client, learner_records_enabled=platform_setting)
    assert isinstance(outcome, outcomes.Sent) is sent


def test_the_certificates_real_mode_and_status_decide_not_upstreams_defaults(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given a grade changed for a learner whose certificate is notpassing verified: upstream looked
    # the certificate up as honor/unavailable (SPEC-grades §7.1) and never sent such a grade
    platform.enable_credentials()
    bob = platform.learner("bob")
    _program(platform, RUN)
    platform.certificate(bob["id"], RUN, mode="verified", status="notpassing")
    platform.grade(bob["id"], RUN, percent=0.42, letter="")
    # When the row the grade change enqueued runs
    outcome = _send(database, credentials_client, "bob")
    # Then the failed attempt's grade is in Credentials, with the certificate it was read with
    assert isinstance(outcome, outcomes.Sent)
    assert (outcome.details["certificate_mode"], outcome.details["certificate_status"]) == (
        "verified",
        "notpassing",
    )
    assert [g["percent_grade"] for g in emulator.grades()] == ["0.4200"]


def test_the_course_org_chooses_the_credentials_root(database, platform, emulator) -> None:  # type: ignore[no-untyped-def]
    # Given a second Credentials service for org MITx
    with rigs.emulator() as mitx:
        mitx.add_course_runs([MITX_RUN])
        platform.enable_credentials()
        platform.service_user()
        client = rigs.client(database, emulator, org_urls={"MITx": mitx.url})
        ada = platform.learner("ada")
        _program(platform, RUN, MITX_RUN)
        for key in (RUN, MITX_RUN):
            platform.certificate(ada["id"], key)
            platform.grade(ada["id"], key)
        # When both grades are sent
        _send(database, client, run=RUN)
        _send(database, client, run=MITX_RUN)
        client.close()
        # Then each went to its org's service
        assert [g["course_run"] for g in emulator.grades()] == [RUN]
        assert [g["course_run"] for g in mitx.grades()] == [MITX_RUN]


def test_a_run_credentials_does_not_know_fails_the_row_quoting_its_answer(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given a run the platform has but Credentials' catalog copy does not
    platform.enable_credentials()
    ada = platform.learner("ada")
    new_run = "course-v1:edX+New+2027"
    _program(platform, new_run)
    platform.certificate(ada["id"], new_run)
    # When the task runs, Then it fails at once with Credentials' message: someone must sync its catalog
    with pytest.raises(
        errors.PermanentSyncError, match=r"No CourseRun exists for key \[course-v1:edX\+New\+2027\]"
    ):
        _send(database, credentials_client, run=new_run)


@pytest.mark.parametrize(
    ("fault", "error", "delay_ms"),
    [
        (
            server.Fault(method="POST", path_prefix="/api/v2/grades/", status=500),
            errors.TransientSyncError,
            None,
        ),
        (
            server.Fault(method="POST", path_prefix="/api/v2/grades/", action="drop"),
            errors.TransientSyncError,
            None,
        ),
        (
            server.Fault(method="POST", path_prefix="/api/v2/grades/", status=429, retry_after_s=7),
            errors.TransientSyncError,
            7000,
        ),
        (
            server.Fault(method="POST", path_prefix="/api/v2/grades/", status=403),
            errors.DeferredSyncError,
            None,
        ),
    ],
)
def test_server_errors_and_throttles_retry_and_a_refusal_waits(
    database, emulator, credentials_client, ada, fault, error, delay_ms
) -> None:  # type: ignore[no-untyped-def]
    emulator.add_fault(fault)
    with pytest.raises(error) as caught:
        _send(database, credentials_client)
    if isinstance(caught.value, errors.TransientSyncError):
        assert caught.value.delay_ms == delay_ms


def test_a_service_user_who_is_not_staff_is_refused_and_the_row_waits_naming_the_fix(
    database, platform, emulator
) -> None:  # type: ignore[no-untyped-def]
    # Given the LMS's service user lost is_staff (Credentials takes it out of Admins: no add_usergrade)
    platform.enable_credentials()
    platform.learner(rigs.SERVICE_USERNAME, is_staff=False)
    ada = platform.learner("ada")
    _program(platform, RUN)
    platform.certificate(ada["id"], RUN)
    with rigs.client(database, emulator) as client, pytest.raises(errors.DeferredSyncError) as caught:
        _send(database, client)
    # Then the row waits (no attempt used) and says what to fix
    assert "is_staff" in str(caught.value)


@pytest.fixture
def rig(database: Any, platform: Platform, emulator: server.Emulator) -> Iterator[rigs.Rig]:
    platform.enable_credentials()
    platform.service_user()
    platform.course_run(RUN)
    _program(platform, RUN)
    r = rigs.Rig(database, emulator)
    yield r
    r.close()


def test_a_grade_row_waits_behind_the_learners_earlier_award_and_both_end_in_insert_order(
    rig: rigs.Rig, platform: Platform, emulator: server.Emulator
) -> None:
    # Given the award of ada's certificate meets two server errors before it goes through
    ada = platform.learner("ada")
    platform.certificate(ada["id"], RUN)
    platform.grade(ada["id"], RUN)
    emulator.add_fault(server.Fault(method="POST", path_prefix="/api/v2/credentials/", status=500, times=2))
    award = platform.enqueue("award_course_certificate", {"username": "ada", "course_run_key": RUN})
    grade = platform.enqueue("send_grade_to_credentials", {"username": "ada", "course_run_key": RUN})
    # When the outbox drains
    rig.pipeline.drain()
    # Then the grade ran only after the award was done: Credentials saw award, award, award, grade
    seen = [
        r["path"] for r in emulator.requests() if r["method"] == "POST" and r["path"].startswith("/api/v2/")
    ]
    assert seen == ["/api/v2/credentials/"] * 3 + ["/api/v2/grades/"]
    award_row, grade_row = rig.pipeline.row(award), rig.pipeline.row(grade)
    assert (award_row["status"], grade_row["status"]) == ("done", "done")
    assert award_row["finished_at"] <= grade_row["started_at"]
    assert award_row["ordering_key"] == grade_row["ordering_key"] == "learner:ada"


def test_rows_end_done_with_the_reason_or_failed_through_the_pipeline(
    rig: rigs.Rig, platform: Platform, emulator: server.Emulator
) -> None:
    # Given a sendable grade, a learner without certificate, and a malformed row
    ada = platform.learner("ada")
    platform.certificate(ada["id"], RUN)
    platform.grade(ada["id"], RUN, percent=0.9, letter="A")
    platform.learner("bob")
    sent = platform.enqueue("send_grade_to_credentials", {"username": "ada", "course_run_key": RUN})
    skipped = platform.enqueue("send_grade_to_credentials", {"username": "bob", "course_run_key": RUN})
    bad = platform.enqueue("send_grade_to_credentials", {"username": "ada", "course_run_key": "not-a-key"})
    # When the outbox drains
    rig.pipeline.drain()
    # Then each row ends as DESIGN's outcome rule says
    assert rig.pipeline.row(sent)["result"]["outcome"] == "sent"
    assert rig.pipeline.row(skipped)["result"] | {"message": ""} == {
        "outcome": "skipped",
        "reason": "no_certificate",
        "message": "",
        "user_id": rig.pipeline.row(skipped)["result"]["user_id"],
        "course_run_key": RUN,
    }
    failed = rig.pipeline.row(bad)
    assert failed["status"] == "failed"
    assert "course_run_key" in failed["last_error"]
    assert "not a course run key" in failed["last_error"]
    assert [g["percent_grade"] for g in emulator.grades()] == ["0.9000"]


def test_a_grade_change_reaches_credentials_where_upstreams_never_did(
    database_url: str, rig: rigs.Rig, platform: Platform, emulator: server.Emulator
) -> None:
    # Given the host triggers, and a learner certified in a run of a program
    migrate.run(
        database_url,
        host_schema="public",
        tasks=tasks.REGISTRY.registrations(),
        reference_host=True,
        with_triggers=True,
    )
    ada = platform.learner("ada")
    platform.certificate(ada["id"], RUN)
    rig.pipeline.drain()
    assert [g["percent_grade"] for g in emulator.grades()] == ["0.0000"]  # no grade yet: zero
    # When the LMS recomputes the learner's grade (COURSE_GRADE_CHANGED: upstream's gate looked the
    # certificate up as honor/unavailable and stopped, SPEC-grades §7.1)
    platform.grade(ada["id"], RUN, percent=0.77, letter="C")
    rig.pipeline.drain()
    # Then Credentials has the new grade
    [grade] = emulator.grades()
    assert (grade["percent_grade"], grade["letter_grade"]) == ("0.7700", "C")


def test_a_row_that_meets_a_config_disabled_after_its_claim_waits_without_using_an_attempt(
    rig: rigs.Rig, platform: Platform, emulator: server.Emulator, sql: Any
) -> None:
    # Given a grade row claimed while the config was enabled
    ada = platform.learner("ada")
    platform.certificate(ada["id"], RUN)
    row = platform.enqueue("send_grade_to_credentials", {"username": "ada", "course_run_key": RUN})
    assert rig.pipeline.scanner.run_once(rescue=False).claimed == 1
    # When the platform disables Credentials before the row runs
    platform.enable_credentials(enabled=False)
    rig.pipeline.process()
    # Then the row is back to pending, no attempt used, saying why, and nothing was sent
    found = rig.pipeline.row(row)
    assert (found["status"], found["attempts"]) == ("pending", 0)
    assert "disabled" in found["waiting_on"]
    assert emulator.grades() == []
    # And once the config is enabled again, it goes through
    platform.enable_credentials()
    sql.execute("UPDATE credsync.outbox SET run_after = now() WHERE id = %s", (row,))
    rig.pipeline.drain()
    assert rig.pipeline.row(row)["status"] == "done"
    assert len(emulator.grades()) == 1
