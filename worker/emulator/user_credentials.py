"""Learners' credentials: issuing, updating and rendering them (POST/PUT/PATCH /api/v2/credentials/)."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import uuid
from collections.abc import Callable
from typing import Any

from worker.emulator import accounts, catalog, certificates, fields, models, serializers

_LEARNER_RECORDS_CRASH = (
    "AttributeError: 'NoneType' object has no attribute 'id' "
    "(credentials/apps/records/utils.py send_updated_emails_for_program)"
)


class UserCredentials:
    """Every UserCredential, keyed on (username, kind, configuration id) as the table is.

    Not thread-safe: the emulator calls it under its lock. ``now`` is the emulator's clock.
    """

    def __init__(
        self,
        *,
        programs: dict[uuid.UUID, models.ProgramCertificate],
        runs: catalog.Catalog,
        course_certificates: certificates.CourseCertificates,
        users: accounts.Accounts,
        rng: random.Random,
        now: Callable[[], dt.datetime],
    ) -> None:
        self._programs = programs
        self._catalog = runs
        self._certificates = course_certificates
        self._accounts = users
        self._rng = rng
        self._now = now
        self._ids = itertools.count(1)
        self._by_key: dict[tuple[str, models.CredentialKind, int], models.UserCredential] = {}
        self._by_uuid: dict[uuid.UUID, models.UserCredential] = {}
        self._by_username: dict[str, list[models.UserCredential]] = {}

    def all(self) -> list[models.UserCredential]:
        """Every credential, in creation order."""
        return list(self._by_uuid.values())

    def of(self, username: str) -> list[models.UserCredential]:
        """A learner's credentials (exact username), in creation order."""
        return list(self._by_username.get(username, ()))

    def credential_field(self, value: dict[str, Any]) -> serializers.Target:
        """CredentialField.to_internal_value (credentials/apps/api/v2/serializers.py), writable.

        A program needs an active ProgramCertificate; a course run must be in the catalog, and
        then its certificate is fetched or created (a side effect kept even if the request fails
        validation elsewhere: ATOMIC_REQUESTS is off). ``type`` is ignored.
        """
        program_uuid = value.get("program_uuid")
        if program_uuid:
            parsed = fields.to_uuid(program_uuid)
            if parsed is None:
                raise models.ValidationFailed([fields.invalid_uuid_message(program_uuid)])
            program = self._programs.get(parsed)
            if program is None or not program.active:
                message = f"No active ProgramCertificate exists for program [{program_uuid}]"
                raise models.ValidationFailed({"program_uuid": message})
            return program
        run_key = value.get("course_run_key")
        if not run_key:
            raise models.ValidationFailed(["Credential identifier is missing."])
        if not self._catalog.has_run(str(run_key)):
            message = (
                f"CourseCertificate failed to create because the CourseRun {run_key} doesn't exist "
                "in the catalog"
            )
            raise models.ValidationFailed({"course_run_key": message})
        certificate = self._certificates.for_credential(str(run_key), value.get("mode"))
        if not certificate.is_active:
            message = f"No active CourseCertificate exists for course run [{run_key}]"
            raise models.ValidationFailed({"course_run_key": message})
        return certificate

    def issue(self, data: Any, *, learner_records: bool) -> models.UserCredential:
        """POST: update-or-create keyed on (username, kind, configuration), then the issuer's extras.

        A program credential created for a username without an account crashes the learner
        records code while learner records are on (credentials/apps/credentials/issuers.py
        ``_send_updated_emails_for_program`` → records/utils.py logs ``user.id`` of a missing user):
        a 500, and the atomic issue stores nothing. Updating an existing one does not get there.
        """
        creation = serializers.validate_creation(data, self.credential_field)
        target = creation.target
        is_program = isinstance(target, models.ProgramCertificate)
        kind: models.CredentialKind = "program" if is_program else "course-run"
        key = (creation.username, kind, target.id)
        credential = self._by_key.get(key)
        created = credential is None
        if is_program and created and learner_records and self._accounts.get(creation.username) is None:
            raise models.ServerError(_LEARNER_RECORDS_CRASH)
        now = self._now()
        if credential is None:
            credential = models.UserCredential(
                id=next(self._ids),
                uuid=uuid.UUID(int=self._rng.getrandbits(128), version=4),
                username=creation.username,
                program=target if isinstance(target, models.ProgramCertificate) else None,
                course=target if isinstance(target, models.CourseCertificate) else None,
                status="awarded",
                attributes={},
                date_override=None,
                created=now,
                modified=now,
            )
            self._by_key[key] = credential
            self._by_uuid[credential.uuid] = credential
            self._by_username.setdefault(credential.username, []).append(credential)
        credential.status = creation.status or "awarded"
        credential.modified = now
        credential.attributes.update(creation.attributes)
        if kind == "course-run":
            # The program issuer never touches overrides; the course issuer sets or deletes one.
            credential.date_override = creation.date_override
        return credential

    def find(self, lookup: str) -> models.UserCredential:
        """The credential a detail URL names by uuid (the viewset's ``lookup_field``)."""
        parsed = fields.to_uuid(lookup)
        if parsed is None:
            raise models.NotFound()
        credential = self._by_uuid.get(parsed)
        if credential is None:
            raise models.NotFound("No UserCredential matches the given query.")
        return credential

    def update(self, credential: models.UserCredential, data: Any) -> models.UserCredential:
        """PUT/PATCH of one credential: only its status can change."""
        status = serializers.validate_update(data)
        if status is not None:
            credential.status = status
        credential.modified = self._now()
        return credential

    def revoke(self, credential: models.UserCredential) -> models.UserCredential:
        """DELETE of one credential: revoked, never deleted (CredentialViewSet.perform_destroy)."""
        credential.status = "revoked"
        credential.modified = self._now()
        return credential


def serialize(credential: models.UserCredential, base_url: str) -> dict[str, Any]:
    """A UserCredential as the API renders it; ``certificate_url`` is built on ``base_url``."""
    if credential.program is not None:
        identity: dict[str, Any] = {
            "type": "program",
            "credential_id": credential.program.id,
            "program_uuid": str(credential.program.uuid),
        }
    else:
        assert credential.course is not None
        identity = {
            "type": "course-run",
            "course_run_key": credential.course.course_run or credential.course.course_id,
            "mode": credential.course.certificate_type,
        }
    override = credential.date_override
    return {
        "username": credential.username,
        "credential": identity,
        "status": credential.status,
        "uuid": str(credential.uuid),
        "attributes": [{"name": name, "value": value} for name, value in credential.attributes.items()],
        "date_override": None if override is None else {"date": fields.format_datetime(override)},
        "created": fields.format_datetime(credential.created),
        "modified": fields.format_datetime(credential.modified),
        "certificate_url": f"{base_url}/credentials/{credential.uuid.hex}/",
    }
