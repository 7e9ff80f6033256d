"""Holds on Credentials calls: until a time, nothing is sent to a scope, and rows that meet it wait.

Three kinds, recorded in ``credsync.cooldown`` so every worker process and the scanner see them:

* ``retry_after``: the service answered 429/503 with ``Retry-After`` on a service-user call; the
  scope is the whole destination (``scheme://host[:port]``) and the scanner pauses on it;
* ``learner_throttle``: a learner's own read was throttled (15 reads a minute per learner on a
  default install); the scope is ``<destination>#learner:<username>``, so only that learner waits;
* ``refused``: Credentials refuses one kind of call (403, or 401 with a fresh token); the scope is
  ``<destination>#refused:<METHOD> <path>`` and only the rows that need that call wait. A refusal
  is held for a recheck interval, then the next row that needs the call asks again.

The HTTP client (``worker.clients.holds``) names the scopes; this module only keeps them.

Reads are cached per process for ``cache_s`` (a hold is seconds long; one query per second per
process is enough), writes go straight to the table and into the cache. ``now`` (the wall clock)
decides which holds are in force, so tests cross one by moving a clock instead of sleeping.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
import time
from collections.abc import Callable

from worker import db

DEFAULT_CACHE_S = 1.0
#: A hold renewed within this many seconds of its end is the same pause (no new ERROR line).
PAUSE_GRACE_S = 300.0
RETRY_AFTER = "retry_after"


@dataclasses.dataclass(frozen=True)
class Hold:
    """One scope held until ``until`` (epoch seconds) since ``since``."""

    scope: str
    until: float
    reason: str
    kind: str = RETRY_AFTER
    since: float = 0.0


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Cooldowns:
    def __init__(
        self,
        database: db.Database,
        *,
        cache_s: float = DEFAULT_CACHE_S,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime.datetime] = _utc_now,
    ) -> None:
        self.database = database
        self.cache_s = cache_s
        self.monotonic = monotonic
        self.now = now
        self._lock = threading.Lock()
        self._active: dict[str, Hold] = {}
        self._read_at: float | None = None

    def record(self, destination: str, until: float, reason: str, kind: str = RETRY_AFTER) -> bool:
        """Hold scope ``destination`` until ``until`` (epoch seconds); a later until wins.

        Returns True when this began a new pause (no hold of the scope ended within
        ``PAUSE_GRACE_S``), so that the caller reports a pause once, not once per row.
        """
        with self.database.statement() as cur:
            row = db.fetch_one(
                cur,
                "cooldown_set",
                {
                    "destination": destination,
                    "until": datetime.datetime.fromtimestamp(until, datetime.UTC),
                    "reason": reason,
                    "kind": kind,
                    "grace_s": PAUSE_GRACE_S,
                },
            )
        with self._lock:
            known = self._active.get(destination)
            if known is None or known.until < until:
                since = known.since if known is not None else self._now_s()
                self._active[destination] = Hold(destination, until, reason, kind, since)
        return bool(row and row["started"])

    def holds(self) -> list[Hold]:
        """Every hold in force now, soonest to end first."""
        now = self._now_s()
        return sorted((h for h in self._current().values() if h.until > now), key=lambda h: h.until)

    def active(self) -> dict[str, tuple[float, str]]:
        """Every scope held now: until (epoch seconds) and reason."""
        return {h.scope: (h.until, h.reason) for h in self.holds()}

    def until(self, destination: str) -> float | None:
        """When the hold of scope ``destination`` ends (epoch seconds), or None when it has none now."""
        found = self._current().get(destination)
        return found.until if found and found.until > self._now_s() else None

    def reason(self, destination: str) -> str | None:
        """Why scope ``destination`` is held (as recorded), or None when it has no hold now."""
        found = self._current().get(destination)
        return found.reason if found and found.until > self._now_s() else None

    def paused_reason(self, destination: str) -> str | None:
        """A sentence for the scanner's pause report, or None."""
        found = self._current().get(destination)
        now = self._now_s()
        if found is None or found.until <= now:
            return None
        return f"{destination} asked to wait {found.until - now:.0f} s more ({found.reason})"

    def _current(self) -> dict[str, Hold]:
        with self._lock:
            fresh = self._read_at is not None and self.monotonic() - self._read_at < self.cache_s
            if fresh:
                return dict(self._active)
        with self.database.statement() as cur:
            rows = db.fetch_all(cur, "cooldown_active", {"now": self.now()})
        active = {
            r["destination"]: Hold(
                r["destination"], r["until"].timestamp(), r["reason"], r["kind"], r["since"].timestamp()
            )
            for r in rows
        }
        with self._lock:
            self._active = active
            self._read_at = self.monotonic()
            return dict(active)

    def _now_s(self) -> float:
        return self.now().timestamp()
