"""award_course_certificate (SPEC §3.2, §8) on real host tables against the emulator over HTTP."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tests import rig
from worker import errors, outcomes
from worker.emulator import server
from worker.sync import certificates, host, payloads

RUN = "course-v1:edX+DemoX+2026"
MITX_RUN = "course-v1:MITx+6.002x+2026"


@pytest.fixture(autouse=True)
def _catalog(emulator: server.Emulator) -> None:
    """Credentials' catalog copy knows the runs (a course-run award for another run answers 400)."""
    emulator.add_course_runs([RUN, MITX_RUN])


def _award(database: Any, client: Any, username: str, key: str = RUN, **rules: bool) -> outcomes.Outcome:
    payload = payloads.AwardCourseCertificate(username=username, course_run_key=key)
    return certificates.award_course_certificate(
        host.HostReader(database), client, payload, certificates.Rules(**rules)
    )


def _posts(emulator: server.Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.requests() if r["method"] == "POST" and r["path"] == "/api/v2/credentials/"]


def test_a_downloadable_certificate_is_awarded_with_the_upstream_body(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given a learner with a downloadable verified certificate in a run with an overview
    ada = platform.learner("ada")
    platform.course_run(RUN)
    platform.certificate(ada["id"], RUN, mode="verified", status="downloadable")
    # When the task runs
    outcome = _award(database, credentials_client, "ada")
    # Then Credentials got exactly the upstream body, and holds an awarded course credential
    assert isinstance(outcome, outcomes.Sent)
    assert [p["json"] for p in _posts(emulator)] == [
        {
            "username": "ada",
            "status": "awarded",
            "credential": {"course_run_key": RUN, "mode": "verified", "type": "course-run"},
            "date_override": None,
        }
    ]
    [credential] = emulator.credentials()
    assert (credential["status"], credential["credential"]["course_run_key"]) == ("awarded", RUN)
    assert outcome.as_result()["status"] == "awarded"


@pytest.mark.parametrize(
    "status", ["notpassing", "generating", "unavailable", "unverified", "error", "restricted"]
)
def test_any_status_but_downloadable_is_sent_as_revoked(
    database, platform, emulator, credentials_client, status: str
) -> None:  # type: ignore[no-untyped-def]
    ada = platform.learner("ada")
    platform.course_run(RUN)
    platform.certificate(ada["id"], RUN, status=status)
    _award(database, credentials_client, "ada")
    assert [p["json"]["status"] for p in _posts(emulator)] == ["revoked"]


def test_a_date_override_is_sent_in_utc_iso_form(database, platform, emulator, credentials_client) -> None:  # type: ignore[no-untyped-def]
    ada = platform.learner("ada")
    platform.course_run(RUN)
    override = datetime.datetime(2026, 5, 1, 14, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    platform.certificate(ada["id"], RUN, date_override=override)
    _award(database, credentials_client, "ada")
    assert _posts(emulator)[0]["json"]["date_override"] == {"date": "2026-05-01T12:30:00Z"}
    assert emulator.credentials()[0]["date_override"] is not None


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("unknown learner", "unknown_learner"),
        ("invalid key", "invalid_course_key"),
        ("no certificate", "no_certificate"),
        ("audit_passing certificate", "no_certificate"),
        ("audit mode", "ineligible_mode"),
        ("no course overview", "no_course_overview"),
    ],
)
def test_the_upstream_stops_end_done_with_a_reason_and_send_nothing(
    database, platform, emulator, credentials_client, given: str, reason: str
) -> None:  # type: ignore[no-untyped-def]
    ada = platform.learner("ada")
    key = RUN
    if given != "no course overview":
        platform.course_run(RUN)
    if given == "invalid key":
        key = "not a course key"
    if given == "audit_passing certificate":
        platform.certificate(ada["id"], RUN, status="audit_passing")
    elif given == "audit mode":
        platform.certificate(ada["id"], RUN, mode="audit")
    elif given not in ("no certificate", "invalid key"):
        platform.certificate(ada["id"], RUN)
    outcome = _award(database, credentials_client, "nobody" if given == "unknown learner" else "ada", key)
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == reason
    assert _posts(emulator) == []


@pytest.mark.parametrize(("disabled", "expected"), [(False, outcomes.Sent), (True, outcomes.Skipped)])
def test_honor_certificates_are_skipped_only_when_honor_certificates_are_disabled(
    database, platform, emulator, credentials_client, disabled: bool, expected: type
) -> None:  # type: ignore[no-untyped-def]
    ada = platform.learner("ada")
    platform.course_run(RUN)
    platform.certificate(ada["id"], RUN, mode="honor")
    assert isinstance(
        _award(database, credentials_client, "ada", disable_honor_certificates=disabled), expected
    )


