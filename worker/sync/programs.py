"""Program certificates: ``award_program_certificates`` (SPEC §3.1), ``revoke_program_certificates`` (§3.3).

Both write one program at a time and share upstream's per-program rules (SPEC §5.6): a 429 stops
the row at once and retries it (after ``Retry-After`` when given; rows meeting the cooldown it
leaves wait without using an attempt); a network failure is noted and
the loop goes on, then the row retries; any other HTTP error (400, 404, 5xx, ...) is not retried.
credsync's outcome for that last case: the other programs are still written, then the row ends
``failed`` naming each rejected program and the answer, since someone must fix the program's
configuration in Credentials (upstream logged a warning and reported success). ``credsync retry``
then re-runs it; programs already written are read back and not sent again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

from worker import errors, outcomes
from worker.clients import credentials
from worker.sync import certificates, host, payloads

log = logging.getLogger(__name__)

PROGRAM_CERTIFICATE = "program"
ALL_PROGRAMS = "ALL"


@dataclasses.dataclass
class _Progress:
    verb: str
    user_id: int
    written: list[str] = dataclasses.field(default_factory=list)
    rejected: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    unreachable: list[str] = dataclasses.field(default_factory=list)

    def details(self, **extra: Any) -> dict[str, Any]:
        return {"user_id": self.user_id, self.verb: self.written, "rejected": self.rejected, **extra}


def award_program_certificates(
    reader: host.HostReader,
    client: credentials.CredentialsClient,
    payload: payloads.AwardProgramCertificates,
    rules: certificates.Rules = certificates.DEFAULT_RULES,
) -> outcomes.Outcome:
    user_id = reader.learner_id(payload.username)
    if user_id is None:
        return outcomes.Skipped("unknown_learner", f"no user with username {payload.username!r}")
    if ALL_PROGRAMS in rules.programs_without_certificates:
        return outcomes.Skipped(
            "no_program_certificates", "CREDSYNC_PROGRAMS_WITHOUT_CERTIFICATES is ALL", {"user_id": user_id}
        )
    completed = [p.uuid for p in reader.completed_programs(user_id)]
    if not completed:
        # Upstream stops here without asking Credentials anything.
        return outcomes.Skipped(
            "no_completed_programs", "the learner has no completed programs", {"user_id": user_id}
        )
    existing = _awarded_program_uuids(client, payload.username, raise_on_error=False)
    skip = set(existing) | set(rules.programs_without_certificates)
    new = sorted(set(completed) - skip)  # upstream's deterministic (lexicographic) order
    context = {
        "user_id": user_id,
        "completed": completed,
        "already_awarded": sorted(set(existing) & set(completed)),
    }
    if not new:
        return outcomes.Skipped(
            "no_new_programs", "the learner is not eligible for any new program certificates", context
        )
    progress = _Progress("awarded", user_id)
    _write_each(
        new,
        progress,
        lambda uuid: client.post_credential(
            {
                "username": payload.username,
                "lms_user_id": user_id,
                "credential": {"type": PROGRAM_CERTIFICATE, "program_uuid": uuid},
            }
        ),
    )
    return outcomes.Sent(progress.details(**context))


def revoke_program_certificates(
    reader: host.HostReader,
    client: credentials.CredentialsClient,
    payload: payloads.RevokeProgramCertificates,
    rules: certificates.Rules = certificates.DEFAULT_RULES,
) -> outcomes.Outcome:
    user_id = reader.learner_id(payload.username)
    if user_id is None:
        return outcomes.Skipped("unknown_learner", f"no user with username {payload.username!r}")
    context: dict[str, Any] = {"user_id": user_id, "course_key": payload.course_key}
    programs = reader.engaged_programs(user_id, payload.course_key)
    if not programs:
        # Engagement comes from an *active* enrollment in the run (SPEC §4.3, quirk 6).
        return outcomes.Skipped(
            "no_engaged_programs", "the learner has no programs through this course run", context
        )
    # A failed read must not look like "nothing awarded": it propagates and the row retries.
    existing = set(_awarded_program_uuids(client, payload.username, raise_on_error=True))
    to_revoke = [p.uuid for p in programs if p.uuid in existing]  # program title order
    context["engaged"] = [p.uuid for p in programs]
    if not to_revoke:
        return outcomes.Skipped(
            "no_program_certificates_to_revoke", "no awarded program certificate to revoke", context
        )
    progress = _Progress("revoked", user_id)
    _write_each(
        to_revoke,
        progress,
        lambda uuid: client.post_credential(
            {
                "username": payload.username,
                "status": "revoked",
                "credential": {"type": PROGRAM_CERTIFICATE, "program_uuid": uuid},
            }
        ),
    )
    return outcomes.Sent(progress.details(**context))


def _awarded_program_uuids(
    client: credentials.CredentialsClient, username: str, *, raise_on_error: bool
) -> list[str]:
    """Program uuids the learner holds, as Credentials lists them (awarded, only visible: SPEC §5.4)."""
    try:
        listed = client.list_credentials(username=username, credential_type=PROGRAM_CERTIFICATE)
    except errors.CredentialsCoolingDown as exc:
        raise errors.DeferredSyncError(str(exc), until=exc.until) from exc
    except errors.CredentialsError as exc:
        if raise_on_error:
            delay = exc.retry_after_ms if isinstance(exc, errors.CredentialsHTTPError) else None
            raise errors.TransientSyncError(
                f"could not read the learner's program credentials: {exc}", delay_ms=delay
            ) from exc
        # Upstream's award path treats an unreadable list as empty: awards are update-or-create.
        log.warning("could not read the program credentials of %s, treating as none: %s", username, exc)
        return []
    uuids = []
    for credential in listed:
        uuid = (credential.get("credential") or {}).get("program_uuid")
        if isinstance(uuid, str):
            uuids.append(uuid)
    return uuids


def _write_each(uuids: Sequence[str], progress: _Progress, write: Callable[[str], object]) -> None:
    for uuid in uuids:
        try:
            write(uuid)
        except errors.CredentialsCoolingDown as exc:
            # Nothing was sent for this program; what was written so far stays written.
            raise errors.DeferredSyncError(str(exc), until=exc.until, details=progress.details()) from exc
        except errors.CredentialsHTTPError as exc:
            if exc.status == 429:
                log.warning(
                    "rate limited while %s program %s for user %d", progress.verb, uuid, progress.user_id
                )
                raise errors.TransientSyncError(
                    f"Rate limited by Credentials ({progress.verb} {len(progress.written)} of {len(uuids)} "
                    f"programs so far): {exc}",
                    delay_ms=exc.retry_after_ms,
                    details=progress.details(),
                ) from exc
            log.warning(
                "Credentials rejected program %s for user %d: HTTP %d", uuid, progress.user_id, exc.status
            )
            progress.rejected.append({"program_uuid": uuid, "status": exc.status, "answer": exc.body[:500]})
        except errors.CredentialsUnavailable as exc:
            log.warning(
                "could not reach Credentials for program %s of user %d: %s", uuid, progress.user_id, exc
            )
            progress.unreachable.append(uuid)
        else:
            log.info("%s program certificate of user %d in program %s", progress.verb, progress.user_id, uuid)
            progress.written.append(uuid)
    if progress.unreachable:
        raise errors.TransientSyncError(
            f"could not reach Credentials for programs {progress.unreachable}; the row will be retried",
            details=progress.details(unreachable=progress.unreachable),
        )
    if progress.rejected:
        answers = "; ".join(
            f"{r['program_uuid']}: HTTP {r['status']} {r['answer']}" for r in progress.rejected
        )
        raise errors.PermanentSyncError(
            f"Credentials rejected {len(progress.rejected)} of {len(uuids)} programs "
            f"(check their program certificate configuration): {answers}",
            details=progress.details(),
        )
