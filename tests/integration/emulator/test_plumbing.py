"""The Credentials emulator's plumbing over real HTTP: routes, faults, recording, admin API, process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from tests.integration.emulator import support
from worker.emulator import admin, server, transport, views

CREDENTIALS = support.CREDENTIALS
PROGRAM, RUN = support.PROGRAM, support.RUN
TIMEOUT_S = support.TIMEOUT_S


@pytest.fixture
def clock() -> support.Clock:
    return support.Clock(time.time())


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    return {"page_size": 2}


# -- routes ----------------------------------------------------------------------------------------


def test_an_unknown_path_gets_djangos_html_404(client: support.Client) -> None:
    # Given an authenticated client
    # When it calls a path no URL pattern matches
    response = client.get("/api/v2/nothing/")
    # Then Django answers its 404 page
    assert support.is_html_error(response, 404)
    assert "Page Not Found" in response.text


def test_a_path_without_its_trailing_slash_is_redirected(client: support.Client) -> None:
    # Given the collection's path without its slash
    # When it is requested
    response = client.get("/api/v2/credentials", username="ada")
    # Then CommonMiddleware redirects permanently to the path with the slash, query kept
    assert (response.status_code, response.headers["Location"]) == (301, "/api/v2/credentials/?username=ada")


def test_a_format_suffix_or_parameter_is_negotiated_before_authentication(client: support.Client) -> None:
    # Given the json format and an unknown one, as a suffix and as a parameter
    client.award("ada")
    # When they are requested, the unknown ones without a token
    suffixed = client.get("/api/v2/course_certificates/course-v1:edX+DemoX+2026.json")
    client.token = ""
    unknown_suffix = client.get("/api/v2/credentials.xml")
    unknown_parameter = client.get(CREDENTIALS, format="xml")
    # Then json is served, and an unknown format is a 404 before any authentication
    assert (suffixed.status_code, suffixed.json()["course_id"]) == (200, RUN)
    assert unknown_suffix.status_code == unknown_parameter.status_code == 404
    assert unknown_parameter.json() == {"detail": "Not found."}


def test_the_api_root_lists_the_routes_to_any_authenticated_user(client: support.Client) -> None:
    # Given a learner's token
    client.as_user("ada")
    # When the API root is read
    response = client.get("/api/v2/")
    # Then it links the three collections
    assert response.json() == {
        "credentials": f"{client.url}/api/v2/credentials/",
        "grades": f"{client.url}/api/v2/grades/",
        "course_certificates": f"{client.url}/api/v2/course_certificates/",
    }


def test_a_crash_of_the_emulator_answers_an_html_500(
    emulator: server.Emulator, client: support.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an emulator whose API fails unexpectedly
    def crash(api: views.Api, request: transport.Request) -> transport.Response:
        raise RuntimeError("boom")

    monkeypatch.setattr(views.Api, "respond", crash)
    # When it is called
    response = client.get(CREDENTIALS)
    # Then the answer is Django's HTML error page
    assert support.is_html_error(response, 500)
    assert "Server Error" in response.text


# -- faults ----------------------------------------------------------------------------------------


def test_a_status_fault_answers_with_retry_after(emulator: server.Emulator, client: support.Client) -> None:
    # Given a 429 fault on awards
    emulator.add_fault(server.Fault(method="POST", path_prefix=CREDENTIALS, status=429, retry_after_s=7))
    # When an award is posted
    response = client.award("ada")
    # Then it is throttled with a Retry-After and recorded as faulted
    assert (response.status_code, response.headers["Retry-After"]) == (429, "7")
    assert response.json() == {"detail": "injected"}
    assert emulator.requests()[-1]["fault"] == "status"
    assert emulator.credentials() == []


def test_a_5xx_status_fault_answers_an_html_page(emulator: server.Emulator, client: support.Client) -> None:
    # Given a 503 fault
    emulator.add_fault(server.Fault(path_prefix=CREDENTIALS, status=503))
    # When the API is called
    response = client.get(CREDENTIALS)
    # Then the 503 carries an HTML body, as every 5xx of the real service does
    assert support.is_html_error(response, 503)


def test_a_latency_fault_delays_then_answers_normally(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a 200 ms latency on listings
    emulator.add_fault(server.Fault(method="GET", path_prefix="/api/v2/", action="latency", latency_ms=200))
    # When the client lists
    started = time.monotonic()
    response = client.get(CREDENTIALS)
    elapsed_s = time.monotonic() - started
    # Then the normal answer came, late
    assert response.status_code == 403
    assert elapsed_s >= 0.2
    assert emulator.requests()[-1]["fault"] == "latency"


def test_a_drop_fault_closes_the_connection_without_an_answer(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a drop fault on awards
    emulator.add_fault(server.Fault(path_prefix=CREDENTIALS, action="drop"))
    # When an award is posted
    # Then the client sees a connection error and nothing is stored
    with pytest.raises(requests.ConnectionError):
        client.award("ada")
    assert emulator.credentials() == []
    assert emulator.requests()[-1]["status"] is None


def test_a_hang_fault_leaves_the_client_to_time_out(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a hang of two seconds on the token endpoint
    emulator.add_fault(server.Fault(path_prefix="/oauth2/", action="hang", latency_ms=2000))
    # When the client asks for a token with a short read timeout
    url = f"{client.url}/oauth2/access_token"
    # Then it times out
    with pytest.raises(requests.ReadTimeout):
        client.session.post(url, data={"grant_type": "client_credentials", **support.CLIENT}, timeout=0.3)


def test_a_fault_with_times_applies_to_the_first_n_requests_only(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a 503 fault for the next two awards
    emulator.add_fault(server.Fault(path_prefix=CREDENTIALS, status=503, times=2))
    # When three awards are posted
    statuses = [client.award("ada").status_code for _ in range(3)]
    # Then the first two failed and the third went through; the rule is used up
    assert statuses == [503, 503, 201]
    assert emulator.faults() == []


def test_a_fault_with_zero_probability_never_fires(emulator: server.Emulator, client: support.Client) -> None:
    # Given a fault that never fires, then cleared faults
    emulator.add_fault(server.Fault(status=500, probability=0.0))
    statuses = [client.award("ada").status_code for _ in range(3)]
    emulator.add_fault(server.Fault(status=500))
    emulator.clear_faults()
    # When another award is posted
    after_clear = client.award("ada").status_code
    # Then nothing was faulted
    assert statuses == [201, 201, 201]
    assert after_clear == 201


# -- recording -------------------------------------------------------------------------------------


def test_requests_are_recorded_without_secrets_or_tokens(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a token request, an award, and a learner's read
    client.award("ada")
    service_token = client.token
    learner_token = client.as_user("ada").token
    client.get(CREDENTIALS, username="ada")
    # When the recording is read
    recorded = emulator.requests()
    # Then it holds all three, with the client id but never the secret or a token
    assert [(item["seq"], item["method"], item["path"], item["status"]) for item in recorded] == [
        (1, "POST", "/oauth2/access_token", 200),
        (2, "POST", CREDENTIALS, 201),
        (3, "GET", CREDENTIALS, 200),
    ]
    assert recorded[0]["json"] == {"grant_type": "client_credentials", "client_id": "credsync"}
    assert recorded[1]["json"]["username"] == "ada"
    text = json.dumps(recorded)
    for secret in ("credsync-secret", service_token, learner_token):
        assert secret not in text


def test_the_recording_is_bounded_but_stats_are_not(clock: support.Clock) -> None:
    # Given an emulator that keeps only two records
    with support.running(clock, max_recorded=2) as emulator, support.client_of(emulator, clock) as client:
        client.as_service()
        # When it gets four API requests
        for _ in range(4):
            client.get(CREDENTIALS, username="ada")
        recorded, stats = emulator.requests(), emulator.stats()
    # Then the oldest records were dropped but every request was counted
    assert [item["seq"] for item in recorded] == [4, 5]
    assert recorded[-1]["query"] == {"username": "ada"}
    assert stats["token"] == 1
    assert stats["by_endpoint"] == {"POST /oauth2/access_token 200": 1, "GET /api/v2/credentials/ 403": 4}


def test_keep_alive_answers_do_not_stall(client: support.Client) -> None:
    # Given a keep-alive connection (a Nagle/delayed-ACK stall would cost ~40 ms per answer)
    client.get(CREDENTIALS)
    # When fifty requests go over it
    started = time.monotonic()
    for _ in range(50):
        client.get(CREDENTIALS)
    elapsed_s = time.monotonic() - started
    # Then they take far less than fifty stalls
    assert elapsed_s < 1.0


# -- admin API -------------------------------------------------------------------------------------


def test_the_admin_client_round_trips(emulator: server.Emulator, client: support.Client) -> None:
    # Given the admin client of a running emulator
    with admin.EmulatorAdmin(emulator.url) as control:
        control.wait_until_ready(timeout_s=2)
        # When it configures a program, runs, switches and a fault, and the API is used
        program = control.configure_program(PROGRAM.upper(), course_runs=[RUN])
        control.add_course_runs(["course-v1:edX+Extra+2026"])
        switches = control.set_switches(admins_can_view=True)
        control.add_fault(server.Fault(path_prefix="/api/v2/course_certificates/", status=502, times=1))
        client.as_user("ada").get(CREDENTIALS, username="ada")
        client.as_service()
        awarded = client.award_program("ada")
        faulted = client.configure_certificate(certificate_type="honor")
        client.award("ada")
        seen = (control.requests(), control.credentials(), control.course_certificates(), control.stats())
        accounts = [account["username"] for account in control.accounts()]
        runs = control.course_runs()
        control.revoke_tokens()
        revoked = client.get(CREDENTIALS)
        control.clear_faults()
        control.reset()
        after_reset = (
            control.requests(),
            control.credentials(),
            control.stats()["token"],
            control.set_switches(),
        )
    # Then the admin view matched what the API did, and reset went back to a fresh default install
    recorded, credentials, course_certificates, stats = seen
    assert program["uuid"] == PROGRAM
    assert switches == {"admins_can_view": True, "learner_records": True}
    assert (awarded.status_code, faulted.status_code, revoked.status_code) == (201, 502, 401)
    assert [item["status"] for item in recorded] == [200, 200, 200, 201, 502, 201]
    assert [item["credential"]["type"] for item in credentials] == ["program", "course-run"]
    assert [item["certificate_type"] for item in course_certificates] == ["verified"]
    assert stats["by_endpoint"]["POST /api/v2/course_certificates/ 502"] == 1
    assert accounts == ["ada", "credentials_service_user"]
    assert runs == [RUN, "course-v1:edX+Extra+2026"]
    assert after_reset == ([], [], 0, {"admins_can_view": False, "learner_records": True})


@pytest.mark.parametrize(
    ("route", "body"),
    [("faults", {"action": "explode"}), ("switches", {"admins_can_view": "yes"}), ("course-runs", {"a": 1})],
)
def test_the_admin_api_refuses_malformed_input(emulator: server.Emulator, route: str, body: object) -> None:
    # Given the admin API
    url = f"{emulator.url}/_emulator/{route}"
    # When malformed input is posted
    with requests.post(url, json=body, timeout=TIMEOUT_S) as response:
        # Then it is refused and nothing changed
        assert response.status_code == 400
    assert (emulator.faults(), emulator.course_runs()) == ([], [RUN])
    assert emulator.set_switches() == {"admins_can_view": False, "learner_records": True}


# -- process ---------------------------------------------------------------------------------------


def test_the_emulator_runs_as_a_process_with_its_options_and_exits_on_sigterm(tmp_path: Path) -> None:
    # Given a programs file, the LMS's JWK and secret, and a free port
    programs = tmp_path / "programs.json"
    programs.write_text(json.dumps([{"uuid": PROGRAM, "active": True, "course_runs": [RUN]}]))
    jwk = tmp_path / "jwk.json"
    jwk.write_text(support.rsa_jwk())
    with server.Emulator() as probe:
        port = int(probe.url.rsplit(":", 1)[1])
    command = [
        *(sys.executable, "-m", "worker.emulator", "--port", str(port), "--programs", str(programs)),
        *("--issuer", support.ISSUER, "--jwt-secret-key", support.SECRET.decode()),
        *("--jwt-signing-jwk-file", str(jwk), "--admins-can-view", "--no-learner-records"),
    ]
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as process:
        assert process.stdout is not None
        try:
            # When it starts, is configured by its options and is called with LMS-signed tokens
            line = process.stdout.readline().strip()
            url = f"http://127.0.0.1:{port}"
            with admin.EmulatorAdmin(url) as control, requests.Session() as session:
                control.wait_until_ready(timeout_s=5)
                configured = control.programs(), control.set_switches()
                client = support.Client(session, url, support.Clock(time.time()))
                by_secret = client.as_user("ops", staff=True).get(CREDENTIALS).status_code
                client.token = support.sign(support.claims("ops", time.time(), staff=True), "RS512")
                by_jwk = client.get(CREDENTIALS).status_code
                service_alg = client.request_token().json()["access_token"]
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
    # Then it announced its URL, followed its options, and exited cleanly within a second
    assert line == f"credsync emulator listening on http://127.0.0.1:{port}"
    assert configured == (
        [{"id": 1, "uuid": PROGRAM, "active": True, "course_runs": [RUN]}],
        {"admins_can_view": True, "learner_records": False},
    )
    assert (by_secret, by_jwk) == (200, 200)
    assert jwt.get_unverified_header(service_alg)["alg"] == "RS512"
    assert code == 0, errors
    assert elapsed_s < 1.0


def test_the_process_refuses_a_signing_jwk_that_is_not_one(tmp_path: Path) -> None:
    # Given a JWK file holding a public key only
    jwk = tmp_path / "jwk.json"
    jwk.write_text(json.dumps({"kty": "RSA", "n": "AQAB", "e": "AQAB"}))
    # When the emulator is started with it
    result = subprocess.run(
        [sys.executable, "-m", "worker.emulator", "--port", "0", "--jwt-signing-jwk-file", str(jwk)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # Then it stops with a message naming the option
    assert result.returncode == 2
    assert "credsync emulator: invalid options: signing_jwk: not a private RSA JWK" in result.stderr
