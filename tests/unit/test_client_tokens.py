"""Whose token: signed as the LMS signs them, a learner's for reads, refusals and throttles held."""

from __future__ import annotations

import logging
import time
from typing import Any

import jwt
import pytest
import responses

from tests import keys
from tests.unit.test_client_hooks import Book
from worker import errors
from worker.clients import credentials, holds, tokens

ROOT = "https://credentials.example.com"
CREDENTIALS = f"{ROOT}/api/v2/credentials/"
AWARD = {"username": "ada", "credential": {"type": "program", "program_uuid": "u1"}}
SERVICE = tokens.Identity("credentials_service_user", "service@example.com", True)
ADA = tokens.Identity("ada", "ada@example.com", False)
GRACE = tokens.Identity("grace", "grace@example.com", False)


def _signer(
    key: str = "", algorithm: str = "RS512", users: dict[str, tokens.Identity] | None = None
) -> tokens.Signer:
    known = {SERVICE.username: SERVICE} if users is None else users
    return tokens.Signer(
        issuer=keys.ISSUER,
        audience=keys.AUDIENCE,
        key=key or keys.private_jwk(),
        algorithm=algorithm,
        service_username=SERVICE.username,
        service_identity=known.get,
    )


def _client(signer: tokens.Signer | None = None, **hooks: Any) -> credentials.CredentialsClient:
    if signer is None:
        return credentials.CredentialsClient(
            credentials_url=ROOT,
            oauth_url="https://lms.example.com",
            client_id="c",
            client_secret="s",
            **hooks,
        )
    return credentials.CredentialsClient(credentials_url=ROOT, signer=signer, **hooks)


def _claims(call: Any, key: Any = None, algorithm: str = "RS512") -> dict[str, Any]:
    token = call.request.headers["Authorization"].removeprefix("JWT ")
    decoded: dict[str, Any] = jwt.decode(
        token, key or keys.public_key(), algorithms=[algorithm], audience=keys.AUDIENCE, issuer=keys.ISSUER
    )
    return decoded


