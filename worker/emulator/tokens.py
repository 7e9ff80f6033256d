"""Signs the LMS's access tokens and checks tokens as Credentials' JwtAuthentication does (PyJWT)."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any

import jwt
import jwt.algorithms
import jwt.utils

SUPPORTED_MAJOR_VERSION = 1
DEFAULT_VERSION = "1.0.0"  # what edx-drf-extensions assumes for a token without ``version``
TOKEN_VERSION = "1.2.0"  # noqa: S105 (a version, not a secret): what the LMS writes (JwtTokenVersion.default_latest_supported)
SCOPES = ("read", "write", "email", "profile")
RSA_ALGORITHMS = ("RS256", "RS512")
HMAC_ALGORITHMS = ("HS256",)
# semantic_version.Version as edx-drf-extensions parses ``version``: full X.Y.Z, no leading zeros.
_NUMBER = r"(?:0|[1-9]\d*)"
_IDENTIFIER = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
_SEMVER = re.compile(
    rf"({_NUMBER})\.{_NUMBER}\.{_NUMBER}(?:-{_IDENTIFIER}(?:\.{_IDENTIFIER})*)?"
    r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?"
)
_ALGORITHMS = jwt.algorithms.get_default_algorithms()


class TokenAuthority:
    """The LMS's token signer and Credentials' token checker, sharing the LMS's keys.

    Keys: ``signing_key``, the HS256 secret (the LMS's ``JWT_SECRET_KEY``; random when None), and
    optionally ``signing_jwk``, the LMS's private RSA JWK (or a JWK set holding it), whose public
    half verifies RS256/RS512 tokens and which then signs the tokens ``issue`` makes (RS512).

    PyJWT's algorithm objects sign and verify directly: its ``encode``/``decode`` warn about an
    HMAC secret shorter than 32 bytes, and a warning raised in a serving thread under pytest's
    ``filterwarnings = error`` would crash the request (Credentials' PyJWT 2.10.1 never warned).

    Not thread-safe for ``issue``/``revoke_all``/``is_revoked``: the emulator calls them under its
    lock; ``verify`` reads only immutable keys. Each issued token has a serial ``jti``;
    ``revoke_all`` rejects the serials issued so far (a test switch, not a Credentials feature).
    """

    def __init__(
        self,
        *,
        lifetime_s: int,
        clock: Callable[[], float],
        audience: str,
        signing_key: bytes | None = None,
        signing_jwk: str | None = None,
    ) -> None:
        self._lifetime_s = lifetime_s
        self._clock = clock
        self._audience = audience
        # Random per instance unless given: emulators sharing a key trust each other's tokens,
        # like Credentials services trusting one LMS issuer.
        self._secret = signing_key or secrets.token_bytes(32)
        self._rsa_private: Any = None
        self._kid: str | None = None
        verifiers: list[tuple[tuple[str, ...], Any]] = []
        if signing_jwk is not None:
            self._rsa_private, self._kid = _private_rsa_key(signing_jwk)
            verifiers.append((RSA_ALGORITHMS, self._rsa_private.public_key()))
        # edx-drf-extensions tries the asymmetric keys first, then all with the shared secret.
        verifiers.append((HMAC_ALGORITHMS, self._secret))
        self._verifiers = tuple(verifiers)
        self._next_serial = 1
        self._first_valid_serial = 1

    @property
    def lifetime_s(self) -> int:
        """Seconds a new token stays valid (the token answer's ``expires_in``)."""
        return self._lifetime_s

    def issue(self, *, issuer: str, username: str, email: str) -> str:
        """A token for an administrator (``username``), as the LMS's client-credentials grant signs it."""
        now = int(self._clock())
        claims = {
            "iss": issuer,
            "aud": self._audience,
            "iat": now,
            "exp": now + self._lifetime_s,
            "jti": str(self._next_serial),
            "grant_type": "client_credentials",
            "preferred_username": username,
            "email": email,
            "administrator": True,
            "scopes": list(SCOPES),
            "filters": [],
            "is_restricted": False,
            "version": TOKEN_VERSION,
        }
        self._next_serial += 1
        if self._rsa_private is not None:
            header = {"alg": "RS512", "typ": "JWT", **({"kid": self._kid} if self._kid else {})}
            return _encode(header, claims, self._rsa_private)
        return _encode({"alg": "HS256", "typ": "JWT"}, claims, self._secret)

    def revoke_all(self) -> None:
        """Reject every token issued so far (tokens without an issued serial are not affected)."""
        self._first_valid_serial = self._next_serial

    def is_revoked(self, claims: dict[str, Any]) -> bool:
        """Whether ``claims`` carry a serial ``jti`` that ``revoke_all`` rejected."""
        serial = claims.get("jti")
        return isinstance(serial, str) and serial.isdigit() and int(serial) < self._first_valid_serial

    def verify(self, token: str, issuer: str) -> dict[str, Any] | None:
        """The token's claims, or None when Credentials would answer 401 "Invalid token.".

        edx-drf-extensions' jwt_decode_handler (auth/jwt/decoder.py): the signature against each
        key (RSA: RS256/RS512, the secret: HS256) with PyJWT 2.10's checks (``exp`` not past,
        ``iat``/``nbf`` not future, ``aud``, string ``sub``/``jti``), then ``exp`` and ``iat``
        required, ``iss`` one of the issuers, ``version`` major at most 1. drf-jwt turns each of
        these failures into the same message. Times use the emulator's clock.
        """
        try:
            header = jwt.get_unverified_header(token)
            claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
            signing_input, _, encoded_signature = token.rpartition(".")
            signature = jwt.utils.base64url_decode(encoded_signature)
        except (jwt.exceptions.PyJWTError, ValueError):
            return None
        algorithm = header.get("alg")
        if not any(
            algorithm in allowed and _ALGORITHMS[algorithm].verify(signing_input.encode(), key, signature)
            for allowed, key in self._verifiers
        ):
            return None
        if not (self._times_valid(claims) and self._audience_valid(claims.get("aud"))):
            return None
        if any(name in claims and not isinstance(claims[name], str) for name in ("sub", "jti")):
            return None
        if claims.get("iss") != issuer:
            return None
        version = claims.get("version", DEFAULT_VERSION)
        match = _SEMVER.fullmatch(version) if isinstance(version, str) else None
        if match is None or int(match.group(1)) > SUPPORTED_MAJOR_VERSION:
            return None
        return claims

    def _times_valid(self, claims: dict[str, Any]) -> bool:
        if claims.get("exp") is None or claims.get("iat") is None:
            return False
        try:
            exp, iat = int(claims["exp"]), int(claims["iat"])
            nbf = int(claims["nbf"]) if "nbf" in claims else None
        except (TypeError, ValueError, OverflowError):
            return False
        now = self._clock()
        return exp > now and iat <= now and (nbf is None or nbf <= now)

    def _audience_valid(self, audience: Any) -> bool:
        if not audience:
            return False
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not all(isinstance(item, str) for item in audiences):
            return False
        return self._audience in audiences


def _encode(header: dict[str, Any], claims: dict[str, Any], key: Any) -> str:
    """A compact JWS: PyJWT's base64url and algorithm, without its key-length warning."""
    segments = [
        jwt.utils.base64url_encode(json.dumps(part, separators=(",", ":")).encode())
        for part in (header, claims)
    ]
    signing_input = b".".join(segments)
    signature = _ALGORITHMS[header["alg"]].sign(signing_input, key)
    return b".".join([signing_input, jwt.utils.base64url_encode(signature)]).decode("ascii")


def _private_rsa_key(text: str) -> tuple[Any, str | None]:
    """The private key and ``kid`` of a private RSA JWK (or of a JWK set holding one); ValueError."""
    try:
        parsed = json.loads(text)
        if isinstance(parsed, dict) and isinstance(parsed.get("keys"), list):
            parsed = next(item for item in parsed["keys"] if isinstance(item, dict) and "d" in item)
        if not isinstance(parsed, dict) or "d" not in parsed:
            raise ValueError("not a private RSA JWK (no 'd')")
        key = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(parsed))
    except (
        ValueError,
        TypeError,
        KeyError,
        RecursionError,
        StopIteration,
        jwt.exceptions.PyJWTError,
    ) as error:
        # PyJWT answers a member of the wrong type with TypeError, a missing one with KeyError.
        raise ValueError(f"signing_jwk: not a private RSA JWK ({type(error).__name__}: {error})") from None
    kid = parsed.get("kid")
    return key, kid if isinstance(kid, str) else None
