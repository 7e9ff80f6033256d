"""The failed-rows filter: task, error text, a time window; parsed from a query string or a form."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

#: Longest error text searched for (a longer one is cut).
MAX_ERROR_TEXT = 200


@dataclasses.dataclass(frozen=True)
class FailedFilter:
    """Which failed rows: of ``task``, whose error contains ``error``, finished in [since, until)."""

    task: str | None = None
    error: str | None = None
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> FailedFilter:
        """From request arguments; blank fields are unset, an unreadable time is ignored."""
        task = (args.get("task") or "").strip() or None
        error = (args.get("error") or "").strip()[:MAX_ERROR_TEXT] or None
        return cls(task, error, _time(args.get("since")), _time(args.get("until")))

    def params(self) -> dict[str, Any]:
        """The named queries' parameters (``error`` as an ILIKE pattern, its wildcards escaped)."""
        return {
            "task": self.task,
            "error": None if self.error is None else "%" + _escape_like(self.error) + "%",
            "since": self.since,
            "until": self.until,
        }

    def query(self) -> dict[str, str]:
        """The filter as request arguments (for links and hidden form fields)."""
        found = {
            "task": self.task or "",
            "error": self.error or "",
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {k: v for k, v in found.items() if v}

    def describe(self) -> dict[str, str]:
        """The filter for the audit record: only what was set."""
        return self.query()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _time(text: str | None) -> datetime.datetime | None:
    """An ISO 8601 time (the browser's datetime-local has no zone: read as UTC); None if unreadable."""
    if not text or not text.strip():
        return None
    try:
        value = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
