"""The emulated Credentials records (accounts, certificates, credentials) and the errors rules raise.

Errors::

    ApiError                 an answer other than success, raised by a rule
    ├── ValidationFailed     400 with DRF's error body
    ├── NotFound             404 with ``{"detail": ...}``
    └── ServerError          500 with Django's HTML error page (the real service crashed)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any, Literal

CredentialKind = Literal["program", "course-run"]
SITE_ID = 1


class ApiError(Exception):
    """An answer other than success."""


class ValidationFailed(ApiError):
    """A 400; ``errors`` is the DRF-style body."""

    def __init__(self, errors: Any) -> None:
        super().__init__(errors)
        self.errors = errors


class NotFound(ApiError):
    """A 404 with a DRF ``detail``."""

    def __init__(self, detail: str = "Not found.") -> None:
        super().__init__(detail)
        self.detail = detail


class ServerError(ApiError):
    """A 500: what the real service raises here (``reason``, logged, names the exception)."""


@dataclasses.dataclass
class Account:
    """A Credentials user (``core.User``), created by its first authentication."""

    id: int
    username: str
    email: str = ""
    full_name: str = ""
    lms_user_id: int | None = None
    is_staff: bool = False
    is_superuser: bool = False
    groups: set[str] = dataclasses.field(default_factory=set)
    permissions: set[str] = dataclasses.field(default_factory=set)  # granted to the user directly


@dataclasses.dataclass
class ProgramCertificate:
    """A program's certificate configuration, linked to its catalog Program (same uuid)."""

    id: int
    uuid: uuid.UUID
    active: bool


@dataclasses.dataclass
class CourseCertificate:
    """A course run's certificate configuration; ``course_run`` is the catalog run key or None."""

    id: int
    course_id: str
    certificate_type: str
    course_run: str | None
    certificate_available_date: dt.datetime | None
    is_active: bool


@dataclasses.dataclass
class UserCredential:
    """A learner's program or course-run credential; exactly one of ``program``/``course`` is set."""

    id: int
    uuid: uuid.UUID
    username: str
    program: ProgramCertificate | None
    course: CourseCertificate | None
    status: str
    attributes: dict[str, str]
    date_override: dt.datetime | None
    created: dt.datetime
    modified: dt.datetime

    @property
    def kind(self) -> CredentialKind:
        """``program`` or ``course-run``."""
        return "program" if self.program is not None else "course-run"
