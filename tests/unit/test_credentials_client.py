"""The Credentials client: token cache, 401 refresh, error translation, URLs and pagination (no network)."""

from __future__ import annotations

import concurrent.futures
import email.utils
import json
import logging
import pathlib
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses

from worker import errors
from worker import settings as worker_settings
from worker.clients import credentials

CREDENTIALS_ROOT = "https://credentials.example.com/"
CREDENTIALS_API = "https://credentials.example.com/api/v2/"
LMS_ROOT = "https://lms.example.com"
TOKEN_URL = "https://lms.example.com/oauth2/access_token"
CLIENT_ID = "credsync-worker"
SECRET = "very-secret-client-value-42"
MITX_ROOT = "https://mitx-credentials.example.com/some/prefix/"
MITX_API = "https://mitx-credentials.example.com/api/v2/"
AWARD = {"username": "ada", "credential": {"program_uuid": "a1b2"}, "status": "awarded"}


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Iterator[credentials.CredentialsClient]:
    client = credentials.CredentialsClient(
        credentials_url=CREDENTIALS_ROOT,
        oauth_url=LMS_ROOT,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        org_urls={"MITx": MITX_ROOT},
        timeout=(1.5, 2.5),
        clock=clock,
        user_agent="credsync-test/1",
    )
    yield client
    client.close()


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def given_tokens(http: responses.RequestsMock, *tokens: str, expires_in: int = 3600) -> None:
    """The token endpoint hands out ``tokens`` in order (the last one repeats)."""
    for token in tokens:
        http.post(TOKEN_URL, json={"access_token": token, "token_type": "JWT", "expires_in": expires_in})


def calls_to(http: responses.RequestsMock, url: str) -> list[Any]:
    return [call for call in http.calls if str(call.request.url).split("?")[0] == url]


def timeouts_of(http: responses.RequestsMock) -> list[Any]:
    """The ``timeout`` each recorded request was sent with (``responses`` keeps the send kwargs)."""
    return [getattr(call.request, "req_kwargs", {}).get("timeout") for call in http.calls]


def form_of(call: Any) -> dict[str, list[str]]:
    return parse_qs(str(call.request.body))


def authorization_of(call: Any) -> str:
    return str(call.request.headers["Authorization"])


# -- token ---------------------------------------------------------------------------------------


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


# -- errors --------------------------------------------------------------------------------------


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


# -- URLs ----------------------------------------------------------------------------------------


def test_an_org_with_its_own_root_gets_it_and_any_other_org_gets_the_default_root(
    client: credentials.CredentialsClient,
) -> None:
    # Given a client with a root for MITx (which has a path prefix)
    # When URLs are built for MITx, for another org and for no org
    # Then MITx gets its own host with the prefix discarded, as upstream does, and others the default
    assert client.api_url("credentials/", org="MITx") == MITX_API + "credentials/"
    assert client.api_url("credentials/", org="HarvardX") == CREDENTIALS_API + "credentials/"
    assert client.api_url("credentials/") == CREDENTIALS_API + "credentials/"
    assert client.api_url("course_certificates/") == CREDENTIALS_API + "course_certificates/"


def test_a_default_root_with_a_path_prefix_loses_it_as_upstream() -> None:
    # Given a Credentials root below a path prefix, without a trailing slash
    client = credentials.CredentialsClient(
        credentials_url="https://h.example.com/credentials",
        oauth_url=LMS_ROOT,
        client_id=CLIENT_ID,
        client_secret=SECRET,
    )
    # When the credentials endpoint URL is built
    # Then /api/v2/ replaces the prefix (SPEC §5.1)
    assert client.api_url("credentials/") == "https://h.example.com/api/v2/credentials/"


