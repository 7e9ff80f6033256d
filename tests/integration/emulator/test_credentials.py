"""``POST /api/v2/credentials/`` on the emulator: create-or-update, validation, catalog and crashes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.emulator import support
from worker.emulator import server

CREDENTIALS = support.CREDENTIALS
PROGRAM, RUN, OTHER_RUN = support.PROGRAM, support.RUN, support.OTHER_RUN
VERIFIED = {"course_run_key": RUN, "mode": "verified"}
DATETIME_FORMATS = "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
DATETIME_ERROR = f"Datetime has wrong format. Use one of these formats instead: {DATETIME_FORMATS}"


def learner_authenticates(client: support.Client, username: str) -> None:
    """The learner's own read, which creates their Credentials account."""
    service_token = client.token
    assert client.as_user(username).get(CREDENTIALS, username=username).status_code == 200
    client.token = service_token


# -- create or update ------------------------------------------------------------------------------


def test_an_award_is_created_then_updated_under_the_same_uuid(client: support.Client) -> None:
    # Given a learner awarded a course-run credential
    created = client.award("ada", attributes=[{"name": "grade", "value": "0.9"}])
    # When the same credential is posted again, revoked
    updated = client.award("ada", status="revoked")
    # Then both answers are 201 for the same credential, now revoked, attributes kept
    assert created.status_code == updated.status_code == 201
    first, second = created.json(), updated.json()
    assert second["uuid"] == first["uuid"]
    assert (first["status"], second["status"]) == ("awarded", "revoked")
    assert second["credential"] == {"type": "course-run", "course_run_key": RUN, "mode": "verified"}
    assert second["attributes"] == [{"name": "grade", "value": "0.9"}]
    assert second["certificate_url"] == f"{client.url}/credentials/{first['uuid'].replace('-', '')}/"
    assert time.strptime(second["modified"], "%Y-%m-%dT%H:%M:%SZ")


def test_revoking_a_never_awarded_credential_creates_a_revoked_one(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a learner with no credential
    # When a revoke is posted
    response = client.award("bob", status="revoked")
    # Then a revoked credential now exists
    assert response.status_code == 201
    assert [(item["username"], item["status"]) for item in emulator.credentials()] == [("bob", "revoked")]


def test_a_program_credential_is_awarded_for_an_active_program_certificate(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a configured program and a learner who has authenticated to Credentials
    program = emulator.configure_program(PROGRAM, course_runs=[RUN])
    learner_authenticates(client, "ada")
    # When a program credential is posted, with a date override that programs ignore
    response = client.award_program("ada", date_override={"date": support.PAST})
    # Then it is created for that program
    assert response.status_code == 201
    body = response.json()
    assert body["credential"] == {"type": "program", "credential_id": program["id"], "program_uuid": PROGRAM}
    assert body["date_override"] is None


@pytest.mark.parametrize("active", [None, False], ids=["unknown", "inactive"])
def test_a_program_credential_without_an_active_program_certificate_gets_400(
    emulator: server.Emulator, client: support.Client, active: bool | None
) -> None:
    # Given a program that is not configured, or configured inactive
    if active is not None:
        emulator.configure_program(PROGRAM, active=active)
    # When a program credential is posted
    response = client.award_program("ada")
    # Then it is refused the way Credentials refuses it
    assert response.status_code == 400
    message = f"No active ProgramCertificate exists for program [{PROGRAM}]"
    assert response.json() == {"credential": {"program_uuid": message}}


def test_a_program_uuid_that_is_not_a_uuid_gets_400_from_the_model_field(client: support.Client) -> None:
    # Given a program "uuid" that is not one
    # When it is posted
    response = client.award_program("ada", program="not-a-uuid")
    # Then Django's UUIDField refuses it
    assert (response.status_code, response.json()) == (
        400,
        {"credential": ["“not-a-uuid” is not a valid UUID."]},
    )


# -- validation ------------------------------------------------------------------------------------


def test_a_credential_without_an_identifier_gets_400(client: support.Client) -> None:
    # Given a credential naming neither a program nor a course run
    # When it is posted (its type is ignored)
    response = client.post(CREDENTIALS, {"username": "ada", "credential": {"type": "program"}})
    # Then it is refused
    assert (response.status_code, response.json()) == (
        400,
        {"credential": ["Credential identifier is missing."]},
    )


def test_duplicate_attribute_names_get_400(client: support.Client) -> None:
    # Given two attributes with the same name
    attributes = [{"name": "grade", "value": "1"}, {"name": "grade", "value": "2"}]
    # When they are posted
    response = client.award("ada", attributes=attributes)
    # Then they are refused
    assert (response.status_code, response.json()) == (
        400,
        {"attributes": ["Attribute names cannot be duplicated."]},
    )


def test_a_date_override_is_set_then_deleted(client: support.Client) -> None:
    # Given a course-run credential posted with a date override
    with_override = client.award("ada", date_override={"date": "2024-05-01 12:00:00+02:00"})
    # When it is posted again without one
    without_override = client.award("ada", date_override=None)
    # Then the override was set (in UTC) and is now gone
    assert with_override.json()["date_override"] == {"date": "2024-05-01T10:00:00Z"}
    assert without_override.json()["date_override"] is None


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"credential": {"course_run_key": RUN, "mode": "verified"}},
            {"username": ["This field is required."]},
        ),
        (
            {"username": "ada", "status": "lost", "credential": VERIFIED},
            {"status": ['"lost" is not a valid choice.']},
        ),
        (
            {"username": "ada", "status": None, "credential": VERIFIED},
            {"status": ["This field may not be null."]},
        ),
        (
            {"username": "x" * 256, "credential": VERIFIED},
            {"username": ["Ensure this field has no more than 255 characters."]},
        ),
        (
            {"username": "ada", "credential": None},
            {"credential": ["This field may not be null."]},
        ),
        (
            {"username": "ada", "credential": VERIFIED, "attributes": {"grade": "1"}},
            {"attributes": {"non_field_errors": ['Expected a list of items but got type "dict".']}},
        ),
        (
            {"username": "ada", "credential": VERIFIED, "attributes": [{"name": "grade"}, "x"]},
            {
                "attributes": [
                    {"value": ["This field is required."]},
                    {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]},
                ]
            },
        ),
        (
            {"username": "ada", "credential": VERIFIED, "date_override": {"date": "soon"}},
            {"date_override": {"date": [DATETIME_ERROR]}},
        ),
        ([], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ],
    ids=[
        "no-username",
        "bad-status",
        "null-status",
        "long-username",
        "null-credential",
        "attributes-not-a-list",
        "bad-attribute-items",
        "bad-date-override",
        "not-an-object",
    ],
)
def test_an_invalid_credential_gets_400_naming_the_field(
    client: support.Client, body: Any, errors: Any
) -> None:
    # Given an invalid credential
    # When it is posted
    response = client.post(CREDENTIALS, body)
    # Then it is refused with DRF's errors
    assert (response.status_code, response.json()) == (400, errors)


