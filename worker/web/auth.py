"""Operators, their sessions and CSRF: who may write, and proof that a form came from this console."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping

import flask
import pydantic
from werkzeug import security

_OPERATOR = "operator"
_CSRF = "csrf"
#: A hash that never matches: an unknown name costs the same time as a wrong password.
_DUMMY_HASH = security.generate_password_hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """The stored form of a password (werkzeug's salted scrypt), for ``CREDSYNC_WEB_OPERATORS``."""
    return security.generate_password_hash(password)


def check(operators: Mapping[str, pydantic.SecretStr], name: str, password: str) -> bool:
    """Whether ``name`` is an operator and ``password`` theirs (constant-time, whatever the name)."""
    stored = operators.get(name)
    matches = security.check_password_hash(stored.get_secret_value() if stored else _DUMMY_HASH, password)
    return stored is not None and matches


def operator() -> str | None:
    """The logged-in operator of this request, if any."""
    name = flask.session.get(_OPERATOR)
    return name if isinstance(name, str) else None


def log_in(name: str) -> None:
    """Start a fresh session for ``name`` (a new CSRF token too: nothing carries over from before)."""
    flask.session.clear()
    flask.session[_OPERATOR] = name
    flask.session[_CSRF] = secrets.token_urlsafe(32)


def log_out() -> None:
    flask.session.clear()


def csrf_token() -> str:
    """This session's CSRF token (made on first use), for every form's hidden field."""
    token = flask.session.get(_CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        flask.session[_CSRF] = token
    return token


def csrf_ok(form: Mapping[str, str]) -> bool:
    """Whether a posted form carries this session's token (and, when the browser says, came from here)."""
    token = flask.session.get(_CSRF)
    given = form.get("csrf_token", "")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), given.encode()):
        return False
    origin = flask.request.headers.get("Origin")
    return origin is None or origin == flask.request.host_url.rstrip("/")
