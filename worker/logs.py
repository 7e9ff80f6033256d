"""Log formats: plain text (default) or one JSON object per line (``CREDSYNC_LOG_FORMAT=json``).

Row outcome lines carry their context as ``extra`` fields (``row_id``, ``task``, ``attempt``,
``duration_ms``, ``ordering_key``, ``outcome``, ``user_id`` and the payload's keys); the JSON format
puts them in the object, the text format in the message.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import Any

#: Attributes every LogRecord has; anything else on a record came from ``extra``.
RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure(log_format: str, level: str) -> None:
    """Set up the root logger (processes credsync starts itself); ``level`` as ``LogSettings`` has it."""
    logging.basicConfig(level=level, format=TEXT_FORMAT, force=True)
    apply(log_format)


def apply(log_format: str) -> None:
    """Use ``log_format`` on every handler the root logger has (e.g. the ones Dramatiq set up)."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter(log_format))
