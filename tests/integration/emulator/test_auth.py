"""The emulator's token endpoint and JWT authentication, and the accounts authentication creates."""

from __future__ import annotations

import json
from typing import Any

import jwt
import jwt.algorithms
import pytest

from tests.integration.emulator import support
from worker.emulator import server

CREDENTIALS = support.CREDENTIALS
# The emulator runs on the test clock; PyJWT here would compare its times with the real one.
FAKE_TIME = {"verify_exp": False, "verify_iat": False}


@pytest.fixture
def catalog_runs() -> list[str]:
    return []


@pytest.fixture
def client(raw_client: support.Client) -> support.Client:
    return raw_client


def own_read(client: support.Client, username: str = "ada") -> int:
    """The status of ``username`` reading their own credentials with the client's token."""
    return client.get(CREDENTIALS, username=username).status_code


def accounts_of(client: support.Client) -> list[dict[str, Any]]:
    """The emulator's accounts, read over its admin API."""
    with client.session.get(f"{client.url}/_emulator/accounts", timeout=5) as response:
        accounts: list[dict[str, Any]] = response.json()
    return accounts


# -- the LMS's token endpoint ----------------------------------------------------------------------


def test_the_token_endpoint_signs_an_hs256_administrator_token_for_the_service_user(
    client: support.Client, clock: support.Clock
) -> None:
    # Given the emulator's client credentials
    # When the client asks for a JWT
    response = client.request_token()
    # Then it gets an HS256 token of the shared secret for the service user, with the LMS's claims
    assert response.status_code == 200
    body = response.json()
    assert (body["token_type"], body["expires_in"], body["scope"]) == (
        "JWT",
        3600,
        "read write email profile",
    )
    token = body["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(
        token, support.SECRET, algorithms=["HS256"], audience="credentials", options=FAKE_TIME
    )
    assert claims == {
        "iss": support.ISSUER,
        "aud": "credentials",
        "iat": int(clock()),
        "exp": int(clock()) + 3600,
        "jti": "1",
        "grant_type": "client_credentials",
        "preferred_username": "credentials_service_user",
        "email": "credentials_service_user@example.com",
        "administrator": True,
        "scopes": ["read", "write", "email", "profile"],
        "filters": [],
        "is_restricted": False,
        "version": "1.2.0",
    }


def test_with_a_signing_jwk_the_token_endpoint_signs_rs512_for_the_configured_user(
    clock: support.Clock,
) -> None:
    # Given an emulator holding the LMS's private RSA JWK and its own service username and audience
    jwk = support.rsa_jwk()
    options: dict[str, Any] = {"signing_jwk": jwk, "service_username": "svc", "audience": "creds-aud"}
    with support.running(clock, **options) as emulator, support.client_of(emulator, clock) as client:
        # When the client asks for a JWT
        token = client.request_token().json()["access_token"]
    # Then it is RS512, named by the JWK's kid, and verifies with the JWK's public half
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"]) == ("RS512", "lms-key")
    public = jwt.algorithms.RSAAlgorithm.from_jwk(jwk).public_key()
    claims = jwt.decode(token, public, algorithms=["RS512"], audience="creds-aud", options=FAKE_TIME)
    assert (claims["preferred_username"], claims["iss"]) == ("svc", support.ISSUER)


@pytest.mark.parametrize(
    ("overrides", "status", "body"),
    [
        ({"client_secret": "wrong"}, 401, {"error": "invalid_client"}),
        ({"grant_type": "password"}, 400, {"error": "unsupported_grant_type"}),
    ],
    ids=["wrong-secret", "password-grant"],
)
def test_a_bad_token_request_is_refused(
    client: support.Client, overrides: dict[str, str], status: int, body: dict[str, str]
) -> None:
    # Given a wrong secret or grant
    # When the client asks for a token
    response = client.request_token(**overrides)
    # Then it is refused
    assert (response.status_code, response.json()) == (status, body)


