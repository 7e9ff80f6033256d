"""The incumbent for ``benchmarks.versus``: upstream's ``award_course_certificate`` as a Celery task on Redis.

Written here in our own words after ``openedx/core/djangoapps/programs/tasks.py`` (SPEC §3.2): a
``shared_task`` with upstream's retry options (every exception retried, up to 10 times, backoff from
30 s), acknowledged early (``acks_late=False``), run by ``celery -A benchmarks.celery_upstream worker
--pool prefork``. Each statement stands for one Django ORM call upstream makes, in its order, on one
autocommit connection per worker process (Django's persistent connection): the current Credentials
config (cached in the process as ``ConfigurationModel.current`` caches it), the user, the eligible
certificate, the course overview, the certificate's date override, the service user. Then the same
POST credsync sends, with a client-credentials token fetched from the LMS's ``/oauth2/access_token``
and cached until it nears its expiry (edx-rest-api-client's ``OAuthAPIClient``).

Configured from ``UPSTREAM_*`` environment variables when the worker imports it, or by ``configure``
in the process that calls ``.delay()`` (the bench's host). Bench-only: needs the ``bench`` extra.
"""

from __future__ import annotations

import os
import re
import time
import types
from collections.abc import Mapping
from typing import Any

import psycopg
import requests
from celery import Celery, Task, shared_task
from celery.exceptions import MaxRetriesExceededError
from celery.utils.log import get_task_logger

BROKER_URL = "UPSTREAM_BROKER_URL"
KEY_PREFIX = "UPSTREAM_KEY_PREFIX"
QUEUE = "UPSTREAM_QUEUE"
DATABASE_URL = "UPSTREAM_DATABASE_URL"
CREDENTIALS_URL = "UPSTREAM_CREDENTIALS_URL"
OAUTH_CLIENT_ID = "UPSTREAM_OAUTH_CLIENT_ID"
OAUTH_CLIENT_SECRET = "UPSTREAM_OAUTH_CLIENT_SECRET"  # noqa: S105 - a variable's name
SERVICE_USERNAME = "UPSTREAM_SERVICE_USERNAME"
# Every setting: the worker configures itself at import when its environment has them all.
SETTINGS = (
    BROKER_URL,
    KEY_PREFIX,
    QUEUE,
    DATABASE_URL,
    CREDENTIALS_URL,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    SERVICE_USERNAME,
)

CONFIG_CACHE_S = 600  # ConfigurationModel.cache_timeout's default
TOKEN_EXPIRY_MARGIN_S = 5  # edx-rest-api-client refreshes a token this long before it expires
HTTP_TIMEOUT_S = (3.05, 5.0)  # connect, read: as credsync's defaults
# CourseMode.CERTIFICATE_RELEVANT_MODES and is_eligible_for_certificate: only audit is left out
# (honor too when DISABLE_HONOR_CERTIFICATES is on, which the bench's platform does not set).
INELIGIBLE_MODES = frozenset({"audit"})
COURSE_KEY = re.compile(r"course-v1:([\w\-~.]+)\+([\w\-~.]+)\+([\w\-~.]+)")

log = get_task_logger(__name__)
app = Celery("credsync_bench_upstream")
_settings: dict[str, str] = {}
# This worker process's connection, HTTP session, token and cached config: made on first use, after
# the prefork pool forked (never in the parent, whose copies every child would share).
_process = types.SimpleNamespace(conn=None, session=None, token=None, config=None)


def configure(environ: Mapping[str, str]) -> None:
    """Point the app and the task at the broker, queue, database and Credentials the bench chose."""
    _settings.update({name: environ[name] for name in SETTINGS})
    app.conf.update(
        broker_url=environ[BROKER_URL],
        # Its own keys and queue on the bench's Redis: never in the way of credsync's Dramatiq queues.
        broker_transport_options={"global_keyprefix": environ[KEY_PREFIX]},
        broker_connection_retry_on_startup=True,
        task_default_queue=environ[QUEUE],
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
    )


if all(name in os.environ for name in SETTINGS):
    configure(os.environ)


