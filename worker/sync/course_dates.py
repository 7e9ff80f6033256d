"""Course certificate available dates: the two course tasks (SPEC §3.4, §3.5).

``update_certificate_available_date_on_course_update`` chooses the date from the run's pacing and
display behaviour and hands it to its subtask as a new outbox row, written in the transaction that
finishes the parent (SPEC §8.7). The subtask,
``update_credentials_course_certificate_configuration_available_date``, sends it to Credentials'
course certificate configuration: on the certificate the run HAS there, whatever its type, since
Credentials keeps one per run and answers 500 to a second type (SPEC §5.7). The stored type comes
from what credsync remembers (``worker.sync.certificate_types``), else from a lookup or a re-sent
course-run award; only a run without a certificate gets one of the platform's mode.
"""

from __future__ import annotations

import datetime
import logging

from worker import errors, outcomes
from worker.clients import credentials
from worker.sync import certificate_types, certificates, host, modes, payloads, stored_types

log = logging.getLogger(__name__)

SUBTASK = "update_credentials_course_certificate_configuration_available_date"
END = "end"
END_WITH_DATE = "end_with_date"
EARLY_NO_INFO = "early_no_info"


def update_certificate_available_date_on_course_update(
    reader: host.HostReader, payload: payloads.UpdateCertificateAvailableDate
) -> outcomes.Outcome:
    overview = reader.course_overview(payload.course_key)
    if overview is None:
        return outcomes.Skipped(
            "no_course_overview",
            f"Unable to send the updated certificate available date of course run [{payload.course_key}] to "
            "Credentials. A course overview for this course run could not be found",
            {"course_key": payload.course_key},
        )
    date = available_date(overview)
    follow_up = {"course_key": payload.course_key, "certificate_available_date": payloads.format_date(date)}
    return outcomes.Enqueued(
        {
            "course_key": payload.course_key,
            "self_paced": overview.self_paced,
            "certificates_display_behavior": overview.certificates_display_behavior,
            "certificate_available_date": follow_up["certificate_available_date"],
            "subtask": SUBTASK,
        },
        (outcomes.FollowUp(SUBTASK, follow_up),),
    )


def available_date(overview: host.CourseOverview) -> datetime.datetime | None:
    """The date Credentials should gate the run's certificates on (SPEC §3.4 step 3, §8.3, §8.4).

    Self-paced runs never have one, even if a date is stored. Instructor-paced: end_with_date →
    the available date, end → the run's end, early_no_info → none; anything else is bad data.
    """
    if overview.self_paced:
        return None
    behavior = overview.certificates_display_behavior
    if behavior == END_WITH_DATE:
        return overview.certificate_available_date
    if behavior == END:
        return overview.end
    if behavior == EARLY_NO_INFO:
        return None
    raise errors.PermanentSyncError(
        f"course run {overview.id} is instructor-paced with certificates_display_behavior {behavior!r}; "
        f"expected one of {END!r}, {END_WITH_DATE!r}, {EARLY_NO_INFO!r}"
    )


def update_credentials_course_certificate_configuration_available_date(
    reader: host.HostReader,
    client: credentials.CredentialsClient,
    payload: payloads.UpdateCertificateConfigurationDate,
    rules: certificates.Rules = certificates.DEFAULT_RULES,
) -> outcomes.Outcome:
    """Set the run's available date on the certificate the run has in Credentials, whatever its type.

    Credentials keeps one certificate per course run and answers HTTP 500 to a second type (SPEC
    §5.7), so the type sent is the stored one when it is known or can be learned (see
    ``worker.sync.stored_types``); only a run without a certificate gets one of the platform's mode. When the
    type could not be learned and the platform's mode answers 500, the row fails at once, saying
    why and what to do, instead of spending its retries on a 500 that will not change.
    """
    key = payload.course_key
    platform_mode = the_platform_mode(reader, key, rules)
    date = payloads.format_date(payload.certificate_available_date)
    book = certificate_types.Book(reader.database)
    destination = credentials.destination(client.api_url("course_certificates/"))
    remembered = book.get(destination, key)
    found = (
        stored_types.remembered(remembered)
        if remembered
        else stored_types.learn(reader, client, book, destination, key, rules)
    )
    try:
        return _configure(client, book, destination, key, date, platform_mode, found)
    except errors.CredentialsError as exc:
        if remembered is not None and _second_type_refused(exc):
            # What was remembered may be stale (the certificate changed in Credentials): ask again,
            # and if the run now has another type, configure that one.
            fresh = stored_types.learn(reader, client, book, destination, key, rules)
            if fresh.certificate_type is not None and fresh.certificate_type != remembered.certificate_type:
                log.warning(
                    "course run %s: the remembered certificate type %r is stale, Credentials stores %r",
                    key,
                    remembered.certificate_type,
                    fresh.certificate_type,
                )
                try:
                    return _configure(client, book, destination, key, date, platform_mode, fresh)
                except errors.CredentialsError as again:
                    raise _failure(again, key, platform_mode, fresh) from again
        raise _failure(exc, key, platform_mode, found) from exc