def test_a_json_null_body_gets_400_no_data_provided(client: support.Client) -> None:
    # Given a body that is JSON null
    headers = {**client.headers(), "Content-Type": "application/json"}
    # When it is posted
    response = client.session.post(f"{client.url}{CREDENTIALS}", data=b"null", headers=headers, timeout=5)
    # Then DRF's serializer reports that no data was given
    assert (response.status_code, response.json()) == (400, {"non_field_errors": ["No data provided"]})


def test_a_credential_that_is_not_an_object_crashes_the_real_field(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a credential given as a string
    # When it is posted
    response = client.post(CREDENTIALS, {"username": "ada", "credential": RUN})
    # Then CredentialField's data.get crashes: an HTML 500, nothing stored
    assert support.is_html_error(response, 500)
    assert emulator.credentials() == []


@pytest.mark.parametrize(
    ("data", "content_type", "status", "detail"),
    [
        (b"{nope", "application/json", 400, "JSON parse error - Expecting property name enclosed"),
        (b"username=ada", "application/x-www-form-urlencoded", 415, 'Unsupported media type "application/x-'),
        (b'{"username": "ada"}', None, 415, 'Unsupported media type "" in request.'),
    ],
    ids=["malformed-json", "form", "no-content-type"],
)
def test_a_body_the_json_parser_cannot_read_is_refused(
    client: support.Client, data: bytes, content_type: str | None, status: int, detail: str
) -> None:
    # Given a body that is not JSON, or not declared as JSON
    headers = {**client.headers(), **({"Content-Type": content_type} if content_type else {})}
    # When it is posted
    response = client.session.post(f"{client.url}{CREDENTIALS}", data=data, headers=headers, timeout=5)
    # Then DRF refuses it
    assert response.status_code == status
    assert response.json()["detail"].startswith(detail)


def test_a_body_nested_deeper_than_pythons_json_reads_is_djangos_500_once_authenticated(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a JSON body nested 100,000 arrays deep (json raises RecursionError, which DRF's
    # JSONParser does not catch: it catches ValueError only)
    deep = b"[" * 100_000 + b"]" * 100_000
    # When it is posted with a token, and without one
    answered = client.send("POST", CREDENTIALS, deep, "application/json")
    client.token = ""
    anonymous = client.send("POST", CREDENTIALS, deep, "application/json")
    # Then the handler's read of request.data ends in Django's HTML 500, nothing stored; without a
    # token authentication refuses first, before the body is read
    assert support.is_html_error(answered, 500)
    assert emulator.credentials() == []
    assert anonymous.status_code == 401


# -- the catalog and course certificates -----------------------------------------------------------


def test_a_course_run_missing_from_the_catalog_gets_400(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a run Credentials' catalog does not hold
    # When a course-run credential is posted for it
    response = client.award("ada", run=OTHER_RUN)
    # Then it is refused, and no certificate was created
    message = (
        f"CourseCertificate failed to create because the CourseRun {OTHER_RUN} doesn't exist in the catalog"
    )
    assert (response.status_code, response.json()) == (400, {"credential": {"course_run_key": message}})
    assert emulator.course_certificates() == []


def test_an_award_in_another_mode_attaches_to_the_runs_existing_certificate(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a run whose certificate is of type honor
    assert client.configure_certificate(certificate_type="honor").status_code == 201
    # When a verified credential is posted for the run
    response = client.award("ada", mode="verified")
    # Then it is attached to the honor certificate
    assert response.status_code == 201
    assert response.json()["credential"]["mode"] == "honor"
    assert [item["certificate_type"] for item in emulator.course_certificates()] == ["honor"]


def test_an_award_without_mode_attaches_to_the_runs_certificate(client: support.Client) -> None:
    # Given a run with a certificate
    client.configure_certificate(certificate_type="professional")
    # When a credential is posted without mode
    response = client.award("ada", mode=None)
    # Then it is accepted under the certificate's type
    assert (response.status_code, response.json()["credential"]["mode"]) == (201, "professional")


def test_an_award_without_mode_for_a_run_without_a_certificate_gets_500(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a catalog run without a certificate
    # When a credential is posted without mode
    response = client.award("ada", mode=None)
    # Then the auto-created certificate's NULL type breaks the table: an HTML 500, nothing stored
    assert support.is_html_error(response, 500)
    assert (emulator.credentials(), emulator.course_certificates()) == ([], [])


def test_an_award_for_an_inactive_certificate_gets_400(client: support.Client) -> None:
    # Given a run whose certificate was turned off
    client.configure_certificate(is_active=False)
    # When a credential is posted for it
    response = client.award("ada")
    # Then it is refused
    message = f"No active CourseCertificate exists for course run [{RUN}]"
    assert (response.status_code, response.json()) == (400, {"credential": {"course_run_key": message}})


def test_the_certificate_an_award_creates_stays_when_another_field_is_refused(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a catalog run without a certificate
    # When a credential is posted for it with an invalid status
    response = client.award("ada", status="lost")
    # Then the request is refused but the certificate the field created stays (no atomic requests)
    assert response.status_code == 400
    assert [(item["course_id"], item["is_active"]) for item in emulator.course_certificates()] == [
        (RUN, True)
    ]


# -- learner records -------------------------------------------------------------------------------


def test_a_program_award_for_a_username_without_an_account_gets_500_until_the_learner_authenticates(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a program, and a learner who never authenticated to Credentials
    emulator.configure_program(PROGRAM, course_runs=[RUN])
    # When the program credential is posted, then again after the learner's own read
    refused = client.award_program("ada")
    stored_after_refusal = emulator.credentials()
    learner_authenticates(client, "ada")
    accepted = client.award_program("ada")
    # Then the learner-records email code crashed the first (an HTML 500, nothing stored)
    assert support.is_html_error(refused, 500)
    assert stored_after_refusal == []
    assert accepted.status_code == 201


def test_course_run_awards_do_not_need_the_account(client: support.Client) -> None:
    # Given a learner who never authenticated
    # When a course-run credential is posted
    # Then it is accepted
    assert client.award("ada").status_code == 201


def test_without_learner_records_a_program_award_needs_no_account(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a program and learner records turned off
    emulator.configure_program(PROGRAM)
    switches = emulator.set_switches(learner_records=False)
    # When a program credential is posted for a username without an account
    response = client.award_program("ada")
    # Then it is accepted
    assert switches == {"admins_can_view": False, "learner_records": False}
    assert response.status_code == 201


def test_updating_an_existing_program_credential_does_not_reach_the_learner_records_code(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a program credential created while learner records were off, then turned on
    emulator.configure_program(PROGRAM)
    emulator.set_switches(learner_records=False)
    client.award_program("ada")
    emulator.set_switches(learner_records=True)
    # When it is revoked for the username that still has no account
    response = client.award_program("ada", status="revoked")
    # Then the update is accepted: only a created credential sends the records email
    assert (response.status_code, response.json()["status"]) == (201, "revoked")
