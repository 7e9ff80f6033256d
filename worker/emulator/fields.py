"""Parses and formats request field values the way Credentials' serializers do."""

from __future__ import annotations

import datetime as dt
import re

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DATETIME_FORMAT_ERROR = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)

# opaque-keys: CourseLocator parts allow word characters, '-', '~', '.' (and ':' in the run).
_PART = r"[\w.~-]+"
_RUN = r"[\w.~:-]+"
_COURSE_KEY = re.compile(rf"course-v1:{_PART}\+{_PART}\+{_RUN}|{_PART}/{_PART}/{_RUN}")
# Django's parse_datetime needs a time part: a bare date is not a datetime for DRF.
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?",
)
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def is_course_key(value: object) -> bool:
    """Whether ``value`` is a course run key: ``course-v1:ORG+COURSE+RUN`` or ``ORG/COURSE/RUN``."""
    return isinstance(value, str) and _COURSE_KEY.fullmatch(value) is not None


def parse_datetime(value: str) -> dt.datetime | None:
    """An aware UTC datetime from ISO 8601 (``Z``, offsets, ``T`` or space separator), else None.

    A naive value is taken as UTC, as Django does with ``USE_TZ`` and ``TIME_ZONE = "UTC"``.
    """
    text = value.strip()
    if _ISO_DATETIME.fullmatch(text) is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace(" Z", "Z"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def format_datetime(value: dt.datetime | None) -> str | None:
    """The API's rendering of a datetime (``%Y-%m-%dT%H:%M:%SZ`` in UTC), or None."""
    return None if value is None else value.astimezone(dt.UTC).strftime(DATETIME_FORMAT)


def parse_bool(value: object) -> bool | None:
    """A boolean as DRF's BooleanField reads it (true/false, 1/0, yes/no, on/off), else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return None