def test_a_credential_for_an_org_with_its_own_root_is_posted_there(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a token and the MITx Credentials service
    given_tokens(http, "token-1")
    http.post(MITX_API + "credentials/", status=201, json={"uuid": "m1"})

    # When a MITx course credential is posted
    answer = client.post_credential(AWARD, org="MITx")

    # Then it went to the MITx service
    assert answer == {"uuid": "m1"}
    assert len(calls_to(http, MITX_API + "credentials/")) == 1


# -- reading credentials -------------------------------------------------------------------------


def test_list_credentials_follows_next_across_three_pages_and_sends_the_filters(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given three pages of program credentials, linked by absolute `next` URLs
    url = CREDENTIALS_API + "credentials/"
    pages = {
        None: {"next": url + "?page=2&username=ada", "results": [{"uuid": "1"}, {"uuid": "2"}]},
        "2": {"next": url + "?page=3&username=ada", "results": [{"uuid": "3"}]},
        "3": {"next": None, "results": [{"uuid": "4"}]},
    }

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        page = parse_qs(str(request.url).split("?", 1)[1]).get("page", [None])[0]
        return 200, {}, json.dumps(pages[page])

    given_tokens(http, "token-1")
    http.add_callback(responses.GET, url, callback=answer, content_type="application/json")

    # When a learner's credentials for one program are listed
    found = client.list_credentials(username="ada", program_uuid="a1b2")

    # Then every page was read, in order, and the first request carried the filters
    assert [item["uuid"] for item in found] == ["1", "2", "3", "4"]
    reads = calls_to(http, url)
    assert len(reads) == 3
    assert parse_qs(str(reads[0].request.url).split("?", 1)[1]) == {
        "username": ["ada"],
        "status": ["awarded"],
        "only_visible": ["True"],
        "type": ["program"],
        "program_uuid": ["a1b2"],
    }
    assert [call.request.url for call in reads[1:]] == [
        url + "?page=2&username=ada",
        url + "?page=3&username=ada",
    ]
    assert all(authorization_of(call) == "JWT token-1" for call in reads)


def test_list_credentials_without_a_type_sends_no_type_filter(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given one empty page
    given_tokens(http, "token-1")
    http.get(CREDENTIALS_API + "credentials/", json={"count": 0, "next": None, "results": []})

    # When all of a learner's credentials are listed
    found = client.list_credentials(username="ada", credential_type=None)

    # Then no type filter was sent
    assert found == []
    query = parse_qs(str(calls_to(http, CREDENTIALS_API + "credentials/")[0].request.url).split("?", 1)[1])
    assert query == {"username": ["ada"], "status": ["awarded"], "only_visible": ["True"]}


def test_list_credentials_detects_a_next_link_that_loops(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given pages whose `next` links lead back to an earlier page
    url = CREDENTIALS_API + "credentials/"

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        on_page_2 = "page=2" in str(request.url)
        link = url + ("?page=1" if on_page_2 else "?page=2")
        return 200, {}, json.dumps({"next": link, "results": [{"uuid": "x"}]})

    given_tokens(http, "token-1")
    http.add_callback(responses.GET, url, callback=answer, content_type="application/json")

    # When a learner's credentials are listed
    with pytest.raises(errors.CredentialsUnavailable, match="loops"):
        client.list_credentials(username="ada")

    # Then the loop was noticed on the first repeated URL
    assert len(calls_to(http, url)) == 3


def test_list_credentials_keeps_next_links_on_the_configured_host(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a service behind a proxy that builds `next` links with its internal origin
    url = CREDENTIALS_API + "credentials/"
    given_tokens(http, "token-1")
    http.get(url, json={"next": "http://10.0.0.7:8150/api/v2/credentials/?page=2", "results": [{"n": 1}]})
    http.get(url, json={"next": None, "results": [{"n": 2}]})

    # When a learner's credentials are listed
    found = client.list_credentials(username="ada")

    # Then the second page was read from the configured host, so the token never left it
    assert found == [{"n": 1}, {"n": 2}]
    assert http.calls[-1].request.url == url + "?page=2"


def test_a_page_without_a_results_list_becomes_credentials_unavailable(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a service answering something that is not a page
    given_tokens(http, "token-1")
    http.get(CREDENTIALS_API + "credentials/", json={"detail": "surprise"})

    # When a learner's credentials are listed
    # Then the answer is refused
    with pytest.raises(errors.CredentialsUnavailable, match="results"):
        client.list_credentials(username="ada")


# -- course certificate configuration ------------------------------------------------------------


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


# -- secrets, threads, lifecycle -----------------------------------------------------------------


def test_the_client_repr_shows_neither_the_secret_nor_the_token(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a client holding a token
    given_tokens(http, "the-jwt-token-value")
    http.post(CREDENTIALS_API + "credentials/", status=201, json={})
    client.post_credential(AWARD)

    # When it is shown
    shown = repr(client) + str(client)

    # Then it names its endpoints and client id, and nothing secret
    assert CLIENT_ID in shown
    assert SECRET not in shown
    assert "the-jwt-token-value" not in shown


def test_debug_logs_name_method_path_and_status_but_no_secret_token_or_body(
    client: credentials.CredentialsClient, http: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a client whose token is rejected once
    given_tokens(http, "jwt-one", "jwt-two")
    http.post(CREDENTIALS_API + "credentials/", status=401, json={"detail": "expired"})
    http.post(CREDENTIALS_API + "credentials/", status=201, json={"uuid": "body-marker"})

    # When a credential is posted with debug logging on
    with caplog.at_level(logging.DEBUG, logger="worker.clients.credentials"):
        client.post_credential(AWARD)

    # Then each request is logged by method, path and status, and nothing secret is
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "POST /api/v2/credentials/ answered HTTP 401" in text
    assert "POST /api/v2/credentials/ answered HTTP 201" in text
    assert "POST /oauth2/access_token answered HTTP 200" in text
    for secret in (SECRET, "jwt-one", "jwt-two", "body-marker"):
        assert secret not in text


def test_eight_threads_calling_at_once_share_a_single_token_fetch(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a slow token endpoint that counts its calls
    fetches = []

    def token(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        fetches.append(request)
        time.sleep(0.05)  # long enough for every other thread to ask for the token meanwhile
        return 200, {}, json.dumps({"access_token": "shared", "expires_in": 3600})

    http.add_callback(responses.POST, TOKEN_URL, callback=token, content_type="application/json")
    http.post(CREDENTIALS_API + "credentials/", status=201, json={"ok": True})
    start = threading.Barrier(8)

    def award(_: int) -> dict[str, Any]:
        start.wait()
        return client.post_credential(AWARD)

    # When 8 threads post a credential at the same moment
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(award, range(8)))

    # Then all succeeded with one token fetch between them
    assert answers == [{"ok": True}] * 8
    assert len(fetches) == 1
    api_calls = calls_to(http, CREDENTIALS_API + "credentials/")
    assert [authorization_of(call) for call in api_calls] == ["JWT shared"] * 8


def test_close_closes_the_sessions_and_a_later_call_opens_a_new_one(
    client: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given a client that has made a call
    given_tokens(http, "token-1")
    http.post(CREDENTIALS_API + "credentials/", status=201, json={})
    client.post_credential(AWARD)

    # When it is closed and used again
    client.close()
    answer = client.post_credential(AWARD)

    # Then the call still works, reusing the cached token
    assert answer == {}
    assert len(calls_to(http, TOKEN_URL)) == 1


def test_a_client_from_settings_uses_the_configured_urls_secret_and_timeouts(
    http: responses.RequestsMock,
) -> None:
    # Given settings naming the services, an org root and timeouts
    settings = worker_settings.load(
        {
            "DATABASE_URL": "postgresql://localhost/credsync",
            "CREDENTIALS_URL": "https://cred.example.com",
            "CREDENTIALS_ORG_URLS": '{"MITx": "https://mitx.example.com"}',
            "OAUTH_URL": "https://lms.example.com/oauth2",
            "OAUTH_CLIENT_ID": CLIENT_ID,
            "OAUTH_CLIENT_SECRET": SECRET,
            "CREDSYNC_HTTP_CONNECT_TIMEOUT_S": 2,
            "CREDSYNC_HTTP_READ_TIMEOUT_S": 9,
        }
    )
    http.post(TOKEN_URL, json={"access_token": "t", "expires_in": 3600})
    http.post("https://mitx.example.com/api/v2/credentials/", status=201, json={})

    # When a client is built from them and used
    client = credentials.CredentialsClient.from_settings(settings)
    try:
        client.post_credential(AWARD, org="MITx")
    finally:
        client.close()

    # Then it used the derived token URL, the secret, the org root and the timeouts
    assert client.api_url("credentials/") == "https://cred.example.com/api/v2/credentials/"
    assert form_of(http.calls[0])["client_secret"] == [SECRET]
    assert timeouts_of(http) == [(2.0, 9.0)] * 2


def test_a_netrc_entry_for_the_credentials_host_does_not_replace_the_jwt(
    client: credentials.CredentialsClient,
    http: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: pathlib.Path,
) -> None:
    # Given a netrc file holding a login for the Credentials host
    netrc = tmp_path / "netrc"
    netrc.write_text("machine credentials.example.com login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    given_tokens(http, "token-1")
    http.post(CREDENTIALS_API + "credentials/", status=201, json={})

    # When a credential is posted
    client.post_credential(AWARD)

    # Then the request still carries the JWT, not Basic credentials
    assert authorization_of(calls_to(http, CREDENTIALS_API + "credentials/")[0]) == "JWT token-1"


# -- GET course_certificates/<course_id>/ (issue 10, item 5) ------------------------------------------

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
