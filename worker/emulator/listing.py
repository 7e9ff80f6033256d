"""Which credentials ``GET /api/v2/credentials/`` lists: UserCredentialFilter and ``only_visible``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from worker.emulator import catalog, fields, models, user_credentials

STATUSES = ("awarded", "revoked")


def matching(
    store: user_credentials.UserCredentials,
    runs: catalog.Catalog,
    params: Mapping[str, str],
    now: dt.datetime,
) -> list[models.UserCredential]:
    """The credentials the filters select, in creation order (credentials/apps/api/v2/filters.py).

    - ``program_uuid`` (even empty): the program's credentials plus the course-run credentials
      whose certificate is linked to one of the program's catalog runs; a value that is not a
      UUID selects nothing (the filter answers ``none()`` on Django's ValidationError).
    - ``type``: ``program`` or ``course-run``; any other value is no filter.
    - ``status``: ``awarded`` or ``revoked``; anything else is a 400 (a ChoiceFilter).
    - ``username``: exact, after trimming whitespace (a CharFilter).
    - ``only_visible``: ``True``/``true``/``2`` filters; every other value is no filter.

    Raises ValidationFailed for what django-filter's form rejects.
    """
    errors: dict[str, list[str]] = {}
    status = params.get("status") or ""
    if status and status not in STATUSES:
        errors["status"] = [f"Select a valid choice. {status} is not one of the available choices."]
    username = (params.get("username") or "").strip()
    if "\x00" in username:
        errors["username"] = ["Null characters are not allowed."]
    if errors:
        raise models.ValidationFailed(errors)
    selected = store.of(username) if username else store.all()
    if "program_uuid" in params:
        program_uuid = fields.to_uuid(params["program_uuid"])
        if program_uuid is None:
            return []
        program_runs = set(runs.program_runs(program_uuid))
        selected = [
            credential
            for credential in selected
            if (credential.program is not None and credential.program.uuid == program_uuid)
            or (credential.course is not None and credential.course.course_run in program_runs)
        ]
    kind = params.get("type")
    if kind in ("program", "course-run"):
        selected = [credential for credential in selected if credential.kind == kind]
    if status:
        selected = [credential for credential in selected if credential.status == status]
    if fields.filter_boolean(params.get("only_visible")):
        selected = [credential for credential in selected if _visible(credential, store, runs, now)]
    return selected


def _visible(
    credential: models.UserCredential,
    store: user_credentials.UserCredentials,
    runs: catalog.Catalog,
    now: dt.datetime,
) -> bool:
    """``filter_visible`` (credentials/apps/credentials/utils.py).

    A course-run credential is visible when its certificate's available date is null or past. A
    program credential is visible when its latest issue date is past, taken over the learner's
    course-run credentials (any status: revoked ones count) whose certificate is linked to one of
    the program's catalog runs; an issue date is the certificate's available date, else the
    credential's creation time (date overrides are ignored). With none it is never visible.
    """
    if credential.course is not None:
        available = credential.course.certificate_available_date
        return available is None or available <= now
    assert credential.program is not None
    program_runs = set(runs.program_runs(credential.program.uuid))
    issue_dates = [
        held.course.certificate_available_date or held.created
        for held in store.of(credential.username)
        if held.course is not None and held.course.course_run in program_runs
    ]
    return bool(issue_dates) and max(issue_dates) <= now
