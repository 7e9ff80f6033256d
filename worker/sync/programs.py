"""Program certificates: ``award_program_certificates`` (SPEC §3.1), ``revoke_program_certificates`` (§3.3).

Both first read the learner's program credentials (with a token signed for the learner when
credsync signs tokens, as the LMS does: that read also creates the learner's account in
Credentials, which a first program award needs), reading no more pages than they need, then
write one program at a time with upstream's per-program rules (SPEC §5.6), except where noted:

* a 429 stops the row at once and retries it (after ``Retry-After`` when given);
* a refusal (403, 401 with a fresh token) or a hold stops the row and it waits, no attempt used;
* a network failure or a server error (5xx) is noted and the loop goes on, then the row retries
  with backoff (upstream logged a 5xx and moved on: that certificate was lost). The retry reads
  the awarded programs back, so it sends only what is still missing;
* any other HTTP error (400, 404, ...) is a validation answer: the other programs are still
  written, then the row ends ``failed`` naming each rejected program and the answer, since
  someone must fix the program's configuration in Credentials (upstream logged a warning and
  reported success). ``credsync retry`` then re-runs it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from worker import errors, outcomes
from worker.clients import credentials
from worker.sync import certificates, host, payloads

log = logging.getLogger(__name__)

PROGRAM_CERTIFICATE = "program"
#: How long a throttled read waits when the answer names no Retry-After (the throttle's window).
THROTTLE_WAIT_MS = 60_000
ALL_PROGRAMS = "ALL"


@dataclasses.dataclass
class _Progress:
    verb: str
    user_id: int
    written: list[str] = dataclasses.field(default_factory=list)
    rejected: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    unreachable: list[str] = dataclasses.field(default_factory=list)
    server_errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def details(self, **extra: Any) -> dict[str, Any]:
        """What the row did so far; failures not yet final (no answer, 5xx) only when there are some."""
        noted = {"unreachable": self.unreachable, "server_errors": self.server_errors}
        return {
            "user_id": self.user_id,
            self.verb: self.written,
            "rejected": self.rejected,
            **{k: v for k, v in noted.items() if v},
            **extra,
        }


def award_program_certificates(
    reader: host.HostReader,
    client: credentials.CredentialsClient,
    payload: payloads.AwardProgramCertificates,
    rules: certificates.Rules = certificates.DEFAULT_RULES,
) -> outcomes.Outcome:
    learner = reader.learner(payload.username)
    if learner is None:
        return outcomes.Skipped("unknown_learner", f"no user with username {payload.username!r}")
    user_id = learner.id
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
    # Programs that never get a certificate need not be looked for (each page counts against the
    # learner's read throttle).
    wanted = set(completed) - set(rules.programs_without_certificates)
    existing = _awarded_program_uuids(client, learner, wanted, raise_on_error=False)
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
    learner = reader.learner(payload.username)
    if learner is None:
        return outcomes.Skipped("unknown_learner", f"no user with username {payload.username!r}")
    user_id = learner.id
    context: dict[str, Any] = {"user_id": user_id, "course_key": payload.course_key}
    programs = reader.engaged_programs(user_id, payload.course_key)
    if not programs:
        # Engagement comes from an *active* enrollment in the run (SPEC §4.3, quirk 6).
        return outcomes.Skipped(
            "no_engaged_programs", "the learner has no programs through this course run", context
        )
    # A failed read must not look like "nothing awarded": it propagates and the row retries.
    wanted = {p.uuid for p in programs}
    existing = set(_awarded_program_uuids(client, learner, wanted, raise_on_error=True))
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
    client: credentials.CredentialsClient, learner: host.Learner, wanted: set[str], *, raise_on_error: bool
) -> list[str]:
    """Program uuids the learner holds, as Credentials lists them (awarded, only visible: SPEC §5.4).

    Stops reading pages once every program in ``wanted`` has been seen: each page counts against
    the learner's read throttle.
    """
    username = learner.identity.username
    uuids: list[str] = []
    try:
        for page in client.credential_pages(
            username=username, credential_type=PROGRAM_CERTIFICATE, learner=learner.identity
        ):
            for credential in page:
                uuid = (credential.get("credential") or {}).get("program_uuid")
                if isinstance(uuid, str):
                    uuids.append(uuid)
            if wanted <= set(uuids):
                break
    except errors.CredentialsCoolingDown as exc:
        raise errors.DeferredSyncError(str(exc), until=exc.until) from exc
    except errors.CredentialsHTTPError as exc:
        if exc.status != 429:
            return _unreadable(username, exc, raise_on_error=raise_on_error)
        # Throttled (a learner may read 15 times a minute): nothing is wrong, the row waits its
        # turn without using an attempt. Read as "none held", it would re-send held programs.
        wait_s = (exc.retry_after_ms or THROTTLE_WAIT_MS) / 1000
        raise errors.DeferredSyncError(
            f"the learner's reads are throttled by Credentials: {exc}", until=time.time() + wait_s
        ) from exc
    except errors.CredentialsError as exc:
        return _unreadable(username, exc, raise_on_error=raise_on_error)
    return uuids


def _unreadable(username: str, exc: errors.CredentialsError, *, raise_on_error: bool) -> list[str]:
    """A failed read: the revocation retries (an empty list would be a false negative); the award
    treats it as none held, as upstream (awards are update-or-create)."""
    if raise_on_error:
        delay = exc.retry_after_ms if isinstance(exc, errors.CredentialsHTTPError) else None
        raise errors.TransientSyncError(
            f"could not read the learner's program credentials: {exc}", delay_ms=delay
        ) from exc
    log.warning("could not read the program credentials of %s, treating as none: %s", username, exc)
    return []


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
            if exc.status >= 500:
                log.warning(
                    "Credentials failed on program %s of user %d: HTTP %d", uuid, progress.user_id, exc.status
                )
                progress.server_errors.append(
                    {"program_uuid": uuid, "status": exc.status, "answer": exc.body[:200]}
                )
                continue
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
    if progress.unreachable or progress.server_errors:
        failed = progress.unreachable + [e["program_uuid"] for e in progress.server_errors]
        statuses = sorted({f"HTTP {e['status']}" for e in progress.server_errors})
        why = ", ".join(
            ([f"no answer for {len(progress.unreachable)}"] if progress.unreachable else []) + statuses
        )
        raise errors.TransientSyncError(
            f"Credentials did not take programs {failed} ({why}); the row will be retried and will send only "
            "what is still missing",
            details=progress.details(),
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
