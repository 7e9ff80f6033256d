"""Which certificate type a course run has in Credentials, and how credsync found out (SPEC §5.7).

Remembered in ``credsync.course_certificate_type`` (``worker.sync.certificate_types``), else looked
up with ``GET course_certificates/<key>/``, else learned from the answer to one learner's re-sent
course-run award: the course dates task configures that type, never a second one.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from worker import errors, outcomes
from worker.clients import credentials
from worker.sync import certificate_types, certificates, host, modes, payloads

log = logging.getLogger(__name__)

# How the type sent was known (``type_known_by`` in the row's result).
REMEMBERED = "remembered"  # credsync.course_certificate_type held it (``type_learned_from`` says how)
LOOKUP = certificate_types.LOOKUP  # GET course_certificates/<key>/ answered it
AWARD_ANSWER = certificate_types.AWARD_ANSWER  # a re-sent course-run award's answer showed it
NO_CERTIFICATE = "no_certificate"  # the lookup found no certificate: one of the platform's mode is made
NOT_LEARNED = "not_learned"  # it could not be learned (``type_unknown_because`` says why)


@dataclasses.dataclass(frozen=True)
class StoredType:
    """What is known of the certificate type Credentials stores for a run, and how it was found.

    ``certificate_type`` is None when the run has no certificate (``NO_CERTIFICATE``) or when the
    type could not be learned (``NOT_LEARNED``, with ``unknown_because``).
    """

    certificate_type: str | None
    known_by: str
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    unknown_because: str | None = None


def remembered(known: certificate_types.Known) -> StoredType:
    """What ``credsync.course_certificate_type`` holds for the run."""
    return StoredType(
        known.certificate_type,
        REMEMBERED,
        {"type_learned_from": known.source, "type_learned_at": payloads.format_date(known.learned_at)},
    )


def learn(
    reader: host.HostReader,
    client: credentials.CredentialsClient,
    book: certificate_types.Book,
    destination: str,
    course_key: str,
    rules: certificates.Rules,
) -> StoredType:
    """Learn the type Credentials (at ``destination``) stores for the run, and remember it.

    A key the service can look up (no ``.``, no ``/``) is asked for with ``GET
    course_certificates/<key>/``: 200 gives the type, 404 means the run has none. For any other key
    that GET always answers 404 (SPEC §5.7), so one learner's course-run award is re-sent exactly as
    ``award_course_certificate`` would send it now (update-or-create of the host's truth, safe to
    repeat), and its answer's ``credential.mode`` is the stored type.
    """
    if certificate_types.can_be_looked_up(course_key):
        try:
            found = client.get_course_certificate_configuration(course_key)
        except errors.CredentialsError as exc:
            raise certificates.write_failure(exc) from exc
        if found is None:
            return StoredType(None, NO_CERTIFICATE)
        stored = found.get("certificate_type")
        if not isinstance(stored, str) or not stored:
            return _not_learned(f"GET course_certificates/{course_key}/ answered without a certificate_type")
        book.learn(destination, course_key, stored, certificate_types.LOOKUP)
        return StoredType(stored, LOOKUP)
    return _type_from_an_award(reader, client, book, destination, course_key, rules)


def _type_from_an_award(
    reader: host.HostReader,
    client: credentials.CredentialsClient,
    book: certificate_types.Book,
    destination: str,
    course_key: str,
    rules: certificates.Rules,
) -> StoredType:
    cannot_look_up = (
        "its key contains '.' or '/', for which GET course_certificates/<key>/ answers 404 whether or "
        "not the run has a certificate, and "
    )
    # The certificate modes award_course_certificate skips (SPEC §3.2 step 6): audit, and honor
    # when honor certificates are disabled.
    ineligible = [
        mode
        for mode in ("audit", "honor")
        if not modes.is_certificate_mode(mode, disable_honor_certificates=rules.disable_honor_certificates)
    ]
    holder = reader.course_run_certificate_holder(course_key, ineligible_modes=ineligible)
    if holder is None:
        return _not_learned(
            cannot_look_up + "no learner holds an eligible certificate in the run, so no course-run "
            "award could show it"
        )
    user_id, username = holder
    award = certificates.course_credential(reader, username, course_key, rules)
    if isinstance(award, outcomes.Skipped):
        return _not_learned(
            cannot_look_up + f"the course-run award of user {user_id} (the learner chosen to show it) "
            f"is not sent: {award.message}"
        )
    award_destination = credentials.destination(client.api_url("credentials/", org=award.org))
    if award_destination != destination:
        return _not_learned(
            cannot_look_up + f"course-run awards of org {award.org} go to {award_destination}, not to "
            f"{destination} where course certificates are configured"
        )
    try:
        answer = client.post_credential(award.body, org=award.org)
    except errors.CredentialsHTTPError as exc:
        if exc.status == 400:
            # The run is missing from Credentials' catalog, or its certificate is inactive.
            return _not_learned(
                cannot_look_up + f"re-sending the course-run award of user {user_id} was refused: {exc}"
            )
        raise certificates.write_failure(exc) from exc
    except errors.CredentialsError as exc:
        raise certificates.write_failure(exc) from exc
    stored = certificates.remember_stored_mode(book, client, award, answer)
    if stored is None:
        return _not_learned(
            cannot_look_up + f"the answer to the re-sent course-run award of user {user_id} did not say "
            "the stored mode"
        )
    log.info(
        "course run %s: Credentials stores certificate type %r (the answer to user %s's re-sent award)",
        course_key,
        stored,
        user_id,
    )
    return StoredType(stored, AWARD_ANSWER, {"type_learned_via_user_id": user_id})


def _not_learned(why: str) -> StoredType:
    return StoredType(None, NOT_LEARNED, {"type_unknown_because": why}, unknown_because=why)
