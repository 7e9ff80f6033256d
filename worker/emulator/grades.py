"""Learner grades (records.UserGrade): what ``POST /api/v2/grades/`` and ``PUT``/``PATCH`` by id do.

Follows GradeViewSet and UserGradeSerializer (credentials/apps/api/v2/views.py, serializers.py), the
UserGrade model (credentials/apps/records/models.py, migrations 0003, 0004, 0021) and the DRF 3.16
fields, field mapping and mixins they are built from. The view's checks (permission, throttle)
run in ``views``; this module validates bodies and keeps the rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import itertools
import logging
from collections.abc import Callable
from typing import Any

from worker.emulator import catalog, fields, models, transport

logger = logging.getLogger(__name__)

RATE_PER_MIN = 90  # CredentialRateThrottle.THROTTLE_RATES["grade_view"]
MAX_USERNAME_CHARS = 150
MAX_LETTER_GRADE_CHARS = 255
MAX_DIGITS = 5  # percent_grade: DecimalField(max_digits=5, decimal_places=4)
DECIMAL_PLACES = 4
# The router's routes for a viewset with only the create and update mixins:
# (detail route?, method) -> action; any other method is a 405 once the checks passed.
ACTIONS = {(False, "POST"): "create", (True, "PUT"): "update", (True, "PATCH"): "partial_update"}
_UNIQUE = "UNIQUE constraint failed: records_usergrade.username, records_usergrade.course_run_id"
_SKIP = object()  # DRF's ``empty``: the field is left out of the validated data


@dataclasses.dataclass
class UserGrade:
    """A learner's grade in a course run of the catalog; one per (username, course_run)."""

    id: int
    username: str
    course_run: str
    letter_grade: str
    percent_grade: decimal.Decimal
    verified: bool
    lms_last_updated_at: dt.datetime | None
    created: dt.datetime
    modified: dt.datetime


@dataclasses.dataclass(frozen=True)
class _Field:
    """One writable serializer field as ModelSerializer maps it from the model field."""

    name: str
    required: bool
    allow_null: bool = False
    allow_blank: bool = False
    empty_html: Any = _SKIP  # an absent form field: ``empty``, but False for a BooleanField


# In the serializer's field order, which is also the order of the errors.
_FIELDS = (
    _Field("username", required=True),
    _Field("course_run", required=True),
    _Field("letter_grade", required=False, allow_blank=True),  # blank=True
    _Field("percent_grade", required=True),
    _Field("verified", required=False, empty_html=False),  # default=True
    _Field("lms_last_updated_at", required=False, allow_null=True),  # null=True
)


class UserGrades:
    """Every UserGrade, in creation order. Not thread-safe: called under the emulator's lock."""

    def __init__(self, runs: catalog.Catalog, now: Callable[[], dt.datetime]) -> None:
        self._catalog = runs
        self._now = now
        self._all: list[UserGrade] = []
        self._ids = itertools.count(1)

    def all(self) -> list[UserGrade]:
        """Every grade, in creation order."""
        return list(self._all)

    def update_or_create(self, data: Any) -> UserGrade:
        """POST: validate, then ``update_or_create`` on (username, course_run) with the fields sent.

        Only the fields present overwrite a stored row; a new row takes the model's defaults for
        the others (letter grade blank, verified, no LMS time). Nothing is compared with the stored
        row, ``lms_last_updated_at`` included: the last write wins (SPEC-grades §7.2).
        """
        values = _validate(data, self._catalog, partial=False)
        now = self._now()
        grade = next(
            (
                grade
                for grade in self._all
                if (grade.username, grade.course_run) == (values["username"], values["course_run"])
            ),
            None,
        )
        if grade is None:
            grade = UserGrade(
                id=next(self._ids),
                username=values["username"],
                course_run=values["course_run"],
                letter_grade=values.get("letter_grade", ""),
                percent_grade=values["percent_grade"],
                verified=values.get("verified", True),
                lms_last_updated_at=values.get("lms_last_updated_at"),
                created=now,
                modified=now,
            )
            self._all.append(grade)
        else:
            _assign(grade, values, now)
        logger.info(
            "Updated grade for user [%s] in course [%s] with percent_grade [%s], letter_grade [%s], "
            "verified [%s], and lms_last_updated_at [%s]",
            grade.username,
            grade.course_run,
            grade.percent_grade,
            grade.letter_grade,
            grade.verified,
            grade.lms_last_updated_at,
        )
        return grade

    def get(self, lookup: str) -> UserGrade:
        """``get_object()`` by primary key: a lookup that is no integer is a bare 404 (DRF catches
        the ValueError), an unknown id Django's 404."""
        try:
            pk = int(lookup)
        except ValueError:
            raise models.NotFound() from None
        for grade in self._all:
            if grade.id == pk:
                return grade
        raise models.NotFound("No UserGrade matches the given query.")

    def update(self, grade: UserGrade, data: Any, *, partial: bool) -> UserGrade:
        """PUT (``partial=False``: username, course_run and percent_grade required) or PATCH.

        ModelSerializer.update saves the row: moving it onto another row's (username, course_run)
        breaks the table's unique constraint, a 500 (the serializer's validators are off).
        """
        values = _validate(data, self._catalog, partial=partial)
        key = (values.get("username", grade.username), values.get("course_run", grade.course_run))
        if any(other is not grade and (other.username, other.course_run) == key for other in self._all):
            raise models.ServerError(f"IntegrityError: {_UNIQUE}")
        _assign(grade, values, self._now())
        return grade


