"""The emulated Credentials data and its rules: program and course certificates, user credentials."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
import uuid as uuid_module
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from worker.emulator import fields

CredentialKind = Literal["program", "course-run"]
STATUSES = ("awarded", "revoked")
KINDS: tuple[CredentialKind, ...] = ("program", "course-run")
CERTIFICATE_TYPES = ("honor", "professional", "verified", "no-id-professional", "masters")
SITE_ID = 1
MAX_CHARS = 255

Errors = dict[str, Any]


class ValidationFailed(Exception):
    """A request the API answers with 400; ``errors`` is the DRF-style body."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclasses.dataclass
class ProgramCertificate:
    """A program's certificate configuration; ``course_runs`` drive ``only_visible``."""

    id: int
    uuid: str
    active: bool
    course_runs: frozenset[str]


@dataclasses.dataclass
class CourseCertificate:
    """A course run's certificate configuration for one certificate type (mode)."""

    id: int
    course_id: str
    certificate_type: str
    certificate_available_date: dt.datetime | None
    is_active: bool


@dataclasses.dataclass
class UserCredential:
    """A learner's program or course-run credential; exactly one of ``program``/``course`` is set."""

    uuid: str
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


def normalize_program_uuid(value: str) -> str | None:
    """The canonical (lowercase, hyphenated) form of a UUID string, or None when it is not one."""
    try:
        return str(uuid_module.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


class Store:
    """All emulated Credentials data, with the create-or-update and listing rules of SPEC §5.

    Not thread-safe: the emulator calls it under its lock. ``now`` is the emulator's clock.
    """

    def __init__(self, rng: random.Random, now: Callable[[], dt.datetime]) -> None:
        self._rng = rng
        self._now = now
        self._programs: dict[str, ProgramCertificate] = {}
        self._course_certificates: dict[tuple[str, str], CourseCertificate] = {}
        self._credentials: dict[tuple[str, CredentialKind, int], UserCredential] = {}
        self._all: list[UserCredential] = []
        self._by_username: dict[str, list[UserCredential]] = {}
        self._program_ids = itertools.count(1)
        self._course_certificate_ids = itertools.count(1)

    # -- configuration -------------------------------------------------------------------------

    def configure_program(
        self, program_uuid: str, *, active: bool, course_runs: Iterable[str]
    ) -> ProgramCertificate:
        """Create or update the ProgramCertificate of a program; ValueError on a malformed uuid."""
        canonical = normalize_program_uuid(program_uuid)
        if canonical is None:
            raise ValueError(f"not a program uuid: {program_uuid!r}")
        runs = [course_runs] if isinstance(course_runs, str) else list(course_runs)
        if not all(isinstance(run, str) for run in runs):
            raise ValueError("course_runs must be a list of course run keys")
        program = self._programs.get(canonical)
        if program is None:
            program = ProgramCertificate(next(self._program_ids), canonical, bool(active), frozenset(runs))
            self._programs[canonical] = program
        else:
            program.active = bool(active)
            program.course_runs = frozenset(runs)
        return program

    def programs(self) -> list[ProgramCertificate]:
        """Every configured ProgramCertificate, in configuration order."""
        return list(self._programs.values())

    def course_certificates(self) -> list[CourseCertificate]:
        """Every CourseCertificate, in creation order."""
        return list(self._course_certificates.values())

    def credentials(self) -> list[UserCredential]:
        """Every UserCredential, in creation order."""
        return list(self._all)

    # -- POST /api/v2/course_certificates/ (SPEC §5.5) -------------------------------------------

    def upsert_course_certificate(self, body: object) -> CourseCertificate:
        """Create or update the CourseCertificate keyed on (course_id, certificate_type)."""
        data = _require_object(body)
        errors: Errors = {}
        course_id = data.get("course_id")
        if course_id is None:
            errors["course_id"] = [_missing_or_null(data, "course_id")]
        elif not fields.is_course_key(course_id):
            errors["course_id"] = [f"Invalid course key: {course_id}"]
        certificate_type = data.get("certificate_type")
        if certificate_type is None:
            errors["certificate_type"] = [_missing_or_null(data, "certificate_type")]
        elif certificate_type not in CERTIFICATE_TYPES:
            errors["certificate_type"] = [f'"{certificate_type}" is not a valid choice.']
        available = data.get("certificate_available_date")
        available_date: dt.datetime | None = None
        if available is not None:
            available_date = fields.parse_datetime(available) if isinstance(available, str) else None
            if available_date is None:
                errors["certificate_available_date"] = [fields.DATETIME_FORMAT_ERROR]
        # The model's default: a configuration posted without is_active is inactive.
        is_active = fields.parse_bool(data.get("is_active", False))
        if is_active is None:
            errors["is_active"] = ["Must be a valid boolean."]
        if errors:
            raise ValidationFailed(errors)
        assert isinstance(course_id, str)
        assert isinstance(certificate_type, str)
        assert is_active is not None
        certificate = self._course_certificate(course_id, certificate_type, create_active=is_active)
        certificate.is_active = is_active
        certificate.certificate_available_date = available_date
        return certificate

    # -- POST /api/v2/credentials/ (SPEC §5.3) ---------------------------------------------------

    def upsert_credential(self, body: object) -> UserCredential:
        """Create or update the UserCredential keyed on (username, credential type, credential id).

        Revoking a credential that never existed creates a revoked one. A course-run credential
        auto-creates an active CourseCertificate for (run, mode); an inactive one is a 400.
        ``date_override`` is set when given and deleted when null or absent (course runs only).
        """
        data = _require_object(body)
        errors: Errors = {}
        username = _username(data, errors)
        status = data.get("status", "awarded")
        if status not in STATUSES:
            errors["status"] = [f'"{status}" is not a valid choice.']
        attributes = _attributes(data, errors)
        date_override = _date_override(data, errors)
        target = self._credential_target(data, errors)
        if errors:
            raise ValidationFailed(errors)
        assert username is not None
        assert attributes is not None
        assert target is not None
        program, course = target
        key: tuple[str, CredentialKind, int]
        if program is not None:
            key = (username, "program", program.id)
        else:
            assert course is not None
            key = (username, "course-run", course.id)
        now = self._now()
        credential = self._credentials.get(key)
        if credential is None:
            credential = UserCredential(
                uuid=str(uuid_module.UUID(int=self._rng.getrandbits(128), version=4)),
                username=username,
                program=program,
                course=course,
                status=str(status),
                attributes={},
                date_override=None,
                created=now,
                modified=now,
            )
            self._credentials[key] = credential
            self._all.append(credential)
            self._by_username.setdefault(username, []).append(credential)
        credential.status = str(status)
        credential.modified = now
        credential.attributes.update(attributes)
        if course is not None:
            credential.date_override = date_override
        return credential

    def _credential_target(
        self, data: Mapping[str, Any], errors: Errors
    ) -> tuple[ProgramCertificate | None, CourseCertificate | None] | None:
        if "credential" not in data or data["credential"] is None:
            errors["credential"] = [_missing_or_null(data, "credential")]
            return None
        credential = data["credential"]
        if not isinstance(credential, dict):
            errors["credential"] = ["Credential identifier is missing."]
            return None
        program_uuid = credential.get("program_uuid")
        if program_uuid:
            canonical = normalize_program_uuid(program_uuid) if isinstance(program_uuid, str) else None
            program = self._programs.get(canonical) if canonical is not None else None
            if program is None or not program.active:
                message = f"No active ProgramCertificate exists for program [{program_uuid}]"
                errors["credential"] = {"program_uuid": message}
                return None
            return program, None
        run_key = credential.get("course_run_key")
        if not run_key:
            errors["credential"] = ["Credential identifier is missing."]
            return None
        if not fields.is_course_key(run_key):
            errors["credential"] = {"course_run_key": f"No course run exists with a key of [{run_key}]"}
            return None
        mode = credential.get("mode")
        if not isinstance(mode, str) or not mode:
            errors["credential"] = {"mode": "A course-run credential needs the certificate mode."}
            return None
        certificate = self._course_certificate(run_key, mode, create_active=True)
        if not certificate.is_active:
            message = f"No active CourseCertificate exists for course run [{run_key}] and mode [{mode}]"
            errors["credential"] = {"course_run_key": message}
            return None
        return None, certificate

    def _course_certificate(
        self, course_id: str, certificate_type: str, *, create_active: bool
    ) -> CourseCertificate:
        certificate = self._course_certificates.get((course_id, certificate_type))
        if certificate is None:
            certificate = CourseCertificate(
                next(self._course_certificate_ids), course_id, certificate_type, None, create_active
            )
            self._course_certificates[(course_id, certificate_type)] = certificate
        return certificate

    # -- GET /api/v2/credentials/ (SPEC §5.4) ----------------------------------------------------

    def list_credentials(self, query: Mapping[str, str]) -> list[UserCredential]:
        """The credentials matching the listing filters, in creation order.

        Filters (an empty value means no filter): ``username``, ``status``, ``type`` (``program`` or
        ``course-run``), ``program_uuid`` and ``only_visible``. With ``only_visible`` true a course-run
        credential is visible when its CourseCertificate's available date is null or past; a program
        credential is visible when the learner holds at least one *awarded* course-run credential for
        one of the program's ``course_runs`` and the latest issue date among those is past (an issue
        date is the credential's date override, else its certificate's available date, else its
        creation time). Simplification: a program configured without ``course_runs`` counts as
        visible, since the emulator has no catalog to find its runs in.
        """
        errors: Errors = {}
        username = query.get("username") or None
        status = query.get("status") or None
        if status is not None and status not in STATUSES:
            errors["status"] = [_choice_error(status)]
        kind = query.get("type") or None
        if kind is not None and kind not in KINDS:
            errors["type"] = [_choice_error(kind)]
        program_uuid: str | None = None
        if query.get("program_uuid"):
            program_uuid = normalize_program_uuid(query["program_uuid"])
            if program_uuid is None:
                errors["program_uuid"] = ["Enter a valid UUID."]
        only_visible = fields.parse_bool(query.get("only_visible") or False)
        if only_visible is None:
            errors["only_visible"] = ["Enter a valid boolean."]
        if errors:
            raise ValidationFailed(errors)
        candidates = self._by_username.get(username, []) if username is not None else self._all
        now = self._now()
        return [
            credential
            for credential in candidates
            if (status is None or credential.status == status)
            and (kind is None or credential.kind == kind)
            and (
                program_uuid is None
                or (credential.program is not None and credential.program.uuid == program_uuid)
            )
            and (not only_visible or self._is_visible(credential, now))
        ]

    def _is_visible(self, credential: UserCredential, now: dt.datetime) -> bool:
        if credential.course is not None:
            available = credential.course.certificate_available_date
            return available is None or available <= now
        assert credential.program is not None
        runs = credential.program.course_runs
        if not runs:
            return True
        issue_dates = [
            _issue_date(held)
            for held in self._by_username.get(credential.username, [])
            if held.course is not None and held.status == "awarded" and held.course.course_id in runs
        ]
        return bool(issue_dates) and max(issue_dates) <= now


def _issue_date(credential: UserCredential) -> dt.datetime:
    if credential.date_override is not None:
        return credential.date_override
    if credential.course is not None and credential.course.certificate_available_date is not None:
        return credential.course.certificate_available_date
    return credential.created


# -- serialization -------------------------------------------------------------------------------


def serialize_credential(credential: UserCredential, base_url: str) -> dict[str, Any]:
    """A UserCredential as the API renders it; ``certificate_url`` is built on ``base_url``."""
    if credential.program is not None:
        identity: dict[str, Any] = {
            "type": "program",
            "credential_id": credential.program.id,
            "program_uuid": credential.program.uuid,
        }
    else:
        assert credential.course is not None
        identity = {
            "type": "course-run",
            "course_run_key": credential.course.course_id,
            "mode": credential.course.certificate_type,
        }
    override = credential.date_override
    return {
        "username": credential.username,
        "credential": identity,
        "status": credential.status,
        "uuid": credential.uuid,
        "attributes": [{"name": name, "value": value} for name, value in credential.attributes.items()],
        "date_override": None if override is None else {"date": fields.format_datetime(override)},
        "created": fields.format_datetime(credential.created),
        "modified": fields.format_datetime(credential.modified),
        "certificate_url": f"{base_url}/credentials/{uuid_module.UUID(credential.uuid).hex}/",
    }


def serialize_course_certificate(certificate: CourseCertificate) -> dict[str, Any]:
    """A CourseCertificate as the API renders it (the run is its own catalog entry here)."""
    return {
        "id": certificate.id,
        "site": SITE_ID,
        "course_id": certificate.course_id,
        "course_run": certificate.course_id,
        "certificate_type": certificate.certificate_type,
        "certificate_available_date": fields.format_datetime(certificate.certificate_available_date),
        "is_active": certificate.is_active,
    }


def serialize_program(program: ProgramCertificate) -> dict[str, Any]:
    """A ProgramCertificate as the admin API renders it."""
    return {
        "id": program.id,
        "uuid": program.uuid,
        "active": program.active,
        "course_runs": sorted(program.course_runs),
    }


# -- field rules shared by the endpoints ---------------------------------------------------------


def _require_object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        kind = "list" if isinstance(body, list) else type(body).__name__
        raise ValidationFailed(
            {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
        )
    return body


def _missing_or_null(data: Mapping[str, Any], name: str) -> str:
    return "This field may not be null." if name in data else "This field is required."


def _choice_error(value: str) -> str:
    return f"Select a valid choice. {value} is not one of the available choices."


def _char_field(value: object) -> tuple[str | None, str | None]:
    """DRF CharField: numbers become strings, whitespace is trimmed; (value, error)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, "Not a valid string."
    text = str(value).strip()
    if not text:
        return None, "This field may not be blank."
    if len(text) > MAX_CHARS:
        return None, f"Ensure this field has no more than {MAX_CHARS} characters."
    return text, None


def _username(data: Mapping[str, Any], errors: Errors) -> str | None:
    if data.get("username") is None:
        errors["username"] = [_missing_or_null(data, "username")]
        return None
    username, error = _char_field(data["username"])
    if error is not None:
        errors["username"] = [error]
    return username


def _attributes(data: Mapping[str, Any], errors: Errors) -> dict[str, str] | None:
    raw = data.get("attributes", [])
    if raw is None:
        errors["attributes"] = ["This field may not be null."]
        return None
    if not isinstance(raw, list):
        errors["attributes"] = [f'Expected a list of items but got type "{type(raw).__name__}".']
        return None
    parsed: dict[str, str] = {}
    item_errors: list[Errors] = []
    names: list[str] = []
    for item in raw:
        item_error: Errors = {}
        if not isinstance(item, dict):
            item_errors.append({"non_field_errors": ["Invalid data. Expected a dictionary."]})
            continue
        values: dict[str, str] = {}
        for name in ("name", "value"):
            if item.get(name) is None:
                item_error[name] = [_missing_or_null(item, name)]
                continue
            text, error = _char_field(item[name])
            if error is not None:
                item_error[name] = [error]
            elif text is not None:
                values[name] = text
        item_errors.append(item_error)
        if not item_error:
            names.append(values["name"])
            parsed[values["name"]] = values["value"]
    if any(item_errors):
        errors["attributes"] = item_errors
        return None
    if len(names) != len(set(names)):
        errors["attributes"] = ["Attribute names cannot be duplicated."]
        return None
    return parsed


def _date_override(data: Mapping[str, Any], errors: Errors) -> dt.datetime | None:
    raw = data.get("date_override")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        kind = type(raw).__name__
        errors["date_override"] = {
            "non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]
        }
        return None
    if raw.get("date") is None:
        errors["date_override"] = {"date": [_missing_or_null(raw, "date")]}
        return None
    parsed = fields.parse_datetime(raw["date"]) if isinstance(raw["date"], str) else None
    if parsed is None:
        errors["date_override"] = {"date": [fields.DATETIME_FORMAT_ERROR]}
    return parsed
