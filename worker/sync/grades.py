"""``send_grade_to_credentials``: send a learner's current course grade to Credentials (SPEC-grades §3-§4).

Upstream checked its gate (``send_grade_if_interesting``) in the LMS when a grade or a certificate
changed, and the task sent a snapshot of the grade taken then. Here the row carries only the
learner and the run: every gate of SPEC-grades §3.1 is evaluated when the row runs, on the host's
current state, and the grade sent is the one persisted now. Where upstream is broken the intended
behaviour is kept: the certificate's real mode and status decide (upstream's lookup returned the
defaults ``honor``/``unavailable``, so a grade change never reached Credentials: §7.1).

=====================================  =============================================================
gate (SPEC-grades §3.1)                when it says there is nothing to send
=====================================  =============================================================
1. Credentials config enabled          the row waits, no attempt used (every task pauses then)
2. learner records for the run's org   skipped ``learner_records_disabled``
3. a certificate in the run            skipped ``no_certificate``
4. interesting mode and status         skipped ``ineligible_mode``, ``ineligible_status``
5. the run is in a program             skipped ``not_in_a_program``
6. a grade                             never stops: no persisted grade is a zero grade (§3.1 step 6)
=====================================  =============================================================
"""

from __future__ import annotations

import math
import time
from typing import Any

from worker import errors, outcomes
from worker.clients import credentials
from worker.sync import certificates, host, keys, modes, payloads

#: The certificate statuses whose grade Credentials wants: a passed or a failed attempt (§3.1 step 4).
INTERESTING_STATUSES = frozenset({"downloadable", "notpassing"})
#: How long a row that meets a disabled config waits before it is put back (the scanner then claims
#: nothing until the config is enabled again: DESIGN "Pause, don't burn").
PAUSED_RECHECK_S = 5.0


def send_grade_to_credentials(
    reader: host.HostReader,
    client: credentials.CredentialsClient,
    payload: payloads.SendGradeToCredentials,
    rules: certificates.Rules = certificates.DEFAULT_RULES,
    *,
    learner_records_enabled: bool = True,
) -> outcomes.Outcome:
    """Send the learner's current grade in the run when every gate passes; otherwise say why not.

    ``learner_records_enabled``: the platform's ``FEATURES['ENABLE_LEARNER_RECORDS']``, which a
    site configuration of the run's org overrides (§2.3.2).
    """
    username, run = payload.username, payload.course_run_key
    org = keys.parse_course_key(run).org  # the payload model accepted only a parseable key
    facts = reader.grade_facts(username, run, org)
    if facts is None:
        return outcomes.Skipped(
            "unknown_learner", f"no user with username {username!r}", {"username": username}
        )
    context: dict[str, Any] = {"user_id": facts.user_id, "course_run_key": run}
    if not facts.credentials_enabled:
        raise errors.DeferredSyncError(
            "the current credentials_credentialsapiconfig row is disabled: the grade waits",
            until=time.time() + PAUSED_RECHECK_S,
        )
    stop = _gate(facts, org, rules, learner_records_enabled, context)
    if stop is not None:
        return stop
    body = grade_body(username, run, facts)
    try:
        client.post_grade(body, org=org)
    except errors.CredentialsError as exc:
        raise certificates.write_failure(exc) from exc
    return outcomes.Sent(
        {
            **context,
            "percent_grade": body["percent_grade"],
            "letter_grade": body["letter_grade"],
            "lms_last_updated_at": body["lms_last_updated_at"],
            "zero_grade": not facts.has_grade,
            "certificate_mode": facts.certificate_mode,
            "certificate_status": facts.certificate_status,
        }
    )


def _gate(
    facts: host.GradeFacts,
    org: str,
    rules: certificates.Rules,
    learner_records_enabled: bool,
    context: dict[str, Any],
) -> outcomes.Skipped | None:
    """Why nothing is sent (SPEC-grades §3.1 steps 2-5, in upstream's order), or None to send."""
    # Upstream reads the configuration's value as Python truth: a missing key means the platform's.
    records = bool(facts.learner_records) if facts.learner_records_set else learner_records_enabled
    if not records:
        return outcomes.Skipped(
            "learner_records_disabled",
            f"learner records are disabled for org {org!r}",
            {**context, "org": org},
        )
    mode, status = facts.certificate_mode, facts.certificate_status
    if mode is None or status is None:
        return outcomes.Skipped(
            "no_certificate", "the learner has no certificate in this course run", context
        )
    if not modes.is_certificate_mode(mode, disable_honor_certificates=rules.disable_honor_certificates):
        return outcomes.Skipped(
            "ineligible_mode",
            f"the certificate's mode {mode!r} is not eligible for a certificate",
            {**context, "mode": mode},
        )
    if status not in INTERESTING_STATUSES:
        return outcomes.Skipped(
            "ineligible_status",
            f"the certificate's status {status!r} is neither downloadable nor notpassing",
            {**context, "status": status},
        )
    if not facts.in_a_program:
        return outcomes.Skipped("not_in_a_program", "no program lists this course run", context)
    return None


def grade_body(username: str, course_run_key: str, facts: host.GradeFacts) -> dict[str, Any]:
    """The ``POST grades/`` body for the learner's grade now (SPEC-grades §3.3, §4.2), as JSON.

    Every field is sent, so Credentials ends equal to the platform (upstream's form encoding left
    out None values, and Credentials then kept the old letter grade and date: §7.6-§7.7): no letter
    is ``""``, no grade row is percent 0 with no date. The percent goes as a string with four
    decimals, the precision Credentials stores (a raw float such as 0.30000000000000004 would fail
    its five-digit rule: §7.20). ``verified`` is always true, as upstream (§2.3).
    """
    percent = 0.0 if not facts.has_grade else facts.percent_grade
    if percent is None:
        raise errors.PermanentSyncError(
            f"grades_persistentcoursegrade of user {facts.user_id} in {course_run_key} has percent_grade NULL"
        )
    return {
        "username": username,
        "course_run": course_run_key,
        "letter_grade": (facts.letter_grade or "") if facts.has_grade else "",
        "percent_grade": format_percent(percent),
        "verified": True,
        "lms_last_updated_at": payloads.format_date(facts.grade_modified) if facts.has_grade else None,
    }


def format_percent(value: float) -> str:
    """``value`` with four decimals (``0.8100``); a value that is not a finite number is sent as it
    is (``nan``), for Credentials to answer that it is not a valid number (the row then fails)."""
    return f"{value:.4f}" if math.isfinite(value) else str(value)
