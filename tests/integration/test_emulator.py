"""The Credentials emulator over real HTTP on loopback: SPEC §5 behaviour, faults, admin API, process."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from worker.emulator import admin, server

CLIENT = {"client_id": "credsync", "client_secret": "credsync-secret"}
PROGRAM = "5b2b4c8e-0d7d-4c55-9a53-0f1b5d1e3a11"
OTHER_PROGRAM = "9c0e7f7a-3f55-4c2b-8a57-26d7a1d3bb02"
RUN = "course-v1:edX+DemoX+2026"
OTHER_RUN = "course-v1:edX+Other+2026"
PAST = "2020-01-01T00:00:00Z"
FUTURE = "2999-01-01T00:00:00Z"
TIMEOUT_S = 5.0


class Client:
    """A test client of the emulator: one keep-alive session, one token."""

    def __init__(self, session: requests.Session, url: str) -> None:
        self.session = session
        self.url = url
        self.token = ""

    def request_token(self, **overrides: str) -> requests.Response:
        form = {"grant_type": "client_credentials", **CLIENT, "token_type": "jwt", **overrides}
        return self.session.post(f"{self.url}/oauth2/access_token", data=form, timeout=TIMEOUT_S)

    def authenticate(self) -> str:
        response = self.request_token()
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]
        return self.token

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"JWT {self.token}"} if self.token else {}

    def post(self, path: str, body: Any) -> requests.Response:
        return self.session.post(f"{self.url}{path}", json=body, headers=self._headers(), timeout=TIMEOUT_S)

    def get(self, path: str, **params: str) -> requests.Response:
        return self.session.get(
            f"{self.url}{path}", params=params, headers=self._headers(), timeout=TIMEOUT_S
        )

    def award(self, username: str, run: str = RUN, **extra: Any) -> requests.Response:
        body = {"username": username, "credential": {"course_run_key": run, "mode": "verified"}, **extra}
        return self.post("/api/v2/credentials/", body)

    def award_program(self, username: str, program: str = PROGRAM, **extra: Any) -> requests.Response:
        return self.post(
            "/api/v2/credentials/", {"username": username, "credential": {"program_uuid": program}, **extra}
        )


@pytest.fixture
def emulator() -> Iterator[server.Emulator]:
    with server.Emulator(port=0, page_size=2, seed=0) as running:
        yield running


@pytest.fixture
def client(emulator: server.Emulator) -> Iterator[Client]:
    with requests.Session() as session:
        yield Client(session, emulator.url)


@pytest.fixture
def authed(client: Client) -> Client:
    client.authenticate()
    return client


def all_results(client: Client, **params: str) -> list[dict[str, Any]]:
    """Every listed credential, following the ``next`` links."""
    page = client.get("/api/v2/credentials/", **params).json()
    results: list[dict[str, Any]] = page["results"]
    while page["next"] is not None:
        with client.session.get(page["next"], headers=client._headers(), timeout=TIMEOUT_S) as response:
            page = response.json()
        results.extend(page["results"])
    return results


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


# -- OAuth2 token endpoint -----------------------------------------------------------------------


def test_a_token_is_issued_to_the_configured_client(client: Client) -> None:
    # Given the emulator's client credentials
    # When the client asks for a JWT
    response = client.request_token()
    # Then it gets a signed JWT for the administrator service user
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "JWT"
    assert body["expires_in"] == 3600
    assert body["scope"] == "read write email profile"
    claims = jwt_claims(body["access_token"])
    assert claims["preferred_username"] == "credentials_service_user"
    assert claims["administrator"] is True
    assert claims["version"] == "1.0.0"
    assert claims["exp"] - claims["iat"] == 3600
    assert {"iss", "aud"} <= claims.keys()


def test_a_wrong_client_secret_gets_401_invalid_client(client: Client) -> None:
    # Given a wrong secret
    # When the client asks for a token
    response = client.request_token(client_secret="wrong")
    # Then it is refused as an invalid client
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client"}


def test_a_wrong_grant_type_gets_400(client: Client) -> None:
    # Given the right client but a password grant
    # When the client asks for a token
    response = client.request_token(grant_type="password")
    # Then the grant is refused
    assert response.status_code == 400
    assert response.json() == {"error": "unsupported_grant_type"}


# -- authentication ------------------------------------------------------------------------------


def test_an_api_request_without_a_token_gets_401(client: Client) -> None:
    # Given no token
    # When the client calls the API
    response = client.get("/api/v2/credentials/")
    # Then it is refused
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_a_token_with_a_bad_signature_gets_401(authed: Client) -> None:
    # Given a token whose signature was tampered with
    header, payload, signature = authed.token.split(".")
    authed.token = f"{header}.{payload}.{signature[::-1]}"
    # When it is used
    response = authed.get("/api/v2/credentials/")
    # Then it is refused
    assert response.status_code == 401
    assert response.json() == {"detail": "Error decoding signature."}


def test_a_revoked_token_gets_401_and_a_new_token_works(emulator: server.Emulator, authed: Client) -> None:
    # Given a token that worked, then every token was revoked
    assert authed.get("/api/v2/credentials/").status_code == 200
    emulator.revoke_tokens()
    # When the old token is used, and then a fresh one
    refused = authed.get("/api/v2/credentials/")
    authed.authenticate()
    accepted = authed.get("/api/v2/credentials/")
    # Then the old one is refused and the fresh one accepted
    assert refused.status_code == 401
    assert refused.json() == {"detail": "Token has been revoked."}
    assert accepted.status_code == 200


def test_an_expired_token_gets_401() -> None:
    # Given an emulator whose clock moves past a token's lifetime
    now = [1_800_000_000.0]
    with (
        server.Emulator(token_lifetime_s=60, clock=lambda: now[0]) as emulator,
        requests.Session() as session,
    ):
        client = Client(session, emulator.url)
        client.authenticate()
        now[0] += 61
        # When the token is used
        response = client.get("/api/v2/credentials/")
    # Then it is refused as expired
    assert response.status_code == 401
    assert response.json() == {"detail": "Signature has expired."}


# -- POST /api/v2/credentials/ -------------------------------------------------------------------


def test_an_award_is_created_then_updated_under_the_same_uuid(authed: Client) -> None:
    # Given a learner awarded a course-run credential
    created = authed.award("ada", attributes=[{"name": "grade", "value": "0.9"}])
    # When the same credential is posted again, revoked
    updated = authed.award("ada", status="revoked")
    # Then both answers are 201 for the same credential, now revoked, attributes kept
    assert created.status_code == 201
    assert updated.status_code == 201
    first, second = created.json(), updated.json()
    assert second["uuid"] == first["uuid"]
    assert first["status"] == "awarded"
    assert second["status"] == "revoked"
    assert second["credential"] == {"type": "course-run", "course_run_key": RUN, "mode": "verified"}
    assert second["attributes"] == [{"name": "grade", "value": "0.9"}]
    assert second["certificate_url"].endswith(f"/credentials/{first['uuid'].replace('-', '')}/")
    assert time.strptime(second["modified"], "%Y-%m-%dT%H:%M:%SZ")


def test_revoking_a_never_awarded_credential_creates_a_revoked_one(
    emulator: server.Emulator, authed: Client
) -> None:
    # Given a learner with no credential
    # When a revoke is posted
    response = authed.award("bob", status="revoked")
    # Then a revoked credential now exists
    assert response.status_code == 201
    assert [(item["username"], item["status"]) for item in emulator.credentials()] == [("bob", "revoked")]


def test_a_program_credential_is_awarded_for_an_active_program_certificate(
    emulator: server.Emulator, authed: Client
) -> None:
    # Given a configured program certificate
    program = emulator.configure_program(PROGRAM)
    # When a program credential is posted, with a date override that programs ignore
    response = authed.award_program("ada", date_override={"date": PAST})
    # Then it is created for that program
    assert response.status_code == 201
    body = response.json()
    assert body["credential"] == {"type": "program", "credential_id": program["id"], "program_uuid": PROGRAM}
    assert body["date_override"] is None


@pytest.mark.parametrize("active", [None, False], ids=["unknown", "inactive"])
def test_a_program_credential_without_an_active_program_certificate_gets_400(
    emulator: server.Emulator, authed: Client, active: bool | None
) -> None:
    # Given a program that is not configured, or configured inactive
    if active is not None:
        emulator.configure_program(PROGRAM, active=active)
    # When a program credential is posted
    response = authed.award_program("ada")
    # Then it is refused the way Credentials refuses it
    assert response.status_code == 400
    message = f"No active ProgramCertificate exists for program [{PROGRAM}]"
    assert response.json() == {"credential": {"program_uuid": message}}


def test_a_credential_without_an_identifier_gets_400(authed: Client) -> None:
    # Given a credential naming neither a program nor a course run
    # When it is posted (its type is ignored)
    response = authed.post("/api/v2/credentials/", {"username": "ada", "credential": {"type": "program"}})
    # Then it is refused
    assert response.status_code == 400
    assert response.json() == {"credential": ["Credential identifier is missing."]}


def test_duplicate_attribute_names_get_400(authed: Client) -> None:
    # Given two attributes with the same name
    attributes = [{"name": "grade", "value": "1"}, {"name": "grade", "value": "2"}]
    # When they are posted
    response = authed.award("ada", attributes=attributes)
    # Then they are refused
    assert response.status_code == 400
    assert response.json() == {"attributes": ["Attribute names cannot be duplicated."]}


def test_a_date_override_is_set_then_deleted(authed: Client) -> None:
    # Given a course-run credential posted with a date override
    with_override = authed.award("ada", date_override={"date": "2024-05-01 12:00:00+02:00"})
    # When it is posted again without one
    without_override = authed.award("ada", date_override=None)
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
            {"username": "ada", "credential": {"course_run_key": "not a key", "mode": "verified"}},
            {"credential"},
        ),
        (
            {"username": "ada", "status": "lost", "credential": {"course_run_key": RUN, "mode": "honor"}},
            {"status"},
        ),
        ({"username": "x" * 256, "credential": {"course_run_key": RUN, "mode": "honor"}}, {"username"}),
        ([], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ],
    ids=["no-username", "bad-run-key", "bad-status", "long-username", "not-an-object"],
)
def test_an_invalid_credential_gets_400(authed: Client, body: Any, errors: Any) -> None:
    # Given an invalid credential
    # When it is posted
    response = authed.post("/api/v2/credentials/", body)
    # Then it is refused, naming the field
    assert response.status_code == 400
    assert (response.json() if isinstance(errors, dict) else set(response.json())) == errors


def test_a_course_run_credential_for_an_inactive_course_certificate_gets_400(authed: Client) -> None:
    # Given an inactive course certificate for the run and mode
    authed.post(
        "/api/v2/course_certificates/", {"course_id": RUN, "certificate_type": "verified", "is_active": False}
    )
    # When a course-run credential is posted
    response = authed.award("ada")
    # Then it is refused on the run key
    assert response.status_code == 400
    assert set(response.json()["credential"]) == {"course_run_key"}


def test_malformed_json_gets_400(authed: Client) -> None:
    # Given a body that is not JSON
    url = f"{authed.url}/api/v2/credentials/"
    headers = {"Authorization": f"JWT {authed.token}", "Content-Type": "application/json"}
    # When it is posted
    response = authed.session.post(url, data=b"{nope", headers=headers, timeout=TIMEOUT_S)
    # Then it is refused
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


# -- GET /api/v2/credentials/ --------------------------------------------------------------------


def test_listing_filters_by_username_status_type_and_program(
    emulator: server.Emulator, authed: Client
) -> None:
    # Given credentials of several kinds for two learners
    emulator.configure_program(PROGRAM)
    emulator.configure_program(OTHER_PROGRAM)
    authed.award("ada")
    authed.award("ada", run=OTHER_RUN, status="revoked")
    authed.award_program("ada")
    authed.award_program("ada", program=OTHER_PROGRAM)
    authed.award("bob")

    def listed(**params: str) -> list[tuple[str, str]]:
        return [(item["username"], item["credential"]["type"]) for item in all_results(authed, **params)]

    # When listing with filters
    # Then only matching credentials come back, in creation order
    assert authed.get("/api/v2/credentials/", username="ada").json()["count"] == 4
    assert listed(username="bob") == [("bob", "course-run")]
    assert listed(username="ada", status="revoked") == [("ada", "course-run")]
    assert listed(username="ada", type="program", program_uuid=OTHER_PROGRAM) == [("ada", "program")]
    assert authed.get("/api/v2/credentials/", type="badge").status_code == 400


def test_listing_paginates_with_next_and_previous_links_across_three_pages(authed: Client) -> None:
    # Given five credentials for a learner and a page size of two
    for number in range(5):
        authed.award("ada", run=f"course-v1:edX+C{number}+2026")
    # When the client follows the next links from the first page
    pages = [authed.get("/api/v2/credentials/", username="ada").json()]
    while pages[-1]["next"] is not None:
        with authed.session.get(pages[-1]["next"], headers=authed._headers(), timeout=TIMEOUT_S) as response:
            pages.append(response.json())
    # Then there were three pages with DRF links and every credential once
    assert len(pages) == 3
    assert [page["count"] for page in pages] == [5, 5, 5]
    assert pages[0]["previous"] is None
    assert pages[0]["next"] == f"{authed.url}/api/v2/credentials/?page=2&username=ada"
    assert pages[2]["previous"] == f"{authed.url}/api/v2/credentials/?page=2&username=ada"
    assert pages[1]["previous"] == f"{authed.url}/api/v2/credentials/?username=ada"
    runs = [item["credential"]["course_run_key"] for page in pages for item in page["results"]]
    assert runs == [f"course-v1:edX+C{number}+2026" for number in range(5)]


@pytest.mark.parametrize("page", ["4", "0", "two"])
def test_an_out_of_range_page_gets_404(authed: Client, page: str) -> None:
    # Given five credentials, so three pages
    for number in range(5):
        authed.award("ada", run=f"course-v1:edX+C{number}+2026")
    # When a page outside them is asked for
    response = authed.get("/api/v2/credentials/", username="ada", page=page)
    # Then it is not found
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}


def test_only_visible_hides_course_credentials_until_the_available_date(authed: Client) -> None:
    # Given a course credential whose certificate becomes available in the future, one in the past
    for run, date in ((RUN, FUTURE), (OTHER_RUN, PAST)):
        body = {
            "course_id": run,
            "certificate_type": "verified",
            "certificate_available_date": date,
            "is_active": True,
        }
        authed.post("/api/v2/course_certificates/", body)
        authed.award("ada", run=run)
    # When listing visible credentials
    visible = authed.get("/api/v2/credentials/", username="ada", only_visible="True").json()
    everything = authed.get("/api/v2/credentials/", username="ada", only_visible="false").json()
    # Then only the past one shows, unless visibility is not asked for
    assert [item["credential"]["course_run_key"] for item in visible["results"]] == [OTHER_RUN]
    assert everything["count"] == 2


def test_only_visible_shows_a_program_credential_once_a_course_credential_of_its_runs_is_awarded(
    emulator: server.Emulator, authed: Client
) -> None:
    # Given a program of one run and a learner holding its program credential only
    emulator.configure_program(PROGRAM, course_runs=[RUN])
    authed.award_program("ada")

    def visible_programs() -> list[str]:
        body = authed.get("/api/v2/credentials/", username="ada", type="program", only_visible="true").json()
        return [item["credential"]["program_uuid"] for item in body["results"]]

    hidden_without_course = visible_programs()
    # When the course credential of another run, then a revoked one of the run, then an awarded one arrive
    authed.award("ada", run=OTHER_RUN)
    hidden_with_other_run = visible_programs()
    authed.award("ada", status="revoked")
    hidden_with_revoked = visible_programs()
    authed.award("ada", status="awarded")
    # Then the program credential becomes visible only with the awarded course credential of its run
    assert hidden_without_course == hidden_with_other_run == hidden_with_revoked == []
    assert visible_programs() == [PROGRAM]


def test_only_visible_hides_a_program_credential_while_its_course_credential_is_dated_in_the_future(
    emulator: server.Emulator, authed: Client
) -> None:
    # Given a program whose only course credential has an issue date in the future
    emulator.configure_program(PROGRAM, course_runs=[RUN])
    authed.award("ada", date_override={"date": FUTURE})
    authed.award_program("ada")
    # When listing visible program credentials
    body = authed.get("/api/v2/credentials/", username="ada", type="program", only_visible="True").json()
    # Then the program credential is not visible yet
    assert body["count"] == 0


def test_only_visible_treats_a_program_without_course_runs_as_visible(
    emulator: server.Emulator, authed: Client
) -> None:
    # Given a program configured without runs (the emulator has no catalog)
    emulator.configure_program(PROGRAM)
    authed.award_program("ada")
    # When listing visible credentials
    body = authed.get("/api/v2/credentials/", username="ada", only_visible="True").json()
    # Then its credential is visible
    assert body["count"] == 1


# -- POST /api/v2/course_certificates/ -----------------------------------------------------------


def test_a_course_certificate_is_created_then_updated(emulator: server.Emulator, authed: Client) -> None:
    # Given a course certificate configuration
    body = {
        "course_id": RUN,
        "certificate_type": "verified",
        "certificate_available_date": None,
        "is_active": True,
    }
    created = authed.post("/api/v2/course_certificates/", body)
    # When the same run and type is posted with an available date
    updated = authed.post(
        "/api/v2/course_certificates/", {**body, "certificate_available_date": "2026-03-01 10:00:00"}
    )
    # Then both are 201 for the same record, now dated
    assert created.status_code == updated.status_code == 201
    assert updated.json() == {
        "id": created.json()["id"],
        "site": 1,
        "course_id": RUN,
        "course_run": RUN,
        "certificate_type": "verified",
        "certificate_available_date": "2026-03-01T10:00:00Z",
        "is_active": True,
    }
    assert len(emulator.course_certificates()) == 1


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"),
        ("2026-03-01T12:00:00+02:00", "2026-03-01T10:00:00Z"),
        ("2026-03-01 10:00:00.123456", "2026-03-01T10:00:00Z"),
    ],
)
def test_a_course_certificate_accepts_iso_dates_with_z_offsets_or_a_space(
    authed: Client, date: str, expected: str
) -> None:
    # Given an available date in one of the accepted spellings
    body = {
        "course_id": RUN,
        "certificate_type": "honor",
        "certificate_available_date": date,
        "is_active": True,
    }
    # When it is posted
    response = authed.post("/api/v2/course_certificates/", body)
    # Then it is stored in UTC
    assert response.status_code == 201
    assert response.json()["certificate_available_date"] == expected


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"certificate_type": "credit"}, "certificate_type"),
        ({"certificate_available_date": "None"}, "certificate_available_date"),
        ({"course_id": "not-a-course"}, "course_id"),
    ],
    ids=["credit-mode", "string-None", "bad-course-key"],
)
def test_an_invalid_course_certificate_gets_400(authed: Client, change: dict[str, str], field: str) -> None:
    # Given a configuration with one invalid field
    body = {
        "course_id": RUN,
        "certificate_type": "verified",
        "certificate_available_date": None,
        "is_active": True,
    }
    # When it is posted
    response = authed.post("/api/v2/course_certificates/", {**body, **change})
    # Then it is refused, naming that field
    assert response.status_code == 400
    assert set(response.json()) == {field}


def test_unknown_paths_get_404_and_wrong_methods_405(authed: Client) -> None:
    # Given an authenticated client
    # When it calls a path that does not exist and a method an endpoint lacks
    missing = authed.get("/api/v2/nothing/")
    wrong_method = authed.get("/api/v2/course_certificates/")
    # Then they are answered in JSON
    assert missing.status_code == 404
    assert wrong_method.status_code == 405
    assert "detail" in missing.json()
    assert "detail" in wrong_method.json()


# -- faults --------------------------------------------------------------------------------------


def test_a_status_fault_answers_with_retry_after(emulator: server.Emulator, authed: Client) -> None:
    # Given a 429 fault on awards
    emulator.add_fault(
        server.Fault(method="POST", path_prefix="/api/v2/credentials/", status=429, retry_after_s=7)
    )
    # When an award is posted
    response = authed.award("ada")
    # Then it is throttled with a Retry-After and recorded as faulted
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {"detail": "injected"}
    assert emulator.requests()[-1]["fault"] == "status"
    assert emulator.credentials() == []


def test_a_latency_fault_delays_then_answers_normally(emulator: server.Emulator, authed: Client) -> None:
    # Given a 200 ms latency on listings
    emulator.add_fault(server.Fault(method="GET", path_prefix="/api/v2/", action="latency", latency_ms=200))
    # When the client lists
    started = time.monotonic()
    response = authed.get("/api/v2/credentials/")
    elapsed_s = time.monotonic() - started
    # Then the normal answer came, late
    assert response.status_code == 200
    assert elapsed_s >= 0.2
    assert emulator.requests()[-1]["fault"] == "latency"


def test_a_drop_fault_closes_the_connection_without_an_answer(
    emulator: server.Emulator, authed: Client
) -> None:
    # Given a drop fault on awards
    emulator.add_fault(server.Fault(path_prefix="/api/v2/credentials/", action="drop"))
    # When an award is posted
    # Then the client sees a connection error and nothing is stored
    with pytest.raises(requests.ConnectionError):
        authed.award("ada")
    assert emulator.credentials() == []
    assert emulator.requests()[-1]["status"] is None


def test_a_hang_fault_leaves_the_client_to_time_out(emulator: server.Emulator, authed: Client) -> None:
    # Given a hang of two seconds on the token endpoint
    emulator.add_fault(server.Fault(path_prefix="/oauth2/", action="hang", latency_ms=2000))
    # When the client asks for a token with a short read timeout
    url = f"{authed.url}/oauth2/access_token"
    # Then it times out
    with pytest.raises(requests.ReadTimeout):
        authed.session.post(url, data={"grant_type": "client_credentials", **CLIENT}, timeout=0.3)


def test_a_fault_with_times_applies_to_the_first_n_requests_only(
    emulator: server.Emulator, authed: Client
) -> None:
    # Given a 503 fault for the next two awards
    emulator.add_fault(server.Fault(path_prefix="/api/v2/credentials/", status=503, times=2))
    # When three awards are posted
    statuses = [authed.award("ada").status_code for _ in range(3)]
    # Then the first two failed and the third went through; the rule is used up
    assert statuses == [503, 503, 201]
    assert emulator.faults() == []


def test_a_fault_with_zero_probability_never_fires(emulator: server.Emulator, authed: Client) -> None:
    # Given a fault that never fires, then cleared faults
    emulator.add_fault(server.Fault(status=500, probability=0.0))
    statuses = [authed.award("ada").status_code for _ in range(3)]
    emulator.add_fault(server.Fault(status=500))
    emulator.clear_faults()
    # When another award is posted
    after_clear = authed.award("ada").status_code
    # Then nothing was faulted
    assert statuses == [201, 201, 201]
    assert after_clear == 201


# -- recording, admin API, process ---------------------------------------------------------------


def test_requests_are_recorded_without_secrets_or_tokens(emulator: server.Emulator, authed: Client) -> None:
    # Given a token request and an award
    authed.award("ada")
    # When the recording is read
    recorded = emulator.requests()
    # Then it holds both, with the client id but never the secret or the token
    assert [(item["seq"], item["method"], item["path"], item["status"]) for item in recorded] == [
        (1, "POST", "/oauth2/access_token", 200),
        (2, "POST", "/api/v2/credentials/", 201),
    ]
    assert recorded[0]["json"] == {"grant_type": "client_credentials", "client_id": "credsync"}
    assert recorded[1]["json"]["username"] == "ada"
    text = json.dumps(recorded)
    assert "credsync-secret" not in text
    assert authed.token not in text


def test_the_recording_is_bounded_but_stats_are_not() -> None:
    # Given an emulator that keeps only two records
    with server.Emulator(max_recorded=2) as emulator, requests.Session() as session:
        client = Client(session, emulator.url)
        client.authenticate()
        # When it gets four API requests
        for _ in range(4):
            client.get("/api/v2/credentials/", username="ada")
        recorded, stats = emulator.requests(), emulator.stats()
    # Then the oldest records were dropped but every request was counted
    assert [item["seq"] for item in recorded] == [4, 5]
    assert recorded[-1]["query"] == {"username": "ada"}
    assert stats["token"] == 1
    assert stats["by_endpoint"] == {"POST /oauth2/access_token 200": 1, "GET /api/v2/credentials/ 200": 4}


def test_keep_alive_answers_do_not_stall(authed: Client) -> None:
    # Given a keep-alive connection (a Nagle/delayed-ACK stall would cost ~40 ms per answer)
    authed.get("/api/v2/credentials/")
    # When fifty requests go over it
    started = time.monotonic()
    for _ in range(50):
        authed.get("/api/v2/credentials/")
    elapsed_s = time.monotonic() - started
    # Then they take far less than fifty stalls
    assert elapsed_s < 1.0


def test_the_admin_client_round_trips(emulator: server.Emulator, authed: Client) -> None:
    # Given the admin client of a running emulator
    with admin.EmulatorAdmin(emulator.url) as control:
        control.wait_until_ready(timeout_s=2)
        # When it configures a program and a fault, and the API is used
        program = control.configure_program(PROGRAM.upper(), course_runs=[RUN])
        control.add_fault(server.Fault(path_prefix="/api/v2/course_certificates/", status=502, times=1))
        awarded = authed.award_program("ada")
        faulted = authed.post("/api/v2/course_certificates/", {"course_id": RUN, "certificate_type": "honor"})
        authed.award("ada")
        seen = (control.requests(), control.credentials(), control.course_certificates(), control.stats())
        control.revoke_tokens()
        revoked = authed.get("/api/v2/credentials/")
        control.clear_faults()
        control.reset()
        after_reset = (control.requests(), control.credentials(), control.stats()["token"])
    # Then the admin view matched what the API did, and reset forgot it
    recorded, credentials, course_certificates, stats = seen
    assert program["uuid"] == PROGRAM
    assert (awarded.status_code, faulted.status_code, revoked.status_code) == (201, 502, 401)
    assert [item["status"] for item in recorded] == [200, 201, 502, 201]
    assert [item["credential"]["type"] for item in credentials] == ["program", "course-run"]
    assert [item["certificate_type"] for item in course_certificates] == ["verified"]
    assert stats["by_endpoint"]["POST /api/v2/course_certificates/ 502"] == 1
    assert after_reset == ([], [], 0)


def test_the_admin_api_refuses_a_malformed_fault(emulator: server.Emulator) -> None:
    # Given the admin API
    url = f"{emulator.url}/_emulator/faults"
    # When a fault with an unknown action is posted
    with requests.post(url, json={"action": "explode"}, timeout=TIMEOUT_S) as response:
        # Then it is refused
        assert response.status_code == 400
    assert emulator.faults() == []


def test_the_emulator_runs_as_a_process_and_exits_on_sigterm(tmp_path: Path) -> None:
    # Given a programs file and a free port
    programs = tmp_path / "programs.json"
    programs.write_text(json.dumps([{"uuid": PROGRAM, "active": True, "course_runs": [RUN]}]))
    with server.Emulator() as probe:
        port = int(probe.url.rsplit(":", 1)[1])
    command = [sys.executable, "-m", "worker.emulator", "--port", str(port), "--programs", str(programs)]
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        assert process.stdout is not None
        try:
            # When it starts
            line = process.stdout.readline().strip()
            with admin.EmulatorAdmin(f"http://127.0.0.1:{port}") as control:
                control.wait_until_ready(timeout_s=5)
                configured = control.programs(), control.stats()
            # And gets SIGTERM
            process.send_signal(signal.SIGTERM)
            started = time.monotonic()
            code = process.wait(timeout=5)
            elapsed_s = time.monotonic() - started
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        errors = process.stderr.read() if process.stderr else ""
    # Then it announced its URL, served, and exited cleanly within a second
    assert line == f"credsync emulator listening on http://127.0.0.1:{port}"
    assert configured == (
        [{"id": 1, "uuid": PROGRAM, "active": True, "course_runs": [RUN]}],
        {"token": 0, "requests": 0, "faults": 0, "by_endpoint": {}},
    )
    assert code == 0, errors
    assert elapsed_s < 1.0
