"""The payload of each task, validated (pydantic), and the wire format of dates.

A payload that is well-formed JSON but wrong in type or value fails its row with a message naming
the key (``worker.outbox.handlers.describe``). One exception, kept from upstream: the run key of
``award_course_certificate`` is parsed by the task itself, which stops quietly on a bad key
(SPEC §3.2 step 4).
"""

from __future__ import annotations

import datetime
from typing import Annotated

import pydantic

from worker.sync import keys

DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

#: The platform's column sizes: Django's ``auth_user.username`` (150), edx-platform's
#: ``CourseKeyField`` and Credentials' ``CourseRun.key`` (255). The outbox's INSERT refuses longer
#: values (``credsync.payload_bounds()``, migration 0010); a row stored before that fails here,
#: naming the key. tests/integration/test_payload_bounds.py keeps the two in step.
USERNAME_MAX_LENGTH = 150
COURSE_KEY_MAX_LENGTH = 255
#: An ISO 8601 date-time with microseconds and an offset is 32 characters.
DATE_MAX_LENGTH = 64
KEY_MAX_LENGTH = {
    "username": USERNAME_MAX_LENGTH,
    "course_key": COURSE_KEY_MAX_LENGTH,
    "course_run_key": COURSE_KEY_MAX_LENGTH,
    "certificate_available_date": DATE_MAX_LENGTH,
}

Username = Annotated[
    str, pydantic.Strict(), pydantic.StringConstraints(min_length=1, max_length=USERNAME_MAX_LENGTH)
]
KeyText = Annotated[
    str, pydantic.Strict(), pydantic.StringConstraints(min_length=1, max_length=COURSE_KEY_MAX_LENGTH)
]


def _course_key(value: str) -> str:
    try:
        keys.parse_course_key(value)
    except keys.InvalidCourseKey as exc:
        raise ValueError(f"{exc} (expected course-v1:ORG+COURSE+RUN or ORG/COURSE/RUN)") from None
    return value


def _iso_datetime(value: object) -> datetime.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time string or null")
    if len(value) > DATE_MAX_LENGTH:
        raise ValueError(f"is {len(value):,} characters long; at most {DATE_MAX_LENGTH}")
    try:
        parsed = datetime.datetime.fromisoformat(value)
        # In UTC now, so a date whose UTC form is out of range fails here, naming the key.
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)).astimezone(datetime.UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"{value!r} is not an ISO 8601 date-time within years 1-9999") from None


CourseKeyText = Annotated[KeyText, pydantic.AfterValidator(_course_key)]
IsoDateTime = Annotated[datetime.datetime | None, pydantic.BeforeValidator(_iso_datetime)]


class _Payload(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="ignore")


class AwardProgramCertificates(_Payload):
    username: Username


class AwardCourseCertificate(_Payload):
    username: Username
    course_run_key: KeyText


class RevokeProgramCertificates(_Payload):
    username: Username
    course_key: CourseKeyText


class SendGradeToCredentials(_Payload):
    """The grade is not in the payload: the task reads the current one when it runs (SPEC-grades §2.4)."""

    username: Username
    course_run_key: CourseKeyText


class UpdateCertificateAvailableDate(_Payload):
    course_key: CourseKeyText


class UpdateCertificateConfigurationDate(_Payload):
    course_key: CourseKeyText
    certificate_available_date: IsoDateTime = None


def format_date(value: datetime.datetime | None) -> str | None:
    """``%Y-%m-%dT%H:%M:%SZ`` in UTC (naive datetimes are taken as UTC); None stays None (SPEC §8.3)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC)
    return value.strftime(DATE_FORMAT)
