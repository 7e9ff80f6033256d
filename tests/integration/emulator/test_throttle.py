"""The learner throttle of the credentials endpoints (CredentialRateThrottle, 15/minute per user)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.emulator import support
from worker.emulator import server

CREDENTIALS = support.CREDENTIALS
THROTTLED_60 = {"detail": "Request was throttled. Expected available in 60 seconds."}


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    return {"page_size": 2}


@pytest.fixture
def client(raw_client: support.Client) -> support.Client:
    return raw_client.as_user("ada")


def reads(client: support.Client, count: int, **params: str) -> list[int]:
    return [client.get(CREDENTIALS, username="ada", **params).status_code for _ in range(count)]


def test_a_learners_sixteenth_request_within_a_minute_gets_429_retry_after_60(client: support.Client) -> None:
    # Given a learner who read their credentials 15 times this second
    first = reads(client, 15)
    # When they read once more
    response = client.get(CREDENTIALS, username="ada")
    # Then it is throttled, with DRF's wait rounded up
    assert first == [200] * 15
    assert (response.status_code, response.json()) == (429, THROTTLED_60)
    assert response.headers["Retry-After"] == "60"


def test_each_page_of_a_paginated_read_counts(emulator: server.Emulator, client: support.Client) -> None:
    # Given five credentials, three pages of two
    runs = [f"course-v1:edX+C{number}+2026" for number in range(5)]
    emulator.add_course_runs(runs)
    client.as_service()
    for run in runs:
        client.award("ada", run=run)
    client.as_user("ada")
    # When the learner reads all pages five times (15 requests), then once more
    pages = [str(page) for _ in range(5) for page in (1, 2, 3)]
    statuses = [client.get(CREDENTIALS, username="ada", page=page).status_code for page in pages]
    extra = client.get(CREDENTIALS, username="ada", page="1").status_code
    # Then the sixteenth page request is throttled
    assert statuses == [200] * 15
    assert extra == 429


def test_the_window_slides_with_the_clock_and_retry_after_is_rounded_up(
    client: support.Client, clock: support.Clock
) -> None:
    # Given 15 reads, the first at t0 and the rest 10.25 s later
    reads(client, 1)
    clock.advance(10.25)
    reads(client, 14)
    # When the learner reads again at t0 + 10.25 s, then at t0 + 60 s, then at t0 + 70.25 s
    early = client.get(CREDENTIALS, username="ada")
    clock.advance(49.75)
    window_passed = client.get(CREDENTIALS, username="ada").status_code
    refused_again = client.get(CREDENTIALS, username="ada")
    clock.advance(10.25)
    later = client.get(CREDENTIALS, username="ada").status_code
    # Then the first waits for the oldest read to leave the window (49.75 s, rounded up to 50)
    assert (early.status_code, early.headers["Retry-After"]) == (429, "50")
    assert early.json() == {"detail": "Request was throttled. Expected available in 50 seconds."}
    # ...the oldest read left at t0 + 60 s, making room for one; the next waits for the 14 others
    assert window_passed == 200
    assert (refused_again.status_code, refused_again.headers["Retry-After"]) == (429, "11")
    assert later == 200


def test_staff_tokens_are_never_throttled(client: support.Client) -> None:
    # Given the staff service user
    client.as_service()
    # When the service user makes thirty requests in the same second
    statuses = [client.get(CREDENTIALS).status_code for _ in range(30)]
    # Then none is throttled (403 is its missing view permission, decided before the throttle)
    assert set(statuses) == {403}


def test_refused_requests_do_not_count(client: support.Client) -> None:
    # Given a learner whose reads of someone else's credentials are refused twenty times
    refused = [client.get(CREDENTIALS, username="bob").status_code for _ in range(20)]
    # When the learner then reads their own fifteen times
    allowed = reads(client, 15)
    # Then the permission check ran before the throttle: all fifteen pass
    assert set(refused) == {403}
    assert allowed == [200] * 15


def test_an_invalid_page_still_counts(client: support.Client) -> None:
    # Given fifteen reads of a page past the end
    missing = reads(client, 15, page="9")
    # When the learner reads the first page
    response = client.get(CREDENTIALS, username="ada")
    # Then the throttle ran before the view: it is throttled
    assert set(missing) == {404}
    assert response.status_code == 429


def test_each_learner_has_their_own_window(client: support.Client) -> None:
    # Given a learner who used up their fifteen reads
    reads(client, 15)
    # When another learner reads
    client.as_user("bob")
    response = client.get(CREDENTIALS, username="bob")
    # Then that one is not throttled
    assert response.status_code == 200
