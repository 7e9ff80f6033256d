"""Holds stamped by the client's wall clock (``now``): tests cross one by moving the clock, not sleeping."""

from __future__ import annotations

import datetime
import email.utils
from collections.abc import Iterator

import pytest
import responses

from tests.unit.credentials_client.support import (
    AWARD,
    CLIENT_ID,
    CREDENTIALS_API,
    CREDENTIALS_ROOT,
    LMS_ROOT,
    SECRET,
    Book,
    WallClock,
    calls_to,
    given_tokens,
)
from worker import errors
from worker.clients import credentials, holds

START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
DESTINATION = CREDENTIALS_ROOT.rstrip("/")
CREDENTIALS = CREDENTIALS_API + "credentials/"


@pytest.fixture
def wall() -> WallClock:
    return WallClock(START)


@pytest.fixture
def book(wall: WallClock) -> Book:
    return Book(wall)


@pytest.fixture
def held(wall: WallClock, book: Book) -> Iterator[credentials.CredentialsClient]:
    """A client whose holds go to ``book``, stamped by ``wall``."""
    client = credentials.CredentialsClient(
        credentials_url=CREDENTIALS_ROOT,
        oauth_url=LMS_ROOT,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        now=wall,
        cooldowns=book,
    )
    yield client
    client.close()


def test_a_retry_after_hold_ends_when_the_clock_passes_it_not_when_time_does(
    held: credentials.CredentialsClient, http: responses.RequestsMock, wall: WallClock, book: Book
) -> None:
    # Given Credentials answered an award with 429 and Retry-After: 30
    given_tokens(http, "token-1")
    http.post(CREDENTIALS, status=429, headers={"Retry-After": "30"}, json={})
    http.post(CREDENTIALS, status=201, json={"uuid": "u1"})
    with pytest.raises(errors.CredentialsHTTPError):
        held.post_credential(AWARD)
    # When the clock is 29 s later, and then 30 s later
    wall.advance(seconds=29)
    with pytest.raises(errors.CredentialsCoolingDown) as waiting:
        held.post_credential(AWARD)
    wall.advance(seconds=1)
    answer = held.post_credential(AWARD)
    # Then the hold was stamped by the clock, held the second call, and let the third through
    assert book.entries[DESTINATION][0] == START.timestamp() + 30
    assert book.entries[DESTINATION][2] == holds.HOLD_RETRY_AFTER
    assert waiting.value.until == START.timestamp() + 30
    assert answer == {"uuid": "u1"}
    assert len(calls_to(http, CREDENTIALS)) == 2


def test_a_refusal_is_asked_again_once_the_clock_passes_the_recheck_interval(
    held: credentials.CredentialsClient, http: responses.RequestsMock, wall: WallClock, book: Book
) -> None:
    # Given Credentials refused an award with a 403
    given_tokens(http, "token-1")
    http.post(CREDENTIALS, status=403, json={"detail": "no"})
    http.post(CREDENTIALS, status=201, json={})
    with pytest.raises(errors.CredentialsRefused) as refused:
        held.post_credential(AWARD)
    # When the next award comes just before the recheck interval ends, and another at its end
    wall.advance(seconds=holds.REFUSAL_RECHECK_S - 1)
    with pytest.raises(errors.CredentialsRefused) as still:
        held.post_credential(AWARD)
    wall.advance(seconds=1)
    held.post_credential(AWARD)
    # Then the refusal was held until the clock's now plus the interval, unsent until then
    scope = holds.refused_scope(DESTINATION, "POST /api/v2/credentials/")
    assert refused.value.until == still.value.until == START.timestamp() + holds.REFUSAL_RECHECK_S
    assert book.entries[scope][2] == holds.HOLD_REFUSED
    assert len(calls_to(http, CREDENTIALS)) == 2


def test_a_call_meeting_a_refusal_hold_says_why_it_was_refused_and_the_fix(
    held: credentials.CredentialsClient, http: responses.RequestsMock
) -> None:
    # Given Credentials refused an award with a 403, and credsync held the refusal
    given_tokens(http, "token-1")
    http.post(CREDENTIALS, status=403, json={"detail": "You do not have permission to perform this action."})
    with pytest.raises(errors.CredentialsRefused) as met:
        held.post_credential(AWARD)
    # When another award meets the hold, unsent
    with pytest.raises(errors.CredentialsRefused) as waiting:
        held.post_credential(AWARD)
    # Then it carries the reason the refusal was held with: the call, whose token, the answer, the fix
    assert met.value.reason.startswith("Credentials refuses POST /api/v2/credentials/ with")
    assert waiting.value.reason == met.value.reason
    assert "Fix: " in str(waiting.value)
    assert len(calls_to(http, CREDENTIALS)) == 1


def test_a_retry_after_date_is_read_against_the_clock(
    held: credentials.CredentialsClient, http: responses.RequestsMock, book: Book
) -> None:
    # Given a throttled service asking to come back at a date 90 s after the clock's now
    when = email.utils.format_datetime(START + datetime.timedelta(seconds=90), usegmt=True)
    given_tokens(http, "token-1")
    http.post(CREDENTIALS, status=503, headers={"Retry-After": when}, json={})
    # When a credential is posted
    with pytest.raises(errors.CredentialsHTTPError) as raised:
        held.post_credential(AWARD)
    # Then the delay is exactly 90 s, and the service is held until that date
    assert raised.value.retry_after_ms == 90_000
    assert book.entries[DESTINATION][0] == START.timestamp() + 90
