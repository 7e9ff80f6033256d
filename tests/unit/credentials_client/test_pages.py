"""URLs under each org's API root, and a learner's credentials read page by page on the configured host."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
import requests
import responses

from tests.unit.credentials_client.support import (
    AWARD,
    CLIENT_ID,
    CREDENTIALS_API,
    LMS_ROOT,
    MITX_API,
    SECRET,
    authorization_of,
    calls_to,
    given_tokens,
)
from worker import errors
from worker.clients import credentials


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