# -- the Authorization header ----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", [None, "Bearer {}", "JWT  {}", "JWT {} extra", "JWT"])
def test_a_request_without_a_jwt_authorization_header_is_unauthenticated(
    client: support.Client, scheme: str | None
) -> None:
    # Given no header, a Bearer header, or a JWT header drf-jwt does not split into two parts
    token = support.sign(support.claims("ada", client.clock()))
    headers = {} if scheme is None else {"Authorization": scheme.format(token)}
    # When the learner reads their own credentials with it
    response = client.session.get(
        f"{client.url}{CREDENTIALS}", params={"username": "ada"}, headers=headers, timeout=5
    )
    # Then the permission check refuses the anonymous request with the JWT challenge
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'JWT realm="api"'
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_the_jwt_prefix_is_read_in_any_case(client: support.Client) -> None:
    # Given a learner's token sent with a lowercase prefix
    token = support.sign(support.claims("ada", client.clock()))
    # When it is used
    response = client.session.get(
        f"{client.url}{CREDENTIALS}", params={"username": "ada"}, headers={"Authorization": f"jwt {token}"}
    )
    # Then it authenticates
    assert response.status_code == 200


# -- token checks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["HS256", "RS256", "RS512"])
def test_tokens_of_the_shared_secret_and_of_the_rsa_key_are_both_accepted(
    clock: support.Clock, algorithm: str
) -> None:
    # Given an emulator configured with both the LMS's secret and its RSA JWK
    with (
        support.running(clock, signing_jwk=support.rsa_jwk()) as emulator,
        support.client_of(emulator, clock) as client,
    ):
        # When a learner's token signed either way is used
        client.token = support.sign(support.claims("ada", clock()), algorithm)
        status = own_read(client)
    # Then it authenticates
    assert status == 200


@pytest.mark.parametrize(
    ("algorithm", "jwk"),
    [("RS512", "another-lms"), ("HS384", None), ("RS256", "lms")],
    ids=["unknown-rsa-key", "hs384", "rsa-without-a-configured-jwk"],
)
def test_a_token_signed_with_another_key_or_algorithm_gets_401(
    client: support.Client, algorithm: str, jwk: str | None
) -> None:
    # Given a token the emulator's keys (the shared secret only) cannot verify
    client.token = support.sign(
        support.claims("ada", client.clock()), algorithm, support.rsa_jwk(jwk) if jwk else None
    )
    # When it is used
    response = client.get(CREDENTIALS, username="ada")
    # Then it is refused as drf-jwt refuses every failed decode
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}
    assert response.headers["WWW-Authenticate"] == 'JWT realm="api"'


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": support.START},
        {"exp": None},
        {"iat": None},
        {"iat": support.START + 10},
        {"nbf": support.START + 10},
        {"aud": "lms"},
        {"aud": None},
        {"iss": "http://other.test/oauth2"},
        {"iss": None},
        {"version": "2.0.0"},
        {"version": "1"},
        {"jti": 7},
        {"sub": 7},
    ],
    ids=[
        "expired",
        "no-exp",
        "no-iat",
        "iat-in-future",
        "nbf-in-future",
        "other-audience",
        "no-audience",
        "other-issuer",
        "no-issuer",
        "version-2",
        "partial-version",
        "numeric-jti",
        "numeric-sub",
    ],
)
def test_a_token_failing_a_claim_check_gets_401(client: support.Client, overrides: dict[str, Any]) -> None:
    # Given a learner's token that fails one of edx-drf-extensions' checks
    client.as_user("ada", **overrides)
    # When it is used
    response = client.get(CREDENTIALS, username="ada")
    # Then it is refused, and no account was created
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid token."})
    assert all(account["username"] != "ada" for account in accounts_of(client))


@pytest.mark.parametrize("version", [None, "1.0.0", "1.9.3-rc.1"], ids=["absent", "1.0.0", "prerelease"])
def test_a_token_of_major_version_1_or_without_a_version_is_accepted(
    client: support.Client, version: str | None
) -> None:
    # Given a learner's token of version 1 (or none, which means 1.0.0)
    client.as_user("ada", version=version)
    # When it is used
    # Then it authenticates
    assert own_read(client) == 200


