"""The production wiring of the Credentials client (tokens, ledger, holds) around the test pipeline.

``signed=True`` signs tokens with the platform's key (``tests.keys``) as ``LMS_JWT_*`` does: the
service user's for writes, the learner's for reads. ``signed=False`` is the OAuth-only setup.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import requests

from tests import keys
from tests.harness import Pipeline
from worker import tasks
from worker.clients import credentials, tokens
from worker.emulator import server
from worker.outbox import cooldowns, ledger
from worker.sync import certificates, host

SERVICE_USERNAME = "credentials_service_user"


def emulator(**options: Any) -> server.Emulator:
    """An emulator that trusts the test platform's keys (RSA JWK and HS256 secret), as a default install."""
    return server.Emulator(
        port=0,
        signing_key=keys.SECRET.encode(),
        signing_jwk=keys.private_jwk(),
        issuer=keys.ISSUER,
        audience=keys.AUDIENCE,
        **options,
    )


def signer(reader: host.HostReader) -> tokens.Signer:
    """Signs as the platform does, with claims from the host's ``auth_user`` rows."""
    return tokens.Signer(
        issuer=keys.ISSUER,
        audience=keys.AUDIENCE,
        key=keys.private_jwk(),
        algorithm="RS512",
        service_username=SERVICE_USERNAME,
        service_identity=reader.identity,
    )


def client(
    database: Any, emulator: server.Emulator, *, signed: bool = True, **hooks: Any
) -> credentials.CredentialsClient:
    """A client of ``emulator``: signing tokens (default), or with the emulator's OAuth client."""
    if signed:
        return credentials.CredentialsClient(
            credentials_url=emulator.url,
            signer=signer(host.HostReader(database)),
            timeout=(2.0, 2.0),
            **hooks,
        )
    return credentials.CredentialsClient(
        credentials_url=emulator.url,
        oauth_url=emulator.url,
        client_id="credsync",
        client_secret="credsync-secret",
        timeout=(2.0, 2.0),
        **hooks,
    )


def sign_in(emulator: server.Emulator, username: str, email: str | None = None) -> None:
    """The learner once used Credentials: their own authenticated request created their account."""
    now = int(time.time())
    token = jwt.encode(
        {
            "iss": keys.ISSUER,
            "aud": keys.AUDIENCE,
            "iat": now,
            "exp": now + 60,
            "preferred_username": username,
            "email": email or f"{username}@example.com",
            "administrator": False,
            "version": "1.2.0",
        },
        keys.SECRET,
        algorithm="HS256",
    )
    answer = requests.get(
        f"{emulator.url}/api/v2/credentials/",
        params={"username": username},
        headers={"Authorization": f"JWT {token}"},
        timeout=5,
    )
    answer.raise_for_status()


class Rig:
    """The pipeline with the client's production hooks: the delivery ledger and the hold book."""

    def __init__(
        self, database: Any, emulator: server.Emulator, *, signed: bool = True, max_retries: int = 5
    ) -> None:
        self.cooldowns = cooldowns.Cooldowns(database, cache_s=0)
        self.ledger = ledger.Ledger(database)
        self.client = client(
            database, emulator, signed=signed, observer=self.ledger.record, cooldowns=self.cooldowns
        )
        reader = host.HostReader(database)
        destination = credentials.destination(emulator.url)
        self.pipeline = Pipeline(
            database,
            tasks.REGISTRY,
            tasks.Deps(host=reader, credentials=self.client, rules=certificates.Rules()),
            gate=lambda: reader.paused_reason() or self.cooldowns.paused_reason(destination),
            max_retries=max_retries,
        )

    def close(self) -> None:
        self.pipeline.stop()
        self.client.close()
