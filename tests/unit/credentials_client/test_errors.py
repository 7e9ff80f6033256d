"""HTTP failures translated once: network errors, invalid JSON, HTTP errors with body and Retry-After."""

from __future__ import annotations

import email.utils
import time

import pytest
import requests
import responses

from tests.unit.credentials_client.support import (
    AWARD,
    CREDENTIALS_API,
    TOKEN_URL,
    given_tokens,
)
from worker import errors
from worker.clients import credentials


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (requests.exceptions.ConnectionError("Connection refused"), "connection error"),
        (requests.exceptions.ConnectTimeout("connect timed out"), "connect timeout"),
        (requests.exceptions.ReadTimeout("read timed out"), "read timeout"),
        (requests.exceptions.TooManyRedirects("Exceeded 30 redirects."), "too many redirects"),
    ],
)
def test_a_network_failure_becomes_credentials_unavailable_with_its_cause_chained(
    client: credentials.CredentialsClient,
    http: responses.RequestsMock,
    failure: requests.exceptions.RequestException,
    kind: str,
) -> None:
    # Given a service that cannot be reached
    given_tokens(http, "token-1")
    http.post(CREDENTIALS_API + "credentials/", body=failure)

    # When a credential is posted
    with pytest.raises(errors.CredentialsUnavailable) as raised:
        client.post_credential(AWARD)

    # Then the message names the method, the URL and the kind of failure, and the cause is kept
    assert (
        str(raised.value) == f"POST {CREDENTIALS_API}credentials/ failed: {kind} ({type(failure).__name__})"
    )
    assert raised.value.__cause__ is failure


def test_an_unreachable_token_endpoint_becomes_credentials_unavailable(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a token endpoint that times out
    failure = requests.exceptions.ReadTimeout("read timed out")
    http.post(TOKEN_URL, body=failure)

    # When a credential is posted
    with pytest.raises(errors.CredentialsUnavailable, match="read timeout") as raised:
        client.post_credential(AWARD)

    # Then the failure names the token endpoint, with the cause chained
    assert TOKEN_URL in str(raised.value)
    assert raised.value.__cause__ is failure


def test_invalid_json_in_a_2xx_answer_becomes_credentials_unavailable(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a service answering 201 with something that is not JSON
    given_tokens(http, "token-1")
    http.post(CREDENTIALS_API + "credentials/", status=201, body="<html>proxy</html>")

    # When a credential is posted
    with pytest.raises(errors.CredentialsUnavailable, match="invalid JSON") as raised:
        client.post_credential(AWARD)

    # Then the JSON error is the cause
    assert isinstance(raised.value.__cause__, requests.exceptions.JSONDecodeError)


def test_an_empty_2xx_answer_reads_as_an_empty_object(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a service answering 201 with no body
    given_tokens(http, "token-1")
    http.post(CREDENTIALS_API + "credentials/", status=201, body="")

    # When a credential is posted
    answer = client.post_credential(AWARD)

    # Then the answer is an empty object
    assert answer == {}


def test_an_http_error_carries_method_url_status_and_a_truncated_body(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a service failing with a long body
    given_tokens(http, "token-1")
    http.post(CREDENTIALS_API + "credentials/", status=500, body="x" * 5_000)

    # When a credential is posted
    with pytest.raises(errors.CredentialsHTTPError) as raised:
        client.post_credential(AWARD)

    # Then the error says what was called and what came back, at most 2000 characters of it
    error = raised.value
    assert (error.method, error.url, error.status) == ("POST", CREDENTIALS_API + "credentials/", 500)
    assert error.body == "x" * 2_000
    assert error.retry_after_ms is None


def test_a_429_with_retry_after_in_seconds_carries_it_in_milliseconds(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a throttled service asking for 7 s
    given_tokens(http, "token-1")
    http.post(CREDENTIALS_API + "credentials/", status=429, headers={"Retry-After": "7"}, json={})

    # When a credential is posted
    with pytest.raises(errors.CredentialsHTTPError) as raised:
        client.post_credential(AWARD)

    # Then the error carries the delay in ms
    assert raised.value.status == 429
    assert raised.value.retry_after_ms == 7_000


def test_a_429_with_retry_after_as_an_http_date_carries_the_milliseconds_until_then(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a throttled service asking to come back in about 90 s, as an HTTP-date
    when = email.utils.formatdate(time.time() + 90, usegmt=True)
    given_tokens(http, "token-1")
    http.post(CREDENTIALS_API + "credentials/", status=429, headers={"Retry-After": when}, json={})

    # When a credential is posted
    with pytest.raises(errors.CredentialsHTTPError) as raised:
        client.post_credential(AWARD)

    # Then the delay is about 90 s (the date has a one-second resolution)
    assert raised.value.retry_after_ms is not None
    assert 85_000 <= raised.value.retry_after_ms <= 90_000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0),
        ("soon", None),
        ("-3", None),
        ("1.5", None),
        ("", None),
    ],
)
def test_a_retry_after_in_the_past_is_zero_and_an_unparseable_one_is_none(
    client: credentials.CredentialsClient, http: responses.RequestsMock, header: str, expected: int | None
) -> None:
    # Given a throttled service with an odd Retry-After
    given_tokens(http, "token-1")
    http.post(CREDENTIALS_API + "credentials/", status=429, headers={"Retry-After": header}, json={})

    # When a credential is posted
    with pytest.raises(errors.CredentialsHTTPError) as raised:
        client.post_credential(AWARD)

    # Then the delay is never negative, and None when it cannot be read
    assert raised.value.retry_after_ms == expected


def test_an_html_error_page_is_told_by_its_title_not_its_markup(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given Credentials answering a 500 with Django's HTML error page (as the real service does)
    given_tokens(http, "token-1")
    page = (
        "<!DOCTYPE html><html><head><title>Server Error | Credentials</title></head><body>...</body></html>"
    )
    http.post(CREDENTIALS_API + "credentials/", status=500, body=page, content_type="text/html")
    # When a credential is posted
    with pytest.raises(errors.CredentialsHTTPError) as raised:
        client.post_credential(AWARD)
    # Then the error names the page by its title
    assert raised.value.body == "(an HTML page: Server Error | Credentials)"
    assert str(raised.value).endswith("answered HTTP 500: (an HTML page: Server Error | Credentials)")
