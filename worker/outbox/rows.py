"""Typed rows of the outbox table, as the machinery sees them."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class Status(enum.StrEnum):
    PENDING = "pending"
    ENQUEUED = "enqueued"
    RUNNING = "running"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class Claimed:
    """A row the scanner claimed and must now send."""

    id: int
    task: str
    #: Attempts made so far: only rows that never ran (0) share a message with others.
    attempts: int = 0


@dataclasses.dataclass(frozen=True)
class Started:
    """A row whose attempt ``attempt`` (1-based) has just begun."""

    id: int
    task: str
    payload: dict[str, Any]
    attempt: int
    ordering_key: str = ""
    #: 1, plus one per ``credsync retry``: the ledger tells a re-run's requests apart by it.
    run: int = 1


@dataclasses.dataclass(frozen=True)
class Rescued:
    """A row whose lease expired; ``status`` is what rescue made of it (pending or failed)."""

    id: int
    task: str
    status: Status
    attempts: int
