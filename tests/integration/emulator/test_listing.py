"""``GET /api/v2/credentials/`` on the emulator: filters, pagination and ``only_visible``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.emulator import support
from worker.emulator import server

CREDENTIALS = support.CREDENTIALS
PROGRAM, OTHER_PROGRAM = support.PROGRAM, support.OTHER_PROGRAM
RUN, OTHER_RUN, PAST, FUTURE = support.RUN, support.OTHER_RUN, support.PAST, support.FUTURE
RUNS = [f"course-v1:edX+C{number}+2026" for number in range(5)]


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    # Its tokens outlive the clock's jumps.
    return {"page_size": 2, "token_lifetime_s": 7 * 86_400}


@pytest.fixture
def catalog_runs() -> list[str]:
    return [RUN, OTHER_RUN, *RUNS]


@pytest.fixture
def switches() -> dict[str, bool]:
    # The Admins fix lets the service user read any learner (the default is tested elsewhere).
    return {"admins_can_view": True, "learner_records": False}


def kinds(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(item["username"], item["credential"]["type"]) for item in items]


def test_listing_filters_by_username_status_type_and_program(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given credentials of several kinds for two learners
    emulator.configure_program(PROGRAM)
    emulator.configure_program(OTHER_PROGRAM)
    client.award("ada")
    client.award("ada", run=OTHER_RUN, status="revoked")
    client.award_program("ada")
    client.award_program("ada", program=OTHER_PROGRAM)
    client.award("bob")
    # When listing with filters
    # Then only matching credentials come back, in creation order
    assert client.get(CREDENTIALS, username="ada").json()["count"] == 4
    assert kinds(client.listed(username=" bob ")) == [("bob", "course-run")]
    assert kinds(client.listed(username="ada", status="revoked")) == [("ada", "course-run")]
    assert kinds(client.listed(username="ada", type="program", program_uuid=OTHER_PROGRAM)) == [
        ("ada", "program")
    ]
    assert len(client.listed(type="course-run")) == 3


def test_a_program_filter_also_returns_the_course_run_credentials_of_the_programs_runs(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a program of one run, and a learner holding its program, that run's and another run's credentials
    emulator.configure_program(PROGRAM.upper(), course_runs=[RUN])
    client.award_program("ada")
    client.award("ada", status="revoked")
    client.award("ada", run=OTHER_RUN)
    # When listing by the program
    listed = client.listed(username="ada", program_uuid=PROGRAM)
    # Then the program's credential and its run's credential come back, not the other run's
    assert [
        item["credential"].get("program_uuid", item["credential"].get("course_run_key")) for item in listed
    ] == [
        PROGRAM,
        RUN,
    ]


@pytest.mark.parametrize("value", ["not-a-uuid", ""], ids=["not-a-uuid", "empty"])
def test_a_program_filter_that_is_not_a_uuid_answers_200_with_no_results(
    emulator: server.Emulator, client: support.Client, value: str
) -> None:
    # Given a learner's program credential
    emulator.configure_program(PROGRAM)
    client.award_program("ada")
    # When listing with a program_uuid that is not a UUID (empty included)
    response = client.get(CREDENTIALS, username="ada", program_uuid=value)
    # Then nothing matches
    assert (response.status_code, response.json()["count"]) == (200, 0)


@pytest.mark.parametrize(
    "params",
    [{"type": "badge"}, {"only_visible": "yes"}, {"only_visible": "1"}, {"type": ""}, {"status": ""}],
)
def test_an_unknown_type_or_only_visible_value_is_ignored(
    client: support.Client, params: dict[str, str]
) -> None:
    # Given a credential whose certificate is not yet available
    client.configure_certificate(date=FUTURE)
    client.award("ada")
    # When listing with a type or only_visible value the filters do not know
    response = client.get(CREDENTIALS, username="ada", **params)
    # Then the value is no filter at all
    assert (response.status_code, response.json()["count"]) == (200, 1)


def test_an_unknown_status_gets_400(client: support.Client) -> None:
    # Given a status that is not a choice
    # When listing with it
    response = client.get(CREDENTIALS, username="ada", status="lost")
    # Then django-filter's ChoiceFilter refuses it
    message = "Select a valid choice. lost is not one of the available choices."
    assert (response.status_code, response.json()) == (400, {"status": [message]})


# -- pagination ------------------------------------------------------------------------------------


def test_listing_paginates_with_next_and_previous_links_across_three_pages(client: support.Client) -> None:
    # Given five credentials for a learner and a page size of two
    for run in RUNS:
        client.award("ada", run=run)
    # When the client follows the next links from the first page
    pages = [client.get(CREDENTIALS, username="ada").json()]
    while pages[-1]["next"] is not None:
        with client.session.get(pages[-1]["next"], headers=client.headers(), timeout=5) as response:
            pages.append(response.json())
    last = client.get(CREDENTIALS, username="ada", page="last").json()
    # Then there were three pages with DRF links and every credential once
    assert [page["count"] for page in pages] == [5, 5, 5]
    assert pages[0]["previous"] is None
    assert pages[0]["next"] == f"{client.url}{CREDENTIALS}?page=2&username=ada"
    assert pages[1]["previous"] == f"{client.url}{CREDENTIALS}?username=ada"
    assert pages[2]["previous"] == f"{client.url}{CREDENTIALS}?page=2&username=ada"
    runs = [item["credential"]["course_run_key"] for page in pages for item in page["results"]]
    assert runs == RUNS
    assert last == pages[2]


@pytest.mark.parametrize("page", ["4", "0", "two", "2.0"])
def test_a_page_past_the_end_or_not_a_number_gets_404(client: support.Client, page: str) -> None:
    # Given five credentials, so three pages
    for run in RUNS:
        client.award("ada", run=run)
    # When a page outside them is asked for
    response = client.get(CREDENTIALS, username="ada", page=page)
    # Then it is not found
    assert (response.status_code, response.json()) == (404, {"detail": "Invalid page."})


# -- only_visible ----------------------------------------------------------------------------------


def visible(client: support.Client, **params: str) -> list[str]:
    items = client.listed(username="ada", only_visible="True", **params)
    return [item["credential"].get("program_uuid") or item["credential"]["course_run_key"] for item in items]


def test_only_visible_hides_course_credentials_until_their_certificate_is_available(
    client: support.Client, clock: support.Clock
) -> None:
    # Given a course credential whose certificate becomes available in an hour, and one already available
    available_in_an_hour = "2027-01-15T09:00:00Z"  # the clock starts at 08:00
    client.configure_certificate(RUN, date=available_in_an_hour)
    client.configure_certificate(OTHER_RUN, date=PAST)
    client.award("ada")
    client.award("ada", run=OTHER_RUN)
    # When listing visible credentials now, without the filter, and an hour later
    now = visible(client)
    unfiltered = client.get(CREDENTIALS, username="ada", only_visible="false").json()["count"]
    clock.advance(3600)
    later = visible(client)
    # Then the later one shows once available, and everything shows without the filter
    assert (now, unfiltered, later) == ([OTHER_RUN], 2, [RUN, OTHER_RUN])


def test_a_program_credential_without_course_credentials_of_its_runs_is_never_visible(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a program of one run (and one without runs), and a learner holding both program credentials
    emulator.configure_program(PROGRAM, course_runs=[RUN])
    emulator.configure_program(OTHER_PROGRAM)
    client.award_program("ada")
    client.award_program("ada", program=OTHER_PROGRAM)
    hidden = visible(client, type="program")
    # When the learner gets a credential of another run, then a revoked one of the program's run
    client.award("ada", run=OTHER_RUN)
    hidden_with_other_run = visible(client, type="program")
    client.award("ada", status="revoked")
    # Then only a course credential of the program's run, revoked or not, makes it visible
    assert hidden == hidden_with_other_run == []
    assert visible(client, type="program") == [PROGRAM]


def test_a_program_credential_is_visible_once_the_latest_issue_date_of_its_runs_passes(
    emulator: server.Emulator, client: support.Client, clock: support.Clock
) -> None:
    # Given a program of two runs: one credential of a certificate available now, one in a day
    emulator.configure_program(PROGRAM, course_runs=[RUN, OTHER_RUN])
    client.configure_certificate(RUN, date="2027-01-16T08:00:00Z")
    client.award("ada", date_override={"date": PAST})  # overrides do not count
    client.award("ada", run=OTHER_RUN)
    client.award_program("ada")
    # When listing visible program credentials now and a day later
    now = visible(client, type="program")
    clock.advance(86_400)
    later = visible(client, type="program")
    # Then the later issue date rules
    assert (now, later) == ([], [PROGRAM])


def test_a_course_credential_issue_date_is_its_creation_when_its_certificate_has_no_date(
    emulator: server.Emulator, client: support.Client, clock: support.Clock
) -> None:
    # Given a program credential and its run's credential created an hour from now, no certificate date
    emulator.configure_program(PROGRAM, course_runs=[RUN])
    client.award_program("ada")
    clock.advance(3600)
    client.award("ada", date_override={"date": FUTURE})
    # When listing visible program credentials at that time
    # Then the creation time (not the override) is the issue date, which is not in the future
    assert visible(client, type="program") == [PROGRAM]
