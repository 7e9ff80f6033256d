"""The certificate type Credentials stores for each course run, as credsync learned it (SPEC §5.5, §5.7).

Credentials keeps ONE course certificate per catalog course run. Configuring a run with another
``certificate_type`` answers HTTP 500 every time, and a course-run award in another mode is attached
to the stored certificate (its answer's ``credential.mode`` names the stored type). So the type to
configure is the one the run has, which the platform's course mode need not be. It is hard to read:
``GET course_certificates/<key>/`` answers 404 for any key containing a ``.`` and there is no list
route. What credsync learns is kept in ``credsync.course_certificate_type``, per Credentials service
(``scheme://host[:port]``: the host decides Credentials' site) and run, from:

* ``award_answer``: the answer to a course-run award (every ``award_course_certificate`` row, and the
  award the configuration task re-sends to learn the type);
* ``configuration_answer``: the answer to a course certificate configuration;
* ``lookup``: ``GET course_certificates/<key>/`` for a key that can be looked up.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
import time
from collections.abc import Callable

from worker import db

log = logging.getLogger(__name__)

#: A type this process confirmed (learned, or found already known) is not written again for this
#: long: every award of a run would otherwise cost a statement that changes nothing. Another
#: process's different answer meanwhile stays until then; a stale type heals when configuring
#: it is refused (``worker.sync.course_dates``).
CONFIRMED_FOR_S = 60.0
_CONFIRMED_MAX = 10_000

AWARD_ANSWER = "award_answer"
CONFIGURATION_ANSWER = "configuration_answer"
LOOKUP = "lookup"


@dataclasses.dataclass(frozen=True)
class Known:
    """A run's stored certificate type, where it was learned and when it was first seen."""

    certificate_type: str
    source: str
    learned_at: datetime.datetime


def can_be_looked_up(course_run_key: str) -> bool:
    """Whether ``GET course_certificates/<key>/`` can find the run's certificate.

    The real service's lookup pattern (DRF's default, ``[^/.]+``) stops at a dot or a slash, so it
    answers 404 for such a key whether or not the run has a certificate (SPEC §5.7).
    """
    return "." not in course_run_key and "/" not in course_run_key


class Confirmed:
    """What this process recently confirmed each database, destination and run stores; thread-safe."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._seen: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._monotonic = monotonic

    def holds(self, where: tuple[str, str, str], certificate_type: str) -> bool:
        """Whether ``certificate_type`` was confirmed at ``where`` (database, destination, run) lately."""
        with self._lock:
            seen = self._seen.get(where)
        return seen is not None and seen[0] == certificate_type and self._monotonic() < seen[1]

    def note(self, where: tuple[str, str, str], certificate_type: str) -> None:
        with self._lock:
            if len(self._seen) >= _CONFIRMED_MAX:
                self._seen.clear()
            self._seen[where] = (certificate_type, self._monotonic() + CONFIRMED_FOR_S)


#: This process's confirmations, shared by every ``Book`` (a Book is made per row).
CONFIRMED = Confirmed()


class Book:
    """Reads and writes ``credsync.course_certificate_type``.

    ``now`` (None: the database's clock) stamps what is learned, so tests need not sleep.
    ``confirmed`` spares the writes of a type this process confirmed lately (``CONFIRMED_FOR_S``).
    """

    def __init__(
        self,
        database: db.Database,
        *,
        now: Callable[[], datetime.datetime | None] = lambda: None,
        confirmed: Confirmed = CONFIRMED,
    ) -> None:
        self.database = database
        self.now = now
        self.confirmed = confirmed

    def get(self, destination: str, course_run_key: str) -> Known | None:
        """What is known of the run's type at ``destination``; None when nothing was learned yet."""
        with self.database.statement() as cur:
            row = db.fetch_one(
                cur,
                "course_certificate_type_get",
                {"destination": destination, "course_run_key": course_run_key},
            )
        if row is None:
            return None
        return Known(row["certificate_type"], row["source"], row["learned_at"])

    def learn(self, destination: str, course_run_key: str, certificate_type: str, source: str) -> bool:
        """Remember that ``destination`` stores ``certificate_type`` for the run (as ``source`` showed).

        Returns whether that was news (a first or a different type); a type already known is not
        rewritten, and one this process confirmed lately is not even asked about.
        """
        where = (self.database.url, destination, course_run_key)
        if self.confirmed.holds(where, certificate_type):
            return False
        with self.database.statement() as cur:
            changed = db.execute(
                cur,
                "course_certificate_type_learn",
                {
                    "destination": destination,
                    "course_run_key": course_run_key,
                    "certificate_type": certificate_type,
                    "source": source,
                    "now": self.now(),
                },
            )
        self.confirmed.note(where, certificate_type)
        if changed:
            log.info(
                "Credentials at %s stores certificate type %r for course run %s (learned from %s)",
                destination,
                certificate_type,
                course_run_key,
                source,
            )
        return changed > 0
