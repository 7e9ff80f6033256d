"""The per-user throttle of the credentials endpoints (CredentialRateThrottle, a SimpleRateThrottle)."""

from __future__ import annotations

import collections
import math
from collections.abc import Hashable

DURATION_S = 60  # "15/minute" in CredentialRateThrottle.THROTTLE_RATES


class Throttled(Exception):
    """A 429; ``wait_s`` (seconds, rounded up) becomes ``Retry-After`` when it is not zero or None."""

    def __init__(self, wait_s: int | None) -> None:
        super().__init__(wait_s)
        self.wait_s = wait_s

    @property
    def detail(self) -> str:
        """DRF's ``Throttled`` message."""
        if self.wait_s is None:
            return "Request was throttled."
        unit = "second" if self.wait_s == 1 else "seconds"
        return f"Request was throttled. Expected available in {self.wait_s} {unit}."


class RateThrottle:
    """A sliding log of each key's recent requests, as DRF keeps it in the cache.

    A request is allowed while fewer than ``num_requests`` were allowed in the last
    ``duration_s``; a refused request is not logged. Not thread-safe: called under the lock.
    """

    def __init__(self, num_requests: int, duration_s: int = DURATION_S) -> None:
        self._num_requests = num_requests
        self._duration_s = duration_s
        self._history: dict[Hashable, collections.deque[float]] = {}

    def check(self, key: Hashable, now: float) -> None:
        """Log a request for ``key`` at ``now`` (unix seconds), or raise Throttled."""
        history = self._history.setdefault(key, collections.deque())
        while history and history[-1] <= now - self._duration_s:
            history.pop()
        if len(history) < self._num_requests:
            history.appendleft(now)
            return
        # SimpleRateThrottle.wait(): the oldest entry's remaining time, shared by the requests
        # still available; Throttled rounds it up.
        remaining = self._duration_s - (now - history[-1]) if history else self._duration_s
        available = self._num_requests - len(history) + 1
        raise Throttled(math.ceil(remaining / available) if available > 0 else None)
