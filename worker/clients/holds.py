"""Holds as the client sees them: the scopes it names, the check before each call, what starts one.

What the caller must know:

* A refusal is not a failure of the row: a 403, or a 401 with a freshly issued token, means
  Credentials refuses that kind of call, and no retry changes it. With a hold book it holds that
  kind of call for ``REFUSAL_RECHECK_S`` (one ERROR line per pause, with the fix); rows that meet
  a hold wait without using an attempt, and the first call after it asks again.
* A 429 or 503 with ``Retry-After`` holds its destination (``scheme://host``) until then; a 429
  on a learner's own read holds that learner's reads only, never other learners or the writes.
* A held call raises ``errors.CredentialsCoolingDown`` (``errors.CredentialsRefused`` for a
  refusal) and is not sent. ``worker.outbox.cooldowns`` keeps the holds; this module names them.
* ``now`` stamps every hold, so tests cross one by moving a clock instead of sleeping.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Protocol

from worker import errors
from worker.clients import advice, tokens, transport

#: How long a refused kind of call is held before the next row that needs it asks again.
REFUSAL_RECHECK_S = 60.0

#: Hold scopes and kinds (``worker.outbox.cooldowns`` keeps them; the client only names them).
HOLD_RETRY_AFTER, HOLD_LEARNER, HOLD_REFUSED = "retry_after", "learner_throttle", "refused"

_log = logging.getLogger(__name__)

Clock = Callable[[], datetime.datetime]
"""The wall clock (an aware datetime), as ``tests.conftest.Clock`` gives it."""


def utc_now() -> datetime.datetime:
    """The production wall clock."""
    return datetime.datetime.now(datetime.UTC)


class CooldownBook(Protocol):
    """Where holds are kept (Retry-After, learner throttles, refusals), shared by processes.

    ``record`` returns whether it began a new pause of that scope.
    """

    def until(self, destination: str) -> float | None: ...

    def reason(self, destination: str) -> str | None: ...

    def record(self, destination: str, until: float, reason: str, kind: str = ...) -> bool: ...


def learner_scope(target: str, username: str) -> str:
    """The hold scope of one learner's reads at ``target``."""
    return f"{target}#learner:{username}"


def refused_scope(target: str, call: str) -> str:
    """The hold scope of one kind of call (``GET /api/v2/credentials/``) at ``target``."""
    return f"{target}#refused:{call}"


def kind_of_call(method: str, url: str) -> str:
    """What a refusal is about: the method and the API collection, any resource id as ``<id>``.

    A refusal is about the kind of call (``GET /api/v2/course_certificates/<id>/``), not one key.
    """
    path = transport.path(url)
    head, marker, rest = path.partition("/api/v2/")
    collection, _, resource = rest.partition("/")
    if not marker or not collection:
        return f"{method} {path}"
    return f"{method} {head}/api/v2/{collection}/" + ("<id>/" if resource.strip("/") else "")


def refusal_reason(call: str, status: int, body: str, *, learner_token: bool, signs: bool) -> str:
    """Why ``call`` is held after Credentials answered ``status`` (401/403): with which token, and the fix."""
    whose = "a learner's token" if learner_token else "the service user's token"
    fix = advice.for_refusal(call, status, learner_token=learner_token, signs=signs)
    return f"Credentials refuses {call} with {whose}: HTTP {status} {body[:300]}. Fix: {fix}"


class Holds:
    """The holds of one client in ``book``; without a book (a probe) nothing is held or checked."""

    def __init__(self, book: CooldownBook | None, *, now: Clock = utc_now) -> None:
        self._book = book
        self._now = now

    def now_s(self) -> float:
        """Now, in epoch seconds, by this client's clock."""
        return self._now().timestamp()

    def check(self, target: str, call: str, learner: tokens.Identity | None) -> None:
        """Raise when a hold covers this call: the service's, the refusal of this call, the learner's."""
        if self._book is None:
            return
        if (until := self._book.until(target)) is not None:
            raise errors.CredentialsCoolingDown(target, until, "an earlier answer asked to wait")
        refused = refused_scope(target, call)
        if (until := self._book.until(refused)) is not None:
            # The reason the refusal was held with (which token, the answer, the fix), so a row
            # meeting the hold says as much as the row that met the refusal.
            why = self._book.reason(refused) or f"Credentials refused {call} earlier"
            raise errors.CredentialsRefused(refused, until, why)
        if learner is not None:
            scope = learner_scope(target, learner.username)
            if (until := self._book.until(scope)) is not None:
                raise errors.CredentialsCoolingDown(scope, until, "this learner's reads are throttled")

    def wait(
        self, target: str, call: str, error: errors.CredentialsHTTPError, learner: tokens.Identity | None
    ) -> None:
        """Hold what a 429 or 503 with ``Retry-After`` is about until then; other errors hold nothing."""
        if self._book is None or error.status not in (429, 503) or not error.retry_after_ms:
            return
        wait_s = error.retry_after_ms / 1000
        reason = f"HTTP {error.status} with Retry-After {wait_s:.0f} s on {call}"
        if learner is not None and error.status == 429:
            # A learner's throttle is that learner's (15 reads a minute on a default install).
            scope, kind = learner_scope(target, learner.username), HOLD_LEARNER
        else:
            scope, kind = target, HOLD_RETRY_AFTER
        self._book.record(scope, self.now_s() + wait_s, reason, kind)

    def refuse(self, scope: str, reason: str, status: int | None = None) -> errors.CredentialsRefused:
        """Hold ``scope`` for ``REFUSAL_RECHECK_S``; one ERROR line when this begins a pause.

        Without a hold book (a probe such as ``credsync doctor``) nothing is held or logged: the
        caller reports the refusal itself.
        """
        until = self.now_s() + REFUSAL_RECHECK_S
        started = False
        if self._book is not None:
            started = self._book.record(scope, until, reason, HOLD_REFUSED)
        if started:
            _log.error(
                "holding %s: rows that need it wait (no attempt used) and go on by themselves once it is "
                "fixed; asking again every %.0f s. %s",
                scope,
                REFUSAL_RECHECK_S,
                reason,
            )
        return errors.CredentialsRefused(scope, until, reason, status=status)