def answer(rows: UserGrades, action: str, lookup: str | None, body: Callable[[], Any]) -> transport.Response:
    """The viewset action's answer once the checks passed; ``body()`` reads ``request.data``.

    ``create`` answers 201 whether it created or updated; ``update`` and ``partial_update`` find
    the row before reading the body, so an unknown id is a 404 whatever the body.
    """
    if action == "create":
        return transport.Response(201, serialize(rows.update_or_create(body())))
    assert lookup is not None
    grade = rows.get(lookup)
    grade = rows.update(grade, body(), partial=action == "partial_update")
    return transport.Response(200, serialize(grade))


def _assign(grade: UserGrade, values: dict[str, Any], now: dt.datetime) -> None:
    for name, value in values.items():
        setattr(grade, name, value)
    grade.modified = now  # TimeStampedModel: every save, changed or not


def _validate(data: Any, runs: catalog.Catalog, *, partial: bool) -> dict[str, Any]:
    """UserGradeSerializer.is_valid: its null-letter-grade hook, then each field, errors collected.

    The hook calls ``data.get`` before DRF looks at the body, so a body that is not an object
    (a list, a string, a number, null) crashes it: a 500, never DRF's "Invalid data" 400.
    """
    if not isinstance(data, dict):
        raise models.ServerError(f"AttributeError: '{type(data).__name__}' object has no attribute 'get'")
    if data.get("letter_grade", "") is None:
        data = {**data, "letter_grade": ""}
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for spec in _FIELDS:
        raw = _incoming(data, spec, partial=partial)
        if raw is _SKIP:
            if spec.required and not partial:
                errors[spec.name] = [fields.REQUIRED]
            continue
        if raw is None:
            if spec.allow_null:
                values[spec.name] = None
            else:
                errors[spec.name] = [fields.NULL]
            continue
        value, problems = _to_internal(spec.name, raw, runs)
        if problems:
            errors[spec.name] = problems
        else:
            values[spec.name] = value
    if errors:
        raise models.ValidationFailed(errors)
    return values


def _incoming(data: dict[str, Any], spec: _Field, *, partial: bool) -> Any:
    """DRF ``Field.get_value``: the raw value, or ``_SKIP`` for ``empty``.

    A form body is HTML input: an absent field reads as the field's ``empty_html`` (an absent
    checkbox is False, except in a partial update), and a blank value as null, blank or absent
    depending on what the field allows.
    """
    if not isinstance(data, transport.FormData):
        return data.get(spec.name, _SKIP)
    if spec.name not in data:
        return _SKIP if partial else spec.empty_html
    raw = data[spec.name]
    if raw == "" and spec.allow_null:
        return "" if spec.allow_blank else None
    if raw == "" and not spec.required:
        return "" if spec.allow_blank else _SKIP
    return raw


def _to_internal(name: str, raw: Any, runs: catalog.Catalog) -> tuple[Any, list[str]]:
    """One field's ``to_internal_value`` and validators: the value and its error messages."""
    if name == "username":
        return fields.char_field(raw, max_length=MAX_USERNAME_CHARS)
    if name == "course_run":
        # CourseRunField: CourseRun.objects.get(key=<value as text>, course__site=request.site);
        # the emulator's catalog is the one site's.
        if runs.has_run(str(raw)):
            return str(raw), []
        message = f"No CourseRun exists for key [{raw}]"
        logger.error(message)
        return None, [message]
    if name == "letter_grade":
        return fields.char_field(raw, max_length=MAX_LETTER_GRADE_CHARS, allow_blank=True)
    if name == "percent_grade":
        number, problem = fields.decimal_field(raw, max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)
        return number, [problem] if problem else []
    if name == "verified":
        flag = fields.boolean_field(raw)
        return flag, [] if flag is not None else [fields.NOT_A_BOOLEAN]
    parsed, problem = fields.datetime_field(raw)
    return parsed, [problem] if problem else []


def serialize(grade: UserGrade) -> dict[str, Any]:
    """A UserGrade as UserGradeSerializer renders it: times to the second, the percent as a string."""
    return {
        "id": grade.id,
        "username": grade.username,
        "course_run": grade.course_run,
        "letter_grade": grade.letter_grade,
        "percent_grade": f"{grade.percent_grade:f}",
        "verified": grade.verified,
        "lms_last_updated_at": fields.format_datetime(grade.lms_last_updated_at),
        "created": fields.format_datetime(grade.created),
        "modified": fields.format_datetime(grade.modified),
    }
