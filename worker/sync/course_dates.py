"""Course certificate available dates: the two course tasks (SPEC §3.4, §3.5).

``update_certificate_available_date_on_course_update`` chooses the date from the run's pacing and
display behaviour and hands it to its subtask as a new outbox row, written in the transaction that
finishes the parent (SPEC §8.7). The subtask,
``update_credentials_course_certificate_configuration_available_date``, sends it to Credentials'
course certificate configuration.
"""

from __future__ import annotations

import datetime
import logging

from worker import errors, outcomes
from worker.clients import credentials
from worker.sync import certificates, host, modes, payloads

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
    slugs = [
        slug
        for slug in reader.course_mode_slugs(payload.course_key)
        if modes.is_certificate_mode(slug, disable_honor_certificates=rules.disable_honor_certificates)
    ]
    if len(slugs) != 1:
        # Upstream logged this and stopped: the run's modes are wrong and someone must fix them.
        raise errors.PermanentSyncError(
            f"Either course {payload.course_key} has no certificate mode or multiple modes "
            f"(certificate modes found, one per currency: {slugs}). Task failed."
        )
    body = {
        "course_id": payload.course_key,
        "certificate_type": slugs[0],
        "certificate_available_date": payloads.format_date(payload.certificate_available_date),
        "is_active": True,
    }
    try:
        status, _ = client.post_course_certificate_configuration(body)
    except errors.CredentialsError as exc:
        raise certificates.write_failure(exc) from exc
    if status != 201:
        # The service always answers 201 on success; anything else is worth a look, not a retry.
        log.error("course certificate configuration %s answered HTTP %d instead of 201", body, status)
    return outcomes.Sent({**body, "http_status": status})
