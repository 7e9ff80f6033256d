"""Signing keys for tests: an RSA private JWK as the LMS keeps JWT_PRIVATE_SIGNING_JWK, and a secret."""

from __future__ import annotations

import functools
import json

import jwt.algorithms
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "http://lms.test/oauth2"
AUDIENCE = "lms-key"
#: Long enough that PyJWT does not warn about a short HMAC key.
SECRET = "lms-secret-for-tests-only-0123456789abcdef"


@functools.cache
def private_jwk() -> str:
    """A 2048-bit RSA private JWK (JSON), made once per test run."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return json.dumps({**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key)), "kid": "test-key"})


def public_key() -> object:
    """The public half of ``private_jwk``, for verifying what was signed with it."""
    private = jwt.algorithms.RSAAlgorithm.from_jwk(private_jwk())
    return private.public_key()  # type: ignore[union-attr]
