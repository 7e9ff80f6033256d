"""The exception tree of credsync: one root, shallow branches.

::

    CredsyncError
    ├── ConfigurationError          invalid settings; the process stops at start
    │   └── UntestedDependencyError an installed library is outside the versions credsync was tested with
    ├── DatabaseError               a psycopg error, translated once in worker.db
    ├── CredentialsError            raised by worker.clients (requests errors translated once)
    │   ├── CredentialsUnavailable  no usable answer: connection refused/reset, timeout, bad token answer
    │   │   └── CredentialsTokenError  the token endpoint answered an HTTP error: nothing reached the API
    │   ├── CredentialsHTTPError    the API answered with an HTTP error status (carries status, body)
    │   └── CredentialsCoolingDown  a hold covers the call (Retry-After, a learner's throttle): nothing sent
    │       └── CredentialsRefused  Credentials refuses this kind of call (403, 401 with a fresh token)
    └── SyncError                   the outcome of a sync handler that did not succeed
        ├── TransientSyncError      retry the row later (optionally after ``delay_ms``)
        ├── PermanentSyncError      fail the row now; retrying cannot help
        └── DeferredSyncError       wait until a time without using an attempt (a cooldown)

A *skipped* outcome (unknown learner, no certificate, ...) is not an error: it is a result
(``worker.outcomes.Skipped``). The outbox machinery maps ``TransientSyncError`` to a Dramatiq
retry and ``PermanentSyncError`` to an immediate failure; any other exception escaping a handler
is treated as transient, like upstream's ``autoretry_for=(Exception,)``.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any


class CredsyncError(Exception):
    """Root of every error credsync raises on purpose."""


class ConfigurationError(CredsyncError):
    """A setting is missing or invalid; the message names the variable."""


class UntestedDependencyError(ConfigurationError):
    """An installed library is outside the versions whose internals credsync was tested with."""


class DatabaseError(CredsyncError):
    """A database operation failed (the psycopg error is chained as the cause)."""


class CredentialsError(CredsyncError):
    """A call to the Credentials service (or its token endpoint) did not succeed."""


class CredentialsUnavailable(CredentialsError):
    """No usable answer: network failure, timeout, or an unusable token answer."""


class CredentialsTokenError(CredentialsUnavailable):
    """The token endpoint answered an HTTP error status: no API request was made.

    A transient failure for every task (upstream retried when it could not build its client),
    never a rejection of the row's data.
    """

    def __init__(self, url: str, status: int, body: str) -> None:
        self.url = url
        self.status = status
        self.body = body
        super().__init__(f"POST {url} (token endpoint) answered HTTP {status}: {body}")


class CredentialsCoolingDown(CredentialsError):
    """The service at ``destination`` asked credsync to wait until ``until`` (epoch seconds)."""

    def __init__(self, destination: str, until: float, reason: str) -> None:
        self.destination = destination
        self.until = until
        self.reason = reason
        super().__init__(f"{destination} asked to wait until {_iso(until)}: {reason}")


class CredentialsRefused(CredentialsCoolingDown):
    """Credentials refuses a kind of call (HTTP 403, or 401 with a fresh token): a misconfiguration.

    No attempt of any row changes it, so rows that need the call wait (no attempt used) until
    ``until``, when the next one asks again. ``status`` is None when the hold was already known.
    """

    def __init__(self, destination: str, until: float, reason: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(destination, until, reason)
        self.args = (f"{reason} (asking again after {_iso(until)})",)


class CredentialsHTTPError(CredentialsError):
    """The Credentials service answered with an HTTP error status.

    ``retry_after_ms`` is set when the answer carried a usable ``Retry-After`` header.
    ``body`` is the (truncated) response text, never a request header.
    """

    def __init__(
        self, method: str, url: str, status: int, body: str, retry_after_ms: int | None = None
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.body = body
        self.retry_after_ms = retry_after_ms
        super().__init__(f"{method} {url} answered HTTP {status}: {body}")


class SyncError(CredsyncError):
    """A sync handler could not finish its row.

    ``details`` (JSON-serialisable) says what was done before the failure, e.g. the programs
    already awarded; it is kept in the row's ``result``.
    """

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        self.details = dict(details) if details else None
        super().__init__(message)


class TransientSyncError(SyncError):
    """Retry the row later; ``delay_ms`` (from a ``Retry-After``) overrides the backoff."""

    def __init__(
        self, message: str, *, delay_ms: int | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        self.delay_ms = delay_ms
        super().__init__(message, details=details)


class PermanentSyncError(SyncError):
    """Fail the row now: the row or the platform's data is wrong and someone must act."""


class DeferredSyncError(SyncError):
    """Put the row back until ``until`` (epoch seconds) without counting the attempt."""

    def __init__(self, message: str, *, until: float, details: Mapping[str, Any] | None = None) -> None:
        self.until = until
        super().__init__(message, details=details)


def _iso(epoch_s: float) -> str:
    return datetime.datetime.fromtimestamp(epoch_s, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