def the_platform_mode(reader: host.HostReader, course_key: str, rules: certificates.Rules) -> str:
    """The run's one certificate mode on the platform (SPEC §3.5 steps 2-3); anything else is bad data."""
    slugs = [
        slug
        for slug in reader.course_mode_slugs(course_key)
        if modes.is_certificate_mode(slug, disable_honor_certificates=rules.disable_honor_certificates)
    ]
    if len(slugs) != 1:
        # Upstream logged this and stopped: the run's modes are wrong and someone must fix them.
        raise errors.PermanentSyncError(
            f"Either course {course_key} has no certificate mode or multiple modes "
            f"(certificate modes found, one per currency: {slugs}). Task failed."
        )
    return slugs[0]


def _configure(
    client: credentials.CredentialsClient,
    book: certificate_types.Book,
    destination: str,
    course_key: str,
    date: str | None,
    platform_mode: str,
    found: stored_types.StoredType,
) -> outcomes.Sent:
    """POST the configuration with the stored type (else the platform's mode); remember the answer.

    ``errors.CredentialsError`` is left to the caller.
    """
    certificate_type = found.certificate_type or platform_mode
    body = {
        "course_id": course_key,
        "certificate_type": certificate_type,
        "certificate_available_date": date,
        "is_active": True,
    }
    status, answer = client.post_course_certificate_configuration(body)
    if status != 201:
        # The service always answers 201 on success; anything else is worth a look, not a retry.
        log.error("course certificate configuration %s answered HTTP %d instead of 201", body, status)
    answered = answer.get("certificate_type")
    stored = answered if isinstance(answered, str) and answered else certificate_type
    book.learn(destination, course_key, stored, certificate_types.CONFIGURATION_ANSWER)
    return outcomes.Sent(
        {
            **body,
            "http_status": status,
            "platform_mode": platform_mode,
            "differs_from_platform_mode": certificate_type != platform_mode,
            "type_known_by": found.known_by,
            **found.details,
        }
    )


def _second_type_refused(exc: errors.CredentialsError) -> bool:
    """Whether the answer is the one a second certificate type for a run gets: HTTP 500.

    Only 500: a 502, 503 or 504 comes from a proxy or an outage (often with Retry-After), which a
    retry outlives; failing the row on it would be wrong.
    """
    return isinstance(exc, errors.CredentialsHTTPError) and exc.status == 500


def _failure(
    exc: errors.CredentialsError, course_key: str, platform_mode: str, found: stored_types.StoredType
) -> errors.SyncError:
    """What a failed configuration POST means for the row.

    A 500 for the platform's mode when the stored type could not be learned is Credentials' one
    certificate per run rule at work (a 500 on every attempt, SPEC §5.7): the row fails at once with
    what to do. Otherwise as every course certificate write (a 500 when the type was known retries).
    """
    if found.unknown_because is None or not _second_type_refused(exc):
        return certificates.write_failure(exc)
    assert isinstance(exc, errors.CredentialsHTTPError)
    return errors.PermanentSyncError(
        f"Credentials keeps one certificate per course run, and answered HTTP {exc.status} to "
        f"configuring course run {course_key} as {platform_mode!r} (the platform's course mode): the "
        f"run most likely has a certificate of another type already. Its stored type could not be "
        f"learned because {found.unknown_because}. To fix it, look the run up in Credentials' admin "
        f"(Course certificates) and make the platform's course mode match that certificate's type or "
        f"change the certificate, or let a learner's course-run award in this run through (its answer "
        f"teaches credsync the stored type); then retry this row (credsync retry <id>). "
        f"Credentials answered: {exc.body[:300]}",
        details={
            "course_id": course_key,
            "certificate_type": platform_mode,
            "platform_mode": platform_mode,
            "type_known_by": found.known_by,
            **found.details,
        },
    )