def _page(results: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    return {"count": len(results), "next": next_url, "previous": None, "results": results}


def _program(uuid: str) -> dict[str, Any]:
    return {"credential": {"type": "program", "program_uuid": uuid}}


@responses.activate
def test_a_write_goes_with_the_service_users_token_signed_with_the_claims_of_its_auth_user_row() -> None:
    # Given a client that signs with the platform's RSA key
    responses.post(CREDENTIALS, status=201, json={})
    client = _client(_signer())
    # When it awards a credential
    client.post_credential(AWARD)
    # Then the token verifies with the public key and carries the LMS's claims for the service user
    claims = _claims(responses.calls[0])
    assert claims["preferred_username"] == "credentials_service_user"
    assert claims["email"] == "service@example.com"
    assert claims["administrator"] is True
    assert claims["exp"] - claims["iat"] == tokens.TOKEN_LIFETIME_S
    assert claims["version"].startswith("1.")
    assert claims["scopes"] == ["email", "profile"]


@responses.activate
def test_the_service_token_is_signed_once_and_reused_until_shortly_before_it_expires() -> None:
    responses.post(CREDENTIALS, status=201, json={})
    client = _client(_signer())
    client.post_credential(AWARD)
    client.post_credential(AWARD)
    first, second = (c.request.headers["Authorization"] for c in responses.calls)
    assert first == second


@responses.activate
def test_a_learners_credentials_are_read_with_one_token_signed_for_that_learner_for_every_page() -> None:
    # Given two pages of a learner's credentials
    responses.get(CREDENTIALS, json=_page([_program("p1")], f"{CREDENTIALS}?page=2&username=ada"))
    responses.get(f"{CREDENTIALS}?page=2&username=ada", json=_page([_program("p2")]))
    client = _client(_signer())
    # When the learner's credentials are read as the learner
    listed = client.list_credentials(username="ada", learner=ADA)
    # Then both pages went with the same token, signed for ada with her email from the host
    assert [c["credential"]["program_uuid"] for c in listed] == ["p1", "p2"]
    assert len({c.request.headers["Authorization"] for c in responses.calls}) == 1
    claims = _claims(responses.calls[0])
    assert (claims["preferred_username"], claims["email"], claims["administrator"]) == (
        "ada",
        "ada@example.com",
        False,
    )


@responses.activate
def test_a_reader_that_has_what_it_needs_reads_no_further_page() -> None:
    responses.get(CREDENTIALS, json=_page([_program("p1")], f"{CREDENTIALS}?page=2"))
    client = _client(_signer())
    pages = client.credential_pages(username="ada", learner=ADA)
    assert next(pages) == [_program("p1")]
    pages.close()
    assert len(responses.calls) == 1


@responses.activate
def test_a_shared_secret_signs_hs256_tokens() -> None:
    responses.post(CREDENTIALS, status=201, json={})
    _client(_signer(key=keys.SECRET, algorithm="HS256")).post_credential(AWARD)
    assert (
        _claims(responses.calls[0], key=keys.SECRET, algorithm="HS256")["preferred_username"]
        == SERVICE.username
    )


@responses.activate
def test_without_a_signer_a_learner_read_goes_with_the_oauth_service_token() -> None:
    responses.post(
        "https://lms.example.com/oauth2/access_token", json={"access_token": "svc", "expires_in": 60}
    )
    responses.get(CREDENTIALS, json=_page([]))
    _client().list_credentials(username="ada", learner=ADA)
    assert responses.calls[1].request.headers["Authorization"] == "JWT svc"


@responses.activate
def test_a_403_on_a_read_holds_that_call_says_the_fix_once_and_lets_writes_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a default install: the service token may not read another user's credentials
    responses.post(
        "https://lms.example.com/oauth2/access_token", json={"access_token": "svc", "expires_in": 60}
    )
    responses.get(
        CREDENTIALS, status=403, json={"detail": "You do not have permission to perform this action."}
    )
    responses.post(CREDENTIALS, status=201, json={})
    book = Book()
    client = _client(cooldowns=book)
    # When a learner's credentials are read twice, then a credential is written
    with caplog.at_level(logging.ERROR), pytest.raises(errors.CredentialsRefused) as first:
        client.list_credentials(username="ada")
    with pytest.raises(errors.CredentialsRefused):
        client.list_credentials(username="grace")
    client.post_credential(AWARD)
    # Then the read is held (once asked, once refused from the hold) with the grant that fixes it
    assert first.value.status == 403
    assert "view_usercredential" in str(first.value)
    scope = f"{ROOT}#refused:GET /api/v2/credentials/"
    assert book.kinds == {scope: "refused"}
    assert book.entries[scope][0] == pytest.approx(time.time() + holds.REFUSAL_RECHECK_S, abs=5)
    assert [c.request.method for c in responses.calls] == ["POST", "GET", "POST"]
    # And the refusal was logged once, at ERROR
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1


@responses.activate
def test_a_429_on_a_learners_read_holds_that_learners_reads_only() -> None:
    # Given Credentials throttling ada's reads
    responses.get(CREDENTIALS, status=429, headers={"Retry-After": "60"}, json={"detail": "throttled"})
    responses.get(CREDENTIALS, json=_page([]))
    responses.post(CREDENTIALS, status=201, json={})
    book = Book()
    client = _client(_signer(), cooldowns=book)
    # When ada's read is throttled
    with pytest.raises(errors.CredentialsHTTPError):
        client.list_credentials(username="ada", learner=ADA)
    # Then ada's reads are held, but grace's read and the service user's writes go on
    with pytest.raises(errors.CredentialsCoolingDown):
        client.list_credentials(username="ada", learner=ADA)
    client.list_credentials(username="grace", learner=GRACE)
    client.post_credential(AWARD)
    assert book.kinds == {f"{ROOT}#learner:ada": "learner_throttle"}
    assert len(responses.calls) == 3


@responses.activate
def test_a_service_user_missing_from_the_host_holds_the_writes_with_the_fix() -> None:
    book = Book()
    client = _client(_signer(users={}), cooldowns=book)
    with pytest.raises(errors.CredentialsRefused) as raised:
        client.post_credential(AWARD)
    assert "CREDENTIALS_SERVICE_USERNAME" in str(raised.value)
    assert list(book.kinds.values()) == ["refused"]
    assert len(responses.calls) == 0


@responses.activate
def test_a_401_on_a_learners_read_is_a_refusal_at_once_since_the_token_was_just_signed() -> None:
    responses.get(CREDENTIALS, status=401, json={"detail": "Invalid audience or issuer."})
    with pytest.raises(errors.CredentialsRefused) as raised:
        _client(_signer()).list_credentials(username="ada", learner=ADA)
    assert raised.value.status == 401
    assert "LMS_JWT_AUDIENCE" in str(raised.value)
    assert len(responses.calls) == 1
