"""The client's hooks: every exchange reported, cooldowns recorded on Retry-After and honoured."""

from __future__ import annotations

import time

import pytest
import requests
import responses

from worker import errors
from worker.clients import credentials

ROOT = "https://credentials.example.com"
TOKEN_URL = "https://lms.example.com/oauth2/access_token"
CREDENTIALS = f"{ROOT}/api/v2/credentials/"
AWARD = {"username": "ada", "credential": {"type": "program", "program_uuid": "u1"}}


class Book:
    """An in-memory cooldown book (the production one is credsync.cooldown, shared by processes)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, str]] = {}
        self.kinds: dict[str, str] = {}

    def until(self, destination: str) -> float | None:
        found = self.entries.get(destination)
        return found[0] if found and found[0] > time.time() else None

    def reason(self, destination: str) -> str | None:
        return self.entries[destination][1] if self.until(destination) is not None else None

    def record(self, destination: str, until: float, reason: str, kind: str = "retry_after") -> bool:
        started = self.until(destination) is None
        self.entries[destination] = (until, reason)
        self.kinds[destination] = kind
        return started


@pytest.fixture
def http() -> responses.RequestsMock:
    with responses.RequestsMock() as mock:
        mock.post(TOKEN_URL, json={"access_token": "t0ken", "expires_in": 3600})
        yield mock


def _client(**hooks: object) -> credentials.CredentialsClient:
    return credentials.CredentialsClient(
        credentials_url=ROOT,
        oauth_url="https://lms.example.com",
        client_id="c",
        client_secret="s3cret",
        **hooks,
    )


def test_every_exchange_is_reported_with_its_status_or_failure(http: responses.RequestsMock) -> None:
    # Given an observer, one accepted award and one refused connection
    heard: list[tuple[str, str, int | None, str | None]] = []
    client = _client(
        observer=lambda method, url, status, ms, error: heard.append((method, url, status, error))
    )
    http.post(CREDENTIALS, status=201, json={})
    http.post(CREDENTIALS, body=requests.exceptions.ConnectionError("refused"))
    # When both are sent
    client.post_credential(AWARD)
    with pytest.raises(errors.CredentialsUnavailable):
        client.post_credential(AWARD)
    # Then the token request and both API requests were reported, the failure without a status
    assert heard == [
        ("POST", TOKEN_URL, 200, None),
        ("POST", CREDENTIALS, 201, None),
        ("POST", CREDENTIALS, None, "connection error (ConnectionError)"),
    ]
    client.close()


def test_a_failing_observer_never_fails_the_request(http: responses.RequestsMock) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("ledger down")

    client = _client(observer=broken)
    http.post(CREDENTIALS, status=201, json={"ok": True})
    assert client.post_credential(AWARD) == {"ok": True}
    client.close()


@pytest.mark.parametrize("status", [429, 503])
def test_a_retry_after_answer_starts_a_cooldown_that_stops_later_requests_to_that_service(
    http: responses.RequestsMock, status: int
) -> None:
    # Given a service that answers with Retry-After: 30
    book = Book()
    client = _client(cooldowns=book)
    http.post(CREDENTIALS, status=status, headers={"Retry-After": "30"}, json={"detail": "slow down"})
    # When a request meets it
    with pytest.raises(errors.CredentialsHTTPError):
        client.post_credential(AWARD)
    # Then the service is cooling down for about 30 s, and the next request is not sent at all
    until = book.until(ROOT)
    assert until is not None
    assert 25 < until - time.time() <= 30
    with pytest.raises(errors.CredentialsCoolingDown) as waiting:
        client.post_credential(AWARD)
    assert waiting.value.destination == ROOT
    assert len([c for c in http.calls if c.request.url == CREDENTIALS]) == 1
    client.close()


def test_an_answer_without_retry_after_starts_no_cooldown(http: responses.RequestsMock) -> None:
    book = Book()
    client = _client(cooldowns=book)
    http.post(CREDENTIALS, status=429, json={})
    with pytest.raises(errors.CredentialsHTTPError):
        client.post_credential(AWARD)
    assert book.entries == {}
    client.close()


def test_a_cooldown_of_one_service_does_not_stop_another(http: responses.RequestsMock) -> None:
    book = Book()
    book.record("https://other.example.com", time.time() + 60, "busy")
    client = _client(cooldowns=book)
    http.post(CREDENTIALS, status=201, json={})
    assert client.post_credential(AWARD) == {}
    client.close()
