"""Parses request values the way Credentials' serializers, filters and model fields do."""

from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
from collections.abc import Callable
from typing import Any

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DATETIME_FORMAT_ERROR = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)
REQUIRED = "This field is required."
NULL = "This field may not be null."
BLANK = "This field may not be blank."
NOT_A_STRING = "Not a valid string."
NOT_A_BOOLEAN = "Must be a valid boolean."
NOT_A_NUMBER = "A valid number is required."
DATETIME_OVERFLOW = "Datetime value out of range."
# DecimalField.MAX_STRING_LENGTH (rest_framework/fields.py): longer input is refused unparsed.
MAX_DECIMAL_STRING_CHARS = 1000
# DateTimeField's input formats are ("iso-8601",): after parse_datetime fails, DRF hands the value
# to strptime with that name as the format, which matches only the literal text (in any case).
_ISO_8601_LITERAL = "iso-8601"

# Django's parse_datetime fallback after datetime.fromisoformat (django/utils/dateparse.py).
_DJANGO_DATETIME = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"[T ](?P<hour>\d{1,2}):(?P<minute>\d{1,2})"
    r"(?::(?P<second>\d{1,2})(?:[.,](?P<microsecond>\d{1,6})\d{0,6})?)?"
    r"\s*(?P<tzinfo>Z|[+-]\d{2}(?::?\d{2})?)?$"
)
# opaque-keys (opaque_keys/edx/locator.py): CourseLocator's URL_RE (namespaces course-v1 and its
# alias slashes), LibraryLocator's, and the deprecated org/course/run form. A version must be a
# 24-hex ObjectId; block parts are parsed and dropped, so a course key may carry them.
_ID = r"[\w\-~.:]+"
_SEP = r"(?:\+(?=.)|\Z)"
_COURSE_V1 = re.compile(
    rf"(?:course-v1|slashes):(?:(?P<org>{_ID})\+(?P<course>{_ID})(?:\+(?P<run>{_ID}))?{_SEP})??"
    rf"(?:branch@{_ID}{_SEP})?(?:version@(?P<version>[a-f0-9]+){_SEP})?"
    rf"(?:type@{_ID}{_SEP})?(?:block@[\w\-~.:%]+)?\Z"
)
_LIBRARY_V1 = re.compile(
    rf"library-v1:(?:(?P<org>{_ID})\+(?P<library>{_ID}){_SEP})??"
    rf"(?:branch@{_ID}{_SEP})?(?:version@(?P<version>[a-f0-9]+){_SEP})?"
    rf"(?:type@{_ID}{_SEP})?(?:block@[\w\-~.:%]+)?\Z"
)
_DEPRECATED_PART = re.compile(r"[\w.%-]+\Z")
_OBJECT_ID = re.compile(r"[a-f0-9]{24}\Z")
# DRF BooleanField (rest_framework/fields.py): compared after lowercasing strings, no stripping.
_TRUE: frozenset[Any] = frozenset({"t", "y", "yes", "true", "on", "1", 1})  # 1 == True
_FALSE: frozenset[Any] = frozenset({"f", "n", "no", "false", "off", "0", 0})  # 0 == False
# Django's NullBooleanSelect, the widget of django-filter's BooleanFilter: anything else is None.
_FILTER_BOOLEANS = {"True": True, "true": True, "2": True, "False": False, "false": False, "3": False}


def missing_or_null(data: dict[str, Any], name: str) -> str:
    """DRF's message for a required field that is absent or null."""
    return NULL if name in data else REQUIRED


def char_field(
    value: Any,
    *,
    max_length: int | None = None,
    allow_blank: bool = False,
    model_validator: Callable[[str], list[str]] | None = None,
) -> tuple[str, list[str]]:
    """A DRF CharField value (numbers become strings, whitespace trimmed) and its errors.

    The caller has already dealt with an absent or null value. ``model_validator`` (the model
    field's own validators) runs before DRF's length and character checks; all errors are kept.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return "", [NOT_A_STRING]
    text = str(value).strip()
    if not text:
        return "", [] if allow_blank else [BLANK]
    leading = model_validator(text) if model_validator is not None else []
    return text, leading + string_errors(text, max_length)


def string_errors(text: str, max_length: int | None) -> list[str]:
    """DRF CharField's validators: the maximum length, then null and surrogate characters."""
    errors = []
    if max_length is not None and len(text) > max_length:
        errors.append(f"Ensure this field has no more than {max_length} characters.")
    if "\x00" in text:
        errors.append("Null characters are not allowed.")
    surrogate = next((char for char in text if 0xD800 <= ord(char) <= 0xDFFF), None)
    if surrogate is not None:
        errors.append(f"Surrogate characters are not allowed: U+{ord(surrogate):X}.")
    return errors


def choice_field(value: Any, choices: tuple[str, ...]) -> tuple[str, str | None]:
    """A DRF ChoiceField value (compared as ``str(value)``) and its error, if any."""
    text = str(value)
    if text in choices:
        return text, None
    return "", f'"{value}" is not a valid choice.'


def boolean_field(value: Any) -> bool | None:
    """A DRF BooleanField value, or None when it is not one (null is handled by the caller)."""
    lowered = value.lower() if isinstance(value, str) else value
    try:
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    except TypeError:  # unhashable (a list or an object)
        return None
    return None


def filter_boolean(value: str | None) -> bool | None:
    """A query-string boolean as django-filter's BooleanFilter reads it; None means no filter."""
    return _FILTER_BOOLEANS.get(value) if value is not None else None


