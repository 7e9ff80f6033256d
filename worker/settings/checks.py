"""Checks the settings models share: schema names, URL ports, JSON values, the LMS's private JWK."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pydantic

#: A Postgres identifier credsync may put in a search_path unquoted.
SCHEMA_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"


def env(name: str) -> Any:
    """A required field read from the variable ``name``."""
    return pydantic.Field(validation_alias=name)


def json_value(text: str) -> Any:
    """``json.loads``, where JSON nested past Python's recursion limit is a ValueError like any other."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("is JSON nested too deeply") from None


def check_ports(url: str) -> None:
    """ValueError unless every port of ``url`` (libpq URLs may list several hosts) is 1 to 65535."""
    hosts = urlsplit(url).netloc.rpartition("@")[2]
    for host in hosts.split(","):
        # An IPv6 address is bracketed: its colons are not a port's.
        after_address = host.rpartition("]")[2] if host.startswith("[") else host
        if ":" not in after_address:
            continue
        port = after_address.rpartition(":")[2]
        if port and not (port.isascii() and port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 65_535):
            raise ValueError(f"port {port[:12]!r} is not a port number (1 to 65535)")


def check_private_jwk(text: str) -> None:
    """ValueError unless ``text`` is a private RSA JWK (or a JWK set holding one), as the LMS keeps it."""
    import jwt.algorithms

    try:
        parsed = json_value(text)
    except ValueError:
        raise ValueError("must be a JSON web key (the LMS's JWT_PRIVATE_SIGNING_JWK)") from None
    if isinstance(parsed, dict) and isinstance(parsed.get("keys"), list):
        parsed = next((k for k in parsed["keys"] if isinstance(k, dict) and "d" in k), None)
    if not isinstance(parsed, dict) or parsed.get("kty") != "RSA" or "d" not in parsed:
        raise ValueError("must be a private RSA JSON web key (kty RSA, with d)")
    try:
        jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(parsed))
    except (ValueError, TypeError, KeyError, jwt.exceptions.InvalidKeyError) as exc:
        # PyJWT raises TypeError or KeyError for a member of the wrong type or a missing one.
        raise ValueError(f"is not a usable RSA key: {type(exc).__name__}: {exc}") from None
