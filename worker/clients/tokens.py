"""JWTs signed here as the LMS signs them: one for the service user's writes, one per learner read.

The LMS calls Credentials with tokens it mints itself (``create_jwt_for_user``, SPEC §5.2): the
service user's for writes, and a token *for the learner* to read that learner's credentials,
which is what a default Credentials install allows (a staff token reading another user's
credentials answers 403) and what creates the learner's account there (a program award for a
learner without one answers 500). With the platform's ``JWT_AUTH`` key credsync does the same.

The claims are the host's truth, read from ``auth_user``: ``preferred_username``, ``email`` (it
overwrites the account's address in Credentials) and ``administrator`` (``is_staff``). Keys are
an RSA private JWK (RS512 or RS256) or a shared secret (HS256); PyJWT signs, nothing hand-made.
The service user's token is cached until shortly before it expires; a learner's is signed per
read (one read may be several pages) and never cached, so a changed email goes out at once.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import jwt.algorithms

from worker import errors
from worker import settings as worker_settings

#: Seconds a signed token is valid (the LMS's tokens for its own API calls live about as long).
TOKEN_LIFETIME_S = 300
#: Stop reusing the service token this long before it expires (a request may take a while).
REUSE_MARGIN_S = 60
#: The claims format version (edx-drf-extensions accepts major version 1).
TOKEN_VERSION = "1.2.0"  # noqa: S105 (a format version)
#: The scopes ``create_jwt_for_user`` grants by default.
SCOPES = ("email", "profile")
RSA_ALGORITHMS = ("RS512", "RS256")


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who a token speaks for: the ``auth_user`` facts its claims carry."""

    username: str
    email: str
    is_staff: bool


class UnknownServiceUser(errors.CredentialsError):
    """``CREDENTIALS_SERVICE_USERNAME`` names no ``auth_user`` row: no write token can be signed."""

    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(
            f"no auth_user row for the service user {username!r} (CREDENTIALS_SERVICE_USERNAME): "
            "credsync cannot sign the token its writes need"
        )


@dataclasses.dataclass(frozen=True)
class _Cached:
    value: str = dataclasses.field(repr=False)
    reuse_until: float


class Signer:
    """Signs tokens with the platform's key; thread-safe (one per worker process).

    ``service_identity`` reads the service user's ``auth_user`` row (None when there is none).
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        key: str,
        algorithm: str,
        service_username: str,
        service_identity: Callable[[str], Identity | None],
        lifetime_s: int = TOKEN_LIFETIME_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.algorithm = algorithm
        self.service_username = service_username
        self._key: Any = _signing_key(key, algorithm)
        self._service_identity = service_identity
        self._lifetime_s = lifetime_s
        self._clock = clock
        self._lock = threading.Lock()
        self._service: _Cached | None = None

    @classmethod
    def from_settings(
        cls, config: worker_settings.Settings, service_identity: Callable[[str], Identity | None]
    ) -> Signer | None:
        """A signer for ``LMS_JWT_*``, or None when credsync is not given a signing key."""
        if not config.signs_tokens:
            return None
        jwk = config.lms_jwt_private_signing_jwk
        secret = config.lms_jwt_secret_key
        key = jwk.get_secret_value() if jwk is not None else secret.get_secret_value() if secret else ""
        assert config.lms_jwt_issuer is not None
        assert config.lms_jwt_audience is not None
        return cls(
            issuer=config.lms_jwt_issuer,
            audience=config.lms_jwt_audience,
            key=key,
            algorithm=config.lms_jwt_algorithm,
            service_username=config.credentials_service_username,
            service_identity=service_identity,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(issuer={self.issuer!r}, audience={self.audience!r}, {self.algorithm})"

    def service_token(self) -> str:
        """The service user's token, signed again shortly before the cached one expires."""
        with self._lock:
            cached = self._service
            if cached is not None and self._clock() < cached.reuse_until:
                return cached.value
        identity = self._service_identity(self.service_username)
        if identity is None:
            raise UnknownServiceUser(self.service_username)
        value = self.sign(identity)
        with self._lock:
            self._service = _Cached(value, self._clock() + self._lifetime_s - REUSE_MARGIN_S)
        return value

    def forget(self, value: str) -> None:
        """Drop the cached service token if it is still ``value``."""
        with self._lock:
            if self._service is not None and self._service.value == value:
                self._service = None

    def sign(self, identity: Identity) -> str:
        """A token for ``identity`` with the claims the LMS's ``create_jwt_for_user`` gives it."""
        now = int(self._clock())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + self._lifetime_s,
            "preferred_username": identity.username,
            "email": identity.email,
            "administrator": identity.is_staff,
            "version": TOKEN_VERSION,
            "scopes": list(SCOPES),
            "grant_type": "",
            "filters": [],
            "is_restricted": False,
        }
        return jwt.encode(claims, self._key, algorithm=self.algorithm)


def _signing_key(key: str, algorithm: str) -> Any:
    """The key object PyJWT signs with; ConfigurationError when it does not fit the algorithm."""
    if algorithm in RSA_ALGORITHMS:
        try:
            parsed = json.loads(key)
            if isinstance(parsed, dict) and "keys" in parsed:  # a JWK set holding one private key
                parsed = next(k for k in parsed["keys"] if "d" in k)
            if not isinstance(parsed, dict) or "d" not in parsed:
                raise ValueError("not a private RSA JWK (no 'd')")
            return jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(parsed))
        except (ValueError, KeyError, StopIteration, jwt.exceptions.InvalidKeyError) as exc:
            raise errors.ConfigurationError(
                f"invalid configuration: LMS_JWT_PRIVATE_SIGNING_JWK: not a private RSA JWK ({exc})"
            ) from None
    return key