def parse_datetime(value: Any) -> dt.datetime | None:
    """A DRF DateTimeField value in UTC, or None when it is not a datetime string.

    Django's ``parse_datetime`` tries ``datetime.fromisoformat`` first, so a bare date
    (``2027-01-01``) is midnight; a naive value is UTC (``TIME_ZONE = "UTC"``).
    """
    parsed = _iso_datetime(value)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        return None


def datetime_field(value: Any) -> tuple[dt.datetime | None, str | None]:
    """DRF DateTimeField.to_internal_value (ISO-8601 input, UTC): the value, or its error message.

    Besides ``parse_datetime``'s rules it keeps DRF's own two answers: an aware value that leaves
    the datetime range in UTC is ``Datetime value out of range.``, and the literal ``iso-8601``
    (strptime with the format's name) is 1900-01-01T00:00:00Z.
    """
    parsed = _iso_datetime(value)
    if parsed is None and isinstance(value, str) and value.lower() == _ISO_8601_LITERAL:
        parsed = dt.datetime(1900, 1, 1)  # naive: made aware below, as DRF does
    if parsed is None:
        return None, DATETIME_FORMAT_ERROR
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC), None
    try:
        return parsed.astimezone(dt.UTC), None
    except OverflowError:
        return None, DATETIME_OVERFLOW


def _iso_datetime(value: Any) -> dt.datetime | None:
    """Django's parse_datetime (naive or aware), None where it fails or raises."""
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return _django_datetime(value)


def decimal_field(
    value: Any, *, max_digits: int, decimal_places: int
) -> tuple[decimal.Decimal | None, str | None]:
    """DRF DecimalField.to_internal_value: the value quantized to ``decimal_places``, or its error.

    The value is read as ``str(value)`` stripped (so ``true`` is not a number, and a float keeps
    its repr's noise: ``0.30000000000000004`` has too many digits); NaN and infinities are not
    numbers. The precision rules count digits as DRF does, trailing zeros included
    (``1.00000`` has six); the first rule broken is the only message.
    """
    text = str(value).strip()
    if len(text) > MAX_DECIMAL_STRING_CHARS:
        return None, "String value too large."
    try:
        number = decimal.Decimal(text)
    except decimal.DecimalException:
        return None, NOT_A_NUMBER
    if number.is_nan() or number.is_infinite():
        return None, NOT_A_NUMBER
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # not NaN nor infinite
    if exponent >= 0:
        total = whole = len(digits) + exponent
        places = 0
    elif len(digits) > -exponent:
        total, places = len(digits), -exponent
        whole = total - places
    else:
        total = places = -exponent
        whole = 0
    if total > max_digits:
        return None, f"Ensure that there are no more than {max_digits} digits in total."
    if places > decimal_places:
        return None, f"Ensure that there are no more than {decimal_places} decimal places."
    if whole > max_digits - decimal_places:
        limit = max_digits - decimal_places
        return None, f"Ensure that there are no more than {limit} digits before the decimal point."
    context = decimal.Context(prec=max_digits)
    return number.quantize(decimal.Decimal(1).scaleb(-decimal_places), context=context), None


def _django_datetime(value: str) -> dt.datetime | None:
    match = _DJANGO_DATETIME.match(value)
    if match is None:
        return None
    parts = match.groupdict()
    offset = parts.pop("tzinfo")
    microsecond = (parts.pop("microsecond") or "").ljust(6, "0")
    numbers = {name: int(text) for name, text in parts.items() if text is not None}
    tzinfo: dt.tzinfo | None = None
    if offset == "Z":
        tzinfo = dt.UTC
    elif offset is not None:
        minutes = int(offset[1:3]) * 60 + (int(offset[-2:]) if len(offset) > 3 else 0)
        tzinfo = dt.timezone(dt.timedelta(minutes=-minutes if offset[0] == "-" else minutes))
    try:
        return dt.datetime(**numbers, microsecond=int(microsecond), tzinfo=tzinfo)
    except ValueError:
        return None


def format_datetime(value: dt.datetime | None) -> str | None:
    """The API's rendering of a datetime (REST_FRAMEWORK DATETIME_FORMAT, UTC), or None."""
    return None if value is None else value.astimezone(dt.UTC).strftime(DATETIME_FORMAT)


def to_uuid(value: Any) -> uuid.UUID | None:
    """Django UUIDField.to_python: an int is a UUID's number, a string any ``uuid.UUID`` hex form."""
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return uuid.UUID(int=value)
        return uuid.UUID(hex=value)
    except (AttributeError, ValueError, TypeError):
        return None


def invalid_uuid_message(value: Any) -> str:
    """Django UUIDField's ``invalid`` message."""
    return f"“{value}” is not a valid UUID."


def is_course_key(value: str) -> bool:
    """Whether ``CourseKey.from_string`` accepts ``value`` (opaque-keys' course-v1, library-v1, a/b/c)."""
    for pattern, parts in ((_COURSE_V1, ("org", "course", "run")), (_LIBRARY_V1, ("org", "library"))):
        match = pattern.match(value)
        if match is not None:
            version = match.group("version")
            if version is not None:
                return _OBJECT_ID.match(version) is not None
            return all(match.group(part) for part in parts)
    if value.count("/") != 2:
        return False
    org, course, run = value.split("/")
    # The deprecated form checks org and course; an empty run passes (CourseLocator.__init__).
    return all(_DEPRECATED_PART.match(part) for part in (org, course)) and (
        not run or _DEPRECATED_PART.match(run) is not None
    )
