"""Remembers the requests the emulator received (bounded) and counts them (unbounded)."""

from __future__ import annotations

import collections
from typing import Any


class Recorder:
    """A bounded log of received requests plus unbounded counters.

    Not thread-safe: the emulator calls it under its lock. Callers pass bodies already stripped of
    secrets; nothing here ever sees a header.
    """

    def __init__(self, max_recorded: int) -> None:
        self._records: collections.deque[dict[str, Any]] = collections.deque(maxlen=max_recorded)
        self._seq = 0
        self._tokens = 0
        self._faults = 0
        self._by_endpoint: collections.Counter[str] = collections.Counter()

    def record(
        self,
        *,
        at: float,
        method: str,
        path: str,
        query: dict[str, str],
        body: object,
        status: int | None,
        fault: str | None,
    ) -> None:
        """Log one request; ``status`` is None when the connection was dropped or hung."""
        self._seq += 1
        self._records.append(
            {
                "seq": self._seq,
                "at": at,
                "method": method,
                "path": path,
                "query": query,
                "json": body,
                "status": status,
                "fault": fault,
            }
        )
        outcome = str(status) if status is not None else fault
        self._by_endpoint[f"{method} {path} {outcome}"] += 1
        if fault is not None:
            self._faults += 1

    def count_token(self) -> None:
        """Count one token handed out."""
        self._tokens += 1

    def records(self) -> list[dict[str, Any]]:
        """The recorded requests, oldest first (copies)."""
        return [dict(record) for record in self._records]

    def stats(self) -> dict[str, Any]:
        """Counters: tokens issued, requests received, faults applied, and per ``METHOD path status``."""
        return {
            "token": self._tokens,
            "requests": self._seq,
            "faults": self._faults,
            "by_endpoint": dict(self._by_endpoint),
        }
