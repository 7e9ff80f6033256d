"""send_grade_to_credentials (SPEC-grades §3-§4): every gate, the body, and what each answer means.

The host's facts come from a stand-in reader (the SQL that reads them is tested on real tables in
tests/integration/test_grades.py); the HTTP side is the real client against ``responses``.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
import requests
import responses

from tests.unit.credentials_client import support
from worker import errors, outcomes, tasks
from worker.clients import credentials
from worker.sync import certificates, grades, host, payloads

RUN = "course-v1:edX+DemoX+2026"
MITX_RUN = "course-v1:MITx+6.002x+2026"
GRADES_URL = support.CREDENTIALS_API + "grades/"
MODIFIED = datetime.datetime(2026, 5, 1, 12, 34, 56, 789012, tzinfo=datetime.UTC)

#: A learner whose grade is sent: a downloadable verified certificate, in a program, graded.
SENDABLE = host.GradeFacts(
    user_id=7,
    credentials_enabled=True,
    learner_records_set=False,
    learner_records=None,
    certificate_mode="verified",
    certificate_status="downloadable",
    in_a_program=True,
    has_grade=True,
    percent_grade=0.81,
    letter_grade="B",
    grade_modified=MODIFIED,
)


class Reader:
    """Stands in for ``host.HostReader``: the facts of one learner (None: no such learner)."""

    def __init__(self, facts: host.GradeFacts | None) -> None:
        self.facts = facts
        self.asked: list[tuple[str, str, str]] = []

    def grade_facts(self, username: str, course_run_key: str, org: str) -> host.GradeFacts | None:
        self.asked.append((username, course_run_key, org))
        return self.facts


@pytest.fixture
def client() -> Iterator[credentials.CredentialsClient]:
    client = credentials.CredentialsClient(
        credentials_url=support.CREDENTIALS_ROOT,
        oauth_url=support.LMS_ROOT,
        client_id=support.CLIENT_ID,
        client_secret=support.SECRET,
        org_urls={"MITx": support.MITX_ROOT},
        timeout=(1.5, 2.5),
    )
    yield client
    client.close()


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        support.given_tokens(mock, "token-1")
        yield mock


def _send(
    client: credentials.CredentialsClient,
    facts: host.GradeFacts | None,
    *,
    run: str = RUN,
    rules: certificates.Rules = certificates.DEFAULT_RULES,
    learner_records_enabled: bool = True,
) -> outcomes.Outcome:
    payload = payloads.SendGradeToCredentials(username="ada", course_run_key=run)
    reader = cast(host.HostReader, Reader(facts))
    return grades.send_grade_to_credentials(
        reader, client, payload, rules, learner_records_enabled=learner_records_enabled
    )


def _posted(http: responses.RequestsMock, url: str = GRADES_URL) -> list[dict[str, Any]]:
    return [json.loads(call.request.body) for call in support.calls_to(http, url)]


def _answer(http: responses.RequestsMock, status: int = 201, **kwargs: Any) -> None:
    if "json" not in kwargs and "body" not in kwargs:
        kwargs["json"] = {"id": 1, "username": "ada", "course_run": RUN, "percent_grade": "0.8100"}
    http.post(GRADES_URL, status=status, **kwargs)


# --- what is sent ------------------------------------------------------------------------------


def test_a_graded_learner_with_an_interesting_certificate_gets_the_current_grade_sent_as_json(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a learner whose certificate, program and grade all say "send"
    _answer(http)
    # When the task runs
    outcome = _send(client, SENDABLE)
    # Then Credentials got every field, the percent with four decimals and the date in UTC
    assert _posted(http) == [
        {
            "username": "ada",
            "course_run": RUN,
            "letter_grade": "B",
            "percent_grade": "0.8100",
            "verified": True,
            "lms_last_updated_at": "2026-05-01T12:34:56Z",
        }
    ]
    call = support.calls_to(http, GRADES_URL)[0]
    assert call.request.headers["Content-Type"] == "application/json"
    assert call.request.headers["Authorization"] == "JWT token-1"
    # And the row's result says what was sent
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.as_result() == {
        "outcome": "sent",
        "user_id": 7,
        "course_run_key": RUN,
        "percent_grade": "0.8100",
        "letter_grade": "B",
        "lms_last_updated_at": "2026-05-01T12:34:56Z",
        "zero_grade": False,
        "certificate_mode": "verified",
        "certificate_status": "downloadable",
    }


def test_a_learner_without_a_persisted_grade_gets_a_zero_grade_sent_as_upstream_does(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a certificate but no grades_persistentcoursegrade row (an allowlisted learner, say)
    _answer(http)
    facts = dataclasses.replace(
        SENDABLE, has_grade=False, percent_grade=None, letter_grade=None, grade_modified=None
    )
    # When the task runs
    outcome = _send(client, facts)
    # Then percent 0 is sent, with no letter and no date (sent as such, so none is kept from before)
    [body] = _posted(http)
    assert (body["percent_grade"], body["letter_grade"], body["lms_last_updated_at"]) == ("0.0000", "", None)
    assert isinstance(outcome, outcomes.Sent)
    assert outcome.details["zero_grade"] is True


def test_a_blank_letter_grade_is_sent_blank_so_credentials_forgets_an_older_letter(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a learner who fell below the lowest letter (the LMS stores '')
    _answer(http)
    _send(client, dataclasses.replace(SENDABLE, letter_grade="", percent_grade=0.3))
    # Then the letter goes as "" (upstream's form body left it out, and Credentials kept "Pass")
    assert _posted(http)[0]["letter_grade"] == ""


@pytest.mark.parametrize(
    ("percent", "sent"),
    [
        (0.1 + 0.2, "0.3000"),  # 0.30000000000000004 would break Credentials' five-digit rule
        (1.0, "1.0000"),
        (0.0, "0.0000"),
        (0.87654, "0.8765"),
        (float("nan"), "nan"),  # Credentials answers "A valid number is required."
    ],
)
def test_the_percent_goes_with_the_four_decimals_credentials_keeps(
    client: credentials.CredentialsClient, http: responses.RequestsMock, percent: float, sent: str
) -> None:
    _answer(http)
    _send(client, dataclasses.replace(SENDABLE, percent_grade=percent))
    assert _posted(http)[0]["percent_grade"] == sent


def test_the_run_keys_org_chooses_the_credentials_root_as_for_course_certificates(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a run of org MITx, which has a Credentials service of its own
    mitx_grades = support.MITX_API + "grades/"
    http.post(mitx_grades, status=201, json={})
    reader = Reader(SENDABLE)
    # When its grade is sent
    grades.send_grade_to_credentials(
        cast(host.HostReader, reader),
        client,
        payloads.SendGradeToCredentials(username="ada", course_run_key=MITX_RUN),
    )
    # Then it went to MITx's service (the path prefix of its root dropped, as upstream), and the
    # gates were read for org MITx
    assert [b["course_run"] for b in _posted(http, mitx_grades)] == [MITX_RUN]
    assert _posted(http) == []
    assert reader.asked == [("ada", MITX_RUN, "MITx")]


# --- the gates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (None, "unknown_learner"),
        (
            dataclasses.replace(SENDABLE, learner_records_set=True, learner_records=False),
            "learner_records_disabled",
        ),
        (dataclasses.replace(SENDABLE, certificate_mode=None, certificate_status=None), "no_certificate"),
        (dataclasses.replace(SENDABLE, certificate_mode="audit"), "ineligible_mode"),
        (dataclasses.replace(SENDABLE, certificate_status="unavailable"), "ineligible_status"),
        (dataclasses.replace(SENDABLE, certificate_status="generating"), "ineligible_status"),
        (dataclasses.replace(SENDABLE, certificate_status="unverified"), "ineligible_status"),
        (dataclasses.replace(SENDABLE, certificate_status="audit_passing"), "ineligible_status"),
        (dataclasses.replace(SENDABLE, in_a_program=False), "not_in_a_program"),
    ],
)
def test_each_gate_that_says_there_is_nothing_to_send_ends_the_row_done_with_its_reason(
    client: credentials.CredentialsClient,
    http: responses.RequestsMock,
    facts: host.GradeFacts | None,
    reason: str,
) -> None:
    # When the task runs on a platform where one gate of SPEC-grades §3.1 stops
    outcome = _send(client, facts)
    # Then nothing is sent, and the row is done with that gate's reason and a message
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == reason
    assert outcome.message
    assert _posted(http) == []


@pytest.mark.parametrize("status", ["downloadable", "notpassing"])
@pytest.mark.parametrize(
    "mode",
    ["verified", "professional", "no-id-professional", "credit", "masters", "honor", "executive-education"],
)
def test_a_passed_or_failed_attempt_in_any_mode_but_audit_is_sent(
    client: credentials.CredentialsClient, http: responses.RequestsMock, mode: str, status: str
) -> None:
    _answer(http)
    outcome = _send(client, dataclasses.replace(SENDABLE, certificate_mode=mode, certificate_status=status))
    assert isinstance(outcome, outcomes.Sent)


@pytest.mark.parametrize(("disabled", "sent"), [(False, True), (True, False)])
def test_honor_certificates_count_unless_honor_certificates_are_disabled(
    client: credentials.CredentialsClient, http: responses.RequestsMock, disabled: bool, sent: bool
) -> None:
    _answer(http)
    outcome = _send(
        client,
        dataclasses.replace(SENDABLE, certificate_mode="honor"),
        rules=certificates.Rules(disable_honor_certificates=disabled),
    )
    assert isinstance(outcome, outcomes.Sent) is sent


@pytest.mark.parametrize(
    ("org_value", "platform", "sent"),
    [
        (None, True, True),  # no configuration of the org holds the key: the platform's setting
        (None, False, False),
        (True, False, True),  # the org's configuration overrides the platform's setting
        (False, True, False),
        ("", True, False),  # taken as Python truth, as upstream does
        (0, True, False),
        ("no", True, True),  # a non-empty string is true to upstream too
    ],
)
def test_learner_records_follow_the_orgs_site_configuration_then_the_platform_setting(
    client: credentials.CredentialsClient,
    http: responses.RequestsMock,
    org_value: Any,
    platform: bool,
    sent: bool,
) -> None:
    _answer(http)
    facts = dataclasses.replace(
        SENDABLE, learner_records_set=org_value is not None, learner_records=org_value
    )
    outcome = _send(client, facts, learner_records_enabled=platform)
    assert isinstance(outcome, outcomes.Sent) is sent
    if not sent:
        assert isinstance(outcome, outcomes.Skipped)
        assert (outcome.reason, outcome.details["org"]) == ("learner_records_disabled", "edX")


def test_a_disabled_credentials_config_makes_the_row_wait_without_using_an_attempt(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given the config was disabled after the row was claimed
    # When the task runs, Then the row waits (no attempt used) and nothing is sent
    with pytest.raises(errors.DeferredSyncError, match="disabled"):
        _send(client, dataclasses.replace(SENDABLE, credentials_enabled=False))
    assert _posted(http) == []


def test_gates_run_in_upstreams_order_learner_records_before_the_certificate(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a learner with neither learner records for the org nor a certificate
    facts = dataclasses.replace(
        SENDABLE,
        learner_records_set=True,
        learner_records=False,
        certificate_mode=None,
        certificate_status=None,
    )
    # Then the first gate of §3.1 that stops is the one reported
    outcome = _send(client, facts)
    assert isinstance(outcome, outcomes.Skipped)
    assert outcome.reason == "learner_records_disabled"


# --- what each answer means --------------------------------------------------------------------


def test_a_validation_answer_fails_the_row_quoting_credentials(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given Credentials' catalog does not know the run yet
    _answer(http, 400, json={"course_run": [f"No CourseRun exists for key [{RUN}]"]})
    # When the task runs, Then the row fails at once with the answer quoted
    with pytest.raises(errors.PermanentSyncError) as caught:
        _send(client, SENDABLE)
    assert "answered HTTP 400" in str(caught.value)
    assert f"No CourseRun exists for key [{RUN}]" in str(caught.value)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_a_server_error_or_a_request_timeout_answer_is_retried(
    client: credentials.CredentialsClient, http: responses.RequestsMock, status: int
) -> None:
    _answer(http, status, body="<html><title>Server Error</title></html>", content_type="text/html")
    with pytest.raises(errors.TransientSyncError) as caught:
        _send(client, SENDABLE)
    assert caught.value.delay_ms is None


def test_a_throttled_answer_is_retried_after_its_retry_after(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a non-staff service user over Credentials' 90 grades a minute
    _answer(
        http,
        429,
        json={"detail": "Request was throttled. Expected available in 7 seconds."},
        headers={"Retry-After": "7"},
    )
    with pytest.raises(errors.TransientSyncError) as caught:
        _send(client, SENDABLE)
    assert caught.value.delay_ms == 7000


@pytest.mark.parametrize(
    "failure",
    [requests.exceptions.ReadTimeout("read timed out"), requests.exceptions.ConnectionError("refused")],
)
def test_no_answer_at_all_is_retried(
    client: credentials.CredentialsClient, http: responses.RequestsMock, failure: Exception
) -> None:
    http.post(GRADES_URL, body=failure)
    with pytest.raises(errors.TransientSyncError):
        _send(client, SENDABLE)


@pytest.mark.parametrize("status", [403, 401])
def test_a_refusal_is_the_misconfiguration_it_is_the_row_waits_without_using_an_attempt(
    client: credentials.CredentialsClient, http: responses.RequestsMock, status: int
) -> None:
    # Given Credentials refuses the service user's grade writes (not staff: no add_usergrade), or
    # refuses its tokens even when fresh
    support.given_tokens(http, "token-2")
    _answer(http, status, json={"detail": "You do not have permission to perform this action."})
    # When the task runs, Then the row is deferred (a hold, no attempt used), naming the fix
    with pytest.raises(errors.DeferredSyncError) as caught:
        _send(client, SENDABLE)
    assert "POST /api/v2/grades/" in str(caught.value)
    assert "Fix:" in str(caught.value)


# --- the task's declaration --------------------------------------------------------------------


def test_the_task_is_ordered_with_the_learners_certificate_rows() -> None:
    # A grade and an award for the same learner share one ordering key, so they run in insert order
    grade = tasks.REGISTRY["send_grade_to_credentials"]
    award = tasks.REGISTRY["award_course_certificate"]
    assert (grade.ordering_scope, grade.ordering_keys) == (award.ordering_scope, award.ordering_keys)
    assert grade.required_keys == ("username", "course_run_key")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"username": "ada", "course_run_key": "not a key"},
            "course_run_key: Value error, not a course run key",
        ),
        ({"username": 42, "course_run_key": RUN}, "username: Input should be a valid string"),
        ({"username": "ada", "course_run_key": 7}, "course_run_key: Input should be a valid string"),
    ],
)
def test_a_payload_wrong_in_type_or_value_fails_the_row_saying_what_is_wrong(
    payload: dict[str, Any], message: str
) -> None:
    with pytest.raises(errors.PermanentSyncError, match=message):
        tasks.REGISTRY["send_grade_to_credentials"].parse(payload)
