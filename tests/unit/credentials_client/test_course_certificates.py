"""Course certificate configurations: posted with the status Credentials gave, read by a quoted key."""

from __future__ import annotations

import json

import pytest
import responses

from tests.unit.credentials_client.support import (
    CREDENTIALS_API,
    authorization_of,
    calls_to,
    given_tokens,
)
from worker import errors
from worker.clients import credentials


@pytest.mark.parametrize("status", [200, 201])
def test_post_course_certificate_configuration_returns_the_status_it_got(
    client: credentials.CredentialsClient, http: responses.RequestsMock, status: int
) -> None:
    # Given a service answering the configuration POST with `status`
    config = {"course_id": "course-v1:edX+DemoX+2026", "certificate_type": "verified", "is_active": True}
    given_tokens(http, "token-1")
    http.post(CREDENTIALS_API + "course_certificates/", status=status, json={"id": 3, **config})

    # When a configuration is posted
    got_status, answer = client.post_course_certificate_configuration(config)

    # Then the caller sees the status and the answer
    assert got_status == status
    assert answer == {"id": 3, **config}
    assert json.loads(calls_to(http, CREDENTIALS_API + "course_certificates/")[0].request.body) == config


def test_post_course_certificate_configuration_raises_on_a_validation_error(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a service rejecting the certificate type
    given_tokens(http, "token-1")
    body = {"certificate_type": ['"credit" is not a valid choice.']}
    http.post(CREDENTIALS_API + "course_certificates/", status=400, json=body)

    # When a configuration is posted
    with pytest.raises(errors.CredentialsHTTPError) as raised:
        client.post_course_certificate_configuration({"course_id": "c", "certificate_type": "credit"})

    # Then the error carries the 400 and the service's explanation
    assert raised.value.status == 400
    assert "not a valid choice" in raised.value.body


CONFIGURATION = {
    "id": 7,
    "site": 1,
    "course_id": "course-v1:edX+DemoX+2026",
    "course_run": "course-v1:edX+DemoX+2026",
    "certificate_type": "professional",
    "certificate_available_date": None,
    "is_active": True,
}


def test_get_course_certificate_configuration_answers_the_stored_certificate_under_a_quoted_key(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given Credentials holds a configuration for the run
    given_tokens(http, "token-1")
    url = CREDENTIALS_API + "course_certificates/course-v1%3AedX%2BDemoX%2B2026/"
    http.get(url, json=CONFIGURATION)

    # When it is read
    found = client.get_course_certificate_configuration("course-v1:edX+DemoX+2026")

    # Then the answer is the stored certificate, read with the service token at the key quoted as one
    # path segment (a bare ':' would read as a URL scheme)
    assert found == CONFIGURATION
    [call] = calls_to(http, url)
    assert call.request.method == "GET"
    assert authorization_of(call) == "JWT token-1"


def test_get_course_certificate_configuration_keeps_a_slashed_key_in_one_path_segment(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given an old-style key with slashes
    given_tokens(http, "token-1")
    url = CREDENTIALS_API + "course_certificates/edX%2FDemoX%2F2026/"
    http.get(url, json={**CONFIGURATION, "course_id": "edX/DemoX/2026"})

    # When it is read, Then it went to one quoted segment
    found = client.get_course_certificate_configuration("edX/DemoX/2026")
    assert found is not None
    assert found["course_id"] == "edX/DemoX/2026"
    assert len(calls_to(http, url)) == 1


def test_get_course_certificate_configuration_answers_none_on_a_404(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given Credentials answers 404 with an HTML page (no such run, or a key with a '.': SPEC §5.7)
    given_tokens(http, "token-1")
    http.get(
        CREDENTIALS_API + "course_certificates/course-v1%3AMITx%2B6.003x%2B2026/",
        status=404,
        body="<html><body>Not Found</body></html>",
        content_type="text/html",
    )

    # When it is read, Then there is no configuration to report (not an error)
    assert client.get_course_certificate_configuration("course-v1:MITx+6.003x+2026") is None


@pytest.mark.parametrize("status", [400, 500, 503])
def test_get_course_certificate_configuration_raises_on_any_other_error_status(
    client: credentials.CredentialsClient, http: responses.RequestsMock, status: int
) -> None:
    # Given Credentials fails the read
    given_tokens(http, "token-1")
    http.get(
        CREDENTIALS_API + "course_certificates/course-v1%3AedX%2BDemoX%2B2026/",
        status=status,
        body="<html>Server Error</html>",
        content_type="text/html",
    )

    # When it is read, Then the HTTP error is raised with its status
    with pytest.raises(errors.CredentialsHTTPError) as caught:
        client.get_course_certificate_configuration("course-v1:edX+DemoX+2026")
    assert caught.value.status == status
    assert caught.value.method == "GET"
