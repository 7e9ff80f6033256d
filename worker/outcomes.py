"""The closed vocabulary of what a sync handler returns when it does not raise.

=============  ===========================================  ===============================
outcome        meaning                                      effect on the outbox row
=============  ===========================================  ===============================
``Sent``       the Credentials service accepted the change   ``done``, ``result`` = details
``Skipped``    nothing to send, legitimately (unknown        ``done``, ``result`` = reason
               learner, no certificate, audit mode, ...)
``Enqueued``   the work continues in follow-up rows          ``done``, ``result`` = details
               (a parent task handing over to its subtask)
=============  ===========================================  ===============================

Failures are exceptions (``worker.errors.TransientSyncError`` retries the row,
``worker.errors.PermanentSyncError`` fails it); their ``details`` go to ``result`` too. A handler
may also ask for follow-up rows (``FollowUp``): they are inserted in the same transaction that
marks its row ``done`` (SPEC §8.7), so a parent task and its subtask can never be half-recorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class FollowUp:
    """A new outbox row to insert when the current row finishes."""

    task: str
    payload: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Sent:
    """Something was sent to Credentials; ``details`` says what (JSON-serialisable)."""

    details: Mapping[str, Any]
    follow_ups: tuple[FollowUp, ...] = ()

    def as_result(self) -> dict[str, Any]:
        return {"outcome": "sent", **self.details}


@dataclasses.dataclass(frozen=True)
class Skipped:
    """Nothing to send: ``reason`` is a short machine-readable code, ``message`` the human text."""

    reason: str
    message: str
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    follow_ups: tuple[FollowUp, ...] = ()

    def as_result(self) -> dict[str, Any]:
        return {"outcome": "skipped", "reason": self.reason, "message": self.message, **self.details}


@dataclasses.dataclass(frozen=True)
class Enqueued:
    """Nothing sent by this row itself: its ``follow_ups`` carry the work on."""

    details: Mapping[str, Any]
    follow_ups: tuple[FollowUp, ...] = ()

    def as_result(self) -> dict[str, Any]:
        return {"outcome": "enqueued", **self.details}


Outcome = Sent | Skipped | Enqueued
