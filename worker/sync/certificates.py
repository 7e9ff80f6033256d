"""``award_course_certificate``: send a learner's course certificate state to Credentials (SPEC §3.2).

Despite its name it awards *or revokes*: status ``awarded`` iff the certificate is
``downloadable``, otherwise ``revoked`` (SPEC §3.2, quirk 8).
"""

from __future__ import annotations

import dataclasses
import logging

from worker import errors, outcomes
from worker.clients import credentials
from worker.sync import host, keys, modes, payloads

log = logging.getLogger(__name__)

COURSE_CERTIFICATE = "course-run"


@dataclasses.dataclass(frozen=True)
class Rules:
    """Platform settings the rules depend on."""

    disable_honor_certificates: bool = False
    #: Program uuids that never get a certificate; ``"ALL"`` among them means no program does.
    programs_without_certificates: frozenset[str] = frozenset()


DEFAULT_RULES = Rules()


def award_course_certificate(
    reader: host.HostReader,
    client: credentials.CredentialsClient,
    payload: payloads.AwardCourseCertificate,
    rules: Rules = DEFAULT_RULES,
) -> outcomes.Outcome:
    facts = reader.course_certificate_facts(payload.username, payload.course_run_key)
    if facts is None:
        return outcomes.Skipped(
            "unknown_learner", f"no user with username {payload.username!r}", {"username": payload.username}
        )
    context = {"user_id": facts.user_id, "course_run_key": payload.course_run_key}
    try:
        course_key = keys.parse_course_key(payload.course_run_key)
    except keys.InvalidCourseKey:
        # Upstream stops quietly here (a warning, no retry): SPEC §3.2 step 4.
        return outcomes.Skipped("invalid_course_key", "Failed to determine course key", context)
    if facts.certificate_id is None or facts.certificate_mode is None or facts.certificate_status is None:
        return outcomes.Skipped(
            "no_certificate", "the learner has not earned a course certificate in this course run", context
        )
    if not modes.is_certificate_mode(
        facts.certificate_mode, disable_honor_certificates=rules.disable_honor_certificates
    ):
        return outcomes.Skipped(
            "ineligible_mode",
            f"the certificate's mode {facts.certificate_mode!r} is not eligible for a certificate",
            {**context, "mode": facts.certificate_mode},
        )
    if not facts.has_course_overview:
        return outcomes.Skipped("no_course_overview", "no course overview exists for the course run", context)

    status = "awarded" if facts.certificate_status == "downloadable" else "revoked"
    body: dict[str, object] = {
        "username": payload.username,
        "status": status,
        "credential": {
            "course_run_key": payload.course_run_key,
            "mode": facts.certificate_mode,
            "type": COURSE_CERTIFICATE,
        },
        "date_override": {"date": payloads.format_date(facts.date_override)} if facts.date_override else None,
    }
    try:
        client.post_credential(body, org=course_key.org)
    except errors.CredentialsError as exc:
        raise write_failure(exc) from exc
    return outcomes.Sent(
        {
            **context,
            "status": status,
            "mode": facts.certificate_mode,
            "certificate_status": facts.certificate_status,
            "date_override": body["date_override"],
        }
    )


def write_failure(exc: errors.CredentialsError) -> errors.SyncError:
    """What a failed write to Credentials means for the row.

    A cooldown defers it (no attempt used); an HTTP error is classified below; anything else
    (network, token endpoint) is transient.
    """
    if isinstance(exc, errors.CredentialsCoolingDown):
        return errors.DeferredSyncError(str(exc), until=exc.until)
    if isinstance(exc, errors.CredentialsHTTPError):
        return classify_write_error(exc)
    return errors.TransientSyncError(str(exc))


def classify_write_error(exc: errors.CredentialsHTTPError) -> errors.SyncError:
    """SPEC §5.6 for course certificate writes, with credsync's decision (issue 3, item 6):
    a 4xx other than 401/408/429 is a validation answer that retrying cannot change, so it fails
    the row at once with the response body; 401/408/429 and 5xx retry (429 after Retry-After).
    """
    if 400 <= exc.status < 500 and exc.status not in (401, 408, 429):
        return errors.PermanentSyncError(f"Credentials rejected the request: {exc}")
    return errors.TransientSyncError(
        str(exc), delay_ms=exc.retry_after_ms if exc.status in (429, 503) else None
    )
