"""Secrets kept out of repr and logs, one token fetch shared by threads, sessions, settings, netrc."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import pathlib
import threading
import time
from typing import Any

import pytest
import requests
import responses

from tests.unit.credentials_client.support import (
    AWARD,
    CLIENT_ID,
    CREDENTIALS_API,
    SECRET,
    TOKEN_URL,
    authorization_of,
    calls_to,
    form_of,
    given_tokens,
    timeouts_of,
)
from worker import settings as worker_settings
from worker.clients import credentials


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
    with caplog.at_level(logging.DEBUG, logger="worker.clients"):
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
