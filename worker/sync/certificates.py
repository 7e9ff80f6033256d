"""``award_course_certificate``: send a learner's course certificate state to Credentials (SPEC §3.2).

Despite its name it awards *or revokes*: status ``awarded`` iff the certificate is
``downloadable``, otherwise ``revoked`` (SPEC §3.2, quirk 8). Credentials attaches the award to
the run's one course certificate whatever mode is sent, and its answer names that certificate's type
(``credential.mode``, SPEC §5.7): it is remembered (``worker.sync.certificate_types``) for the
configuration task, and the row's result shows it (``stored_mode``) beside the mode sent.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from worker import errors, outcomes
from worker.clients import credentials
from worker.sync import certificate_types, host, keys, modes, payloads

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
    prepared = course_credential(reader, payload.username, payload.course_run_key, rules)
    if isinstance(prepared, outcomes.Skipped):
        return prepared
    try:
        answer = client.post_credential(prepared.body, org=prepared.org)
    except errors.CredentialsError as exc:
        raise write_failure(exc) from exc
    stored_mode = remember_stored_mode(certificate_types.Book(reader.database), client, prepared, answer)
    return outcomes.Sent(
        {
            **prepared.context,
            "status": prepared.status,
            "mode": prepared.mode,
            "stored_mode": stored_mode,
            "mode_differs": None if stored_mode is None else stored_mode != prepared.mode,
            "certificate_status": prepared.certificate_status,
            "date_override": prepared.body["date_override"],
        }
    )


@dataclasses.dataclass(frozen=True)
class CourseCredential:
    """The award (or revocation) ``award_course_certificate`` sends for a learner's certificate now."""

    body: dict[str, Any]
    #: The course run key's org: it chooses the Credentials root (SPEC §5.1).
    org: str
    #: ``user_id`` and ``course_run_key``, for results and messages.
    context: dict[str, Any]
    status: str
    mode: str
    certificate_status: str


def course_credential(
    reader: host.HostReader, username: str, course_run_key: str, rules: Rules = DEFAULT_RULES
) -> CourseCredential | outcomes.Skipped:
    """What to send for the learner's certificate in the run, from the host's current state, or why
    nothing is sent (SPEC §3.2 steps 2-8 and its body)."""
    facts = reader.course_certificate_facts(username, course_run_key)
    if facts is None:
        return outcomes.Skipped(
            "unknown_learner", f"no user with username {username!r}", {"username": username}
        )
    context = {"user_id": facts.user_id, "course_run_key": course_run_key}
    try:
        course_key = keys.parse_course_key(course_run_key)
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
    body: dict[str, Any] = {
        "username": username,
        "status": status,
        "credential": {
            "course_run_key": course_run_key,
            "mode": facts.certificate_mode,
            "type": COURSE_CERTIFICATE,
        },
        "date_override": {"date": payloads.format_date(facts.date_override)} if facts.date_override else None,
    }
    return CourseCredential(
        body=body,
        org=course_key.org,
        context=context,
        status=status,
        mode=facts.certificate_mode,
        certificate_status=facts.certificate_status,
    )


def remember_stored_mode(
    book: certificate_types.Book,
    client: credentials.CredentialsClient,
    sent: CourseCredential,
    answer: Mapping[str, Any],
) -> str | None:
    """The mode Credentials stored for the run, as its award answer says (``credential.mode``),
    remembered for the Credentials service the award went to; None when the answer does not say.

    Credentials attaches a course-run award to the run's one certificate, whatever mode was sent
    (SPEC §5.7), so this is the run's certificate type there.
    """
    credential = answer.get("credential")
    stored = credential.get("mode") if isinstance(credential, Mapping) else None
    if not isinstance(stored, str) or not stored:
        log.warning(
            "the award answer for user %s in course run %s does not say the stored mode",
            sent.context["user_id"],
            sent.context["course_run_key"],
        )
        return None
    destination = credentials.destination(client.api_url("credentials/", org=sent.org))
    book.learn(destination, sent.context["course_run_key"], stored, certificate_types.AWARD_ANSWER)
    return stored


def write_failure(exc: errors.CredentialsError) -> errors.SyncError:
    """What a failed write to Credentials means for the row.

    A hold defers it, no attempt used: a cooldown, or a refusal (403, or 401 with a fresh token:
    Credentials refuses credsync, and no attempt of any row changes that). An HTTP error is
    classified below; anything else (network, token endpoint) is transient.
    """
    if isinstance(exc, errors.CredentialsCoolingDown):
        return errors.DeferredSyncError(str(exc), until=exc.until)
    if isinstance(exc, errors.CredentialsHTTPError):
        return classify_write_error(exc)
    return errors.TransientSyncError(str(exc))


def classify_write_error(exc: errors.CredentialsHTTPError) -> errors.SyncError:
    """SPEC §5.6 for course certificate writes, with credsync's decision (issue 3, item 6):
    a 4xx other than 408/429 is a validation answer that retrying cannot change, so it fails
    the row at once with the response body; 408/429 and 5xx retry (429 after Retry-After).
    (401 and 403 never get here: the client turns them into a refusal, which defers the row.)
    """
    if 400 <= exc.status < 500 and exc.status not in (401, 403, 408, 429):
        return errors.PermanentSyncError(f"Credentials rejected the request: {exc}")
    return errors.TransientSyncError(
        str(exc), delay_ms=exc.retry_after_ms if exc.status in (429, 503) else None
    )