@shared_task(
    bind=True,
    ignore_result=True,
    autoretry_for=(Exception,),
    max_retries=10,
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    acks_late=False,
)
def award_course_certificate(self: Task, username: str, course_run_key: str) -> None:
    """Send the learner's certificate in the run to Credentials (upstream's steps, SPEC §3.2)."""
    if not _credentials_enabled():
        message = "Task award_course_certificate cannot be executed when credentials issuance is disabled"
        log.warning(message)
        raise MaxRetriesExceededError(f"Failed to award course certificate. Reason: {message}")
    user = _one("SELECT id, username, email, is_staff FROM auth_user WHERE username = %s", (username,))
    if user is None:
        log.warning("award_course_certificate: no user with username %s", username)
        return
    log.info("Running task award_course_certificate for user %s", user["id"])
    key = COURSE_KEY.fullmatch(course_run_key)
    if key is None:
        log.warning(
            "Failed to award course certificate for user %s for course %s", user["id"], course_run_key
        )
        return
    certificate = _one(
        "SELECT id, user_id, course_id, mode, status, created_date, modified_date"
        " FROM certificates_generatedcertificate WHERE user_id = %s AND course_id = %s"
        " AND status NOT IN ('audit_passing', 'audit_notpassing')",
        (user["id"], course_run_key),
    )
    if certificate is None:
        log.warning("user %s has not earned a course certificate in %s", user["id"], course_run_key)
        return
    if certificate["mode"] in INELIGIBLE_MODES:
        log.warning(
            "course run %s: mode %s is not eligible for a certificate", course_run_key, certificate["mode"]
        )
        return
    overview = _one(
        'SELECT id, org, self_paced, "end", certificate_available_date, certificates_display_behavior'
        " FROM course_overviews_courseoverview WHERE id = %s",
        (course_run_key,),
    )
    if overview is None:
        log.warning("no course overview for course run %s", course_run_key)
        return
    override = _one(
        "SELECT id, date FROM certificates_certificatedateoverride WHERE generated_certificate_id = %s",
        (certificate["id"],),
    )
    date_override = override["date"] if override else None
    try:
        service_user = _one(
            "SELECT id, username, email, is_staff FROM auth_user WHERE username = %s",
            (_settings[SERVICE_USERNAME],),
        )
        if service_user is None:
            raise LookupError(f"no service user {_settings[SERVICE_USERNAME]!r}")
        response = _session().post(
            f"{_settings[CREDENTIALS_URL]}/api/v2/credentials/",
            json={
                "username": username,
                "status": "awarded" if certificate["status"] == "downloadable" else "revoked",
                "credential": {
                    "course_run_key": course_run_key,
                    "mode": certificate["mode"],
                    "type": "course-run",
                },
                "date_override": (
                    {"date": date_override.strftime("%Y-%m-%dT%H:%M:%SZ")} if date_override else None
                ),
            },
            headers={"Authorization": f"JWT {_token()}"},
            timeout=HTTP_TIMEOUT_S,
        )
        response.raise_for_status()
    except Exception as exc:
        raise MaxRetriesExceededError(
            f"Failed to award course certificate for user {user['id']} for course {course_run_key}."
        ) from exc
    log.info("Awarded a course certificate to user %s in course run %s", user["id"], course_run_key)


def _connection() -> psycopg.Connection[Any]:
    """This process's connection (Django's persistent one), opened on first use."""
    conn: psycopg.Connection[Any] | None = _process.conn
    if conn is None or conn.closed:
        conn = psycopg.connect(_settings[DATABASE_URL], autocommit=True, options="-c search_path=public")
        _process.conn = conn
    return conn


def _one(query: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    """One row as a dict (a model instance upstream), or None."""
    cur = _connection().execute(query, params)
    row = cur.fetchone()
    if row is None:
        return None
    assert cur.description is not None
    return {column.name: value for column, value in zip(cur.description, row, strict=True)}


def _credentials_enabled() -> bool:
    """``CredentialsApiConfig.current().is_learner_issuance_enabled``, cached as the model caches it."""
    cached: tuple[float, bool] | None = _process.config
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    row = _one(
        "SELECT enabled, enable_learner_issuance FROM credentials_credentialsapiconfig"
        " ORDER BY change_date DESC, id DESC LIMIT 1",
        (),
    )
    enabled = bool(row and row["enabled"] and row["enable_learner_issuance"])
    _process.config = (time.monotonic() + CONFIG_CACHE_S, enabled)
    return enabled


def _session() -> requests.Session:
    session: requests.Session | None = _process.session
    if session is None:
        session = _process.session = requests.Session()
    return session


def _token() -> str:
    """The service user's client-credentials JWT, fetched once and reused until it nears expiry."""
    cached: tuple[float, str] | None = _process.token
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    response = _session().post(
        f"{_settings[CREDENTIALS_URL]}/oauth2/access_token",
        data={
            "grant_type": "client_credentials",
            "client_id": _settings[OAUTH_CLIENT_ID],
            "client_secret": _settings[OAUTH_CLIENT_SECRET],
            "token_type": "jwt",
        },
        timeout=HTTP_TIMEOUT_S,
    )
    response.raise_for_status()
    answer = response.json()
    _process.token = (time.monotonic() + answer["expires_in"] - TOKEN_EXPIRY_MARGIN_S, answer["access_token"])
    return str(answer["access_token"])
