"""Issues and checks the emulator's OAuth2 access tokens: HS256 JWTs made with hmac and base64."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from typing import Any

AUDIENCE = "credentials"
SERVICE_USERNAME = "credentials_service_user"
SUPPORTED_MAJOR_VERSION = 1
_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json_segment(value: dict[str, Any]) -> str:
    return _b64encode(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


class TokenAuthority:
    """Mints JWTs for the service user and verifies them as edx-drf-extensions' JwtAuthentication does.

    Not thread-safe: the emulator calls it under its lock. Each token carries a serial (``jti``);
    ``revoke_all`` rejects every serial issued so far, so tokens minted afterwards work again.
    """

    def __init__(self, lifetime_s: int, clock: Callable[[], float], signing_key: bytes | None = None) -> None:
        # Random per instance unless given: several emulators sharing a key trust each other's
        # tokens, like Credentials services trusting one LMS issuer (per-org roots).
        self._key = signing_key or secrets.token_bytes(32)
        self._lifetime_s = lifetime_s
        self._clock = clock
        self._next_serial = 1
        self._first_valid_serial = 1

    @property
    def lifetime_s(self) -> int:
        """Seconds a new token stays valid (the token answer's ``expires_in``)."""
        return self._lifetime_s

    def issue(self, issuer: str) -> str:
        """A new signed token for the service user, issued by ``issuer``."""
        now = int(self._clock())
        claims = {
            "iss": issuer,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + self._lifetime_s,
            "jti": str(self._next_serial),
            "grant_type": "client_credentials",
            "preferred_username": SERVICE_USERNAME,
            "administrator": True,
            "scopes": ["read", "write", "email", "profile"],
            "filters": [],
            "is_restricted": False,
            "version": "1.0.0",
        }
        self._next_serial += 1
        signing_input = f"{_json_segment(_HEADER)}.{_json_segment(claims)}"
        return f"{signing_input}.{_b64encode(self._sign(signing_input))}"

    def revoke_all(self) -> None:
        """Reject every token issued so far."""
        self._first_valid_serial = self._next_serial

    def problem(self, token: str, issuer: str) -> str | None:
        """Why ``token`` is not acceptable (a DRF-style ``detail``), or None when it is."""
        parts = token.split(".")
        if len(parts) != 3:
            return "Error decoding signature."
        signing_input = f"{parts[0]}.{parts[1]}"
        try:
            header = json.loads(_b64decode(parts[0]))
            signature = _b64decode(parts[2])
            claims = json.loads(_b64decode(parts[1]))
        except (ValueError, UnicodeDecodeError):
            return "Error decoding signature."
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            return "Error decoding signature."
        if not hmac.compare_digest(signature, self._sign(signing_input)):
            return "Error decoding signature."
        if not isinstance(claims, dict):
            return "Invalid payload."
        return self._claims_problem(claims, issuer)

    def _claims_problem(self, claims: dict[str, Any], issuer: str) -> str | None:
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int) or not isinstance(iat, int):
            return "Token is missing the exp or iat claim."
        if exp <= self._clock():
            return "Signature has expired."
        if claims.get("aud") != AUDIENCE or claims.get("iss") != issuer:
            return "Invalid audience or issuer."
        version = str(claims.get("version", ""))
        if not version.split(".")[0].isdigit() or int(version.split(".")[0]) > SUPPORTED_MAJOR_VERSION:
            return "Token version is not supported."
        serial = claims.get("jti", "")
        if not isinstance(serial, str) or not serial.isdigit() or int(serial) < self._first_valid_serial:
            return "Token has been revoked."
        return None

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest()
