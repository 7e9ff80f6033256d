"""Per-destination cooldowns: when a service said "wait" (Retry-After), nobody sends there until then.

Recorded in ``credsync.cooldown`` so every worker process and the scanner see it. Reads are cached
per process for ``cache_s`` (a cooldown is seconds long; one query per second per process is
enough), writes go straight to the table and into the cache.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable

from worker import db

DEFAULT_CACHE_S = 1.0


class Cooldowns:
    def __init__(
        self,
        database: db.Database,
        *,
        cache_s: float = DEFAULT_CACHE_S,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.cache_s = cache_s
        self.monotonic = monotonic
        self.now = now
        self._lock = threading.Lock()
        self._active: dict[str, tuple[float, str]] = {}
        self._read_at: float | None = None

    def record(self, destination: str, until: float, reason: str) -> None:
        """``destination`` asked to wait until ``until`` (epoch seconds); a later until wins."""
        with self.database.statement() as cur:
            db.execute(
                cur,
                "cooldown_set",
                {
                    "destination": destination,
                    "until": datetime.datetime.fromtimestamp(until, datetime.UTC),
                    "reason": reason,
                },
            )
        with self._lock:
            known = self._active.get(destination)
            if known is None or known[0] < until:
                self._active[destination] = (until, reason)

    def active(self) -> dict[str, tuple[float, str]]:
        """Every destination cooling down now: until (epoch seconds) and reason."""
        now = self.now()
        return {d: v for d, v in self._current().items() if v[0] > now}

    def until(self, destination: str) -> float | None:
        """When ``destination``'s cooldown ends (epoch seconds), or None when it has none now."""
        active = self._current()
        found = active.get(destination)
        return found[0] if found and found[0] > self.now() else None

    def paused_reason(self, destination: str) -> str | None:
        """A sentence for the scanner's pause report, or None."""
        found = self._current().get(destination)
        if found is None or found[0] <= self.now():
            return None
        until, reason = found
        return f"{destination} asked to wait {until - self.now():.0f} s more ({reason})"

    def _current(self) -> dict[str, tuple[float, str]]:
        with self._lock:
            fresh = self._read_at is not None and self.monotonic() - self._read_at < self.cache_s
            if fresh:
                return dict(self._active)
        with self.database.statement() as cur:
            rows = db.fetch_all(cur, "cooldown_active", {"now": None})
        active = {r["destination"]: (r["until"].timestamp(), r["reason"]) for r in rows}
        with self._lock:
            self._active = active
            self._read_at = self.monotonic()
            return dict(active)
