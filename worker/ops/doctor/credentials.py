"""The Credentials check: the token and the API answer through the client, and the holds in force."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from worker import db, errors
from worker.clients import advice
from worker.clients import credentials as credentials_client
from worker.ops.doctor import findings

CHECK_CREDENTIALS = "credentials"

CREDENTIALS_SLOW_MS = 2_000
#: The learner the Credentials probe asks about: any username exercises the token and the API.
PROBE_USERNAME = "credsync-doctor"


def check_credentials(
    database: db.Database,
    client: credentials_client.CredentialsClient | None,
    *,
    now: Callable[[], float] = time.time,
) -> findings.Finding:
    """A token and API calls through ``client`` (may it read learners' credentials?), and the holds."""
    hold_verdict, hold_note, hold_advice = _holds(database, now())
    verdict: findings.Verdict
    advice: str | None
    if client is None:
        verdict, summary = "warn", "not checked: no Credentials client configured"
        advice = (
            "set CREDENTIALS_URL, and LMS_JWT_ISSUER, LMS_JWT_AUDIENCE and LMS_JWT_PRIVATE_SIGNING_JWK "
            "(or OAUTH_URL, OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET)"
        )
    else:
        verdict, summary, advice = _probe(client)
    summary += hold_note
    if hold_advice is not None:
        advice = hold_advice if advice is None else f"{advice} Also: {hold_advice}"
        verdict = _worst(verdict, hold_verdict)
    return findings.Finding(CHECK_CREDENTIALS, verdict, summary, advice)


def _worst(a: findings.Verdict, b: findings.Verdict) -> findings.Verdict:
    order: tuple[findings.Verdict, ...] = ("ok", "warn", "fail")
    return a if order.index(a) >= order.index(b) else b


def _probe(client: credentials_client.CredentialsClient) -> tuple[findings.Verdict, str, str | None]:
    """Is the service token accepted, and may it read another user's credentials?

    Signing tokens, credsync reads a learner's credentials as that learner, so the service user
    reads only its own here; with OAuth only, every read goes with the service token, so reading
    another user's must be allowed (a default install refuses it: 403).
    """
    api = client.api_url("credentials/")
    signer = client.signer
    own = signer.service_username if signer is not None else PROBE_USERNAME
    how = (
        f"tokens signed here ({signer.algorithm}, issuer {signer.issuer!r}, audience {signer.audience!r})"
        if signer is not None
        else f"the token from {client.token_url} (client_id {client.client_id!r})"
    )
    started = time.perf_counter()
    try:
        client.list_credentials(username=own)
    except errors.CredentialsTokenError as exc:
        return _token_endpoint_failure(client, exc)
    except errors.CredentialsRefused as exc:
        if exc.status == 403 and signer is None:
            return (
                "fail",
                f"{how} is accepted, but GET {api} for another user answered HTTP 403: the service token may "
                "not read learners' credentials, so program certificates cannot be awarded or revoked",
                f"{advice.VIEW_GRANT}; {advice.SIGN_AS_LEARNER}. {advice.WITHOUT_KEY}.",
            )
        return "fail", f"{how}: {exc}", None
    except errors.CredentialsCoolingDown as exc:
        return "warn", f"not called: {exc}", "Credentials asked to wait; see the holds"
    except errors.CredentialsHTTPError as exc:
        summary = (
            f"GET {api} answered HTTP {exc.status} after {findings.ms_since(started):.0f} ms (token accepted)"
        )
        if exc.status == 404:
            return "fail", summary, f"check CREDENTIALS_URL: the API is expected at {api}"
        if exc.status in (429, 503):
            return "warn", summary, "Credentials is busy; rows wait for its Retry-After, using no attempts"
        return "fail", summary, "Credentials is failing: check its logs"
    except errors.CredentialsUnavailable as exc:
        return (
            "fail",
            f"unreachable: {exc}",
            "check that CREDENTIALS_URL (and OAUTH_URL) are right and reachable from this host (DNS, "
            "firewall, TLS)",
        )
    elapsed_ms = findings.ms_since(started)
    summary = f"{how} accepted: GET {api} answered in {elapsed_ms:.0f} ms"
    if signer is not None:
        summary += "; " + _others_note(client)
    else:
        summary += "; the service token may read learners' credentials"
    if elapsed_ms > CREDENTIALS_SLOW_MS:
        return "warn", summary, "Credentials (or the OAuth provider) answers slowly: check their load"
    return "ok", summary, None


def _others_note(client: credentials_client.CredentialsClient) -> str:
    """Signing tokens: whether the service token could also read others' (not needed; for the record)."""
    try:
        client.list_credentials(username=PROBE_USERNAME)
    except errors.CredentialsRefused:
        return (
            "learners' credentials are read with learner tokens (the service token may not read them: "
            "no grant needed)"
        )
    except errors.CredentialsError as exc:
        return f"could not tell whether the service token may read others' credentials ({exc})"
    return "learners' credentials are read with learner tokens (the service token may read them too)"


def _token_endpoint_failure(
    client: credentials_client.CredentialsClient, exc: errors.CredentialsTokenError
) -> tuple[findings.Verdict, str, str | None]:
    code = _oauth_error_code(exc.body)
    summary = f"the token endpoint {exc.url} answered HTTP {exc.status}" + (f" ({code})" if code else "")
    if exc.status == 401 or code in ("invalid_client", "unauthorized_client"):
        return (
            "fail",
            summary,
            f"the OAuth provider rejected client {client.client_id!r}: check OAUTH_CLIENT_ID and "
            "OAUTH_CLIENT_SECRET (a client-credentials OAuth application on the LMS for the Credentials "
            "service user)",
        )
    if exc.status == 404:
        return "fail", summary, "check OAUTH_URL: no token endpoint there"
    return "fail", summary, "the OAuth provider at OAUTH_URL is failing: check its logs and try again"


def _holds(database: db.Database, now_s: float) -> tuple[findings.Verdict, str, str | None]:
    """The holds in force: Retry-After cooldowns and learners' throttles wait; refusals need a fix."""
    try:
        with database.transaction() as cur:
            findings.limit_statement_time(cur)
            rows = db.fetch_all(cur, "cooldown_active", {"now": findings.timestamp(now_s)})
    except errors.DatabaseError as exc:
        return "warn", f"; holds unreadable ({exc})", "check that `credsync migrate` has run"
    if not rows:
        return "ok", "; no hold in force", None
    refused = [r for r in rows if r["kind"] == "refused"]
    learners = [r for r in rows if r["kind"] == "learner_throttle"]
    waits = [r for r in rows if r["kind"] == "retry_after"]
    parts = [f"{len(learners)} learner(s) throttled (only their rows wait)"] if learners else []
    parts += [
        f"{r['destination']} for {findings.duration(r['until'].timestamp() - now_s)} more ({r['reason']})"
        for r in waits
    ]
    parts += [f"REFUSED since {findings.ago(r['since'].timestamp(), now_s)}: {r['reason']}" for r in refused]
    note = f"; {len(rows)} hold(s) in force: " + "; ".join(parts)
    if refused:
        return (
            "fail",
            note,
            "Credentials refuses credsync: rows that need the refused call wait, using no attempts, and go "
            "on by themselves within a minute of the fix (each refusal above names it)",
        )
    if waits:
        names = ", ".join(f"'{row['destination']}'" for row in waits)
        return (
            "warn",
            note,
            "Credentials asked credsync to wait (429/503 with Retry-After): rows for it wait without using "
            "attempts. If it lasts, check the service's load and rate limits; to lift it early: "
            f"DELETE FROM credsync.cooldown WHERE destination IN ({names});",
        )
    return "ok", note, None


def _oauth_error_code(body: str) -> str | None:
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    code = answer.get("error") if isinstance(answer, dict) else None
    return code if isinstance(code, str) else None