def test_the_course_org_chooses_the_credentials_root(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given a second Credentials service for org "MITx"
    # (trusting the same token issuer, as two Credentials services trust one LMS)
    with rig.emulator() as mitx:
        mitx.add_course_runs([MITX_RUN])
        client = rig.client(database, emulator, org_urls={"MITx": mitx.url})
        ada = platform.learner("ada")
        for key in (RUN, MITX_RUN):
            platform.course_run(key)
            platform.certificate(ada["id"], key)
        # When both certificates are synced
        _award(database, client, "ada", RUN)
        _award(database, client, "ada", MITX_RUN)
        client.close()
        # Then each went to its org's service
        assert [c["credential"]["course_run_key"] for c in emulator.credentials()] == [RUN]
        assert [c["credential"]["course_run_key"] for c in mitx.credentials()] == [MITX_RUN]


@pytest.mark.parametrize(
    ("fault", "error", "delay_ms"),
    [
        (
            server.Fault(method="POST", path_prefix="/api/v2/credentials/", action="status", status=500),
            errors.TransientSyncError,
            None,
        ),
        (
            server.Fault(
                method="POST",
                path_prefix="/api/v2/credentials/",
                action="status",
                status=429,
                retry_after_s=7,
            ),
            errors.TransientSyncError,
            7000,
        ),
        (
            server.Fault(method="POST", path_prefix="/api/v2/credentials/", action="drop"),
            errors.TransientSyncError,
            None,
        ),
        (
            server.Fault(method="POST", path_prefix="/api/v2/credentials/", action="status", status=418),
            errors.PermanentSyncError,
            None,
        ),
        # A refusal is a misconfiguration: the row waits, no attempt used (issue 10, item 2).
        (
            server.Fault(method="POST", path_prefix="/api/v2/credentials/", action="status", status=403),
            errors.DeferredSyncError,
            None,
        ),
    ],
)
def test_failures_are_transient_permanent_or_a_wait_as_spec_5_6_and_issues_3_and_10_say(
    database, platform, emulator, credentials_client, fault, error, delay_ms
) -> None:  # type: ignore[no-untyped-def]
    ada = platform.learner("ada")
    platform.course_run(RUN)
    platform.certificate(ada["id"], RUN)
    emulator.add_fault(fault)
    with pytest.raises(error) as caught:
        _award(database, credentials_client, "ada")
    if isinstance(caught.value, errors.TransientSyncError):
        assert caught.value.delay_ms == delay_ms


def test_a_validation_answer_fails_the_row_with_the_response_body(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given Credentials answers 400 to the award
    ada = platform.learner("ada")
    platform.course_run(RUN)
    platform.certificate(ada["id"], RUN)
    emulator.add_fault(
        server.Fault(method="POST", path_prefix="/api/v2/credentials/", action="status", status=400)
    )
    # When the task runs, Then it fails permanently, quoting the answer
    with pytest.raises(errors.PermanentSyncError) as caught:
        _award(database, credentials_client, "ada")
    assert "answered HTTP 400" in str(caught.value)
    assert '"injected"' in str(caught.value)


def test_with_oauth_only_an_unavailable_token_endpoint_is_transient(database, platform, emulator) -> None:  # type: ignore[no-untyped-def]
    ada = platform.learner("ada")
    platform.course_run(RUN)
    platform.certificate(ada["id"], RUN)
    emulator.add_fault(server.Fault(method="POST", path_prefix="/oauth2/", action="status", status=503))
    with rig.client(database, emulator, signed=False) as client, pytest.raises(errors.TransientSyncError):
        _award(database, client, "ada")


def test_a_run_missing_from_credentials_catalog_fails_with_the_real_answer(
    database, platform, emulator, credentials_client
) -> None:  # type: ignore[no-untyped-def]
    # Given a run the platform has but Credentials' catalog copy does not (not synced from the catalog yet)
    ada = platform.learner("ada")
    platform.course_run("course-v1:edX+New+2027")
    platform.certificate(ada["id"], "course-v1:edX+New+2027")
    # When the task runs, Then it fails at once quoting Credentials' answer: someone must sync the catalog
    with pytest.raises(errors.PermanentSyncError) as caught:
        _award(database, credentials_client, "ada", "course-v1:edX+New+2027")
    assert "doesn't exist in the catalog" in str(caught.value)
