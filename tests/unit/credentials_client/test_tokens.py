"""The service token: derived URL, one fetch shared until near expiry, a 401 refresh, unusable answers."""

from __future__ import annotations

import json

import pytest
import responses

from tests.unit.credentials_client.support import (
    AWARD,
    CLIENT_ID,
    CREDENTIALS_API,
    CREDENTIALS_ROOT,
    SECRET,
    TOKEN_URL,
    FakeClock,
    authorization_of,
    calls_to,
    form_of,
    given_tokens,
    timeouts_of,
)
from worker import errors
from worker.clients import credentials


@pytest.mark.parametrize(
    ("oauth_url", "expected"),
    [
        ("https://lms.example.com", "https://lms.example.com/oauth2/access_token"),
        ("https://lms.example.com/", "https://lms.example.com/oauth2/access_token"),
        ("https://lms.example.com/oauth2", "https://lms.example.com/oauth2/access_token"),
        ("https://lms.example.com/oauth2/", "https://lms.example.com/oauth2/access_token"),
        ("https://lms.example.com/oauth2/access_token", "https://lms.example.com/oauth2/access_token"),
        ("https://lms.example.com/oauth2/access_token/", "https://lms.example.com/oauth2/access_token"),
    ],
)
def test_the_token_url_is_derived_from_oauth_url_as_edx_rest_api_client_does(
    oauth_url: str, expected: str
) -> None:
    # Given an OAUTH_URL in one of its accepted forms
    # When a client is built from it
    client = credentials.CredentialsClient(
        credentials_url=CREDENTIALS_ROOT, oauth_url=oauth_url, client_id=CLIENT_ID, client_secret=SECRET
    )
    # Then the token endpoint is the LMS's /oauth2/access_token
    assert client.token_url == expected


def test_a_token_is_fetched_once_for_several_calls_with_the_client_credentials_form(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a token endpoint and a Credentials service that accepts awards
    given_tokens(http, "token-1")
    http.post(CREDENTIALS_API + "credentials/", status=201, json={"uuid": "u1"})

    # When three credentials are posted
    answers = [client.post_credential(AWARD) for _ in range(3)]

    # Then one token was fetched with the client-credentials JWT grant
    token_calls = calls_to(http, TOKEN_URL)
    assert len(token_calls) == 1
    form = form_of(token_calls[0])
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [SECRET],
        "token_type": ["jwt"],
    }
    # And every API call carried it, as JSON, with the client's headers
    api_calls = calls_to(http, CREDENTIALS_API + "credentials/")
    assert len(api_calls) == 3
    for call in api_calls:
        assert authorization_of(call) == "JWT token-1"
        assert call.request.headers["Accept"] == "application/json"
        assert call.request.headers["User-Agent"] == "credsync-test/1"
        assert call.request.headers["Content-Type"] == "application/json"
        assert json.loads(call.request.body) == AWARD
    assert answers == [{"uuid": "u1"}] * 3


def test_a_token_is_fetched_again_once_it_is_within_five_seconds_of_expiry(
    client: credentials.CredentialsClient, http: responses.RequestsMock, clock: FakeClock
) -> None:
    # Given tokens that live 60 s
    given_tokens(http, "token-1", expires_in=60)
    given_tokens(http, "token-2", expires_in=60)
    http.post(CREDENTIALS_API + "credentials/", status=201, json={})

    # When calls are made at 0 s, 54.9 s and 55 s after the first token was requested
    client.post_credential(AWARD)
    clock.advance(54.9)
    client.post_credential(AWARD)
    clock.advance(0.1)
    client.post_credential(AWARD)

    # Then the first token served the first two calls and a new one the third
    assert len(calls_to(http, TOKEN_URL)) == 2
    used = [authorization_of(call) for call in calls_to(http, CREDENTIALS_API + "credentials/")]
    assert used == ["JWT token-1", "JWT token-1", "JWT token-2"]