def test_a_token_stays_valid_until_its_exp_by_the_emulators_clock(
    client: support.Client, clock: support.Clock
) -> None:
    # Given a service token issued now, for an hour
    client.as_service()
    # When the clock reaches a second before its expiry, then its expiry
    clock.advance(3599)
    before = client.get(CREDENTIALS).status_code
    clock.advance(1)
    at_expiry = client.get(CREDENTIALS)
    # Then it works until then (403: the service user may not list) and is refused at exp
    assert before == 403
    assert (at_expiry.status_code, at_expiry.json()) == (401, {"detail": "Invalid token."})


def test_a_token_without_a_username_gets_401(client: support.Client) -> None:
    # Given a valid token naming no user
    client.as_user("", preferred_username=None)
    # When it is used
    response = client.get(CREDENTIALS)
    # Then authentication fails with edx-drf-extensions' message
    assert response.status_code == 401
    assert response.json() == {"detail": "JWT must include a preferred_username or username claim!"}


def test_revoke_tokens_rejects_the_tokens_it_issued_but_not_tokens_signed_elsewhere(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a service token from the emulator and a learner token signed by the LMS
    service = client.as_service().token
    learner = support.sign(support.claims("ada", client.clock()))
    # When every issued token is revoked and each is used, then a fresh service token
    emulator.revoke_tokens()
    client.token = service
    revoked = client.get(CREDENTIALS, username="ada").status_code
    client.token = learner
    signed_elsewhere = own_read(client)
    client.as_service()
    fresh = client.get(CREDENTIALS, username="ada").status_code
    # Then only the emulator's earlier token is refused (403 is the service user's permission)
    assert (revoked, signed_elsewhere, fresh) == (401, 200, 403)


# -- accounts --------------------------------------------------------------------------------------


def test_authentication_creates_the_account_and_each_token_overwrites_its_email(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a learner who authenticates with one email, then with another
    client.as_user("ada", email="ada@old.example")
    own_read(client)
    first = emulator.accounts()
    client.as_user("ada", email="ada@new.example")
    own_read(client)
    # When the accounts are read
    # Then the account was created by the first read and now carries the token's latest email
    expected = {"username": "ada", "is_staff": False, "is_superuser": False, "groups": []}
    assert first == [{**expected, "email": "ada@old.example"}]
    assert emulator.accounts() == [{**expected, "email": "ada@new.example"}]


def test_an_administrator_token_puts_the_user_in_admins_and_a_later_plain_token_takes_it_out(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a user authenticating as an administrator, then with ``administrator`` false
    client.as_user("root", staff=True)
    own_read(client, "root")
    admin = emulator.accounts()[0]
    client.as_user("root", staff=False)
    own_read(client, "root")
    # When the accounts are read
    plain = emulator.accounts()[0]
    # Then staff and the Admins group followed the claim
    assert (admin["is_staff"], admin["groups"]) == (True, ["Admins"])
    assert (plain["is_staff"], plain["groups"]) == (False, [])


def test_the_service_user_authenticating_becomes_a_staff_admin(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given the service user's token from the OAuth endpoint
    client.as_service()
    # When it makes a request
    client.get(CREDENTIALS)
    # Then its account is a staff member of Admins, with the token's email
    assert emulator.accounts() == [
        {
            "username": "credentials_service_user",
            "email": "credentials_service_user@example.com",
            "is_staff": True,
            "is_superuser": False,
            "groups": ["Admins"],
        }
    ]


def test_an_administrator_claim_the_user_table_cannot_store_fails_authentication(
    emulator: server.Emulator, client: support.Client
) -> None:
    # Given a token whose administrator claim is not a boolean Django can save
    client.as_user("ada", administrator="maybe")
    # When it is used
    response = client.get(CREDENTIALS, username="ada")
    # Then authentication fails, after the account was created (get_or_create ran first)
    assert response.status_code == 401
    assert response.json() == {"detail": "[edx-drf-extensions] User retrieval failed for username ada."}
    assert [account["username"] for account in emulator.accounts()] == ["ada"]


def test_the_accounts_admin_route_lists_the_accounts(client: support.Client) -> None:
    # Given a learner who authenticated
    client.as_user("ada")
    own_read(client)
    # When the admin route is read
    with client.session.get(f"{client.url}/_emulator/accounts", timeout=5) as response:
        body = json.loads(response.text)
    # Then it lists the account
    assert [account["username"] for account in body] == ["ada"]
