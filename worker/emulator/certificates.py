"""Course certificate configurations: /api/v2/course_certificates/ and the ones credentials create."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from worker.emulator import catalog, fields, models

CERTIFICATE_TYPES = ("honor", "professional", "verified", "no-id-professional", "masters")
MAX_COURSE_ID_CHARS = 255
_UNIQUE_TYPE = "UNIQUE constraint failed: credentials_coursecertificate.course_id, certificate_type, site_id"
_UNIQUE_RUN = "UNIQUE constraint failed: credentials_coursecertificate.course_run_id"
_NULL_TYPE = "NOT NULL constraint failed: credentials_coursecertificate.certificate_type"


class CourseCertificates:
    """Every CourseCertificate, with the table's constraints: one per (course_id, type) and per run.

    Follows CourseCertificateSerializer (credentials/apps/api/v2/serializers.py) and
    CourseCertificate (credentials/apps/credentials/models.py). Not thread-safe: called under the
    emulator's lock.
    """

    def __init__(self, runs: catalog.Catalog) -> None:
        self._catalog = runs
        self._all: list[models.CourseCertificate] = []
        self._ids = itertools.count(1)

    def all(self) -> list[models.CourseCertificate]:
        """Every certificate configuration, in creation order."""
        return list(self._all)

    def create_or_update(self, data: Any) -> models.CourseCertificate:
        """POST: update-or-create keyed on (course_id, certificate_type), linking the catalog run.

        ``is_active`` and ``certificate_available_date`` are optional to the serializer but read
        with ``validated_data[...]`` by ``create``: without either the real service answers 500.
        A second type for a run that already holds a certificate breaks the one-to-one run link
        (500, every time); runs missing from the catalog are left unlinked (NULL), so they can hold
        several.
        """
        values = _validate(data, partial=False)
        for name in ("is_active", "certificate_available_date"):
            if name not in values:
                raise models.ServerError(f"KeyError: {name!r}")
        course_id = values["course_id"]
        run = course_id if self._catalog.has_run(course_id) else None
        current = next(
            (
                certificate
                for certificate in self._all
                if certificate.course_id == course_id
                and certificate.certificate_type == values["certificate_type"]
            ),
            None,
        )
        changes = {
            "is_active": values["is_active"],
            "course_run": run,
            "certificate_available_date": values["certificate_available_date"],
        }
        if current is not None:
            return self._save(dataclasses.replace(current, **changes), current)
        candidate = models.CourseCertificate(
            id=0, course_id=course_id, certificate_type=values["certificate_type"], **changes
        )
        return self._save(candidate, None)

    def retrieve(self, course_id: str) -> models.CourseCertificate:
        """GET/PUT/PATCH's lookup by ``course_id``: NotFound, or a 500 when several types share it."""
        matches = [certificate for certificate in self._all if certificate.course_id == course_id]
        if not matches:
            raise models.NotFound("No CourseCertificate matches the given query.")
        if len(matches) > 1:
            raise models.ServerError("MultipleObjectsReturned: more than one CourseCertificate")
        return matches[0]

    def update(self, course_id: str, data: Any, *, partial: bool) -> models.CourseCertificate:
        """PUT (``partial=False``) or PATCH: set the given fields and save the model."""
        current = self.retrieve(course_id)
        values = _validate(data, partial=partial)
        return self._save(dataclasses.replace(current, **values), current)

    def for_credential(self, run_key: str, mode: Any) -> models.CourseCertificate:
        """The certificate a course-run credential attaches to: the run's, or a new active one.

        ``CredentialField`` get-or-creates by (course_id, run), so an existing certificate of any
        type is used and ``mode`` only names the type of a new one; without ``mode`` the new row
        has a NULL type, which the table refuses (500).
        """
        for certificate in self._all:
            if certificate.course_id == run_key and certificate.course_run == run_key:
                return certificate
        if mode is None:
            raise models.ServerError(f"IntegrityError: {_NULL_TYPE}")
        candidate = models.CourseCertificate(0, run_key, str(mode), run_key, None, True)
        return self._save(candidate, None)

    def _save(
        self, candidate: models.CourseCertificate, current: models.CourseCertificate | None
    ) -> models.CourseCertificate:
        """CourseCertificate.save(): link the run by course_id, then the table's unique constraints."""
        if candidate.course_run is None and self._catalog.has_run(candidate.course_id):
            candidate.course_run = candidate.course_id
        if candidate.course_run is not None:
            # save() makes course_id follow the linked run's key.
            candidate.course_id = candidate.course_run
        for other in self._all:
            if other is current:
                continue
            same_type = (other.course_id, other.certificate_type) == (
                candidate.course_id,
                candidate.certificate_type,
            )
            if same_type:
                raise models.ServerError(f"IntegrityError: {_UNIQUE_TYPE}")
            if candidate.course_run is not None and other.course_run == candidate.course_run:
                raise models.ServerError(f"IntegrityError: {_UNIQUE_RUN}")
        if current is None:
            candidate.id = next(self._ids)
            self._all.append(candidate)
            return candidate
        for field in dataclasses.fields(current):
            setattr(current, field.name, getattr(candidate, field.name))
        return current


def _validate(data: Any, *, partial: bool) -> dict[str, Any]:
    """CourseCertificateSerializer's validation; ValidationFailed with DRF's body."""
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise models.ValidationFailed(
            {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
        )
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name, required, nullable in (
        ("course_id", True, False),
        ("certificate_type", True, False),
        ("certificate_available_date", False, True),
        ("is_active", False, False),
    ):
        if name not in data:
            if required and not partial:
                errors[name] = [fields.REQUIRED]
            continue
        value = data[name]
        if value is None:
            if nullable:
                values[name] = None
            else:
                errors[name] = [fields.NULL]
            continue
        parsed, problems = _field(name, value)
        if problems:
            errors[name] = problems
        else:
            values[name] = parsed
    if errors:
        raise models.ValidationFailed(errors)
    return values


def _field(name: str, value: Any) -> tuple[Any, list[str]]:
    if name == "course_id":
        # The model's validate_course_key runs before DRF's own validators; all errors are kept.
        return fields.char_field(value, max_length=MAX_COURSE_ID_CHARS, model_validator=_course_key_errors)
    if name == "certificate_type":
        choice, problem = fields.choice_field(value, CERTIFICATE_TYPES)
        return choice, [problem] if problem else []
    if name == "certificate_available_date":
        parsed = fields.parse_datetime(value)
        return parsed, [] if parsed is not None else [fields.DATETIME_FORMAT_ERROR]
    flag = fields.boolean_field(value)
    return flag, [] if flag is not None else [fields.NOT_A_BOOLEAN]


def _course_key_errors(text: str) -> list[str]:
    return [] if fields.is_course_key(text) else ["Invalid course key."]


def serialize(certificate: models.CourseCertificate) -> dict[str, Any]:
    """A CourseCertificate as the API renders it."""
    return {
        "id": certificate.id,
        "site": models.SITE_ID,
        "course_id": certificate.course_id,
        "course_run": certificate.course_run,
        "certificate_type": certificate.certificate_type,
        "certificate_available_date": fields.format_datetime(certificate.certificate_available_date),
        "is_active": certificate.is_active,
    }