def test_a_401_drops_the_token_fetches_a_new_one_and_repeats_the_request_once(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a token the service no longer accepts, then a fresh one it does
    given_tokens(http, "stale", "fresh")
    http.post(CREDENTIALS_API + "credentials/", status=401, json={"detail": "Signature has expired."})
    http.post(CREDENTIALS_API + "credentials/", status=201, json={"uuid": "u1"})

    # When a credential is posted
    answer = client.post_credential(AWARD)

    # Then the request was repeated once with the new token, and succeeded
    used = [authorization_of(call) for call in calls_to(http, CREDENTIALS_API + "credentials/")]
    assert used == ["JWT stale", "JWT fresh"]
    assert len(calls_to(http, TOKEN_URL)) == 2
    assert answer == {"uuid": "u1"}


def test_a_second_401_is_a_refusal_after_exactly_two_token_fetches(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a service that rejects every token
    given_tokens(http, "token-1", "token-2", "token-3")
    http.post(CREDENTIALS_API + "credentials/", status=401, json={"detail": "no"})

    # When a credential is posted
    with pytest.raises(errors.CredentialsRefused) as raised:
        client.post_credential(AWARD)

    # Then a 401 with a fresh token is a refusal of that kind of call, after one refresh and one repeat
    assert raised.value.status == 401
    assert raised.value.destination.endswith("#refused:POST /api/v2/credentials/")
    assert "JWT_ISSUERS" in str(raised.value)
    assert len(calls_to(http, TOKEN_URL)) == 2
    assert len(calls_to(http, CREDENTIALS_API + "credentials/")) == 2


def test_a_refused_token_request_raises_a_token_error_that_never_shows_the_secret(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a token endpoint that refuses the client and echoes what it received
    http.post(TOKEN_URL, status=401, json={"error": "invalid_client", "received": SECRET})

    # When a credential is posted
    with pytest.raises(errors.CredentialsTokenError) as raised:
        client.post_credential(AWARD)

    # Then the error (an "unavailable" kind: nothing reached the API) names the token endpoint and
    # its status, without the secret anywhere
    assert isinstance(raised.value, errors.CredentialsUnavailable)
    assert raised.value.status == 401
    assert raised.value.url == TOKEN_URL
    assert "invalid_client" in raised.value.body
    assert SECRET not in str(raised.value)
    assert SECRET not in raised.value.body
    # And no API call was attempted
    assert calls_to(http, CREDENTIALS_API + "credentials/") == []


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("<html>oops</html>", "invalid JSON"),
        ('["token"]', "not a JSON object"),
        ('{"expires_in": 3600}', "no access_token"),
        ('{"access_token": "t"}', "no numeric expires_in"),
        ('{"access_token": "t", "expires_in": "soon"}', "no numeric expires_in"),
    ],
)
def test_an_unusable_token_answer_raises_credentials_unavailable(
    client: credentials.CredentialsClient, http: responses.RequestsMock, answer: str, problem: str
) -> None:
    # Given a token endpoint answering 200 with something that is not a usable token
    http.post(TOKEN_URL, status=200, body=answer, content_type="application/json")

    # When a credential is posted
    with pytest.raises(errors.CredentialsUnavailable, match=problem) as raised:
        client.post_credential(AWARD)

    # Then the message names the token endpoint and never the secret
    assert TOKEN_URL in str(raised.value)
    assert SECRET not in str(raised.value)


def test_every_request_token_and_api_carries_the_configured_timeout(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a token and a service that answers every endpoint
    given_tokens(http, "token-1")
    http.post(CREDENTIALS_API + "credentials/", status=201, json={})
    http.get(CREDENTIALS_API + "credentials/", json={"next": None, "results": []})
    http.post(CREDENTIALS_API + "course_certificates/", status=201, json={})

    # When every kind of call is made
    client.post_credential(AWARD)
    client.list_credentials(username="ada")
    client.post_course_certificate_configuration({"course_id": "course-v1:edX+D+1"})

    # Then each request, the token request included, had the (connect, read) timeout
    assert len(http.calls) == 4
    assert timeouts_of(http) == [(1.5, 2.5)] * 4
